"""What ``ember bench --device cuda`` adds to the cpu run: why it cannot run here, what the GPU and
the libraries on it are, and the device's copy bandwidth, the yardstick of memory-bound kernels."""
import importlib.metadata

import ember
from ember.kernels.cuda import runtime

from .timing import median_seconds

COPY_BYTES = 1 << 29   # 512 MiB: ten times the L2 cache of an H100 or H200, so the copy streams from memory


def unusable_reason():
    """None when both ember and PyTorch can use a GPU here, else why not (for the command to print)."""
    if not ember.cuda.is_available():
        return f"ember cannot use a GPU here: {runtime.unusable_reason()}"
    import torch
    if not torch.cuda.is_available():
        return (f"PyTorch {torch.__version__} cannot use the GPU (built for CUDA {torch.version.cuda}); "
                f"install a CUDA build of torch to race it")
    return None


def name():
    """The GPU's name, e.g. 'NVIDIA H100 80GB HBM3'."""
    return ember.cuda.get_device_name()


def _cuda_version(number):
    """'13.0' for CUDA's 13000."""
    return f"{number // 1000}.{number % 1000 // 10}"


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(library):
    """The GPU and the versions that ``library`` ('ember' or 'torch') runs with, for the JSON file."""
    if library == "torch":
        import torch
        return dict(torch_cuda=torch.version.cuda, torch_gpu=torch.cuda.get_device_name(),
                    torch_tf32=torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)
    cp = runtime.cupy()
    major, minor = ember.cuda.get_device_capability()
    return dict(gpu=name(), compute_capability=f"{major}.{minor}",
                cuda_runtime=_cuda_version(cp.cuda.runtime.runtimeGetVersion()),
                cuda_driver=_cuda_version(cp.cuda.runtime.driverGetVersion()),
                cupy=cp.__version__, numba_cuda=_version("numba-cuda"))


def copy_gbps(clock, quick):
    """Device-to-device copy bandwidth in GB/s, counting the bytes read and the bytes written (as the
    kernels' effective bandwidth does), timed with ``clock`` (CuPy events)."""
    cp = runtime.cupy()
    source = cp.ones(COPY_BYTES, cp.uint8)
    target = cp.empty_like(source)
    seconds = median_seconds(lambda: cp.copyto(target, source), *((0.01, 3) if quick else (0.2, 7)), clock=clock)
    return 2 * COPY_BYTES / seconds / 1e9
