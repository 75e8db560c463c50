"""Attention and the Transformer layers against PyTorch with the same weights and inputs:
outputs and the gradients of inputs and every parameter (float64 to 1e-6, float32 to 1e-4)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="parity tests need PyTorch: pip install -e '.[parity]'")

import minigrad as mg  # noqa: E402
import minigrad.nn.functional as F  # noqa: E402
from minigrad import nn  # noqa: E402

TOL = {np.float64: 1e-6, np.float32: 1e-4}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def close(ours, theirs, dtype):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype])


def pair(a, dtype, grad=True):
    """The same values as a minigrad tensor and a torch tensor."""
    a = np.asarray(a)
    if a.dtype == bool:
        return mg.tensor(a), torch.tensor(a)
    return (mg.tensor(a.astype(dtype), requires_grad=grad),
            torch.tensor(a, dtype=TORCH_DTYPE[dtype], requires_grad=grad))


def backprop_both(out_ours, out_theirs, dtype, seed=0):
    g = np.random.default_rng(seed).standard_normal(tuple(out_theirs.shape))
    out_theirs.backward(torch.tensor(g, dtype=TORCH_DTYPE[dtype]))
    out_ours.backward(mg.tensor(g.astype(dtype)))


# -- scaled_dot_product_attention ---------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    dtype=st.sampled_from([np.float64, np.float32]),
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    L=st.integers(1, 6), S=st.integers(1, 7), E=st.integers(1, 8), Ev=st.integers(1, 5),
    mask=st.sampled_from(["none", "bool", "float", "causal"]), scale=st.sampled_from([None, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_sdpa_matches_torch(dtype, batch, L, S, E, Ev, mask, scale, seed):
    rng = np.random.default_rng(seed)
    batch = tuple(batch)
    (q, qt), (k, kt), (v, vt) = (pair(rng.standard_normal(batch + s), dtype) for s in ((L, E), (S, E), (S, Ev)))
    kw_o, kw_t = dict(scale=scale), dict(scale=scale)
    if mask == "bool":
        m = rng.random((L, S)) > 0.4  # rows with nothing to attend to included: both give zeros
        kw_o["attn_mask"], kw_t["attn_mask"] = pair(m, dtype)
    elif mask == "float":
        m = np.where(rng.random((L, S)) > 0.3, rng.standard_normal((L, S)), -np.inf)
        m[:, 0] = 0.0
        kw_o["attn_mask"], kw_t["attn_mask"] = pair(m, dtype, grad=False)
    elif mask == "causal":
        kw_o["is_causal"] = kw_t["is_causal"] = True
    out = F.scaled_dot_product_attention(q, k, v, **kw_o)
    out_t = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, **kw_t)
    close(out, out_t, dtype)
    backprop_both(out, out_t, dtype, seed)
    for ours, theirs in ((q, qt), (k, kt), (v, vt)):
        close(ours.grad, theirs.grad, dtype)


def test_sdpa_float_mask_gradient_matches_torch():
    rng = np.random.default_rng(1)
    dtype = np.float64
    (q, qt), (k, kt), (v, vt) = (pair(rng.standard_normal(s), dtype) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 2)))
    b, bt = pair(rng.standard_normal((3, 5)), dtype)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=b)
    out_t = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=bt)
    backprop_both(out, out_t, dtype)
    close(b.grad, bt.grad, dtype)


# -- MultiheadAttention -----------------------------------------------------------------------
def load_from_torch(ours, theirs, dtype):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(dtype=dtype)


def compare_params(ours, theirs, dtype):
    theirs_params = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(theirs_params), (names, list(theirs_params))
    for n, p in ours.named_parameters():
        close(p.grad, theirs_params[n].grad, dtype)


MHA_CASES = {
    "self_attention": dict(),
    "batch_first": dict(batch_first=True),
    "cross_kdim_vdim": dict(kdim=3, vdim=5, cross=True),
    "no_bias": dict(bias=False),
    "key_padding_bool": dict(kpm="bool"),
    "key_padding_float": dict(kpm="float"),
    "attn_mask_bool": dict(mask="bool"),
    "attn_mask_float_per_head": dict(mask="per_head"),
    "per_head_weights": dict(average=False),
    "fused_path": dict(need_weights=False, mask="bool", kpm="bool"),
    "unbatched": dict(unbatched=True, mask="bool"),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(case, dtype):
    c = MHA_CASES[case]
    rng = np.random.default_rng(list(MHA_CASES).index(case))
    E, H, N, L, S = 8, 2, 3, 4, 5
    kdim, vdim = c.get("kdim"), c.get("vdim")
    batch_first = c.get("batch_first", False)
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(E, H, bias=c.get("bias", True), kdim=kdim, vdim=vdim,
                                         batch_first=batch_first).to(TORCH_DTYPE[dtype])
    with torch.no_grad():  # non-zero biases so that they are tested too
        for name, p in theirs.named_parameters():
            if "bias" in name:
                p.uniform_(-0.5, 0.5)
    ours = nn.MultiheadAttention(E, H, bias=c.get("bias", True), kdim=kdim, vdim=vdim, batch_first=batch_first)
    load_from_torch(ours, theirs, dtype)

    def shape(T, D):
        if c.get("unbatched"):
            return (T, D)
        return (N, T, D) if batch_first else (T, N, D)

    (q, qt) = pair(rng.standard_normal(shape(L, E)), dtype)
    if c.get("cross"):
        (k, kt) = pair(rng.standard_normal(shape(S, kdim)), dtype)
        (v, vt) = pair(rng.standard_normal(shape(S, vdim)), dtype)
    else:
        (k, kt), (v, vt), S = (q, qt), (q, qt), L
    kw_o, kw_t = {}, {}
    kw_o["need_weights"] = kw_t["need_weights"] = c.get("need_weights", True)
    kw_o["average_attn_weights"] = kw_t["average_attn_weights"] = c.get("average", True)
    if c.get("mask") == "bool":
        m = rng.random((L, S)) > 0.6
        m[:, 0] = False  # True = blocked here; every query keeps key 0
        kw_o["attn_mask"], kw_t["attn_mask"] = pair(m, dtype)
    elif c.get("mask") == "per_head":
        kw_o["attn_mask"], kw_t["attn_mask"] = pair(rng.standard_normal((N * H, L, S)), dtype, grad=False)
    if c.get("kpm") == "bool":
        m = np.zeros((N, S), dtype=bool)
        m[1, -2:] = True
        kw_o["key_padding_mask"], kw_t["key_padding_mask"] = pair(m, dtype)
    elif c.get("kpm") == "float":
        kw_o["key_padding_mask"], kw_t["key_padding_mask"] = pair(rng.standard_normal((N, S)), dtype, grad=False)
    out, w = ours(q, k, v, **kw_o)
    out_t, w_t = theirs(qt, kt, vt, **kw_t)
    close(out, out_t, dtype)
    if kw_t["need_weights"]:
        close(w, w_t, dtype)
    else:
        assert w is None and w_t is None
    backprop_both(out, out_t, dtype)
    for ours_in, theirs_in in {id(q): (q, qt), id(k): (k, kt), id(v): (v, vt)}.values():
        close(ours_in.grad, theirs_in.grad, dtype)
    compare_params(ours, theirs, dtype)


def test_mha_fully_padded_row_gives_zeros_like_torch_fused_path():
    rng = np.random.default_rng(3)
    theirs = torch.nn.MultiheadAttention(4, 2, batch_first=True).double()
    ours = nn.MultiheadAttention(4, 2, batch_first=True)
    load_from_torch(ours, theirs, np.float64)
    x = rng.standard_normal((2, 3, 4))
    kpm = np.zeros((2, 3), dtype=bool)
    kpm[1] = True
    out, _ = ours(mg.tensor(x), mg.tensor(x), mg.tensor(x), key_padding_mask=mg.tensor(kpm), need_weights=False)
    xt = torch.tensor(x)
    out_t, _ = theirs(xt, xt, xt, key_padding_mask=torch.tensor(kpm), need_weights=False)
    close(out, out_t, np.float64)  # the padded sample's output is out_proj's bias in both


# -- Transformer layers and stacks -----------------------------------------------------------------
LAYER_CASES = {
    "post_norm_relu": dict(norm_first=False, activation="relu"),
    "pre_norm_gelu": dict(norm_first=True, activation="gelu"),
    "post_norm_seq_first": dict(norm_first=False, activation="relu", batch_first=False),
}


def _layer_kwargs(c):
    return dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation=c["activation"],
                batch_first=c.get("batch_first", True), norm_first=c["norm_first"])


def _randomise_norms(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5) if name.endswith("weight") else p.uniform_(-0.5, 0.5)
            elif "bias" in name:
                p.uniform_(-0.3, 0.3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_encoder_layer_matches_torch(case, dtype):
    c = LAYER_CASES[case]
    rng = np.random.default_rng(5)
    torch.manual_seed(1)
    theirs = torch.nn.TransformerEncoderLayer(**_layer_kwargs(c)).to(TORCH_DTYPE[dtype])
    _randomise_norms(theirs)
    ours = nn.TransformerEncoderLayer(**_layer_kwargs(c))
    load_from_torch(ours, theirs, dtype)
    bf = c.get("batch_first", True)
    x, xt = pair(rng.standard_normal((2, 5, 8) if bf else (5, 2, 8)), dtype)
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[0, -1] = True
    mask = np.triu(np.ones((5, 5), dtype=bool), 1)
    out = ours(x, src_mask=mg.tensor(mask), src_key_padding_mask=mg.tensor(kpm))
    out_t = theirs(xt, src_mask=torch.tensor(mask), src_key_padding_mask=torch.tensor(kpm))
    close(out, out_t, dtype)
    backprop_both(out, out_t, dtype)
    close(x.grad, xt.grad, dtype)
    compare_params(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_decoder_layer_matches_torch(case, dtype):
    c = LAYER_CASES[case]
    rng = np.random.default_rng(6)
    torch.manual_seed(2)
    theirs = torch.nn.TransformerDecoderLayer(**_layer_kwargs(c)).to(TORCH_DTYPE[dtype])
    _randomise_norms(theirs)
    ours = nn.TransformerDecoderLayer(**_layer_kwargs(c))
    load_from_torch(ours, theirs, dtype)
    bf = c.get("batch_first", True)
    x, xt = pair(rng.standard_normal((2, 4, 8) if bf else (4, 2, 8)), dtype)
    m, mt = pair(rng.standard_normal((2, 6, 8) if bf else (6, 2, 8)), dtype)
    mem_kpm = np.zeros((2, 6), dtype=bool)
    mem_kpm[1, -2:] = True
    tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=TORCH_DTYPE[dtype])
    out = ours(x, m, tgt_mask=mg.tensor(tgt_mask.numpy()), memory_key_padding_mask=mg.tensor(mem_kpm))
    out_t = theirs(xt, mt, tgt_mask=tgt_mask, memory_key_padding_mask=torch.tensor(mem_kpm))
    close(out, out_t, dtype)
    backprop_both(out, out_t, dtype)
    close(x.grad, xt.grad, dtype)
    close(m.grad, mt.grad, dtype)
    compare_params(ours, theirs, dtype)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
@pytest.mark.parametrize("norm_first", [False, True])
def test_full_transformer_matches_torch(norm_first):
    dtype = np.float64
    rng = np.random.default_rng(7)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16, dropout=0.0,
              batch_first=True, norm_first=norm_first)
    torch.manual_seed(3)
    theirs = torch.nn.Transformer(**kw).double()
    _randomise_norms(theirs)
    ours = nn.Transformer(**kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_from_torch(ours, theirs, dtype)
    (s, st_), (t, tt) = pair(rng.standard_normal((2, 6, 8)), dtype), pair(rng.standard_normal((2, 5, 8)), dtype)
    src_kpm = np.zeros((2, 6), dtype=bool)
    src_kpm[0, -2:] = True
    tgt_mask = np.asarray(nn.Transformer.generate_square_subsequent_mask(5, dtype=np.float64).numpy())
    np.testing.assert_array_equal(tgt_mask, torch.nn.Transformer.generate_square_subsequent_mask(5).numpy())
    out = ours(s, t, tgt_mask=mg.tensor(tgt_mask), src_key_padding_mask=mg.tensor(src_kpm),
               memory_key_padding_mask=mg.tensor(src_kpm))
    out_t = theirs(st_, tt, tgt_mask=torch.tensor(tgt_mask), src_key_padding_mask=torch.tensor(src_kpm),
                   memory_key_padding_mask=torch.tensor(src_kpm))
    close(out, out_t, dtype)
    backprop_both(out, out_t, dtype)
    close(s.grad, st_.grad, dtype)
    close(t.grad, tt.grad, dtype)
    compare_params(ours, theirs, dtype)
