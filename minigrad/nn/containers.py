"""ParameterList and ParameterDict: parameters kept in a list or dict and still registered
(their names in named_parameters() and the state dict are the positions or the keys)."""
from __future__ import annotations

from ..tensor import Tensor
from .module import Module, Parameter


def _as_parameter(value, where):
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):  # as PyTorch: a plain tensor becomes a Parameter
        return Parameter(value)
    raise TypeError(f"{where}: expected a Parameter or a Tensor, got {type(value).__name__}")


class ParameterList(Module):
    """A list of Parameters: ParameterList([Parameter(...), ...]); index, append, extend, iterate."""

    def __init__(self, values=None):
        super().__init__()
        for v in values or []:
            self.append(v)

    def append(self, value):
        self.register_parameter(str(len(self._parameters)), _as_parameter(value, "ParameterList.append"))
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def __getitem__(self, i):
        params = list(self._parameters.values())
        if isinstance(i, slice):
            return ParameterList(params[i])
        return params[i]

    def __setitem__(self, i, value):
        key = list(self._parameters)[i]
        self.register_parameter(key, _as_parameter(value, "ParameterList[...] ="))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def extra_repr(self):
        return "\n".join(f"({k}): Parameter of shape {tuple(p.shape)}" for k, p in self._parameters.items())


class ParameterDict(Module):
    """A dict of Parameters: ParameterDict({"scale": Parameter(...)}); get, set, keys, items, update."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, value):
        if not isinstance(key, str) or "." in key or not key:
            raise KeyError(f"ParameterDict: keys must be non-empty strings without '.', got {key!r}")
        self.register_parameter(key, _as_parameter(value, f"ParameterDict[{key!r}] ="))

    def __delitem__(self, key):
        del self._parameters[key]

    def __contains__(self, key):
        return key in self._parameters

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()

    def update(self, parameters):
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for k, v in items:
            self[k] = v

    def pop(self, key):
        return self._parameters.pop(key)

    def extra_repr(self):
        return "\n".join(f"({k}): Parameter of shape {tuple(p.shape)}" for k, p in self._parameters.items())
