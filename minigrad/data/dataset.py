"""Datasets and the DataLoader, with PyTorch's names and semantics.

A Dataset is anything with `__len__` and `__getitem__(i)`. A DataLoader walks one in
batches (shuffled or not), and its collate function turns a list of samples into a batch
of minigrad Tensors. The engine is imported inside the functions that need it, so that
`minigrad.data` imports (and its tokenizers work) without it.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np


class Dataset:
    """Base class: subclasses define `__getitem__(index)` and `__len__()`."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


def _is_tensor(x) -> bool:
    from minigrad.tensor import Tensor  # noqa: PLC0415  (lazy: the engine is optional at import)

    return isinstance(x, Tensor)


class TensorDataset(Dataset):
    """Samples are rows: item i is `tuple(t[i] for t in tensors)`. Accepts minigrad
    Tensors and numpy arrays (lists become arrays), all with the same first dimension.
    Batches are built from the values: they carry no gradient back to these tensors."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor or array")
        tensors = tuple(t if hasattr(t, "shape") else np.asarray(t) for t in tensors)
        shapes = [tuple(t.shape) for t in tensors]
        if any(len(shape) == 0 for shape in shapes) or len({shape[0] for shape in shapes}) != 1:
            raise ValueError(f"TensorDataset: all tensors need the same first dimension, got shapes {shapes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def _numpy_rng(generator, where: str) -> np.random.Generator:
    """The numpy Generator behind `generator`: a minigrad.Generator, a numpy Generator, an
    int seed, or None for minigrad's default generator (so `minigrad.manual_seed` makes
    shuffles and splits repeat, as torch.manual_seed does)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    if generator is None:
        from minigrad.random import get_rng  # noqa: PLC0415  (lazy: the engine is optional at import)

        return get_rng(None)
    if isinstance(getattr(generator, "np", None), np.random.Generator):  # minigrad.Generator
        return generator.np
    raise TypeError(f"{where}: generator must be a minigrad.Generator, a numpy Generator, an int seed or None, "
                    f"got {type(generator).__name__}")


def random_split(dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split `dataset` into non-overlapping random Subsets of the given lengths.

    `lengths` are counts that sum to len(dataset), or fractions that sum to 1; with
    fractions each part gets floor(n * fraction) and the items left over go one each to
    the first parts, round-robin, as in PyTorch. `generator`: a minigrad.Generator, a numpy
    Generator, an int seed, or None (minigrad's default generator)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1 + 1e-9:
        if any(not 0.0 <= f <= 1.0 for f in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(not isinstance(x, numbers.Integral) or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(
            f"random_split: lengths {lengths} must be non-negative integers that sum to the dataset's length {n}, "
            "or fractions that sum to 1"
        )
    order = _numpy_rng(generator, "random_split").permutation(n).tolist()
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[start:start + length]))
        start += length
    return subsets


def default_collate(batch: list):
    """A list of samples -> a batch, field by field: arrays, Tensors and numbers are
    stacked into one minigrad Tensor (Python ints -> int64, floats -> float64, bools ->
    bool, as in PyTorch); tuples, lists and dicts are collated per field; strings stay a
    list."""
    import minigrad  # noqa: PLC0415  (lazy: the engine is optional at import)

    if not batch:
        raise ValueError("default_collate: empty batch")
    first = batch[0]
    if _is_tensor(first):
        from minigrad.backend import xp_of  # noqa: PLC0415

        arrays = [t.data for t in batch]
        _check_same_shape([a.shape for a in arrays])
        return minigrad.tensor(xp_of(arrays[0]).stack(arrays))  # stays on the tensors' device
    if isinstance(first, (np.ndarray, np.generic)):
        return minigrad.tensor(_stack([np.asarray(x) for x in batch]))
    if isinstance(first, bool):
        return minigrad.tensor(np.array(batch, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return minigrad.tensor(np.array(batch, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return minigrad.tensor(np.array(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in batch):
            raise ValueError(f"default_collate: samples have different numbers of fields: "
                             f"{sorted({len(sample) for sample in batch})}")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; "
                    "pass collate_fn= to the DataLoader")


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    _check_same_shape([a.shape for a in arrays])
    return np.stack(arrays)


def _check_same_shape(shapes) -> None:
    shapes = set(shapes)
    if len(shapes) > 1:
        raise ValueError(f"default_collate: cannot stack samples of different shapes {sorted(shapes)}; pad them "
                         "to one length or pass collate_fn= to the DataLoader")


class DataLoader:
    """Iterate over `dataset` in batches.

        loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
        for xb, yb in loader: ...

    Each pass (epoch) visits every sample exactly once; with `shuffle` in a new random
    order. The order comes from `generator` (a minigrad.Generator or numpy Generator) or
    `seed` (an int: the same seed gives the same sequence of epochs); with neither, from
    minigrad's default generator, so `minigrad.manual_seed` makes it repeat. `drop_last`
    drops a final batch smaller than batch_size.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 collate_fn=None, generator=None, seed: int | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if generator is not None and seed is not None:
            raise ValueError("DataLoader: pass generator= or seed=, not both")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"DataLoader: seed must be an int, got {seed!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.generator = generator
        # an int seed gets its own generator, made once, so that successive epochs differ
        self._rng = _numpy_rng(seed if seed is not None else generator, "DataLoader") \
            if (seed is not None or generator is not None) else None

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _batches_of_indices(self):
        n = len(self.dataset)
        if self.shuffle:
            rng = self._rng if self._rng is not None else _numpy_rng(None, "DataLoader")
            order = rng.permutation(n)
        else:
            order = np.arange(n)
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def __iter__(self):
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate
        for indices in self._batches_of_indices():
            if fast:
                # one fancy index per tensor instead of n single rows stacked again: same batch, faster
                yield tuple(_gather_rows(t, indices) for t in self.dataset.tensors)
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in indices])


def _gather_rows(t, indices: np.ndarray):
    """minigrad Tensor of the rows `indices` of a Tensor or array, on the tensor's device."""
    import minigrad  # noqa: PLC0415
    from minigrad.backend import xp_of  # noqa: PLC0415

    data = t.data if _is_tensor(t) else np.asarray(t)
    return minigrad.tensor(data[xp_of(data).asarray(indices)])
