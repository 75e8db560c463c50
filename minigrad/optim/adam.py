"""Adam and AdamW: adaptive moment estimation (Kingma & Ba, 2015; Loshchilov & Hutter, 2019).

For each parameter p with gradient g, at step t = 1, 2, ... (PyTorch's formulation):

    g = g + weight_decay * p                  Adam: L2 penalty, coupled into the gradient
    p = p * (1 - lr * weight_decay)           AdamW: decay decoupled from the gradient
    m = beta1 * m + (1 - beta1) * g           first moment (running mean of g)
    v = beta2 * v + (1 - beta2) * g^2         second moment (running mean of g^2)
    v_max = max(v_max, v)                     amsgrad only: use v_max instead of v below
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

The (1 - beta^t) factors undo the bias of m and v toward their zero start.
"""
from __future__ import annotations

from ..autograd import enable_grad
from ..backend import xp_of
from .adam_update import adam_update
from .multi_tensor import FlatGroup, can_step_at_once
from .optimizer import Optimizer, bump_version, scalar

_MOMENTS = ("exp_avg", "exp_avg_sq")


class Adam(Optimizer):
    """foreach (PyTorch's name): update each group's parameters at once, as one flat buffer
    (multi_tensor.py; on a GPU one fused kernel for the whole group). None, the default, does so
    on a GPU and keeps the per-parameter loop on the CPU, where it is as fast."""

    _decoupled = False  # AdamW sets this: weight decay shrinks p directly, not through g

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, foreach=None, maximize=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        foreach=foreach, maximize=maximize)
        self._flat: dict = {}  # group index -> FlatGroup, for the groups updated at once
        super().__init__(params, defaults)

    def _check_group(self, group):
        who = self._name()
        if scalar(group["lr"], "lr", who) < 0:
            raise ValueError(f"{who}: invalid learning rate lr={group['lr']}; it must be >= 0")
        if scalar(group["eps"], "eps", who) < 0:
            raise ValueError(f"{who}: invalid eps={group['eps']}; it must be >= 0")
        if scalar(group["weight_decay"], "weight_decay", who) < 0:
            raise ValueError(f"{who}: invalid weight_decay={group['weight_decay']}; it must be >= 0")
        if group["foreach"] not in (None, True, False):
            raise ValueError(f"{who}: foreach must be None, True or False, got {group['foreach']!r}")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{who}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, b in enumerate(betas):
            if not 0.0 <= scalar(b, f"betas[{i}]", who) < 1.0:
                raise ValueError(
                    f"{who}: invalid beta parameter at index {i}: {b}; each beta must lie in [0, 1) "
                    "(typical: betas=(0.9, 0.999))"
                )

    def step(self, closure=None):
        """One update of every parameter that has a gradient. `closure` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            # Python floats, not numpy scalars: those would turn float32 updates into float64
            hyper = dict(lr=float(group["lr"]), beta1=float(group["betas"][0]), beta2=float(group["betas"][1]),
                         eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                         decoupled=self._decoupled, maximize=group["maximize"])
            params = group["params"]
            if not group["amsgrad"] and can_step_at_once(params, self.state, group.get("foreach")):
                self._step_at_once(index, params, hyper)
                continue
            self._flat.pop(index, None)
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                state = self._state_for(p)
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(p.data)
                    state["exp_avg_sq"] = xp.zeros_like(p.data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = xp.zeros_like(p.data)
                state["step"] += 1
                adam_update(p.data, g, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                            state["step"], **hyper)
                bump_version(p)
        return loss

    def _step_at_once(self, index, params, hyper):
        """The whole group as one flat update (laid out again if anything replaced its arrays)."""
        flat = self._flat.get(index)
        if flat is None or not flat.intact(params, self.state):
            flat = self._flat[index] = FlatGroup(params, {p: self._state_for(p) for p in params}, _MOMENTS)
        step = self.state[params[0]].get("step", 0) + 1
        adam_update(flat.params_flat, flat.gradients(), flat.state_flat["exp_avg"], flat.state_flat["exp_avg_sq"],
                    None, step, **hyper)
        for p in params:
            self.state[p]["step"] = step
            bump_version(p)


class AdamW(Adam):
    """Adam with decoupled weight decay: p shrinks by lr * weight_decay * p at each step,
    independently of the adaptive scaling (the default decay is 1e-2, as in PyTorch)."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, foreach=None, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize)
