"""Issue 15's autograd tools on the device, each against the same computation on the CPU:
minigrad.autograd.functional (jacobian, hessian, vjp, jvp, hvp, vhp), module hooks on a model moved
to the device, and viz.keep_values (every intermediate's value and gradient, and their drawing)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, viz
from minigrad.autograd import functional as AF

import standin


def x64(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _f(x, w):
    """A small nonlinear function of two inputs, with a vector output (for Jacobians)."""
    return (x @ w).tanh() * x.sum() + w.pow(2).sum(0)


def _scalar(x, w):
    return (_f(x, w) ** 2).sum() + (x * x * x).sum()


def test_jacobian_hessian_and_products_on_the_device(same_on_device):
    def run(dev):
        x = mg.tensor(x64(3), device=dev)
        w = mg.tensor(x64(3, 2, seed=1), device=dev)
        u = mg.tensor(x64(2, seed=2), device=dev)  # shaped like the output
        v = (mg.tensor(x64(3, seed=3), device=dev), mg.tensor(x64(3, 2, seed=4), device=dev))  # like the inputs
        jx, jw = AF.jacobian(_f, (x, w))
        (hxx, hxw), (hwx, hww) = AF.hessian(_scalar, (x, w))
        _, vj = AF.vjp(_f, (x, w), u)
        _, jv = AF.jvp(_f, (x, w), v)
        _, hv = AF.hvp(_scalar, (x, w), v)
        _, vh = AF.vhp(_scalar, (x, w), v)
        results = {"jx": jx, "jw": jw, "hxx": hxx, "hxw": hxw, "hwx": hwx, "hww": hww, "jv": jv,
                   "vjx": vj[0], "vjw": vj[1], "hvx": hv[0], "hvw": hv[1], "vhx": vh[0], "vhw": vh[1]}
        assert {t.device for t in results.values()} == {dev}
        return results

    result = same_on_device(run)
    # H is symmetric: its two cross blocks are each other's transpose, and H v = v^T H
    np.testing.assert_allclose(result["hxw"], result["hwx"].transpose(2, 0, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result["hvx"], result["vhx"], rtol=1e-12, atol=1e-12)


def test_the_derivatives_of_a_whole_function_move_nothing_but_their_results(device, standin_only):
    x = mg.tensor(x64(3), device=device)
    w = mg.tensor(x64(3, 2, seed=1), device=device)
    v = (mg.tensor(x64(3, seed=3), device=device), mg.tensor(x64(3, 2, seed=4), device=device))
    with standin.transfers() as log:
        AF.hessian(_scalar, (x, w))
        AF.jacobian(_f, (x, w), create_graph=True)
        AF.hvp(_scalar, (x, w), v)
        AF.jvp(_f, (x, w), v)
    assert log.to_device == [] and log.to_host == [], log


def _hooked_model(dev):
    """An MLP on the device with every kind of module hook; what the hooks saw is returned too."""
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double().to(dev)
    seen = {}
    model[0].register_forward_pre_hook(lambda m, args: (args[0] * 2.0,))
    model[1].register_forward_hook(lambda m, args, out: out + args[0].sum())

    def pre(module, grad_output):
        seen["grad_output_2"] = grad_output[0]
        return (grad_output[0] * 3.0,)

    def full(module, grad_input, grad_output):
        seen["grad_input_0"], seen["grad_output_0"] = grad_input[0], grad_output[0]
        return (grad_input[0] * 0.5,)

    model[2].register_full_backward_pre_hook(pre)
    model[0].register_full_backward_hook(full)
    return model, seen


def test_module_hooks_on_a_device_model(same_on_device):
    def run(dev):
        model, seen = _hooked_model(dev)
        x = mg.tensor(x64(3, 4), device=dev, requires_grad=True)
        y = model(x)
        (y * mg.tensor(x64(3, 2, seed=1), device=dev)).sum().backward()
        result = {"out": y, "grad_x": x.grad}
        result.update({f"grad_{n}": p.grad for n, p in model.named_parameters()})
        result.update({k: v for k, v in seen.items()})
        return result

    result = same_on_device(run)
    assert set(result) >= {"grad_output_2", "grad_input_0", "grad_output_0"}


def test_module_hooks_move_nothing_between_host_and_device(device, standin_only):
    model, _ = _hooked_model(device)
    x = mg.tensor(x64(3, 4), device=device, requires_grad=True)
    with standin.transfers() as log:
        model(x).sum().backward()
    assert log.to_device == [] and log.to_host == [], log


def test_keep_values_keeps_every_intermediate_on_the_device(same_on_device):
    def run(dev):
        a = mg.tensor(x64(3), device=dev, requires_grad=True)
        b = mg.tensor(x64(3, seed=1), device=dev, requires_grad=True)
        with viz.keep_values():
            u = a * b
            h = u.tanh()
            loss = (h * h).sum()
        loss.backward()
        assert u.grad.device == h.grad.device == dev
        return {"u": u, "h": h, "grad_u": u.grad, "grad_h": h.grad, "grad_a": a.grad}

    result = same_on_device(run)
    np.testing.assert_allclose(result["grad_u"], result["grad_h"] * (1 - result["h"] ** 2), rtol=1e-12)


def test_a_device_graph_is_drawn_with_every_value_and_gradient(device):
    """Drawing reads values for its labels: a copy to the host, as printing does, never a numpy
    call on device data. The labels are those of the same graph on the CPU."""
    pytest.importorskip("graphviz", reason="draw_graph builds a graphviz.Digraph (pip install graphviz)")

    def source(dev):
        mg.manual_seed(0)
        a = mg.tensor(x64(3), device=dev, requires_grad=True, name="a")
        with viz.keep_values():
            loss = (a.tanh() * a).sum()
        loss.backward()
        return viz.draw_graph(loss, show_values=True, show_grads=True).source

    on_device = source(device)
    assert on_device == source("cpu")
    assert on_device.count("grad [") == 3 and on_device.count("\\ngrad 1") == 1  # every node, the loss too
