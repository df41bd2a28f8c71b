"""The process group: one process per rank, and the collectives between them (as ``torch.distributed``).

Two backends, both started under ``mpiexec -n N python -m mpi4py script.py``:

* ``"mpi"`` (mpi4py, COMM_WORLD): NumPy buffers are handed to MPI in place. The PyPI MPI wheels are
  not CUDA-aware, so CuPy buffers are staged through host memory (copied out, reduced, copied back).
* ``"nccl"`` (``cupy.cuda.nccl``): GPU buffers only. MPI still starts the job: rank 0's NCCL unique id
  is broadcast over it, each process takes the GPU ``local_rank % device_count`` (local rank = rank
  among the processes on the same node), and ``barrier`` goes through MPI.

mpi4py (and CuPy) are imported when a group starts, never when ``ember`` is imported.
Collectives work in place on a Tensor's array and bump its version counter.
"""
import enum

import numpy as np

from ..engine.device import array_module

__all__ = ["Backend", "ReduceOp", "init_process_group", "destroy_process_group", "is_initialized",
           "get_rank", "get_world_size", "get_backend", "barrier", "all_reduce", "broadcast", "all_gather"]

_group = None  # the running backend (_MPIGroup or _NCCLGroup), or None


class Backend:
    MPI = "mpi"
    NCCL = "nccl"


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise RuntimeError("ember.distributed needs mpi4py and an MPI library: "
                           "pip install 'ember[distributed]' (mpi4py and the mpich wheel)") from error
    return MPI


class _Work:
    """A collective in flight; ``wait()`` completes it (and runs ``finish`` once, e.g. a copy back)."""

    def __init__(self, request=None, finish=None):
        self._request, self._finish = request, finish

    def wait(self):
        if self._request is not None:
            self._request.Wait()
            self._request = None
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()


class _MPIGroup:
    name = Backend.MPI

    def __init__(self, MPI):
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}

    def all_reduce_async(self, array, op):
        """Start reducing the C-contiguous ``array`` in place across ranks (AVG: the sum; the caller
        divides)."""
        host, finish = _host_staging(array)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self._ops[op])
        return _Work(request, finish)

    def broadcast(self, array, src):
        host, finish = _host_staging(array)
        self.comm.Bcast([_bytes(host), self.MPI.BYTE], root=src)
        if finish is not None:
            finish()

    def all_gather(self, out, array):
        """``out`` (size, *array.shape), C-contiguous, receives every rank's ``array``."""
        host_out, finish = _host_staging(out)
        host_in = array if type(array) is np.ndarray else array.get()
        self.comm.Allgather([_bytes(np.ascontiguousarray(host_in)), self.MPI.BYTE],
                            [_bytes(host_out), self.MPI.BYTE])
        if finish is not None:
            finish()

    def barrier(self):
        self.comm.Barrier()

    def destroy(self):
        pass  # COMM_WORLD lives as long as the process; mpi4py finalizes MPI at exit


def _host_staging(array):
    """(a host array MPI may write, a function that copies it back or None): GPU arrays go through
    host memory because the MPI wheels are not CUDA-aware."""
    if type(array) is np.ndarray:
        return array, None
    host = array.get()

    def copy_back():
        array.set(host)
    return host, copy_back


def _bytes(array):
    return array.reshape(-1).view(np.uint8)


class _NCCLGroup:
    name = Backend.NCCL

    def __init__(self, MPI):
        self.mpi = _MPIGroup(MPI)  # launches the job, carries the unique id, and barriers
        self.rank, self.size = self.mpi.rank, self.mpi.size
        try:
            import cupy
            from cupy.cuda import nccl
            devices = cupy.cuda.runtime.getDeviceCount()
        except Exception as error:  # ImportError, or CUDARuntimeError without a driver
            raise RuntimeError(f"the nccl backend needs CuPy and a CUDA GPU ({type(error).__name__}: "
                               f"{error}); use backend='mpi' on CPUs") from error
        if devices == 0:
            raise RuntimeError("the nccl backend needs a CUDA GPU and found none; use backend='mpi'")
        if not getattr(nccl, "available", True) or not hasattr(nccl, "NcclCommunicator"):
            raise RuntimeError("CuPy cannot load the NCCL library: pip install nvidia-nccl-cu13 "
                               "(for CUDA 13), or use backend='mpi'")
        local_rank = self.mpi.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        cupy.cuda.Device(local_rank % devices).use()
        self.cupy, self.nccl = cupy, nccl
        uid = nccl.get_unique_id() if self.rank == 0 else None
        self.comm = nccl.NcclCommunicator(self.size, self.mpi.comm.bcast(uid, root=0), self.rank)
        self._ops = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM, ReduceOp.PRODUCT: nccl.NCCL_PROD,
                     ReduceOp.MIN: nccl.NCCL_MIN, ReduceOp.MAX: nccl.NCCL_MAX}

    def _dtype(self, array):
        if type(array) is np.ndarray:
            raise TypeError("the nccl backend reduces GPU tensors only; move the tensor with .cuda() "
                            "or use backend='mpi'")
        name = {"float16": "FLOAT16", "float32": "FLOAT32", "float64": "FLOAT64", "int32": "INT32",
                "int64": "INT64", "int8": "INT8", "uint8": "UINT8", "bool": "UINT8"}.get(array.dtype.name)
        if name is None:
            raise TypeError(f"the nccl backend does not handle dtype {array.dtype}")
        return getattr(self.nccl, "NCCL_" + name)

    def _stream(self):
        return self.cupy.cuda.get_current_stream().ptr

    def all_reduce_async(self, array, op):
        # Enqueued on the current stream: later kernels on it see the result, so no wait is needed.
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, self._dtype(array),
                            self._ops[op], self._stream())
        return _Work()

    def broadcast(self, array, src):
        self.comm.bcast(array.data.ptr, array.size, self._dtype(array), src, self._stream())

    def all_gather(self, out, array):
        array = self.cupy.ascontiguousarray(array)
        self.comm.allGather(array.data.ptr, out.data.ptr, array.size, self._dtype(array), self._stream())

    def barrier(self):
        self.cupy.cuda.get_current_stream().synchronize()
        self.mpi.barrier()

    def destroy(self):
        self.comm.destroy()


def init_process_group(backend="mpi", **kwargs):
    """Join the job started by ``mpiexec``: rank and world size come from MPI. ``kwargs`` (torch's
    ``init_method``, ``world_size``, ``rank``...) are checked against MPI's view when given."""
    global _group
    if _group is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized")
    backend = str(backend).lower()
    if backend not in (Backend.MPI, Backend.NCCL):
        raise ValueError(f"init_process_group: unknown backend {backend!r} (expected 'mpi' or 'nccl')")
    MPI = _import_mpi()
    group = _MPIGroup(MPI) if backend == Backend.MPI else _NCCLGroup(MPI)
    for key, actual in (("world_size", group.size), ("rank", group.rank)):
        wanted = kwargs.pop(key, None)
        if wanted is not None and wanted != -1 and wanted != actual:
            raise RuntimeError(f"init_process_group: {key}={wanted} but mpiexec started this process "
                               f"with {key} {actual}")
    kwargs.pop("init_method", None)
    if kwargs:
        raise TypeError(f"init_process_group: unexpected arguments {sorted(kwargs)}")
    _group = group


def destroy_process_group():
    global _group
    if _group is not None:
        _group.destroy()
        _group = None


def is_initialized():
    return _group is not None


def is_available():
    """Whether mpi4py can be imported (the job launcher and the mpi backend need it)."""
    try:
        _import_mpi()
    except RuntimeError:
        return False
    return True


def _require(what):
    if _group is None:
        raise RuntimeError(f"{what}: the default process group is not initialized; call "
                           f"ember.distributed.init_process_group() first (under mpiexec)")
    return _group


def get_rank():
    return _require("get_rank").rank


def get_world_size():
    return _require("get_world_size").size


def get_backend():
    return _require("get_backend").name


def barrier():
    _require("barrier").barrier()


def _bump(tensor):
    tensor._version[0] += 1


def _contiguous(tensor):
    """(the array to communicate, whether it is a copy to write back): C-contiguous, as MPI wants."""
    array = tensor._data
    if array.flags.c_contiguous:
        return array, False
    return array.copy(order="C"), True


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across ranks in place: every rank ends with the SUM / AVG / PRODUCT / MIN / MAX
    of all ranks' values. AVG divides the sum by the world size (floating dtypes only)."""
    pg = _require("all_reduce")
    op = ReduceOp(op) if not isinstance(op, ReduceOp) else op
    if op is ReduceOp.AVG and tensor._data.dtype.kind != "f":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating tensor, got {tensor.dtype}")
    array, copied = _contiguous(tensor)
    work = pg.all_reduce_async(array, op)

    def finish():
        work.wait()
        if op is ReduceOp.AVG:
            array[...] /= pg.size
        if copied:
            tensor._data[...] = array
        _bump(tensor)
    if async_op:
        return _Work(finish=finish)
    finish()


def broadcast(tensor, src=0, group=None):
    """Overwrite ``tensor`` in place with rank ``src``'s values."""
    pg = _require("broadcast")
    if not 0 <= src < pg.size:
        raise ValueError(f"broadcast: src={src} is not a rank of a group of size {pg.size}")
    array, copied = _contiguous(tensor)
    pg.broadcast(array, src)
    if copied:
        tensor._data[...] = array
    _bump(tensor)


def all_gather(tensor_list, tensor, group=None):
    """Fill ``tensor_list`` (world-size tensors shaped like ``tensor``) with every rank's ``tensor``."""
    pg = _require("all_gather")
    if len(tensor_list) != pg.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, the world size is {pg.size}")
    for i, t in enumerate(tensor_list):
        if t.shape != tensor.shape or t.dtype != tensor.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] is {t.dtype}{tuple(t.shape)}, the input is "
                             f"{tensor.dtype}{tuple(tensor.shape)}")
    array = tensor._data
    out = array_module(array).empty((pg.size,) + array.shape, array.dtype)
    pg.all_gather(out, array)
    for t, part in zip(tensor_list, out):
        t._data[...] = part
        _bump(t)


def all_reduce_array(array, op=ReduceOp.SUM):
    """Start an in-place reduction of a C-contiguous NumPy/CuPy array (DDP's buckets); returns a
    work whose ``wait()`` completes it. AVG is left as the sum."""
    return _require("all_reduce").all_reduce_async(array, op)


def broadcast_array(array, src=0):
    _require("broadcast").broadcast(array, src)


def all_gather_object(obj):
    """Every rank's picklable ``obj``, as a list indexed by rank (through MPI in both backends)."""
    pg = _require("all_gather_object")
    comm = pg.comm if pg.name == Backend.MPI else pg.mpi.comm
    return comm.allgather(obj)
