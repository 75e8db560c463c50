"""minigrad.nn: modules, layers and their functional forms, with PyTorch's names."""
from . import functional, init, utils
from .layers import (
    GELU, CrossEntropyLoss, Dropout, Embedding, Flatten, Identity, LayerNorm, Linear, LogSoftmax,
    MSELoss, ReLU, Sigmoid, Softmax, Tanh,
)
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .attention import KVCache, MultiheadAttention  # noqa: E402
from .activation import LeakyReLU, SiLU  # noqa: E402
from .containers import ParameterDict, ParameterList  # noqa: E402
from .conv import Conv1d, Conv2d  # noqa: E402
from .loss import BCEWithLogitsLoss  # noqa: E402
from .norm import BatchNorm1d, BatchNorm2d, RMSNorm  # noqa: E402
from .pooling import AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d  # noqa: E402
from .transformer import (  # noqa: E402
    LearnedPositionalEmbedding, SinusoidalPositionalEmbedding, Transformer, TransformerDecoder,
    TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
)
