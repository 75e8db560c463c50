"""Adam and AdamW over one flat buffer per parameter group (foreach=True, the default on a GPU):
against torch.optim over several steps, and the bookkeeping that keeps the flat buffers honest
(the parameters and the state as views, laid out again when anything replaces them, the
per-parameter loop where one flat step cannot serve)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import optim

torch = pytest.importorskip("torch")

SHAPES = [(5, 3), (3,), (4, 2, 2), (7,), (1,)]


def arrays(seed, dtype=np.float32):
    g = np.random.default_rng(seed)
    return [g.standard_normal(s).astype(dtype) for s in SHAPES]


def groups(params, lr_scale=1.0):
    return [{"params": params[:2], "weight_decay": 0.1}, {"params": params[2:], "weight_decay": 0.0,
                                                           "lr": 3e-3 * lr_scale}]


@pytest.mark.parametrize("name", ["AdamW", "Adam"])
@pytest.mark.parametrize("maximize", [False, True])
def test_one_flat_step_matches_torch_over_several_steps(name, maximize):
    init = arrays(0)
    ours = [mg.tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    kwargs = dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, maximize=maximize)
    opt = getattr(optim, name)(groups(ours), foreach=True, **kwargs)
    ref = getattr(torch.optim, name)(groups(theirs), foreach=True, **kwargs)
    for step in range(8):
        for p, q, g in zip(ours, theirs, arrays(100 + step)):
            p.grad, q.grad = mg.tensor(g), torch.tensor(g)
        opt.step()
        ref.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-6, err_msg=f"{step}, {i}")
    assert set(opt._flat) == {0, 1}  # both groups took the flat step
    for i, p in enumerate(ours):  # and the moments are torch's too, to float32 rounding (torch's m uses lerp)
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(opt.state[p][key], ref.state[theirs[i]][key].numpy(), rtol=5e-6, atol=1e-9)
        assert opt.state[p]["step"] == 8


def test_the_flat_step_equals_the_per_parameter_loop():
    def run(foreach):
        ps = [mg.tensor(a, requires_grad=True) for a in arrays(0, np.float64)]
        opt = optim.AdamW(groups(ps), foreach=foreach)
        for step in range(4):
            for p, g in zip(ps, arrays(7 + step, np.float64)):
                p.grad = mg.tensor(g)
            opt.step()
        return [p.numpy() for p in ps], opt.state_dict()

    (flat, flat_state), (loop, loop_state) = run(True), run(False)
    for a, b in zip(flat, loop):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    assert flat_state["param_groups"][0]["foreach"] is True and loop_state["param_groups"][0]["foreach"] is False
    for index, state in loop_state["state"].items():
        assert flat_state["state"][index]["step"] == state["step"]
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(flat_state["state"][index][key], state[key], rtol=1e-14)
            assert flat_state["state"][index][key].shape == state[key].shape


def test_parameters_and_moments_become_views_of_one_buffer_and_keep_their_shapes():
    ps = [mg.tensor(a, requires_grad=True) for a in arrays(0)]
    before = [p.numpy().copy() for p in ps]
    opt = optim.Adam(ps, lr=0.0, foreach=True)  # lr 0: the values must survive the layout unchanged
    for p, g in zip(ps, arrays(1)):
        p.grad = mg.tensor(g)
    opt.step()
    flat = opt._flat[0]
    for p, b in zip(ps, before):
        assert p.data.base is flat.params_flat and p.shape == b.shape
        np.testing.assert_array_equal(p.numpy(), b)
        assert opt.state[p]["exp_avg"].base is flat.state_flat["exp_avg"]
    assert flat.params_flat.size == sum(int(np.prod(s)) for s in SHAPES)


def test_replaced_arrays_are_laid_out_again():
    """load_state_dict, module.to() or `p.data = ...` replace arrays: the next step copies them in."""
    ps = [mg.tensor(a, requires_grad=True) for a in arrays(0, np.float64)]
    opt = optim.AdamW(ps, lr=1e-2, foreach=True)
    reference = optim.AdamW([mg.tensor(a, requires_grad=True) for a in arrays(0, np.float64)], lr=1e-2, foreach=False)

    def step(seed):
        for p, q, g in zip(ps, reference.param_groups[0]["params"], arrays(seed, np.float64)):
            p.grad, q.grad = mg.tensor(g), mg.tensor(g)
        opt.step()
        reference.step()

    step(1)
    first = opt._flat[0]
    ps[2].data = ps[2].data * 1.0  # a new array, outside the buffer
    reference.param_groups[0]["params"][2].data = reference.param_groups[0]["params"][2].data * 1.0
    step(2)
    assert opt._flat[0] is not first and ps[2].data.base is opt._flat[0].params_flat
    opt.load_state_dict(reference.state_dict())  # fresh state arrays (equal values)
    step(3)
    for p, q in zip(ps, reference.param_groups[0]["params"]):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-14)


def test_the_per_parameter_loop_serves_where_one_flat_step_cannot():
    ps = [mg.tensor(a, requires_grad=True) for a in arrays(0)]
    opt = optim.AdamW(ps, foreach=True)
    for p, g in zip(ps[1:], arrays(1)[1:]):  # ps[0] has no gradient this step: it must not move
        p.grad = mg.tensor(g)
    before = ps[0].numpy().copy()
    opt.step()
    assert 0 not in opt._flat and ps[0] not in opt.state
    np.testing.assert_array_equal(ps[0].numpy(), before)
    ps[0].grad = mg.tensor(arrays(2)[0])
    for p, g in zip(ps[1:], arrays(3)[1:]):
        p.grad = mg.tensor(g)
    opt.step()  # ps[0] has taken fewer steps than the others: still the loop (each keeps its own count)
    assert 0 not in opt._flat and opt.state[ps[0]]["step"] == 1 and opt.state[ps[1]]["step"] == 2
    amsgrad = optim.Adam([mg.tensor([1.0], requires_grad=True)], amsgrad=True, foreach=True)
    amsgrad.param_groups[0]["params"][0].grad = mg.tensor([1.0])
    amsgrad.step()
    assert not amsgrad._flat


def test_foreach_defaults_to_the_loop_on_the_cpu_and_checks_its_value():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.AdamW([p])
    p.grad = mg.tensor([0.5, -0.5])
    opt.step()
    assert opt.param_groups[0]["foreach"] is None and not opt._flat
    with pytest.raises(ValueError, match="foreach"):
        optim.Adam([p], foreach="yes")
