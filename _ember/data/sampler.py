"""Samplers, as ``torch.utils.data``: which sample indices an epoch visits, and in what order.

A random sampler draws one seed from its ``generator`` (default: ember's global generator, so
``ember.manual_seed`` makes epochs reproducible) each time it is iterated, so every epoch gets a new
order. Samplers that can hand over a whole epoch at once define ``index_array()`` (a 1-D int64
array); the DataLoader slices batches from it instead of grouping Python ints.
"""
import numpy as np

from ..engine.random import generator_numpy

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]


def _epoch_rng(generator):
    """A fresh NumPy Generator for one epoch, seeded by one draw from ``generator``."""
    return np.random.default_rng(int(generator_numpy(generator).integers(2 ** 63)))


class Sampler:
    """Iterates over indices of a dataset; subclasses define ``__iter__`` and usually ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def _has_index_array(sampler):
    """Whether ``sampler``'s epoch is its ``index_array()`` (not overridden by a custom ``__iter__``)."""
    return isinstance(sampler, _ArraySampler) and type(sampler).__iter__ is _ArraySampler.__iter__


class _ArraySampler(Sampler):
    """A sampler whose epoch is one index array: iterating yields its entries as ints."""

    def index_array(self):
        raise NotImplementedError

    def __iter__(self):
        return iter(self.index_array().tolist())


class SequentialSampler(_ArraySampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def index_array(self):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self):
        return len(self.data_source)


class RandomSampler(_ArraySampler):
    """A random order of the indices each epoch; with ``replacement``, ``num_samples`` uniform draws.
    Without replacement, ``num_samples`` beyond ``len(data_source)`` chains whole permutations."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def index_array(self):
        n, rng = len(self.data_source), _epoch_rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        rounds = -(-self.num_samples // n)
        return np.concatenate([rng.permutation(n) for _ in range(rounds)])[:self.num_samples].astype(np.int64)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(_ArraySampler):
    """The given ``indices`` in a random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def index_array(self):
        return np.asarray(self.indices, dtype=np.int64)[_epoch_rng(self.generator).permutation(len(self.indices))]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(_ArraySampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        weights = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {weights.shape}")
        self.weights = weights
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def index_array(self):
        rng = _epoch_rng(self.generator)
        return rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                          p=self.weights / self.weights.sum()).astype(np.int64)

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups ``sampler``'s indices into lists of ``batch_size``; ``drop_last`` drops a short last one."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def index_batches(self):
        """An iterator over this epoch's batches as int64 arrays. With a built-in sampler the epoch's
        order is drawn now (not lazily, so from the calling thread) and batches are slices of it."""
        if not _has_index_array(self.sampler):
            return (np.asarray(batch, dtype=np.int64) for batch in self)
        order = self.sampler.index_array()
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        return (order[start:start + self.batch_size] for start in range(0, stop, self.batch_size))

    def __iter__(self):
        if _has_index_array(self.sampler):
            for batch in self.index_batches():
                yield batch.tolist()
            return
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)
