"""Every nn layer on the device: built on the CPU from one seed, moved with .to(device), then its
output and the gradients of its parameters and input against the same layer on the CPU. A
completeness test keeps the table in step with minigrad.nn: a new Module needs a row here."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.nn.module import Module

import standin


def x64(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def ids(high, *shape, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape)


def _transformer_kwargs(**kw):
    return dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.1, batch_first=True, **kw)


def _mha_masks(m, q, kv, kpm):
    """Bool attn_mask and key_padding_mask (True = may not attend), float mask, need_weights both ways."""
    causal = mg.ones(4, 4, device=q.device).triu(1) > 0
    a, w = m(q, q, q, attn_mask=causal, key_padding_mask=kpm > 0)
    b, _ = m(q, kv, kv, need_weights=False, attn_mask=mg.ones(4, 6, device=q.device).triu(3) * -1e9)
    return a + b + w.sum()


# name -> (build(), inputs, call(module, *tensors), Module classes it covers)
LAYERS = {
    "linear": (lambda: nn.Linear(4, 3), [x64(2, 5, 4)], lambda m, x: m(x), {"Linear"}),
    "embedding": (lambda: nn.Embedding(7, 3, padding_idx=0), [ids(7, 2, 5)], lambda m, i: m(i), {"Embedding"}),
    "layer_norm": (lambda: nn.LayerNorm((2, 4)), [x64(3, 2, 4)], lambda m, x: m(x), {"LayerNorm"}),
    "activations": (lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.GELU(), nn.GELU("tanh"), nn.Tanh(),
                                          nn.Sigmoid(), nn.Dropout(0.5), nn.Identity(), nn.Softmax(-1),
                                          nn.LogSoftmax(0), nn.Flatten(0)),
                    [x64(3, 4)], lambda m, x: m(x),
                    {"Sequential", "ReLU", "GELU", "Tanh", "Sigmoid", "Dropout", "Identity", "Softmax", "LogSoftmax",
                     "Flatten"}),
    "losses": (lambda: nn.ModuleDict(dict(ce=nn.CrossEntropyLoss(label_smoothing=0.1), mse=nn.MSELoss())),
               [x64(6, 4), ids(4, 6), x64(6, 4, seed=1)],
               lambda m, x, t, y: m["ce"](x, t) + m["mse"](x, y), {"ModuleDict", "CrossEntropyLoss", "MSELoss"}),
    "rnn_relu_2_layers": (lambda: nn.RNN(3, 4, num_layers=2, nonlinearity="relu", dropout=0.2), [x64(5, 2, 3)],
                          lambda m, x: m(x)[0].sum() + m(x)[1].sum(), {"RNN", "RNNBase"}),
    "lstm_bidirectional": (lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
                           [x64(2, 5, 3), x64(4, 2, 4, seed=1), x64(4, 2, 4, seed=2)],
                           lambda m, x, h, c: _lstm(m, x, h, c), {"LSTM"}),
    "gru_with_lengths": (lambda: nn.GRU(3, 4, bidirectional=True), [x64(5, 3, 3), np.array([5, 2, 3])],
                         lambda m, x, lengths: m(x, lengths=lengths)[0], {"GRU"}),
    "cells": (lambda: nn.ModuleList([nn.RNNCell(3, 4), nn.LSTMCell(3, 4), nn.GRUCell(3, 4)]), [x64(2, 3)],
              lambda m, x: m[0](x) + m[1](x)[0] + m[1](x, m[1](x))[1] + m[2](x, m[2](x)),
              {"ModuleList", "RNNCell", "LSTMCell", "GRUCell", "RNNCellBase"}),
    "multihead_attention": (lambda: nn.MultiheadAttention(8, 2, batch_first=True),
                            [x64(2, 4, 8), x64(2, 6, 8, seed=1), np.array([[0, 0, 0, 1], [0, 0, 1, 1]])],
                            lambda m, q, kv, kpm: _mha_masks(m, q, kv, kpm), {"MultiheadAttention"}),
    "multihead_attention_kdim": (lambda: nn.MultiheadAttention(8, 2, kdim=5, vdim=3), [x64(4, 2, 8), x64(6, 2, 5),
                                                                                       x64(6, 2, 3)],
                                 lambda m, q, k, v: m(q, k, v)[0], set()),
    "transformer": (lambda: nn.Transformer(num_encoder_layers=2, num_decoder_layers=2, **_transformer_kwargs()),
                    [x64(2, 5, 8), x64(2, 4, 8, seed=1)],
                    lambda m, s, t: m(s, t, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4, device=s.device),
                                      src_key_padding_mask=mg.zeros(2, 5, device=s.device) > 0),
                    {"Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
                     "TransformerDecoderLayer"}),
    "transformer_norm_first_causal": (lambda: nn.TransformerEncoderLayer(norm_first=True, activation="gelu",
                                                                         **_transformer_kwargs()),
                                      [x64(2, 5, 8)], lambda m, x: m(x, is_causal=True), set()),
    "positions": (lambda: nn.ModuleList([nn.SinusoidalPositionalEmbedding(16, 4), nn.LearnedPositionalEmbedding(16, 4)]),
                  [x64(3, 4), ids(16, 3)],
                  lambda m, x, pos: m[0](3, offset=2) * x + m[1](3) + m[1](pos) + m[0](pos),
                  {"SinusoidalPositionalEmbedding", "LearnedPositionalEmbedding"}),
    # issue 15's layers
    "conv2d_net": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, groups=2), nn.BatchNorm2d(4), nn.LeakyReLU(0.1),
                                         nn.MaxPool2d(2), nn.Conv2d(4, 3, 2, padding="same", dilation=2, bias=False),
                                         nn.AvgPool2d(2, stride=1), nn.SiLU(), nn.Flatten()),
                   [x64(2, 2, 6, 6)], lambda m, x: m(x),
                   {"Conv2d", "_ConvNd", "BatchNorm2d", "_BatchNorm", "LeakyReLU", "MaxPool2d", "_MaxPoolNd",
                    "AvgPool2d", "_AvgPoolNd", "SiLU"}),
    "conv1d_net": (lambda: nn.Sequential(nn.Conv1d(3, 4, 3, stride=2, padding=1), nn.BatchNorm1d(4, momentum=None),
                                         nn.MaxPool1d(2, stride=1, return_indices=False),
                                         nn.AvgPool1d(2, count_include_pad=False, padding=1)),
                   [x64(2, 3, 9)], lambda m, x: m(x), {"Conv1d", "BatchNorm1d", "MaxPool1d", "AvgPool1d"}),
    "batch_norm_training": (lambda: nn.ModuleList([nn.BatchNorm1d(3), nn.BatchNorm2d(2, momentum=None, affine=False)]),
                            [x64(5, 3), x64(3, 2, 2, 2, seed=1)], lambda m, x, y: _batch_norm_steps(m, x, y), set()),
    "rms_norm": (lambda: nn.RMSNorm((2, 4)), [x64(3, 2, 4)], lambda m, x: m(x) + nn.RMSNorm(4, eps=1e-3,
                 elementwise_affine=False)(x), {"RMSNorm"}),
    "bce_with_logits": (lambda: nn.ModuleList([
                            nn.BCEWithLogitsLoss(pos_weight=mg.tensor([1.0, 2.0, 0.5])),
                            nn.BCEWithLogitsLoss(weight=mg.tensor([[0.5], [1.0]]), reduction="none")]),
                        [x64(2, 3), np.random.default_rng(1).random((2, 3))],
                        lambda m, x, y: m[0](x, y) + m[1](x, y), {"BCEWithLogitsLoss"}),
    "parameter_list_and_dict": (lambda: _ParameterContainers(), [x64(2, 3)],
                                lambda m, x: ((x @ m.weights[0]).tanh() @ m.weights[1] * m.extra["scale"]
                                              + m.extra["shift"]),
                                {"ParameterList", "ParameterDict"}),
}


class _ParameterContainers(Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(mg.randn(3, 4)), mg.randn(4, 2)])
        self.weights.append(mg.randn(2))  # unused: it must get no gradient on either device
        self.extra = nn.ParameterDict({"scale": nn.Parameter(mg.randn(2))})
        self.extra["shift"] = mg.randn(1)


def _batch_norm_steps(m, x, y):
    """Two training steps and one in eval mode: the running statistics (momentum 0.1, and the
    cumulative average of momentum=None) and num_batches_tracked must agree too."""
    m.train()
    out = m[0](x).sum(0) + m[0](x * 2.0).sum(0) + m[1](y).sum() + m[1](y + 1.0).sum()
    m.eval()
    out = out + m[0](x).sum(0) + m[1](y).sum()
    return out + sum(b.type(out.dtype).sum() for b in m.buffers())


def _lstm(m, x, h, c):
    out, (h_n, c_n) = m(x, (h, c))
    return out.sum() + h_n.sum() + c_n.sum()


def run_layer(name, device, train=False):
    build, arrays, call, _ = LAYERS[name]
    mg.manual_seed(0)
    module = build().double().to(device)
    module.train(train)
    xs = [mg.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = call(module, *xs)
    R = mg.tensor(np.random.default_rng(7).standard_normal(out.shape), device=device)
    (out * R).sum().backward()
    result = {"out": out}
    result.update({f"grad_{n}": p.grad for n, p in module.named_parameters() if p.grad is not None})
    result.update({f"grad_input{i}": x.grad for i, x in enumerate(xs) if x.grad is not None})
    return result


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_forward_and_backward_on_the_device(name, same_on_device):
    same_on_device(lambda dev: run_layer(name, dev))


def _modules(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _modules(sub)


def test_every_layer_of_the_library_has_a_device_case():
    defined = {c.__name__ for c in _modules(Module) if c.__module__.startswith("minigrad.nn")}
    covered = set().union(*(covers for *_, covers in LAYERS.values()))
    assert not defined - covered, f"nn layers without a device case in LAYERS: {sorted(defined - covered)}"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_training_mode_with_dropout_copies_nothing_between_host_and_device(name, device, standin_only):
    """Dropout masks (nn.Dropout, attention dropout, between recurrent layers) are drawn on the
    device; masks and positions are built there; nothing crosses the bus in forward or backward."""
    build, arrays, call, _ = LAYERS[name]
    module = build().to(device).train()
    xs = [mg.tensor(a, dtype=np.float32 if a.dtype.kind == "f" else None, device=device,
                    requires_grad=a.dtype.kind == "f") for a in arrays]
    with standin.transfers() as log:
        call(module, *xs).sum().backward()
    assert log.to_device == [] and log.to_host == [], log


def test_functional_losses_and_helpers_on_the_device(same_on_device):
    def run(dev):
        x = mg.tensor(x64(5, 4), device=dev, requires_grad=True)
        t = mg.tensor([0, 3, 1, 1, 2], device=dev)
        w = mg.tensor([1.0, 0.5, 2.0, 1.5], dtype=np.float64, device=dev)
        y = mg.tensor(np.random.default_rng(1).random((5, 4)), device=dev)
        loss = (F.nll_loss(x.log_softmax(1), t, weight=w, ignore_index=1)
                + F.nll_loss(x.log_softmax(1), t, reduction="sum")
                + F.binary_cross_entropy_with_logits(x, y, pos_weight=w)
                + F.mse_loss(x, y) + F.silu(x).sum() + F.pad(x, (1, 1)).sum()
                + (F.one_hot(t, 4) * x).sum() + (F.one_hot(t) * x).sum())
        loss.backward()
        return {"out": loss, "grad_x": x.grad}

    same_on_device(run)
