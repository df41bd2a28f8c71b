"""Datasets, as ``torch.utils.data``: map-style ``Dataset``s indexed by position, ``IterableDataset``s
that stream, and the wrappers ``TensorDataset``, ``Subset``, ``ConcatDataset``, ``random_split``.

Batches without a loop over samples: a dataset may define ``__getbatch__(indices)`` (``indices`` a
1-D int64 NumPy array) returning exactly what ``default_collate([self[i] for i in indices])``
would, or ``NotImplemented`` when it can't (the DataLoader then falls back to one sample at a time).
``TensorDataset``, ``Subset``, ``ConcatDataset`` and ember's datasets define it, so a 60,000-image
epoch is a few hundred fancy-indexing calls rather than 60,000 ``__getitem__`` calls.
"""
import bisect
import math
import warnings

import numpy as np

from ..engine import Tensor
from ..engine.device import array_module
from ..engine.random import generator_numpy

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and usually ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__``. The DataLoader batches it in order."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        raise TypeError("can't add IterableDatasets; chain their iterators instead")


def get_batch(dataset, indices):
    """``dataset``'s batch for ``indices`` (int64 array) by its ``__getbatch__``, or NotImplemented."""
    getbatch = getattr(dataset, "__getbatch__", None)
    return NotImplemented if getbatch is None else getbatch(indices)


class TensorDataset(Dataset):
    """Samples are ``(tensors[0][i], tensors[1][i], ...)``; every tensor has the same first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [t.shape[0] if t.dim() else None for t in tensors]
        if None in sizes or any(size != sizes[0] for size in sizes):
            raise ValueError(f"Size mismatch between tensors: TensorDataset needs tensors with the same "
                             f"first dimension, got shapes {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getbatch__(self, indices):
        if any(t.requires_grad for t in self.tensors):
            return NotImplemented  # per-sample indexing keeps the graph
        # A list, as default_collate makes of tuple samples.
        return [Tensor(t._data[array_module(t._data).asarray(indices)]) for t in self.tensors]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    @property
    def indices(self):
        return self._indices

    @indices.setter
    def indices(self, value):
        self._indices = value
        self._index_array = None  # built on first batch: converting a long list per batch is slow

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)

    def __getbatch__(self, indices):
        if self._index_array is None:
            self._index_array = np.asarray(self._indices, dtype=np.int64)
        return get_batch(self.dataset, self._index_array[indices])


class ConcatDataset(Dataset):
    """Datasets one after another: index ``cumulative_sizes[k-1] + i`` is ``datasets[k][i]``."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]

    def __getbatch__(self, indices):
        ends = np.asarray(self.cumulative_sizes)
        which = np.searchsorted(ends, indices, side="right")
        starts = np.concatenate([[0], ends[:-1]])
        parts, positions = [], []
        for k in np.unique(which):
            chosen = np.flatnonzero(which == k)
            part = get_batch(self.datasets[k], indices[chosen] - starts[k])
            if part is NotImplemented:
                return NotImplemented
            parts.append(part)
            positions.append(chosen)
        # Each part holds its dataset's samples; concatenated, they are in order ``concatenate(positions)``,
        # so indexing by that order's inverse puts every sample back where ``indices`` asked for it.
        inverse = np.argsort(np.concatenate(positions), kind="stable")
        return _merge(parts, inverse)


def _merge(parts, inverse):
    """Concatenate same-structured batches along dim 0 and reorder by ``inverse``."""
    first = parts[0]
    if isinstance(first, Tensor):
        xp = array_module(first._data)
        return Tensor(xp.concatenate([p._data for p in parts])[xp.asarray(inverse)])
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)[inverse]
    if isinstance(first, dict):
        return type(first)((key, _merge([p[key] for p in parts], inverse)) for key in first)
    if isinstance(first, (list, tuple)):
        merged = [_merge(list(group), inverse) for group in zip(*parts)]
        return merged if isinstance(first, list) else type(first)(merged)
    raise TypeError(f"ConcatDataset: can't merge batches holding {type(first).__name__}")


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping ``Subset``s of the given lengths, or of the given
    fractions of ``len(dataset)`` (floored; the remainder goes one by one to the first splits),
    shuffled by ``generator`` (default: ember's global generator)."""
    lengths = list(lengths)
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and all(0 <= f <= 1 for f in lengths):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = generator_numpy(generator).permutation(n).tolist()
    splits, offset = [], 0
    for length in lengths:
        splits.append(Subset(dataset, order[offset:offset + length]))
        offset += length
    return splits
