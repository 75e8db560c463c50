"""autocast on the device: which ops run in float16 and which in float32, against PyTorch's CUDA
autocast; a mixed-precision training step (float16 compute, float32 master weights, GradScaler)
against the float32 step; and what it moves between host and device (one flag a step).

PyTorch's CUDA rules are read without a GPU: its fake tensors of device "cuda" run through the
same autocast dispatch that real CUDA tensors do, computing dtypes and shapes only."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import amp, nn, optim
from minigrad.nn import functional as F
from minigrad_models.gpt import GPT, GPTConfig

import standin

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def torch_cuda_autocast_dtypes(cases):
    """Each case's output dtype under PyTorch's CUDA float16 autocast, on fake CUDA tensors."""
    try:
        from torch._subclasses.fake_tensor import FakeTensorMode

        mode = FakeTensorMode()
        torch.set_autocast_enabled("cuda", True)
        torch.set_autocast_dtype("cuda", torch.float16)
        torch.autocast_increment_nesting()
    except (ImportError, AttributeError, TypeError) as e:
        pytest.skip(f"this torch cannot run its CUDA autocast on fake tensors ({e})")
    try:
        with mode:
            return {name: str(theirs(lambda a: torch.empty(a.shape, dtype=getattr(torch, str(a.dtype)), device="cuda"))
                              .dtype).replace("torch.", "") for name, (_, theirs, _) in cases.items()}
    finally:
        torch.autocast_decrement_nesting()
        torch.set_autocast_enabled("cuda", False)


g = np.random.default_rng(0)
X32 = g.standard_normal((4, 8)).astype(np.float32)
X16 = X32.astype(np.float16)
W32 = g.standard_normal((6, 8)).astype(np.float32)
Q32 = g.standard_normal((2, 3, 5, 8)).astype(np.float32)
V32 = g.standard_normal(8).astype(np.float32)
IDS = np.array([1, 0, 3, 2])

# name -> (minigrad op, torch op, its inputs), each op given a function that makes a tensor of an input
CASES = {
    "linear": (lambda t: F.linear(t(X32), t(W32)), lambda t: TF.linear(t(X32), t(W32)), "float16"),
    "matmul": (lambda t: t(X32) @ t(W32).T, lambda t: t(X32) @ t(W32).T, "float16"),
    "batched matmul": (lambda t: t(Q32) @ t(Q32).transpose(-1, -2), lambda t: t(Q32) @ t(Q32).transpose(-1, -2),
                       "float16"),
    "einsum": (lambda t: mg.einsum("ij,kj->ik", t(X32), t(W32)), lambda t: torch.einsum("ij,kj->ik", t(X32), t(W32)),
               "float16"),
    "scaled_dot_product_attention": (lambda t: F.scaled_dot_product_attention(t(Q32), t(Q32), t(Q32), is_causal=True),
                                     lambda t: TF.scaled_dot_product_attention(t(Q32), t(Q32), t(Q32), is_causal=True),
                                     "float16"),
    "softmax": (lambda t: t(X16).softmax(-1), lambda t: t(X16).softmax(-1), "float32"),
    "log_softmax": (lambda t: t(X16).log_softmax(-1), lambda t: t(X16).log_softmax(-1), "float32"),
    "logsumexp": (lambda t: t(X16).logsumexp(-1), lambda t: t(X16).logsumexp(-1), "float32"),
    "layer_norm": (lambda t: F.layer_norm(t(X16), (8,), t(V32), t(V32)),
                   lambda t: TF.layer_norm(t(X16), (8,), t(V32), t(V32)), "float32"),
    "rms_norm": (lambda t: F.rms_norm(t(X16), (8,), t(V32)), lambda t: TF.rms_norm(t(X16), (8,), t(V32)), "float32"),
    "cross_entropy": (lambda t: F.cross_entropy(t(X16), t(IDS)), lambda t: TF.cross_entropy(t(X16), t(IDS)),
                      "float32"),
    "exp": (lambda t: t(X16).exp(), lambda t: t(X16).exp(), "float32"),
    "log": (lambda t: t(X16).abs().log(), lambda t: t(X16).abs().log(), "float32"),
    "log1p": (lambda t: t(X16).abs().log1p(), lambda t: t(X16).abs().log1p(), "float32"),
    "pow": (lambda t: t(X16) ** 2, lambda t: t(X16) ** 2, "float32"),
    "sum": (lambda t: t(X16).sum(), lambda t: t(X16).sum(), "float32"),
    "cumsum": (lambda t: t(X16).cumsum(0), lambda t: t(X16).cumsum(0), "float32"),
    "prod": (lambda t: t(X16).prod(), lambda t: t(X16).prod(), "float32"),
    "norm": (lambda t: t(X16).norm(), lambda t: torch.linalg.vector_norm(t(X16)), "float32"),
    # untouched: the inputs' dtype, with the usual promotion
    "gelu": (lambda t: t(X16).gelu(), lambda t: TF.gelu(t(X16)), "float16"),
    "tanh": (lambda t: t(X16).tanh(), lambda t: t(X16).tanh(), "float16"),
    "relu": (lambda t: t(X16).relu(), lambda t: t(X16).relu(), "float16"),
    "mean": (lambda t: t(X16).mean(), lambda t: t(X16).mean(), "float16"),
    "max": (lambda t: t(X16).max(), lambda t: t(X16).max(), "float16"),
    "add float16 + float32": (lambda t: t(X16) + t(X32), lambda t: t(X16) + t(X32), "float32"),
    "scale by a number": (lambda t: t(X16) * 0.5, lambda t: t(X16) * 0.5, "float16"),
    "embedding": (lambda t: F.embedding(t(IDS), t(X32)), lambda t: TF.embedding(t(IDS), t(X32)), "float32"),
}
# PyTorch runs these in float16 through cuDNN; minigrad runs them in float32 (its fused kernels are float32)
DIFFERENT = {"lstm", "gru", "batch_norm"}


def test_autocast_runs_each_op_in_the_dtype_torch_does(device):
    theirs = torch_cuda_autocast_dtypes(CASES)
    ours = {}
    with amp.autocast("cuda"):
        for name, (op, _, _) in CASES.items():
            ours[name] = str(op(lambda a: mg.tensor(a, device=device)).dtype)
    assert ours == theirs
    assert ours == {name: expected for name, (_, _, expected) in CASES.items()}  # the table in minigrad/amp.py


def test_autocast_leaves_cpu_tensors_alone_inside_a_cuda_block(device):
    with amp.autocast("cuda"):
        assert F.linear(mg.tensor(X32), mg.tensor(W32)).dtype == mg.float32


def test_float16_linear_sends_float32_gradients_to_float32_weights(device):
    mg.manual_seed(0)
    layer = nn.Linear(8, 6).to(device)
    x = mg.tensor(X32, device=device, requires_grad=True)
    with amp.autocast("cuda"):
        y = layer(x)
    assert y.dtype == mg.float16
    y.float().sum().backward()
    assert layer.weight.grad.dtype == x.grad.dtype == mg.float32
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.broadcast_to(X32.sum(0), (6, 8)), rtol=2e-3)


def gpt_and_data(device):
    mg.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=13, n_layer=2, n_head=2, n_embd=32)).to(device)
    x = np.random.default_rng(1).integers(0, 13, (4, 17))
    return model, x


def test_a_mixed_precision_gpt_step_follows_the_float32_step(device):
    """float16 autocast with float32 master weights: the loss and the updated weights stay within
    float16's precision of the float32 step's, and the weights stay float32."""
    results = {}
    for mixed in (False, True):
        model, x = gpt_and_data(device)
        opt = optim.AdamW(model.parameters(), lr=1e-3)
        scaler = amp.GradScaler(enabled=mixed)
        with amp.autocast("cuda", enabled=mixed):
            _, loss = model(mg.tensor(x[:, :-1], device=device), x[:, 1:])
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
        scaler.step(opt)
        scaler.update()
        results[mixed] = loss.item(), grads, {n: p for n, p in model.named_parameters()}
    (loss32, grads32, _), (loss16, grads16, params16) = results[False], results[True]
    assert loss16 == pytest.approx(loss32, rel=2e-3)
    assert all(p.dtype == mg.float32 for p in params16.values())
    for name, g in grads32.items():  # unscaled back to the float32 gradients, within float16 rounding
        np.testing.assert_allclose(grads16[name], g, rtol=0.05, atol=0.02 * np.abs(g).max(), err_msg=name)


def test_a_mixed_precision_step_reads_one_flag_from_the_device(device, standin_only):
    """The scaler's inf check is the step's one wait for the device, as in PyTorch: one bool read."""
    model, x = gpt_and_data(device)
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    scaler = amp.GradScaler()

    def step():
        with amp.autocast("cuda"):
            _, loss = model(mg.tensor(x[:, :-1], device=device), x[:, 1:])
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        optim.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        return loss

    step()
    with standin.transfers() as log:
        loss = step()
    assert log.to_host == [("bool()", 1)], log
    assert len(log.to_device) == 2, log  # the ids and the targets
    assert np.isfinite(loss.item())
