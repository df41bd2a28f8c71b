"""``DataLoader``: batches of a dataset, shuffled per epoch, assembled ahead in a background thread.

As ``torch.utils.data.DataLoader`` (same arguments, same errors), with two ember specifics:

* ``prefetch=2``: a background thread assembles up to that many batches ahead while the model
  trains on the current one (NumPy releases the GIL in copies and arithmetic, so the two overlap);
  ``prefetch=0`` fetches in the caller's thread. ``num_workers`` and ``pin_memory`` are accepted for
  compatibility; there are no worker processes. Break out of a loop, ``close()`` the iterator or
  drop it, and the thread stops.
* Datasets that define ``__getbatch__`` (TensorDataset, ember's datasets) are indexed a whole batch
  at a time when ``collate_fn`` is the default.

Reproducibility: each epoch (each ``iter(loader)``) draws, in the calling thread, the sampler's seed
and one seed for random transforms from ``generator`` (default: ember's global generator). Random
transforms draw from ``transform_rng()``, which is that epoch's stream while a batch is fetched, so a
seed fixes every epoch's order and augmentations, with or without prefetching.
"""
import collections.abc
import itertools
import queue
import threading

import numpy as np

from ..engine import Tensor, from_numpy, stack, tensor
from ..engine import dtypes
from ..engine.device import array_module
from ..engine.random import generator_numpy
from .dataset import IterableDataset, get_batch
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "transform_rng"]

_COLLATE_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"

_local = threading.local()


def transform_rng():
    """The NumPy Generator that random transforms draw from: while a DataLoader fetches a batch, that
    epoch's stream (seeded from the loader's generator); elsewhere ember's global generator."""
    rng = getattr(_local, "rng", None)
    return rng if rng is not None else generator_numpy()


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def default_collate(batch):
    """Stack a list of samples into a batch, recursively: Tensors and NumPy arrays -> Tensor with a
    new leading dim; Python floats -> float64, ints -> int64, bools -> bool Tensors; dicts -> dict of
    batches; tuples and lists -> list of batches (namedtuples keep their type); strings stay a list."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        if any(t.requires_grad for t in batch):
            return stack(batch)
        return Tensor(array_module(elem._data).stack([t._data for t in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(_COLLATE_ERROR.format(elem.dtype))
        return from_numpy(np.stack(batch))
    if isinstance(elem, np.generic) and elem.dtype.kind not in "OSUV":
        return from_numpy(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=dtypes.float64)
    if isinstance(elem, int):  # bool is an int: a batch of bools becomes a bool tensor
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([sample[key] for sample in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:  # a mapping type that can't be built from a dict
            return collated
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        collated = [default_collate(list(field)) for field in zip(*batch)]
        if isinstance(elem, tuple):
            return collated
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


def default_convert(data):
    """What batch_size=None yields per sample: NumPy arrays and scalars become Tensors, recursively."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return from_numpy(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "OSUV":
        return from_numpy(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``, shuffled each epoch if ``shuffle``.

    ``sampler`` (indices) or ``batch_sampler`` (lists of indices) replace the default order;
    ``collate_fn`` turns a list of samples into a batch (default ``default_collate``); ``drop_last``
    drops a short final batch; ``generator`` seeds the shuffling and random transforms; ``prefetch``
    is how many batches a background thread prepares ahead (0: none); ``timeout`` (seconds, 0: no
    limit) bounds the wait for a prefetched batch. ``batch_size=None`` yields single samples through
    ``default_convert``. ``num_workers``, ``pin_memory``, ``worker_init_fn``, ``multiprocessing_context``,
    ``prefetch_factor``, ``persistent_workers``, ``pin_memory_device`` and ``in_order`` are accepted so
    PyTorch code runs unchanged; they change nothing (no worker processes, batches always in order).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, prefetch=2):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if prefetch < 0:
            raise ValueError(f"prefetch should be a non-negative number of batches, but got prefetch={prefetch}")
        if isinstance(dataset, IterableDataset):
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                     f"but got {name}={value}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.generator = generator
        self.timeout = timeout
        self.prefetch = prefetch
        self._auto_collation = batch_size is not None or batch_sampler is not None
        self.collate_fn = collate_fn or (default_collate if self._auto_collation else default_convert)

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self):
        return _DataLoaderIter(self)

    def _fetch(self, indices):
        """The collated batch for an int64 index array."""
        if self.collate_fn is default_collate:
            batch = get_batch(self.dataset, indices)
            if batch is not NotImplemented:
                return batch
        return self.collate_fn([self.dataset[i] for i in indices.tolist()])

    def _steps(self):
        """A function returning the next batch (StopIteration at the end). Everything random about
        the epoch's order is drawn here, in the calling thread."""
        if isinstance(self.dataset, IterableDataset):
            samples = iter(self.dataset)
            if self.batch_size is None:
                return lambda: self.collate_fn(next(samples))

            def next_chunk():
                chunk = list(itertools.islice(samples, self.batch_size))
                if not chunk or (self.drop_last and len(chunk) < self.batch_size):
                    raise StopIteration
                return self.collate_fn(chunk)
            return next_chunk
        if self.batch_sampler is None:
            indices = iter(self.sampler)
            return lambda: self.collate_fn(self.dataset[next(indices)])
        if type(self.batch_sampler) is BatchSampler:
            batches = self.batch_sampler.index_batches()
        else:
            batches = (np.asarray(b, dtype=np.int64) for b in self.batch_sampler)
        return lambda: self._fetch(next(batches))


def _generate(step, rng):
    """Call ``step`` until it raises StopIteration, with ``rng`` as the transform stream meanwhile."""
    while True:
        previous = getattr(_local, "rng", None)
        _local.rng = rng
        try:
            batch = step()
        except StopIteration:
            return
        finally:
            _local.rng = previous
        yield batch


_BATCH, _DONE, _ERROR = range(3)


def _produce(batches, out, stop):
    """The prefetch thread: put batches on ``out`` until done, failed, or ``stop`` is set."""
    def put(item):
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    try:
        for batch in batches:
            if not put((_BATCH, batch)):
                return
        put((_DONE, None))
    except BaseException as e:  # handed to the consumer, which raises it
        put((_ERROR, e))


class _DataLoaderIter:
    """One epoch over a DataLoader; ``close()`` stops its prefetch thread early."""

    def __init__(self, loader):
        self._length = len(loader) if _has_len(loader) else None
        step = loader._steps()
        rng = np.random.default_rng(int(generator_numpy(loader.generator).integers(2 ** 63)))
        self._batches = _generate(step, rng)
        self._thread = None
        self._finished = False
        self._timeout = loader.timeout or None
        if loader.prefetch:
            self._queue = queue.Queue(maxsize=loader.prefetch)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=_produce, args=(self._batches, self._queue, self._stop),
                                            name="ember-DataLoader-prefetch", daemon=True)
            self._thread.start()

    def __iter__(self):
        return self

    def __len__(self):
        if self._length is None:
            raise TypeError("this DataLoader's dataset has no len()")
        return self._length

    def __next__(self):
        if self._finished:
            raise StopIteration
        if self._thread is None:
            try:
                return next(self._batches)
            except StopIteration:
                self._finished = True
                raise
        try:
            kind, value = self._queue.get(timeout=self._timeout)
        except queue.Empty:
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None
        if kind == _BATCH:
            return value
        self.close()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self):
        """Stop the prefetch thread and wait for it (it finishes the batch it is assembling)."""
        self._finished = True
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    def __del__(self):
        # Garbage collection must not block on a batch in progress: just tell the thread to stop.
        if getattr(self, "_thread", None) is not None:
            self._stop.set()


def _has_len(loader):
    try:
        len(loader)
    except TypeError:
        return False
    return True
