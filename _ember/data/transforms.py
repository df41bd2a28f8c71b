"""Image transforms, as ``torchvision.transforms``, on NumPy arrays and Tensors of one sample or a batch.

A sample is ``(C, H, W)`` (or ``(H, W)``); a batch is ``(N, C, H, W)``. Each transform takes either and
returns the same kind (a Tensor for a Tensor, an array for an array; ``ToTensor`` always returns a
Tensor). Random transforms draw independently for each sample of a batch, from
``ember.data.transform_rng()``: inside a DataLoader, the epoch's seeded stream. Transforms with
``supports_batches = True`` let ember's datasets transform a whole batch at once; wrap a per-sample
function in ``Lambda`` and datasets fall back to one sample at a time. Transforms work on the data
outside autograd.
"""
import numbers

import numpy as np

from ..engine import Tensor
from .dataloader import transform_rng

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip",
           "Lambda", "supports_batches"]


def supports_batches(transform):
    """Whether ``transform`` (or None) can be applied to a whole (N, C, H, W) batch at once."""
    return transform is None or getattr(transform, "supports_batches", False)


def _unwrap(image, name):
    """``(array, rewrap)``: the NumPy array behind ``image`` and a function giving back its kind."""
    if isinstance(image, Tensor):
        return image._data, Tensor
    if isinstance(image, np.ndarray):
        return image, lambda array: array
    raise TypeError(f"{name}: expected a NumPy array or an ember Tensor, got {type(image).__name__}")


def _check_image(array, name):
    if array.ndim not in (2, 3, 4):
        raise ValueError(f"{name}: expected an image (C, H, W) or (H, W), or a batch (N, C, H, W); got shape "
                         f"{tuple(array.shape)}")


def _as_batch(array):
    """View a sample as a batch of one: (H, W) -> (1, 1, H, W), (C, H, W) -> (1, C, H, W)."""
    return array.reshape((1,) * (4 - array.ndim) + array.shape)


class Compose:
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    @property
    def supports_batches(self):
        return all(supports_batches(t) for t in self.transforms)

    def __call__(self, image):
        for t in self.transforms:
            image = t(image)
        return image

    def __repr__(self):
        lines = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({lines}\n)"


class Lambda:
    """A user function as a transform (applied one sample at a time)."""

    supports_batches = False

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, image):
        return self.lambd(image)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ToTensor:
    """An image array to a float Tensor: uint8 values scale to [0, 1] (x / 255 in float32), other
    dtypes are kept. ``channels_last`` (torchvision's ndarray layout): (H, W, C) -> (C, H, W) and
    (N, H, W, C) -> (N, C, H, W); (H, W) -> (1, H, W) either way. Tensors pass through unchanged
    (ember's datasets already give float Tensors)."""

    supports_batches = True

    def __init__(self, channels_last=True):
        self.channels_last = channels_last

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            return pic
        if not isinstance(pic, np.ndarray):
            raise TypeError(f"ToTensor: pic should be a NumPy array or an ember Tensor, got {type(pic).__name__}")
        _check_image(pic, "ToTensor")
        if pic.ndim == 2:
            pic = pic[None]
        elif self.channels_last:
            pic = np.moveaxis(pic, -1, -3)
        pic = np.ascontiguousarray(pic)
        return Tensor(pic.astype(np.float32) / np.float32(255) if pic.dtype == np.uint8 else pic)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Normalize:
    """Per channel (dim -3): ``(x - mean[c]) / std[c]``. ``mean``, ``std``: sequences of length C (or 1)."""

    supports_batches = True

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, image):
        array, rewrap = _unwrap(image, "Normalize")
        if array.dtype.kind != "f":
            raise TypeError(f"Input tensor should be a float tensor. Got {array.dtype}.")
        if array.ndim < 3:
            raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                             f"{tuple(array.shape)}")
        mean = np.asarray(self.mean, dtype=array.dtype).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=array.dtype).reshape(-1, 1, 1)
        if (std == 0).any():
            raise ValueError(f"std evaluated to zero after conversion to {array.dtype}, leading to division by zero.")
        if self.inplace:
            np.subtract(array, mean, out=array)
            np.divide(array, std, out=array)
            return image
        return rewrap((array - mean) / std)

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


def _pad_widths(padding):
    """torchvision's padding (int, (lr, tb) or (left, top, right, bottom)) as ((top, bottom), (left, right))."""
    if isinstance(padding, numbers.Number):
        padding = (padding,)
    padding = tuple(int(p) for p in padding)
    if len(padding) == 1:
        left = top = right = bottom = padding[0]
    elif len(padding) == 2:
        (left, top), (right, bottom) = padding, padding
    elif len(padding) == 4:
        left, top, right, bottom = padding
    else:
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")
    return (top, bottom), (left, right)


class RandomCrop:
    """A random ``size`` (int or (h, w)) window of the image, after optional ``padding`` (int,
    (left/right, top/bottom) or (left, top, right, bottom)) with ``fill`` or a ``padding_mode``
    ("constant", "edge", "reflect", "symmetric"); ``pad_if_needed`` pads images smaller than ``size``.
    Top-left corners are uniform over every position where the window fits, one per sample."""

    supports_batches = True

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = (int(size), int(size)) if isinstance(size, numbers.Number) else tuple(int(s) for s in size)
        if len(self.size) != 2:
            raise ValueError("Please provide only two dimensions (h, w) for size.")
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        self._pad = _pad_widths(padding) if padding is not None else ((0, 0), (0, 0))

    def __call__(self, image):
        array, rewrap = _unwrap(image, "RandomCrop")
        _check_image(array, "RandomCrop")
        batch = _as_batch(array)
        (top, bottom), (left, right) = self._pad
        th, tw = self.size
        if self.pad_if_needed:
            # Pad both sides of a dim that is still short of the crop (torchvision pads symmetrically).
            padded_h = batch.shape[-2] + top + bottom
            padded_w = batch.shape[-1] + left + right
            extra_h, extra_w = max(th - padded_h, 0), max(tw - padded_w, 0)
            top, bottom, left, right = top + extra_h, bottom + extra_h, left + extra_w, right + extra_w
        if top or bottom or left or right:
            widths = ((0, 0), (0, 0), (top, bottom), (left, right))
            kwargs = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
            batch = np.pad(batch, widths, mode=self.padding_mode, **kwargs)
        n, h, w = batch.shape[0], batch.shape[-2], batch.shape[-1]
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        rng = transform_rng()
        rows = rng.integers(0, h - th + 1, size=n)
        cols = rng.integers(0, w - tw + 1, size=n)
        # Every (th, tw) window of every image as a view; pick sample i's window at (rows[i], cols[i]).
        windows = np.lib.stride_tricks.sliding_window_view(batch, (th, tw), axis=(2, 3))
        crops = windows[np.arange(n), :, rows, cols]  # (N, C, th, tw): advanced indices go first
        return rewrap(crops.reshape(array.shape[:-2] + (th, tw)))

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class _RandomFlip:
    supports_batches = True
    _axis = None

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, image):
        array, rewrap = _unwrap(image, type(self).__name__)
        _check_image(array, type(self).__name__)
        batch = _as_batch(array)
        flip = transform_rng().random(batch.shape[0]) < self.p
        out = batch.copy()
        out[flip] = np.flip(batch[flip], axis=self._axis)
        return rewrap(out.reshape(array.shape))

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right (the last dim) with probability ``p``, independently per sample."""
    _axis = -1


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom (dim -2) with probability ``p``, independently per sample."""
    _axis = -2
