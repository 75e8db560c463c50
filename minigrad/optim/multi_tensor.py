"""A parameter group laid end to end in flat arrays, so that an optimizer updates all of it at once
(PyTorch's `foreach=True`).

On a GPU, Adam's update costs about a dozen kernel launches per parameter, hundreds per step for a
GPT; over one flat buffer it is one concatenation of the gradients and one fused kernel
(adam_update.py). The parameters' arrays become views into the flat buffer (each p.data keeps its
shape), and so do the optimizer's state arrays, so that state_dict(), checkpoints and the model see
what they saw before. When something replaces one of those arrays (load_state_dict, module.to(),
`p.data = ...`), the next step notices and lays the group out again, copying the new values in.

On the CPU numpy makes the same passes over memory either way, and the per-parameter arrays stay
in cache where one long buffer does not: the flat step measured no faster there, so the optimizers
use it on a GPU by default and on the CPU only when asked (foreach=True).
"""
from __future__ import annotations

from ..backend import device_of, xp_of


class FlatGroup:
    """params and their state arrays `names` (e.g. Adam's exp_avg, exp_avg_sq) as views into one
    flat array each: `.params_flat` and `.state_flat[name]`. `states` maps each parameter to its
    state dict, whose arrays (when present) are copied in; missing ones start at zero."""

    def __init__(self, params, states, names):
        first = params[0].data
        xp, dtype = xp_of(first), first.dtype
        sizes = [p.data.size for p in params]
        total = sum(sizes)
        self.params = list(params)
        self.params_flat = xp.empty(total, dtype=dtype)
        self.state_flat = {name: xp.zeros(total, dtype=dtype) for name in names}
        self._views = []
        offset = 0
        for p, n in zip(self.params, sizes):
            part = slice(offset, offset + n)
            offset += n
            self.params_flat[part] = p.data.reshape(-1)
            p.data = self.params_flat[part].reshape(p.shape)
            state = states[p]
            for name in names:
                if name in state:
                    self.state_flat[name][part] = state[name].reshape(-1)
                state[name] = self.state_flat[name][part].reshape(p.shape)
            self._views.append((p, p.data, state, tuple(state[name] for name in names)))
        self._names = tuple(names)

    def intact(self, params, states) -> bool:
        """Whether params are still these parameters, each array still its view into the buffers."""
        if len(params) != len(self._views):
            return False
        for p, (q, data, state, arrays) in zip(params, self._views):
            if p is not q or p.data is not data or states.get(p) is not state:
                return False
            if any(state.get(name) is not a for name, a in zip(self._names, arrays)):
                return False
        return True

    def gradients(self):
        """The parameters' gradients end to end: one new array (one kernel on a GPU)."""
        return xp_of(self.params_flat).concatenate([p.grad.data.reshape(-1) for p in self.params])


def can_step_at_once(params, states, foreach) -> bool:
    """Whether one flat step can update `params`: foreach asked (None: on a GPU), every parameter
    has a gradient, all share a dtype (their gradients too) and a device, and all have taken the
    same number of steps. Otherwise the optimizer takes its per-parameter loop."""
    if foreach is False or not params:
        return False
    first = params[0].data
    device = device_of(first)
    if foreach is None and device == "cpu":
        return False
    for p in params:
        if p.grad is None or p.data.dtype != first.dtype or p.grad.data.dtype != first.dtype:
            return False
        if device_of(p.data) != device:
            return False
    return len({states.get(p, {}).get("step", 0) for p in params}) == 1
