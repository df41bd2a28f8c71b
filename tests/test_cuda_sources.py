"""Every CUDA C++ kernel source compiles as it will on a GPU machine, checked without one: each
family's ``.cu`` text goes through NVRTC exactly as CuPy's RawModule hands it over (the text of
``runtime.source``, its options, and the glue's template instantiations as name expressions), for
the architectures ember targets. Kernel *behaviour* is checked by tests/test_cuda_emulator.py here
and tests/test_cuda.py on a GPU."""
import ctypes
import importlib

import pytest

from ember.kernels.cuda import runtime

ARCHITECTURES = ("compute_80", "compute_90")


def _nvrtc():
    try:
        from cuda import pathfinder
        return ctypes.CDLL(pathfinder.load_nvidia_dynamic_lib("nvrtc").abs_path)
    except Exception as error:  # not installed: pathfinder raises its own error types
        pytest.skip(f"NVRTC is not installed ({error}); pip install nvidia-cuda-nvrtc")


def _families():
    """Each .cu file that CuPy compiles at run time: those whose glue module lists instantiations."""
    families = []
    for path in sorted(runtime.SOURCE_DIR.glob("*.cu")):
        try:
            glue = importlib.import_module(f"ember.kernels.cuda.{path.stem}")
        except ImportError:
            continue
        if hasattr(glue, "_INSTANTIATIONS"):
            families.append(pytest.param(path.stem, glue._INSTANTIATIONS, id=path.stem))
    return families


def _compile(nvrtc, family, names, architecture):
    """NVRTC's (return code, log, {name expression: lowered name})."""
    program = ctypes.c_void_p()
    code = runtime.source(family).encode()
    assert nvrtc.nvrtcCreateProgram(ctypes.byref(program), code, f"{family}.cu".encode(), 0, None, None) == 0
    try:
        for name in names:
            assert nvrtc.nvrtcAddNameExpression(program, name.encode()) == 0
        options = [b"--std=c++17", f"-arch={architecture}".encode()]
        status = nvrtc.nvrtcCompileProgram(program, len(options), (ctypes.c_char_p * len(options))(*options))
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(program, log)
        lowered = {}
        if status == 0:
            for name in names:
                symbol = ctypes.c_char_p()
                nvrtc.nvrtcGetLoweredName(program, name.encode(), ctypes.byref(symbol))
                lowered[name] = symbol.value
        return status, log.value.decode(errors="replace"), lowered
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))


def test_every_cupy_family_is_checked():
    assert {"conv", "pooling", "recurrent"} <= {p.values[0] for p in _families()}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("family,names", _families())
def test_source_compiles_under_nvrtc(family, names, architecture):
    status, log, lowered = _compile(_nvrtc(), family, names, architecture)
    assert status == 0, f"{family}.cu does not compile for {architecture}:\n{log}"
    assert "warning" not in log.lower(), f"{family}.cu compiles with warnings for {architecture}:\n{log}"
    missing = [name for name in names if not lowered.get(name)]
    assert not missing, f"{family}.cu has no kernel for {missing}"


def test_a_broken_source_is_caught(monkeypatch):
    """The check can fail: a kernel calling an undeclared function does not compile."""
    nvrtc = _nvrtc()
    real_source = runtime.source
    monkeypatch.setattr(runtime, "source", lambda family: real_source(family) + "\n__global__ void k() { nope(); }\n")
    status, log, _ = _compile(nvrtc, "pooling", (), ARCHITECTURES[0])
    assert status != 0 and "nope" in log
