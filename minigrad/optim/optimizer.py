"""Optimizer: the base class that SGD, Adam and AdamW share.

An optimizer holds *parameter groups*: a list of dicts, each with a list of parameters under
"params" and that group's hyper-parameters ("lr", "weight_decay", ...), so that one model can
train its parts with different settings. It also holds a *state* per parameter (momentum
buffers, Adam's moments). Updates work on the raw arrays in place, outside the graph:

    for group in optimizer.param_groups:
        for p in group["params"]:
            p.data -= group["lr"] * p.grad.data      # what SGD does, in short

`state_dict()` has PyTorch's structure: parameters are referred to by their position
(0, 1, 2, ... counted across the groups in order), never by identity, so the state can be
loaded into a fresh optimizer built over a fresh model. Arrays in the state are numpy arrays
(copied from the GPU when needed) so that minigrad.io can write them to a file.
"""
from __future__ import annotations

import copy

import numpy as np

from ..backend import to_device, to_numpy
from ..tensor import Tensor


class _Required:
    """Marks a hyper-parameter without a default (SGD's lr): each group must then give one."""

    def __repr__(self):
        return "<required>"


required = _Required()


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad and state_dict.

    A subclass passes its defaults (a dict of hyper-parameters) and implements `step()`.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}  # Tensor -> dict of that parameter's state (keys by identity)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._name()}: params must be an iterable of Tensors or of dicts (parameter groups), "
                "got a single Tensor; wrap it in a list: [p]"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name()}: got an empty parameter list; pass model.parameters()")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _name(self) -> str:
        return type(self).__name__

    # -- parameter groups -----------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters, with its own hyper-parameters (the rest from the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name()}.add_param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{self._name()}.add_param_group: the group has no 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{self._name()}: can only optimize Tensors, but parameter {i} of the group is a "
                    f"{type(p).__name__}"
                )
            if p.grad_fn is not None:
                raise ValueError(
                    f"{self._name()}: can't optimize a non-leaf Tensor (parameter {i}, shape {tuple(p.shape)}, "
                    f"made by {p.grad_fn.name()}): its value is computed from other tensors. Optimize the "
                    "leaves it comes from, or make it a leaf with .detach().requires_grad_()"
                )
            if p.dtype.kind not in "fc":
                raise TypeError(
                    f"{self._name()}: parameter {i} has dtype {p.dtype}; only floating point tensors can be optimized"
                )
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{self._name()}: a parameter appears twice in the same group; give each parameter once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(
                f"{self._name()}: some parameters appear in more than one parameter group; "
                "give each parameter to exactly one group"
            )
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"{self._name()}: parameter group didn't specify a value of required "
                                 f"hyper-parameter {name!r}")
            group.setdefault(name, default)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Subclasses validate a group's hyper-parameters here (with a clear error)."""

    # -- gradients --------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: drop them (the default, frees memory) or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:  # a create_graph gradient: cut it loose first
                        p.grad = p.grad.detach()
                    p.grad.data[...] = 0

    def step(self, closure=None):
        raise NotImplementedError(f"{self._name()} does not implement step()")

    def _params_with_grad(self, group):
        """The group's parameters that received a gradient, with their gradient arrays."""
        for p in group["params"]:
            if p.grad is not None:
                yield p, p.grad.data

    def _state_for(self, p) -> dict:
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {}
        return state

    # -- saving and loading -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index, ...]}]}.

        Indices count the parameters across all groups in order. Arrays are numpy copies.
        """
        index_of = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index_of[id(p)] = len(index_of)
                packed["params"].append(index_of[id(p)])
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index_of:
                state[index_of[id(p)]] = {
                    k: (to_numpy(v).copy() if _is_array(v) else v) for k, v in s.items()
                }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load what state_dict() returned (possibly from another optimizer over other tensors).

        The groups must match in number and size. Floating state arrays take each parameter's
        dtype and device. Nothing changes unless everything fits.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(
                f"{self._name()}.load_state_dict: expected a dict with 'state' and 'param_groups', as "
                "state_dict() returns"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{self._name()}.load_state_dict: the loaded state has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        params_by_index = {}
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(
                    f"{self._name()}.load_state_dict: parameter group {i} has {len(saved['params'])} parameters "
                    f"in the loaded state but {len(mine['params'])} here; build the optimizer over the same "
                    "parameters, in the same order"
                )
            for index, p in zip(saved["params"], mine["params"]):
                params_by_index[int(index)] = p
        new_state = {}
        for index, s in state_dict["state"].items():
            p = params_by_index.get(int(index))
            if p is None:
                raise ValueError(f"{self._name()}.load_state_dict: state for parameter {index}, which no group has")
            new_state[p] = {k: self._state_value_for(p, k, v) for k, v in s.items()}
        new_groups = []
        for mine, saved in zip(self.param_groups, saved_groups):
            group = copy.deepcopy({k: v for k, v in saved.items() if k != "params"})
            group["params"] = mine["params"]
            new_groups.append(group)
        self.state = new_state
        self.param_groups = new_groups

    def _state_value_for(self, p, name, value):
        if name == "step":  # a count (PyTorch keeps it in a 0-d tensor: accept that too)
            return int(to_numpy(value)) if _is_array(value) else int(value)
        if not _is_array(value):
            return copy.deepcopy(value)
        value = to_numpy(value)
        if value.shape != tuple(p.shape) and value.ndim > 0:
            raise ValueError(
                f"{self._name()}.load_state_dict: state {name!r} has shape {value.shape} but its parameter "
                f"has shape {tuple(p.shape)}"
            )
        if value.dtype.kind == "f":
            value = value.astype(p.dtype)
        return to_device(value.copy(), p.device)

    def __repr__(self):
        lines = [f"{self._name()} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray) or (hasattr(value, "__cuda_array_interface__") and hasattr(value, "get"))


def bump_version(p) -> None:
    """Record an in-place change of p, so a graph that saved its old value refuses to backprop."""
    p._version[0] += 1


def scalar(value, name: str, who: str) -> float:
    """A hyper-parameter as a Python float: numpy scalars would promote float32 arrays to float64."""
    if isinstance(value, Tensor):
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: {name} must be a number, got {value!r}") from None

