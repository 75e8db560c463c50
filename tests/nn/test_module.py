"""nn.Module: registration, traversal, modes, state dicts (all-or-nothing loads), repr."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(4, 2)
        self.register_buffer("scale", mg.ones(2))
        self.register_buffer("cache", mg.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_parameters_are_registered_in_definition_order():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert m.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2
    assert [n for n, _ in m.named_buffers()] == ["scale", "cache"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]


def test_tied_parameter_listed_once_but_saved_under_both_names():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.head = nn.Linear(3, 5, bias=False)
            self.head.weight = self.emb.weight

    m = Tied()
    assert len(list(m.parameters())) == 1
    assert set(m.state_dict()) == {"emb.weight", "head.weight"}


def test_train_eval_reaches_every_submodule():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    m.eval()
    assert all(not mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())


def test_dropout_is_identity_in_eval_and_scales_in_train():
    mg.manual_seed(0)
    d = nn.Dropout(0.25)
    x = mg.ones(20000)
    y = d(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    d.eval()
    assert d(x) is x


def test_state_dict_round_trip_excludes_non_persistent_buffers():
    mg.manual_seed(1)
    a, b = TwoLayer(), TwoLayer()
    sd = a.state_dict()
    assert "cache" not in sd and "scale" in sd
    b.load_state_dict(sd)
    x = mg.randn(5, 3)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_refused_load_changes_nothing():
    mg.manual_seed(2)
    a, b = TwoLayer(), TwoLayer()
    before = {k: v.numpy().copy() for k, v in b.state_dict().items()}
    sd = a.state_dict()
    sd["fc2.weight"] = mg.zeros(3, 3)  # wrong shape, but fc1 comes first and would load
    with pytest.raises(RuntimeError, match=r"size mismatch for fc2.weight.*\(3, 3\).*\(2, 4\).*nothing was changed|nothing was changed.*size mismatch"):
        b.load_state_dict(sd)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_missing_and_unexpected_keys():
    a = TwoLayer()
    sd = dict(a.state_dict())
    del sd["fc1.bias"]
    sd["extra"] = mg.zeros(1)
    with pytest.raises(RuntimeError, match="missing keys: fc1.bias.*unexpected keys: extra"):
        TwoLayer().load_state_dict(sd)
    result = TwoLayer().load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["extra"]


def test_zero_grad_and_to_dtype():
    m = TwoLayer()
    m(mg.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m(mg.randn(2, 3, dtype=mg.float64)).dtype == np.float64


def test_setattr_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Bad()


def test_repr_reads_like_pytorch():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert text == "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)"


def test_module_list_and_dict_register_parameters():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    md = nn.ModuleDict({"a": nn.Linear(2, 2)})
    assert len(list(ml.parameters())) == 6 and len(ml) == 3
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]


def test_linear_default_init_bounds():
    mg.manual_seed(3)
    lin = nn.Linear(64, 32)
    bound = 1 / np.sqrt(64)
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01  # the std of U(-b, b) is b / sqrt(3)


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    e = nn.Embedding(6, 3, padding_idx=2)
    assert np.all(e.weight.numpy()[2] == 0)
    e(mg.tensor([[2, 1, 2]])).sum().backward()
    g = e.weight.grad.numpy()
    assert np.all(g[2] == 0) and np.all(g[1] == 1)


def test_embedding_rejects_out_of_range_and_negative_ids():
    e = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match="embedding: index 4 is out of range.*4 rows"):
        e(mg.tensor([1, 4]))
    with pytest.raises(IndexError, match="index -1 is out of range.*not wrapped"):
        e(mg.tensor([-1]))


def test_one_hot_matches_hand_values_and_rejects_negatives():
    oh = nn.functional.one_hot(mg.tensor([0, 2]), 3)
    np.testing.assert_array_equal(oh.numpy(), [[1, 0, 0], [0, 0, 1]])
    assert oh.dtype == np.int64 and not oh.requires_grad
    with pytest.raises(ValueError, match="non-negative"):
        nn.functional.one_hot(mg.tensor([-1, 0]), 3)
