"""SGD: stochastic gradient descent, with momentum, dampening, Nesterov and weight decay.

For each parameter p with gradient g (PyTorch's formulation):

    g = g + weight_decay * p                       (L2 penalty, coupled into the gradient)
    b = g                      on the first step   (momentum buffer)
    b = momentum * b + (1 - dampening) * g         afterwards
    g = g + momentum * b  if nesterov  else  b
    p = p - lr * g

(With maximize=True the gradient's sign is flipped first, to climb instead of descend.)
"""
from __future__ import annotations

from ..autograd import enable_grad
from .optimizer import Optimizer, bump_version, required, scalar


class SGD(Optimizer):
    def __init__(self, params, lr=required, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        if group["lr"] is not required and scalar(group["lr"], "lr", "SGD") < 0:
            raise ValueError(f"SGD: invalid learning rate lr={group['lr']}; it must be >= 0")
        if scalar(group["momentum"], "momentum", "SGD") < 0:
            raise ValueError(f"SGD: invalid momentum={group['momentum']}; it must be >= 0")
        if scalar(group["weight_decay"], "weight_decay", "SGD") < 0:
            raise ValueError(f"SGD: invalid weight_decay={group['weight_decay']}; it must be >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got momentum={group['momentum']}, "
                f"dampening={group['dampening']}"
            )

    def step(self, closure=None):
        """One update of every parameter that has a gradient. `closure` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            # Python floats, not numpy scalars: those would turn float32 updates into float64
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            weight_decay = float(group["weight_decay"])
            for p, g in self._params_with_grad(group):
                if group["maximize"]:
                    g = -g
                if weight_decay != 0:
                    g = g + weight_decay * p.data  # a new array: p.grad itself is left alone
                if momentum != 0:
                    state = self._state_for(p)
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = g.copy()
                    else:
                        buf *= momentum
                        buf += g if dampening == 0 else (1 - dampening) * g
                    g = g + momentum * buf if group["nesterov"] else buf
                p.data -= lr * g
                bump_version(p)
        return loss
