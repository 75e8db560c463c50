"""The differentiable primitives, one Function class each, grouped by kind.

elementwise  add sub mul div pow neg exp log sqrt rsqrt abs sin cos tanh sigmoid relu erf gelu
             clamp maximum minimum where cast
reduce       sum mean max min logsumexp var std
shape        reshape permute expand cat pad tril triu getitem setitem gather index_select,
             copyslices (an in-place write through a view, as seen by the view's base)
linalg       matmul, the attention-weighted sum of seq2seq's decoder
fused        softmax log_softmax linear cross_entropy layer_norm embedding
attention    scaled dot-product attention (one node), the causal mask
recurrent    the RNN / LSTM / GRU steps as Tensor ops and each layer's time loop as one node
pointwise    log1p leaky_relu           prod  vector_norm  scan (cumsum)  scatter  einsum
sort         the order behind sort / topk (the values are read with gather)
conv         im2col (Unfold) and col2im (Fold): convolution and average pooling
pool         max pooling (where the maxima are, then a gather)
norm         batch_norm rms_norm
cuda_kernels how the fused CUDA kernels are compiled, dispatched (on a GPU only) and tested; the
             kernels: cuda_pointwise (gelu, LSTM and GRU cells), cuda_rows (layer norm, softmax with
             cross-entropy, attention's causal softmax), each beside its reference
"""
