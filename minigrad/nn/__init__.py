"""minigrad.nn: modules, layers and their functional forms, with PyTorch's names."""
from . import functional, init, utils
from .layers import (
    GELU, CrossEntropyLoss, Dropout, Embedding, Flatten, Identity, LayerNorm, Linear, LogSoftmax,
    MSELoss, ReLU, Sigmoid, Softmax, Tanh,
)
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .attention import KVCache, MultiheadAttention  # noqa: E402
from .transformer import (  # noqa: E402
    LearnedPositionalEmbedding, SinusoidalPositionalEmbedding, Transformer, TransformerDecoder,
    TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
)
