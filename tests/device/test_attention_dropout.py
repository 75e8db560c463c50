"""The crash a real GPU showed: scaled_dot_product_attention with dropout died in backward on cuda,
because the fused kernel unwrapped its saved keep-mask with getattr(t, "data", t) and a bare cupy
array's .data is a MemoryPointer. The stand-in's .data is one too, so CI catches it."""
import numpy as np

import minigrad as mg
from minigrad.nn import functional as F
from minigrad.ops.attention import ScaledDotProductAttention, _attention_weights_composite

import standin


def _qkv(device, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [mg.tensor(rng.standard_normal((2, 3, 5, 4)), dtype=dtype, device=device, requires_grad=True)
            for _ in range(3)]


def test_fused_attention_with_a_keep_mask_backpropagates_on_the_device(device, same_on_device):
    """The fused kernel's raw backward with a dropout mask against its composite (primitive ops)."""

    def run(dev):
        q, k, v = _qkv(dev)
        keep = (np.random.default_rng(1).random((2, 3, 5, 5)) >= 0.25) / 0.75
        keep = mg.tensor(keep, device=dev).data
        R = mg.tensor(np.random.default_rng(2).standard_normal((2, 3, 5, 4)), device=dev)
        fused = ScaledDotProductAttention.apply(q, k, v, None, keep, scale=0.5)
        g_fused = mg.autograd.grad((fused * R).sum(), [q, k, v])
        composite, _ = _attention_weights_composite(q, k, v, None, keep, 0.5)
        g_composite = mg.autograd.grad((composite * R).sum(), [q, k, v])
        for a, b in zip(g_fused, g_composite):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)
        return {"out": fused, **{f"grad_{n}": g for n, g in zip("qkv", g_fused)}}

    same_on_device(run)


def test_attention_dropout_trains_on_the_device_with_its_mask_drawn_there(device, standin_only):
    q, k, v = _qkv(device, np.float32)
    with standin.transfers() as log:
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, is_causal=True)
        out.sum().backward()
    assert q.grad.device == k.grad.device == v.grad.device == "cuda"
    assert log.to_device == [] and log.to_host == [], log  # the mask was drawn on the device
    assert np.isfinite(q.grad.numpy()).all()
