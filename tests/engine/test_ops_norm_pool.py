"""The fused kernels of ops/norm.py and ops/pool.py equal their composites (the same functions
from primitive ops) in value and gradient, float64 and float32; the fast max-pool backward that
writes instead of adding is used only where windows do not overlap."""
import numpy as np
import pytest
from test_ops_fused import fused_matches_composite

import minigrad as mg
from minigrad.ops import norm, pool


def rand(*shape, seed=0):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape) * 2 + 0.5)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_kernel_matches_composite(shape, affine):
    w, b = (rand(3, seed=1), rand(3, seed=2)) if affine else (None, None)
    positions = [0, 1, 2] if affine else [0]
    fused_matches_composite(norm.BatchNorm, [rand(*shape), w, b], {"eps": 1e-5}, positions)
    fused_matches_composite(norm.BatchNorm, [rand(*shape), w, b], {"eps": 1e-5}, positions, dtype=np.float32,
                            tol=2e-4)


@pytest.mark.parametrize("normalized_shape", [(5,), (3, 5)])
def test_rms_norm_kernel_matches_composite(normalized_shape):
    w = rand(*normalized_shape, seed=1)
    fused_matches_composite(norm.RMSNorm, [rand(2, 3, 5), normalized_shape, w], {"eps": 1e-6}, [0, 2])
    fused_matches_composite(norm.RMSNorm, [rand(2, 3, 5), normalized_shape, None], {"eps": 1e-6}, [0],
                            dtype=np.float32, tol=2e-5)


@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((3, 3), (1, 1)), ((3, 2), (2, 1))])
def test_max_pool_kernel_matches_composite(kernel, stride):
    x = rand(2, 3, 6, 7)
    idx = pool.max_pool_indices(x.data, kernel, stride, (0, 0), (1, 1))
    overlapping = any(s < k for k, s in zip(kernel, stride))
    fused_matches_composite(pool.MaxPool, [x, idx], {"overlapping": overlapping}, [0])


def test_an_element_picked_by_two_overlapping_windows_gets_both_gradients():
    x = mg.tensor([[[[1.0, 5.0, 2.0]]]], requires_grad=True)
    idx = pool.max_pool_indices(x.data, (1, 2), (1, 1), (0, 0), (1, 1))
    assert idx.tolist() == [[[[1, 1]]]]
    pool.MaxPool.apply(x, idx, overlapping=True).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 2.0, 0.0]]]]
