"""The differentiable primitives, one Function class each, grouped by kind.

elementwise  add sub mul div pow neg exp log sqrt rsqrt abs sin cos tanh sigmoid relu erf gelu
             clamp maximum minimum where cast
reduce       sum mean max min logsumexp var std
shape        reshape permute expand cat pad tril triu getitem setitem gather index_select,
             copyslices (an in-place write through a view, as seen by the view's base)
linalg       matmul
fused        softmax log_softmax linear cross_entropy layer_norm embedding
"""
