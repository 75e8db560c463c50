"""The fused CUDA kernels on the device.

On a GPU (--gpu-parity) each kernel runs against its reference (the same formula as cupy array
operations), in float32 and float64, on shapes that leave partial blocks and rows longer than a
block. On the stand-in those are skipped, saying why; there, and on a GPU too, every op's kernel
path runs on the device with the references in the kernels' place (cuda_kernels.references()):
its results equal the CPU's and it moves nothing between host and device.

tests/engine/test_cuda_kernel_references.py ties each reference to the op's composite, and
tests/engine/test_cuda_kernel_sources.py compiles every source with nvcc and checks every launch's
arguments against the kernel's signature.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, nn
from minigrad.nn import functional as F
from minigrad.ops import cuda_kernels, cuda_pointwise, cuda_rows
from minigrad.optim import adam_update
from minigrad_models.gpt import GPT, GPTConfig

import standin

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.fixture
def cupy(request, device):
    """The real cupy, with the fused kernels on (only under --gpu-parity on a machine with a GPU)."""
    if not request.config.getoption("--gpu-parity"):
        pytest.skip("the CUDA kernels compile and run on a GPU only: `python -m pytest "
                    "tests/device/test_cuda_kernels.py --gpu-parity` runs each against its reference there "
                    "(here their references stand in)")
    cp = backend.cupy_module()
    assert backend.compiles_kernels(cp.zeros(1, dtype=cp.float32)), "MINIGRAD_FUSED_KERNELS=0 is set"
    return cp


def kernel_and_reference(call):
    """call() with the kernels, then with the references in their place: both results."""
    on_kernels = call()
    with cuda_kernels.references():
        return on_kernels, call()


def compare(got, expected, dtype, what):
    got = [backend.to_numpy(a) for a in (got if isinstance(got, (tuple, list)) else (got,))]
    expected = [backend.to_numpy(a) for a in (expected if isinstance(expected, (tuple, list)) else (expected,))]
    assert len(got) == len(expected)
    rtol = TOLERANCE[dtype]
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == e.dtype == np.dtype(dtype), (what, i, g.dtype)
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * max(1.0, float(np.abs(e).max(initial=0))),
                                   err_msg=f"{what}: output {i}")


def random(cp, dtype, seed=0):
    gen = np.random.default_rng(seed)
    return lambda *shape, scale=1.0: cp.asarray((gen.standard_normal(shape) * scale).astype(dtype))


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_kernels_match_their_reference(cupy, dtype, approximate):
    r = random(cupy, dtype)
    x, gy = r(1000, 3, scale=3.0), r(1000, 3)
    for name, call in (("forward", lambda: cuda_pointwise.gelu_forward(x, approximate)),
                       ("backward", lambda: cuda_pointwise.gelu_backward(x, gy, approximate))):
        compare(*kernel_and_reference(call), dtype, f"gelu {approximate} {name}")


def _in_place(call, arrays, outputs):
    """Run call(*copies) with the kernel and with the reference; return what each left in `outputs`."""
    results = []
    for use_reference in (False, True):
        copies = [a.copy() if a is not None else None for a in arrays]
        if use_reference:
            with cuda_kernels.references():
                call(*copies)
        else:
            call(*copies)
        results.append([copies[i] for i in outputs])
    return results


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell_kernels_match_their_reference(cupy, dtype):
    B, H = 5, 37
    r = random(cupy, dtype)
    fwd = [r(B, 4 * H), r(B, 4 * H), r(B, H), r(B, H), r(B, H), r(B, H), r(B, H), r(B, H)]
    got, want = _in_place(cuda_pointwise.lstm_cell_forward, fwd, outputs=[0, 3, 4, 5, 6, 7])
    compare(got, want, dtype, "lstm_cell_forward")
    acts = cupy.asarray(1 / (1 + np.exp(-backend.to_numpy(r(B, 4 * H)))))
    bwd = [acts, r(B, H), cupy.tanh(r(B, H)), r(B, H), r(B, H), r(B, H), r(B, 4 * H)]
    got, want = _in_place(cuda_pointwise.lstm_cell_backward, bwd, outputs=[5, 6])
    compare(got, want, dtype, "lstm_cell_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_kernels_match_their_reference(cupy, dtype, bias):
    B, H = 5, 37
    r = random(cupy, dtype)
    fwd = [r(B, 3 * H), r(B, 3 * H), r(3 * H) if bias else None, r(B, H), r(B, 3 * H), r(B, H), r(B, H), r(B, H)]
    got, want = _in_place(cuda_pointwise.gru_cell_forward, fwd, outputs=[4, 5, 6, 7])
    compare(got, want, dtype, "gru_cell_forward")
    acts = cupy.asarray(1 / (1 + np.exp(-backend.to_numpy(r(B, 3 * H)))))
    bwd = [acts, r(B, H), r(B, H), r(B, H), r(B, H), r(B, H), r(B, 3 * H), r(B, 3 * H)]
    got, want = _in_place(cuda_pointwise.gru_cell_backward, bwd, outputs=[4, 6, 7])
    compare(got, want, dtype, "gru_cell_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C", [7, 384, 1000])
def test_layer_norm_kernels_match_their_reference(cupy, dtype, C):
    N = 300
    r = random(cupy, dtype)
    x, w, b, gy = r(N, C, scale=3.0) + 1, r(C), r(C), r(N, C)
    for weight, bias in ((w, b), (None, None)):
        got, want = kernel_and_reference(lambda: cuda_rows.layer_norm_forward(x, weight, bias, 1e-5))
        compare(got, want, dtype, f"layer_norm_forward C={C}")
        _, mean, rstd = want
        got, want = kernel_and_reference(lambda: cuda_rows.layer_norm_backward(x, weight, gy, mean, rstd, True))
        compare(got, want, dtype, f"layer_norm_backward C={C}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C", [65, 1000])
def test_cross_entropy_kernels_match_their_reference(cupy, dtype, C):
    N = 257
    r = random(cupy, dtype)
    x = r(N, C, scale=4.0)
    target = cupy.asarray(np.random.default_rng(1).integers(0, C, N))
    w_row = cupy.asarray((np.random.default_rng(2).random(N) > 0.1).astype(dtype))
    got, want = kernel_and_reference(lambda: cuda_rows.cross_entropy_forward(x, target, w_row))
    compare(got, want, dtype, "cross_entropy_forward")
    lse = want[1]
    for scale in (cupy.asarray(np.asarray(0.25, dtype=dtype)), r(N, 1)):
        got, want = kernel_and_reference(lambda: cuda_rows.cross_entropy_backward(x, target, w_row, lse, scale))
        compare(got, want, dtype, "cross_entropy_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal, L, S, offset", [(True, 256, 256, 0), (True, 5, 300, 295), (True, 4, 6, -1),
                                                  (False, 7, 300, 0)])
def test_attention_softmax_kernels_match_their_reference(cupy, dtype, causal, L, S, offset):
    r = random(cupy, dtype)
    s = r(2, 3, L, S, scale=3.0)
    p, want = kernel_and_reference(lambda: cuda_rows.attention_softmax(s.copy(), 0.125, causal, offset))
    compare(p, want, dtype, "attention_softmax")
    gp = r(2, 3, L, S)
    keep = cupy.asarray((np.random.default_rng(3).random((2, 3, L, S)) > 0.2).astype(dtype) / 0.8)
    for mask in (keep, None):
        got, want = kernel_and_reference(lambda: cuda_rows.attention_softmax_backward(gp.copy(), p, mask, 0.125))
        compare(got, want, dtype, "attention_softmax_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decoupled", [True, False])
def test_the_adam_kernel_matches_the_array_formula(cupy, dtype, decoupled):
    r = random(cupy, dtype)
    p, g, m = r(10_001), r(10_001), r(10_001, scale=0.1)
    v = cupy.abs(r(10_001, scale=0.1))
    args = [p, g, m, v]
    hyper = dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, decoupled=decoupled, maximize=False)
    got, want = _in_place(lambda p, g, m, v: adam_update.adam_update(p, g, m, v, None, 7, **hyper), args,
                          outputs=[0, 2, 3])
    compare(got, want, dtype, "adam_step")


# -- every op's kernel path on the device (the references standing in where no GPU is) -------------------------
IDS = np.random.default_rng(0).integers(0, 13, (3, 11))
FEATURES = np.random.default_rng(1).standard_normal((6, 3, 5)).astype(np.float32)


def training(model, dev):
    """A training step of `model` on `dev` (built first, so that only the step's own copies are logged):
    cross-entropy, backward, clipping, AdamW (one flat step on a device); its results."""
    mg.manual_seed(0)
    if model.startswith("gpt"):
        net = GPT(GPTConfig(block_size=12, vocab_size=13, n_layer=2, n_head=2, n_embd=16,
                            dropout=0.1 if "dropout" in model else 0.0)).to(dev)
        opt = net.configure_optimizers(0.1, 1e-2, (0.9, 0.99))

        def loss_of():
            return net(mg.tensor(IDS[:, :-1], device=dev), IDS[:, 1:])[1]
    else:
        net = getattr(nn, model)(5, 7, num_layers=2, bidirectional=True).to(dev)
        opt = mg.optim.AdamW(net.parameters(), lr=1e-2)

        def loss_of():
            out, _ = net(mg.tensor(FEATURES, device=dev))
            return F.cross_entropy(out.reshape(-1, 14), mg.tensor(np.arange(18) % 14, device=dev))

    def step():
        loss = loss_of()
        opt.zero_grad()
        loss.backward()
        grads = {f"grad_{n}": p.grad for n, p in net.named_parameters()}
        mg.optim.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return {"loss": loss, **grads, **{f"param_{n}": p for n, p in net.named_parameters()}}

    return step


MODELS = ["gpt", "gpt with dropout", "LSTM", "GRU"]


@pytest.mark.parametrize("model", ["gpt", "LSTM", "GRU"])  # dropout draws differ by device: not compared
def test_the_kernel_paths_on_the_device_match_the_cpu(model, same_on_device):
    with cuda_kernels.references():
        same_on_device(lambda dev: training(model, dev)())


@pytest.mark.parametrize("model", MODELS)
def test_the_kernel_paths_move_nothing_but_the_batch_between_host_and_device(model, device, standin_only):
    with cuda_kernels.references():
        step = training(model, device)
        step()  # the first step lays the optimizer's flat buffers out
        with standin.transfers() as log:
            result = step()
    batch = 2 if model.startswith("gpt") else 2  # the input (ids or features) and the targets
    assert len(log.to_device) == batch and log.to_host == [], log
    assert np.isfinite(result["loss"].item())
