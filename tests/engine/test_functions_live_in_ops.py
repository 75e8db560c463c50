"""Every differentiable primitive (a Function subclass) is defined in minigrad/ops/, so a reader finds
each forward and backward in one folder; nn/ holds Modules and their functional forms only."""
import importlib
import pkgutil

import minigrad
from minigrad.autograd import Function


def _import_every_module(package):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_function_subclass_is_defined_in_minigrad_ops():
    _import_every_module(minigrad)
    import models  # the models may use ops, but define none of their own

    _import_every_module(models)
    outside = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _subclasses(Function)
        if cls.__module__.split(".")[0] in ("minigrad", "models") and not cls.__module__.startswith("minigrad.ops.")
    )
    assert not outside, f"Function subclasses outside minigrad/ops/: {outside}; move each into an ops/ module"
