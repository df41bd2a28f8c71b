"""Checkpoints: ``ember.save(obj, f)`` / ``ember.load(f)`` in the safetensors format, never pickle.

A checkpoint is any nesting of dicts (any JSON-able keys: str, int, float, bool, None, tuples of
those), lists and tuples whose leaves are Tensors (Parameters stay Parameters), NumPy arrays and
scalars, ember dtypes and devices, str, int, float, bool and None: model ``state_dict()``s,
optimizer ``state_dict()``s (int keys, per-group options), epoch numbers, config.

File layout: a standard safetensors file. Every distinct tensor object is stored once under the
name "0", "1", ...; the object's structure is a JSON string in the safetensors metadata under
``ember.structure``, and ``ember.checksum`` is the SHA-256 of the other metadata and of every
tensor's name, dtype, shape and bytes, so a truncated file, a damaged header or a flipped bit in
the data is refused with an error naming the file. Files are written atomically (temporary file in the
same folder, fsync, ``os.replace``): a crash leaves the old file or the new one, never a mix. A
safetensors file written by another program loads as a dict of Tensors by name.
"""
import hashlib
import json
import os
import secrets
from collections import OrderedDict

import numpy as np
import safetensors.numpy

from .engine import Tensor
from .engine import dtypes
from .engine.device import device as _device
from .nn.module import Parameter

__all__ = ["save", "load"]

_FORMAT = "ember"
_VERSION = "1"
_MARKERS = {"ember.version", "ember.structure", "ember.checksum"}


class CheckpointError(RuntimeError):
    """A file that ``ember.load`` refuses: truncated, corrupt, or not a checkpoint."""


# ---- object <-> JSON structure with tensors set aside ------------------------------------------

def _contiguous(array):
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return array if array.flags.c_contiguous else array.copy(order="C")


class _Encoder:
    """Turns a checkpoint object into a JSON-able structure, collecting its arrays by name."""

    def __init__(self):
        self.arrays = {}
        self._names = {}  # id(tensor) -> name, so a tensor referenced twice is stored once

    def _store(self, obj, array):
        name = self._names.get(id(obj))
        if name is None:
            name = self._names[id(obj)] = str(len(self.arrays))
            self.arrays[name] = _contiguous(array)
        return name

    def encode(self, obj, where="obj"):
        if obj is None or isinstance(obj, (bool, int, float, str)) and not isinstance(obj, np.generic):
            return obj
        if isinstance(obj, Tensor):
            node = {"@": "param" if isinstance(obj, Parameter) else "tensor",
                    "id": self._store(obj, obj.numpy(force=True)), "grad": obj.requires_grad}
            if obj.device.type != "cpu":
                node["device"] = str(obj.device)
            return node
        if isinstance(obj, np.ndarray):
            return {"@": "ndarray", "id": self._store(obj, obj)}
        if isinstance(obj, np.generic):
            return {"@": "npscalar", "id": self._store(obj, np.asarray(obj))}
        if isinstance(obj, dtypes.dtype):
            return {"@": "dtype", "v": obj.name}
        if isinstance(obj, _device):
            return {"@": "device", "v": str(obj)}
        if isinstance(obj, dict):
            keys = [self._encode_key(k, where) for k in obj]
            values = [self.encode(v, f"{where}[{k!r}]") for k, v in obj.items()]
            return {"@": "odict" if isinstance(obj, OrderedDict) else "dict", "k": keys, "v": values}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"@": "tuple", "v": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        raise TypeError(f"ember.save: can't save {where} of type {type(obj).__name__}; checkpoints hold "
                        f"Tensors, NumPy arrays, dicts, lists, tuples, str, numbers, bool and None")

    def _encode_key(self, key, where):
        if key is None or isinstance(key, (bool, int, float, str)) and not isinstance(key, np.generic):
            return key
        if isinstance(key, tuple):
            return {"@": "tuple", "v": [self._encode_key(k, where) for k in key]}
        raise TypeError(f"ember.save: can't save the dict key {key!r} of type {type(key).__name__} in "
                        f"{where}; keys must be str, int, float, bool, None or tuples of those")


def _decode(node, arrays, map_location, memo):
    """The object ``node`` encodes; ``memo`` maps a stored tensor's name to the object made for it, so
    a tensor referenced twice comes back as one object."""
    if isinstance(node, list):
        return [_decode(v, arrays, map_location, memo) for v in node]
    if not isinstance(node, dict):
        return node
    tag = node["@"]
    if tag in ("dict", "odict"):
        pairs = ((_decode(k, arrays, map_location, memo), _decode(v, arrays, map_location, memo))
                 for k, v in zip(node["k"], node["v"]))
        return OrderedDict(pairs) if tag == "odict" else dict(pairs)
    if tag == "tuple":
        return tuple(_decode(v, arrays, map_location, memo) for v in node["v"])
    if tag == "dtype":
        return dtypes.from_name(node["v"])
    if tag == "device":
        return _device(node["v"])
    name = node["id"]
    if name not in memo:
        memo[name] = _decode_array(tag, node, arrays[name], map_location)
    return memo[name]


def _decode_array(tag, node, array, map_location):
    if tag == "ndarray":
        return array
    if tag == "npscalar":
        return array[()]
    if tag not in ("tensor", "param"):
        raise ValueError(f"unknown structure tag {tag!r}")
    tensor = Tensor(array)
    where = map_location if map_location is not None else node.get("device")
    if where is not None:
        tensor = tensor.to(where)
    if tag == "param":
        return Parameter(tensor, requires_grad=node["grad"])
    return tensor.requires_grad_() if node["grad"] else tensor


def _checksum(fields, arrays):
    """SHA-256 of the metadata ``fields`` (all but the checksum) and of every array's name, dtype,
    shape and bytes."""
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode())
    for name in sorted(arrays):
        array = arrays[name]
        digest.update(f"\0{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(_contiguous(array).reshape(-1).view(np.uint8))
    return digest.hexdigest()


# ---- files --------------------------------------------------------------------------------------

def _file_name(f):
    return os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", repr(f))


def _write_atomic(path, data):
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = os.path.abspath(path)
    folder, base = os.path.split(path)
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or clobber someone else's file; mode 0o666 lets the umask decide, as open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # Make the rename itself durable; some filesystems cannot open or sync a folder.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save(obj, f):
    """Save ``obj`` (nested dicts/lists/tuples of Tensors, arrays and JSON-able values) to ``f``, a
    path (written atomically) or a binary file object, in the safetensors format."""
    encoder = _Encoder()
    structure = json.dumps(encoder.encode(obj), separators=(",", ":"))
    fields = {"format": _FORMAT, "ember.version": _VERSION, "ember.structure": structure}
    metadata = {**fields, "ember.checksum": _checksum(fields, encoder.arrays)}
    data = safetensors.numpy.save(encoder.arrays, metadata=metadata)
    if isinstance(f, (str, os.PathLike)):
        _write_atomic(f, data)
    else:
        f.write(data)


def _parse_header(data, name):
    """The safetensors header of ``data``, checked against the file's size."""
    if len(data) < 8:
        raise CheckpointError(f"ember.load: {name!r} is not a checkpoint: it is {len(data)} bytes long "
                              f"(truncated or empty)")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise CheckpointError(f"ember.load: {name!r} is truncated or not a safetensors file: its header "
                              f"claims {size} bytes but the file has {len(data) - 8} after the size field")
    try:
        header = json.loads(bytes(data[8:8 + size]))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"ember.load: {name!r} is corrupt: its header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"ember.load: {name!r} is corrupt: its header is not a JSON object")
    try:
        expected = max((int(entry["data_offsets"][1]) for key, entry in header.items()
                        if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry), default=0)
    except (TypeError, ValueError, IndexError):
        raise CheckpointError(f"ember.load: {name!r} is corrupt: a tensor's data offsets are malformed") from None
    if expected != len(data) - 8 - size:
        raise CheckpointError(f"ember.load: {name!r} is truncated or corrupt: its header describes "
                              f"{expected} bytes of tensor data but the file holds {len(data) - 8 - size}")
    return header


def load(f, map_location=None):
    """Load what ``ember.save`` wrote to ``f`` (a path or a binary file object): Tensors come back
    with their dtypes, shapes and ``requires_grad``, on ``map_location`` if given (else where they were
    saved). A plain safetensors file loads as a dict of Tensors by name."""
    name = _file_name(f)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as file:
            data = file.read()
    else:
        data = f.read()
    header = _parse_header(data, name)
    try:
        arrays = safetensors.numpy.load(data)
    except Exception as e:  # whatever safetensors raises for a header or layout it can't use
        raise CheckpointError(f"ember.load: {name!r} is corrupt: {e}") from None
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not _MARKERS & set(metadata):
        # Someone else's safetensors file: its tensors by name.
        return {key: _decode_array("tensor", {"grad": False}, arrays[key], map_location) for key in sorted(arrays)}
    # Any one of the markers makes it ember's, so a damaged marker can't pass it off as a plain file.
    structure = metadata.get("ember.structure")
    if metadata.get("format") != _FORMAT or not isinstance(structure, str) or "ember.checksum" not in metadata:
        raise CheckpointError(f"ember.load: {name!r} is corrupt: its ember metadata is damaged")
    fields = {key: value for key, value in metadata.items() if key != "ember.checksum"}
    if metadata["ember.checksum"] != _checksum(fields, arrays):
        raise CheckpointError(f"ember.load: {name!r} is corrupt: the checksum of its contents does not "
                              f"match (damaged on disk or in transfer)")
    return _decode(json.loads(structure), arrays, map_location, {})
