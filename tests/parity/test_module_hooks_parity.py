"""Module hooks against PyTorch: the same models, hooks and inputs in both libraries; what the
hooks see (args, outputs, grad_input, grad_output) and what their replacements change (outputs,
parameter and input gradients) agree to 1e-10."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests compare with PyTorch: pip install 'torch==2.13.0'")

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from test_nn_parity import copy_weights  # noqa: E402

X = np.random.default_rng(0).standard_normal((3, 4))


def pair(make):
    """The same model in both libraries, float64, same weights."""
    theirs = make(torch.nn).double()
    ours = make(nn).double()
    copy_weights(ours, theirs)
    return ours, theirs


def tensors(a, requires_grad=True):
    return mg.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def close(a, b):
    if a is None or b is None:
        assert a is None and b is None, (a, b)
        return
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(a.numpy(), b, rtol=1e-10, atol=1e-12)


def recorder(store, key):
    """A backward hook that only records what it sees (returns None: changes nothing)."""
    def hook(module, grad_input, grad_output):
        store.setdefault(key, []).append((grad_input, grad_output))
    return hook


def mlp(lib):
    return lib.Sequential(lib.Linear(4, 5), lib.Tanh(), lib.Linear(5, 2))


def test_forward_pre_hook_and_forward_hook_replace_args_and_output():
    ours, theirs = pair(mlp)
    for model in (ours, theirs):
        model[0].register_forward_pre_hook(lambda m, args: (args[0] * 2,))
        model[2].register_forward_hook(lambda m, args, out: out + args[0].sum())
    xo, xt = tensors(X)
    yo, yt = ours(xo), theirs(xt)
    close(yo, yt)
    yo.sum().backward()
    yt.sum().backward()
    close(xo.grad, xt.grad)
    close(ours[0].weight.grad, theirs[0].weight.grad)


def test_hooks_run_in_order_prepend_first_and_handles_remove_them():
    calls = {"ours": [], "theirs": []}
    for key, lib in (("ours", nn), ("theirs", torch.nn)):
        m = lib.Linear(4, 2)
        m.register_forward_hook(lambda *a, k=key: calls[k].append("first"))
        h = m.register_forward_hook(lambda *a, k=key: calls[k].append("second"))
        m.register_forward_hook(lambda *a, k=key: calls[k].append("prepended"), prepend=True)
        m.register_forward_pre_hook(lambda *a, k=key: calls[k].append("pre"))
        x = mg.zeros(1, 4) if lib is nn else torch.zeros(1, 4)
        m(x)
        h.remove()
        with m.register_forward_hook(lambda *a, k=key: calls[k].append("scoped")):
            m(x)
        m(x)
    assert calls["ours"] == calls["theirs"] == ["pre", "prepended", "first", "second", "pre", "prepended", "first",
                                                "scoped", "pre", "prepended", "first"]


def test_with_kwargs_hooks_see_and_replace_keyword_arguments():
    class Scale:
        @staticmethod
        def make(lib):
            class M(lib.Module):
                def forward(self, x, scale=1.0):
                    return x * scale
            return M()

    for lib, x in ((nn, mg.ones(2)), (torch.nn, torch.ones(2))):
        m = Scale.make(lib)
        m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": kwargs["scale"] * 3}), with_kwargs=True)
        m.register_forward_hook(lambda mod, args, kwargs, out: out + kwargs["scale"], with_kwargs=True)
        y = m(x, scale=2.0)
        assert y.tolist() == [12.0, 12.0]


def test_full_backward_hook_sees_grad_input_and_grad_output_as_torch():
    seen = {}
    ours, theirs = pair(mlp)
    for key, model in (("ours", ours), ("theirs", theirs)):
        model[2].register_full_backward_hook(recorder(seen, key))
        model[0].register_full_backward_hook(recorder(seen, key))
    xo, xt = tensors(X)
    (ours(xo) ** 2).sum().backward()
    (theirs(xt) ** 2).sum().backward()
    assert len(seen["ours"]) == len(seen["theirs"]) == 2
    for (gi_o, go_o), (gi_t, go_t) in zip(seen["ours"], seen["theirs"]):
        assert len(gi_o) == len(gi_t) and len(go_o) == len(go_t)
        for a, b in zip(gi_o + go_o, gi_t + go_t):
            close(a, b)


def test_full_backward_hook_replacement_changes_the_gradients_upstream():
    ours, theirs = pair(mlp)
    for model in (ours, theirs):
        model[2].register_full_backward_hook(lambda m, gi, go: (gi[0] * 0.5,))
        model[2].register_full_backward_pre_hook(lambda m, go: (go[0] * 3,))
    xo, xt = tensors(X)
    (ours(xo) ** 2).sum().backward()
    (theirs(xt) ** 2).sum().backward()
    close(xo.grad, xt.grad)
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(p.grad, q.grad)


def test_full_backward_hook_with_several_inputs_a_non_tensor_and_one_without_grad():
    def make(lib):
        class Mix(lib.Module):
            def forward(self, a, scale, b, c):
                return (a * b).tanh() * scale + c.sum()
        return Mix()

    seen = {}
    results = {}
    for key, lib in (("ours", nn), ("theirs", torch.nn)):
        m = make(lib)
        m.register_full_backward_hook(recorder(seen, key))
        m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 2, None, gi[2], gi[3]))
        rng = np.random.default_rng(1)
        arrays = [rng.standard_normal((2, 3)) for _ in range(3)]
        if lib is nn:
            a, b, c = (mg.tensor(arrays[0], requires_grad=True), mg.tensor(arrays[1]), mg.tensor(arrays[2], requires_grad=True))
        else:
            a, b, c = (torch.tensor(arrays[0], requires_grad=True), torch.tensor(arrays[1]), torch.tensor(arrays[2], requires_grad=True))
        out = m(a, 1.5, b, c)
        (out * out).sum().backward()
        results[key] = (a.grad, c.grad)
    ((gi_o, go_o),), ((gi_t, go_t),) = seen["ours"], seen["theirs"]
    # a number gets None, a tensor that takes no gradient zeros (as torch)
    assert len(gi_o) == len(gi_t) == 4 and gi_o[1] is None and not gi_o[2].numpy().any()
    for x, y in zip(gi_o + go_o, gi_t + go_t):
        close(x, y)
    for x, y in zip(results["ours"], results["theirs"]):
        close(x, y)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing when gradients are computed with respect to module outputs")
def test_backward_hook_fires_with_none_when_no_input_requires_grad():
    seen = {}
    ours, theirs = pair(lambda lib: lib.Linear(4, 2))
    for key, m in (("ours", ours), ("theirs", theirs)):
        m.register_full_backward_hook(recorder(seen, key))
    xo, xt = tensors(X, requires_grad=False)
    ours(xo).sum().backward()
    theirs(xt).sum().backward()
    ((gi_o, go_o),), ((gi_t, go_t),) = seen["ours"], seen["theirs"]
    assert gi_o == (None,) and gi_t == (None,)
    close(go_o[0], go_t[0])
