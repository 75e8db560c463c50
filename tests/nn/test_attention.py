"""Attention, position embeddings, Transformer layers and the KV cache, checked against
hand-worked values, finite differences and the primitive-op composite (no PyTorch here;
tests/parity/test_attention_parity.py compares with torch)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.ops.attention import ScaledDotProductAttention, causal_bias
from minigrad.nn.transformer import sinusoidal_positions
from minigrad.optim.adam import Adam


def t64(a, grad=True):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def rand(rng, *shape, grad=True):
    return t64(rng.standard_normal(shape), grad)


# -- scaled_dot_product_attention --------------------------------------------------------------
def test_sdpa_hand_worked():
    # one query against two keys: scores [1, 0] (scale 1), weights [e, 1] / (e + 1)
    q = t64([[1.0, 0.0]])
    k = t64([[1.0, 0.0], [0.0, 1.0]])
    v = t64([[1.0, 2.0], [3.0, 4.0]])
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    w = np.array([math.e, 1.0]) / (math.e + 1)
    np.testing.assert_allclose(out.numpy(), [w @ np.array([[1.0, 2.0], [3.0, 4.0]])], rtol=1e-12)
    # the default scale is 1/sqrt(d_k) = 1/sqrt(2)
    out = F.scaled_dot_product_attention(q, k, v)
    w = np.exp([1 / math.sqrt(2), 0.0])
    w /= w.sum()
    np.testing.assert_allclose(out.numpy(), [w @ np.array([[1.0, 2.0], [3.0, 4.0]])], rtol=1e-12)


def test_sdpa_is_a_soft_lookup_that_hardens_with_scale():
    # a query equal to key 2 retrieves (nearly) value 2 when the scores are sharpened
    rng = np.random.default_rng(0)
    keys = np.eye(4)
    values = rng.standard_normal((4, 3))
    out = F.scaled_dot_product_attention(t64(keys[[2]]), t64(keys), t64(values), scale=50.0)
    np.testing.assert_allclose(out.numpy()[0], values[2], atol=1e-12)
    soft = F.scaled_dot_product_attention(t64(keys[[2]]), t64(keys), t64(values), scale=1.0)
    assert np.abs(soft.numpy()[0] - values[2]).max() > 0.1  # a blend of all values


def test_sdpa_causal_first_query_sees_only_first_key():
    rng = np.random.default_rng(1)
    q, k, v = rand(rng, 2, 5, 4), rand(rng, 2, 5, 4), rand(rng, 2, 5, 3)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()
    np.testing.assert_allclose(out[:, 0], v.numpy()[:, 0], rtol=1e-12)
    # query i uses keys 0..i only: changing key 4 leaves queries 0..3 alone
    k2 = k.numpy().copy()
    k2[:, 4] += 10
    out2 = F.scaled_dot_product_attention(q, t64(k2), v, is_causal=True).numpy()
    np.testing.assert_allclose(out2[:, :4], out[:, :4], rtol=1e-12)
    assert np.abs(out2[:, 4] - out[:, 4]).max() > 1e-3


def test_bool_mask_equals_minus_inf_float_mask():
    rng = np.random.default_rng(2)
    q, k, v = rand(rng, 3, 4, 8), rand(rng, 3, 6, 8), rand(rng, 3, 6, 5)
    allowed = rng.random((4, 6)) > 0.4
    allowed[:, 0] = True
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(allowed))
    b = F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(np.where(allowed, 0.0, -np.inf)))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def _sdpa_cases():
    rng = np.random.default_rng(3)
    allowed = rng.random((4, 6)) > 0.3
    allowed[:, 0] = True
    return [
        dict(),
        dict(is_causal=True, L=5, S=5),
        dict(attn_mask=allowed),
        dict(attn_mask="float"),
        dict(scale=0.3),
    ]


@pytest.mark.parametrize("case", _sdpa_cases(), ids=["plain", "causal", "bool_mask", "float_mask_grad", "scale"])
def test_sdpa_gradcheck(case):
    rng = np.random.default_rng(4)
    case = dict(case)
    L, S = case.pop("L", 4), case.pop("S", 6)
    q, k, v = rand(rng, 2, L, 3), rand(rng, 2, S, 3), rand(rng, 2, S, 2)
    inputs = [q, k, v]
    if isinstance(case.get("attn_mask"), str):  # a float mask is differentiable: dL/dB = dL/dS
        inputs.append(rand(rng, L, S))
        case.pop("attn_mask")
        assert mg.gradcheck(lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b), inputs)
        return
    if "attn_mask" in case:
        case["attn_mask"] = mg.tensor(case["attn_mask"])
    assert mg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **case), inputs)


def test_sdpa_second_derivatives():
    rng = np.random.default_rng(5)
    q, k, v = rand(rng, 1, 3, 2), rand(rng, 1, 4, 2), rand(rng, 1, 4, 2)
    bias = mg.tensor(causal_bias(3, 4, np.float64))
    assert mg.gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=bias), [q, k, v])


@settings(max_examples=20, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    L=st.integers(1, 5), S=st.integers(1, 6), E=st.integers(1, 4), Ev=st.integers(1, 4),
    masked=st.booleans(), dropout=st.booleans(), seed=st.integers(0, 2**16),
)
def test_fused_kernel_equals_its_composite(batch, L, S, E, Ev, masked, dropout, seed):
    rng = np.random.default_rng(seed)
    batch = tuple(batch)
    q, k, v = rand(rng, *batch, L, E), rand(rng, *batch, S, E), rand(rng, *batch, S, Ev)
    bias = None
    if masked:
        allowed = rng.random((L, S)) > 0.5  # some rows may be fully masked
        bias = mg.tensor(np.where(allowed, 0.0, -np.inf))
    keep = (rng.random(batch + (L, S)) > 0.3) / 0.7 if dropout else None
    fused = ScaledDotProductAttention.apply(q, k, v, bias, keep, scale=0.7)
    comp = ScaledDotProductAttention.composite(q, k, v, bias, keep, scale=0.7)
    np.testing.assert_allclose(fused.numpy(), comp.numpy(), rtol=1e-10, atol=1e-12)
    g = mg.tensor(rng.standard_normal(fused.shape))
    got = mg.autograd.grad(fused, [q, k, v], g)
    want = mg.autograd.grad(comp, [q, k, v], g)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_fully_masked_query_gives_zeros_and_no_nan():
    rng = np.random.default_rng(6)
    q, k, v = rand(rng, 3, 4), rand(rng, 5, 4), rand(rng, 5, 2)
    allowed = np.ones((3, 5), dtype=bool)
    allowed[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(allowed))
    assert np.all(out.numpy()[1] == 0) and np.isfinite(out.numpy()).all()
    out.sum().backward()
    assert np.all(q.grad.numpy()[1] == 0) and np.isfinite(k.grad.numpy()).all()


def test_sdpa_broadcasts_batch_dims_and_sums_their_gradients():
    rng = np.random.default_rng(7)
    q = rand(rng, 2, 3, 4, 5)
    k, v = rand(rng, 2, 1, 6, 5), rand(rng, 2, 1, 6, 2)  # one key/value head shared by 3 query heads
    out = F.scaled_dot_product_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k.expand(2, 3, 6, 5), v.expand(2, 3, 6, 2))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)
    assert mg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [q, k, v])


def test_sdpa_dropout_is_inverted_and_seeded():
    rng = np.random.default_rng(8)
    q, k = rand(rng, 64, 8, 4, grad=False), rand(rng, 64, 8, 4, grad=False)
    v = mg.ones(64, 8, 1, dtype=np.float64)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25, generator=mg.Generator(0)).numpy()
    # each output is (sum of the kept weights) / 0.75: 1 on average, but not everywhere
    assert abs(out.mean() - 1.0) < 0.03 and out.std() > 0.05
    again = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25, generator=mg.Generator(0)).numpy()
    np.testing.assert_array_equal(out, again)


def test_sdpa_errors_are_clear():
    q, k, v = mg.randn(2, 3, 4), mg.randn(2, 5, 4), mg.randn(2, 5, 2)
    with pytest.raises(ValueError, match="same last dim"):
        F.scaled_dot_product_attention(q, mg.randn(2, 5, 3), v)
    with pytest.raises(ValueError, match="sequence length"):
        F.scaled_dot_product_attention(q, k, mg.randn(2, 4, 2))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mg.ones(3, 5), is_causal=True)
    with pytest.raises(ValueError, match="does not\\s+broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mg.ones(4, 5))
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    with pytest.raises(TypeError, match="bool or float"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(np.ones((3, 5), dtype=np.int64)))


def test_causal_bias_offsets():
    np.testing.assert_array_equal(causal_bias(3, 3) == 0, np.tril(np.ones((3, 3), dtype=bool)))
    # two new queries after three cached keys: they sit at positions 3 and 4
    np.testing.assert_array_equal(causal_bias(2, 5) == 0, [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(causal_bias(2, 5, offset=0) == 0, [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0]])


# -- MultiheadAttention ------------------------------------------------------------------------------
def _identity_mha(E):
    """One head whose projections are all the identity: MHA(x) == sdpa(x, x, x)."""
    mha = nn.MultiheadAttention(E, 1)
    mha.double()
    with mg.no_grad():
        mha.in_proj_weight.copy_(np.concatenate([np.eye(E)] * 3))
        mha.out_proj.weight.copy_(np.eye(E))
    return mha


def test_mha_with_identity_projections_is_plain_attention():
    rng = np.random.default_rng(9)
    E = 4
    mha = _identity_mha(E)
    x = rand(rng, 5, 2, E)  # (L, N, E)
    blocked = np.triu(np.ones((5, 5), dtype=bool), 1)  # MHA: True = may NOT attend
    out, w = mha(x, x, x, attn_mask=mg.tensor(blocked))
    xb = x.transpose(0, 1)
    ref = F.scaled_dot_product_attention(xb, xb, xb, attn_mask=mg.tensor(~blocked))  # SDPA: True = may attend
    np.testing.assert_allclose(out.transpose(0, 1).numpy(), ref.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0, rtol=1e-12)
    assert np.all(w.numpy()[:, blocked] == 0)


def test_mha_head_split_matches_per_head_attention():
    # heads are independent attentions on slices of the projected features, then concatenated
    rng = np.random.default_rng(10)
    E, H, N, L, S = 6, 3, 2, 4, 5
    mha = nn.MultiheadAttention(E, H, batch_first=True).double()
    q_in, kv_in = rand(rng, N, L, E), rand(rng, N, S, E)
    out, w = mha(q_in, kv_in, kv_in, average_attn_weights=False)
    W, b = mha.in_proj_weight.numpy(), mha.in_proj_bias.numpy()
    Q = q_in.numpy() @ W[:E].T + b[:E]
    K = kv_in.numpy() @ W[E:2 * E].T + b[E:2 * E]
    V = kv_in.numpy() @ W[2 * E:].T + b[2 * E:]
    d = E // H
    heads = []
    for h in range(H):
        sl = slice(h * d, (h + 1) * d)
        s = Q[..., sl] @ K[..., sl].transpose(0, 2, 1) / math.sqrt(d)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.testing.assert_allclose(w.numpy()[:, h], p, rtol=1e-10)
        heads.append(p @ V[..., sl])
    ref = np.concatenate(heads, -1) @ mha.out_proj.weight.numpy().T + mha.out_proj.bias.numpy()
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    assert w.shape == (N, H, L, S)
    _, w_avg = mha(q_in, kv_in, kv_in)
    np.testing.assert_allclose(w_avg.numpy(), w.numpy().mean(1), rtol=1e-12)


def test_mha_fused_path_equals_weights_path_and_gradcheck():
    rng = np.random.default_rng(11)
    mha = nn.MultiheadAttention(4, 2, kdim=3, vdim=5).double()
    q, k, v = rand(rng, 3, 2, 4), rand(rng, 6, 2, 3), rand(rng, 6, 2, 5)
    kpm = np.zeros((2, 6), dtype=bool)
    kpm[1, 4:] = True
    a, _ = mha(q, k, v, key_padding_mask=mg.tensor(kpm), need_weights=True)
    b, none = mha(q, k, v, key_padding_mask=mg.tensor(kpm), need_weights=False)
    assert none is None
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert mg.gradcheck(
        lambda q, k, v: mha(q, k, v, key_padding_mask=mg.tensor(kpm), need_weights=False)[0], [q, k, v])


def test_mha_unbatched_and_batch_first_agree():
    rng = np.random.default_rng(12)
    mha = nn.MultiheadAttention(4, 2).double()
    x = rand(rng, 5, 4)
    out_unbatched, w = mha(x, x, x)
    out_batched, wb = mha(x.unsqueeze(1), x.unsqueeze(1), x.unsqueeze(1))
    np.testing.assert_allclose(out_unbatched.numpy(), out_batched.numpy()[:, 0], rtol=1e-12)
    np.testing.assert_allclose(w.numpy(), wb.numpy()[0], rtol=1e-12)
    mha.batch_first = True
    out_bf, _ = mha(x.unsqueeze(0), x.unsqueeze(0), x.unsqueeze(0))
    np.testing.assert_allclose(out_bf.numpy()[0], out_unbatched.numpy(), rtol=1e-12)


def test_mha_per_head_mask_and_errors():
    rng = np.random.default_rng(13)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = rand(rng, 2, 3, 4)
    per_head = np.zeros((2 * 2, 3, 3))
    per_head[1, :, 2] = -np.inf  # batch 0, head 1 never looks at key 2
    _, w = mha(x, x, x, attn_mask=mg.tensor(per_head), average_attn_weights=False)
    assert np.all(w.numpy()[0, 1, :, 2] == 0) and np.all(w.numpy()[0, 0, :, 2] > 0)
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        mha(x, x, x, attn_mask=mg.zeros(3, 4))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        mha(x, x, x, key_padding_mask=mg.tensor(np.zeros((2, 4), dtype=bool)))
    with pytest.raises(ValueError, match="embed_dim is 4"):
        mha(rand(rng, 2, 3, 5), x, x)
    with pytest.raises(ValueError, match="multiple of"):
        nn.MultiheadAttention(5, 2)


def test_mha_state_dict_layout():
    same = nn.MultiheadAttention(8, 2)
    assert list(same.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert same.in_proj_weight.shape == (24, 8)
    apart = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    assert {k: tuple(v.shape) for k, v in apart.state_dict().items()} == {
        "q_proj_weight": (8, 8), "k_proj_weight": (8, 3), "v_proj_weight": (8, 5), "out_proj.weight": (8, 8)}


# -- the KV cache ----------------------------------------------------------------------------------
def test_kv_cache_incremental_self_attention_equals_full_causal_pass():
    rng = np.random.default_rng(14)
    mha = nn.MultiheadAttention(6, 2, batch_first=True).double().eval()
    x = rand(rng, 2, 7, 6, grad=False)
    full, _ = mha(x, x, x, is_causal=True, need_weights=False)
    cache = nn.KVCache()
    with mg.no_grad():
        pieces = [mha(x[:, :3], x[:, :3], x[:, :3], is_causal=True, kv_cache=cache, need_weights=False)[0]]
        for t in range(3, 7):  # then one token at a time
            xt = x[:, t:t + 1]
            pieces.append(mha(xt, xt, xt, is_causal=True, kv_cache=cache, need_weights=False)[0])
    assert cache.seq_len == 7
    np.testing.assert_allclose(mg.cat(pieces, dim=1).numpy(), full.numpy(), rtol=1e-10, atol=1e-12)


def test_kv_cache_grows_past_its_first_buffer():
    rng = np.random.default_rng(15)
    mha = nn.MultiheadAttention(2, 1, batch_first=True).double()
    x = rand(rng, 1, 40, 2, grad=False)
    full, _ = mha(x, x, x, is_causal=True, need_weights=False)
    cache = nn.KVCache()
    with mg.no_grad():
        steps = [mha(x[:, t:t + 1], x[:, t:t + 1], x[:, t:t + 1], kv_cache=cache, is_causal=True)[0]
                 for t in range(40)]
    np.testing.assert_allclose(mg.cat(steps, dim=1).numpy(), full.numpy(), rtol=1e-10)
    cache.reset()
    assert cache.seq_len == 0


@pytest.mark.parametrize("norm_first", [False, True])
def test_kv_cache_decoder_layer_equals_full_decoding(norm_first):
    rng = np.random.default_rng(16)
    layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True,
                                       norm_first=norm_first).double().eval()
    tgt, memory = rand(rng, 2, 5, 8, grad=False), rand(rng, 2, 4, 8, grad=False)
    full = layer(tgt, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5, dtype=np.float64))
    cache = nn.KVCache()
    with mg.no_grad():
        steps = [layer(tgt[:, t:t + 1], memory, kv_cache=cache) for t in range(5)]
    np.testing.assert_allclose(mg.cat(steps, dim=1).numpy(), full.numpy(), rtol=1e-10, atol=1e-12)


# -- positions ---------------------------------------------------------------------------------------
def test_sinusoidal_positions_hand_values():
    pe = sinusoidal_positions(50, 6, dtype=np.float64)
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(pe[1, :2], [math.sin(1), math.cos(1)])
    np.testing.assert_allclose(pe[7, 2:4], [math.sin(7 / 10000 ** (2 / 6)), math.cos(7 / 10000 ** (2 / 6))])
    # PE[pos + k] is a rotation of PE[pos] by an angle that depends on k only
    w = 10000 ** (-2 / 6)
    rot = np.array([[math.cos(3 * w), -math.sin(3 * w)], [math.sin(3 * w), math.cos(3 * w)]])
    np.testing.assert_allclose(pe[10:40, 2:4] @ rot, pe[13:43, 2:4], atol=1e-12)
    odd = sinusoidal_positions(4, 5)
    assert odd.shape == (4, 5) and np.allclose(odd[0], [0, 1, 0, 1, 0])


def test_position_embeddings_offsets_and_errors():
    sin = nn.SinusoidalPositionalEmbedding(16, 4)
    np.testing.assert_allclose(sin(3, offset=2).numpy(), sinusoidal_positions(16, 4)[2:5])
    assert not sin(3).requires_grad and "weight" not in sin.state_dict()
    learned = nn.LearnedPositionalEmbedding(16, 4)
    out = learned(3, offset=5)
    np.testing.assert_allclose(out.numpy(), learned.weight.numpy()[5:8])
    out.sum().backward()
    assert np.all(learned.weight.grad.numpy()[5:8] == 1) and np.all(learned.weight.grad.numpy()[:5] == 0)
    with pytest.raises(IndexError, match="num_positions=16"):
        learned(17)
    with pytest.raises(IndexError, match="position 16"):
        sin(4, offset=13)


# -- layers and stacks -------------------------------------------------------------------------------
def test_pre_and_post_norm_differ_where_the_paper_says():
    # post-norm outputs are normalised (mean 0, variance 1 per position); pre-norm outputs are not
    rng = np.random.default_rng(17)
    x = mg.tensor(rng.standard_normal((2, 5, 8)) * 3 + 2, dtype=mg.float32)  # the layer's dtype: PyTorch refuses a mix
    for norm_first, normalised in ((False, True), (True, False)):
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        y = layer(x).numpy()
        looks_normalised = np.allclose(y.mean(-1), 0, atol=1e-5) and np.allclose(y.var(-1), 1, atol=1e-3)
        assert looks_normalised == normalised


def test_stacks_clone_layers_with_independent_weights():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8))
    assert len(enc.layers) == 3
    assert enc.num_parameters() == 3 * layer.num_parameters() + 16
    with mg.no_grad():
        enc.layers[0].linear1.weight.fill_(0.0)
    assert np.abs(enc.layers[1].linear1.weight.numpy()).sum() > 0
    names = [n for n, _ in enc.named_parameters()]
    assert "layers.2.self_attn.in_proj_weight" in names and "norm.weight" in names


def test_transformer_trains_a_copy_task():
    # a 1-layer encoder-decoder learns to copy short sequences: loss must fall well below chance
    mg.manual_seed(0)
    rng = np.random.default_rng(18)
    V, E, T = 6, 16, 4
    emb = nn.Embedding(V, E)
    model = nn.Transformer(E, 2, 1, 1, dim_feedforward=32, dropout=0.0, batch_first=True)
    head = nn.Linear(E, V)
    pos = nn.SinusoidalPositionalEmbedding(16, E)
    params = list(emb.parameters()) + list(model.parameters()) + list(head.parameters())
    opt = Adam(params, lr=1e-2)
    mask = nn.Transformer.generate_square_subsequent_mask(T)
    losses = []
    for _ in range(200):
        src = rng.integers(2, V, size=(16, T))
        tgt_in = np.concatenate([np.ones((16, 1), dtype=np.int64), src[:, :-1]], 1)
        out = model(emb(mg.tensor(src)) + pos(T), emb(mg.tensor(tgt_in)) + pos(T), tgt_mask=mask)
        loss = F.cross_entropy(head(out).reshape(-1, V), mg.tensor(src.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # chance is ln 4 (4 symbols); Adam at lr 1e-2 is spiky step to step, so average the last 20
    # (over 8 seeds the average after 200 steps was 0.006-0.14)
    assert np.mean(losses[-20:]) < 0.2 * math.log(V - 2)


def test_kv_cache_keeps_the_graph_when_gradients_are_wanted():
    # training through a cache (rare, but allowed): the gradient equals the full causal pass's
    rng = np.random.default_rng(19)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = rand(rng, 1, 5, 4)
    full, _ = mha(x, x, x, is_causal=True, need_weights=False)
    g_full = mg.autograd.grad(full.sum(), [x, mha.in_proj_weight])
    cache = nn.KVCache()
    steps = [mha(x[:, t:t + 1], x[:, t:t + 1], x[:, t:t + 1], is_causal=True, kv_cache=cache)[0] for t in range(5)]
    g_cached = mg.autograd.grad(mg.cat(steps, dim=1).sum(), [x, mha.in_proj_weight])
    for a, b in zip(g_cached, g_full):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)
