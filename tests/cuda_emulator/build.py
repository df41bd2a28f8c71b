"""Compiles a kernel family's CUDA source for the host. A generated driver includes shim.h (CUDA's
builtins), emulator.h, the text CuPy would compile (``runtime.source(family)``: kernels/cuda/<family>.cu
with common.cuh inlined) and a table of the instantiations the glue asks for; g++ links it with the
runtime (emulator.cpp, compiled once) into one shared library per family. Builds are cached in a folder
by the hash of everything that goes into them."""
import ctypes
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from ember.kernels.cuda import runtime

HERE = pathlib.Path(__file__).parent
COMPILER = os.environ.get("CXX", "g++")
FLAGS = ("-std=c++20", "-O1", "-pthread", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wno-unused-function")
# A name expression as CuPy's RawModule takes it: a function's name and template arguments.
_NAME_EXPRESSION = re.compile(r"^[A-Za-z_]\w*(<[\w\s,:*]+>)?$")


def unavailable_reason():
    """Why the emulator cannot build here, or None."""
    if shutil.which(COMPILER) is None:
        return f"the CUDA host emulator needs a C++20 compiler: {COMPILER} is not on PATH"
    if shutil.which("nm") is None:
        return "the CUDA host emulator needs nm (binutils) to find the kernels' __shared__ arrays"
    probe = subprocess.run([COMPILER, "-std=c++20", "-fsyntax-only", "-x", "c++", "-"], capture_output=True, text=True,
                           input="#include <atomic>\n#include <bit>\n#include <source_location>\n")
    if probe.returncode != 0:
        return f"{COMPILER} lacks C++20's <atomic>, <bit> or <source_location> (GCC 11 or newer has them)"
    return None


def driver_source(family, name_expressions):
    """The C++ driver of ``family``'s library: its source, then the table of its kernels."""
    for name in name_expressions:
        if not _NAME_EXPRESSION.match(name):
            raise ValueError(f"{family}: {name!r} is not a kernel name expression such as 'softmax<float>'")
    entries = "".join(f'    ember_emu::kernel<&{name}>("{name}"),\n' for name in name_expressions)
    return (f'#include "shim.h"\n#include "emulator.h"\n#include "{family}.cu"\n\n'
            f"const ember_emu::Kernel ember_emu::kernels[] = {{\n{entries}}};\n"
            f"const int ember_emu::kernel_count = {len(name_expressions)};\n")


def _digest(*parts):
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def compile_in(work, arguments, what):
    """g++ with the emulator's flags and headers, in folder ``work``; RuntimeError with its messages."""
    done = subprocess.run([COMPILER, *FLAGS, f"-I{HERE}", *arguments], cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{COMPILER} could not compile {what} for the CUDA host emulator:\n{done.stderr[-6000:]}")


def cached(path, make):
    """``path``, made by ``make(work folder)`` (which writes work/'out') unless it exists; atomic, so
    that concurrent runs find the whole file or none."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        work = pathlib.Path(tempfile.mkdtemp(prefix=f"{path.name}-", dir=path.parent))
        make(work)
        os.replace(work / "out", path)
        shutil.rmtree(work, ignore_errors=True)
    return path


def _runtime_object(cache_dir):
    headers = [(HERE / name).read_text() for name in ("shim.h", "emulator.h", "emulator.cpp")]
    path = pathlib.Path(cache_dir) / f"emulator-{_digest(*headers, *FLAGS, COMPILER)}.o"
    return cached(path, lambda work: compile_in(work, ["-c", str(HERE / "emulator.cpp"), "-o", "out"], "emulator.cpp"))


def build(family, name_expressions, cache_dir, source=None):
    """The path of ``family``'s library holding ``name_expressions``, built in ``cache_dir`` unless an
    identical build is there. ``source``: the CUDA C++ text, by default kernels/cuda/<family>.cu as CuPy
    compiles it. RuntimeError with the compiler's messages when it does not compile."""
    source = runtime.source(family) if source is None else source
    driver = driver_source(family, name_expressions)
    runtime_object = _runtime_object(cache_dir)

    def make(work):
        (work / f"{family}.cu").write_text(source)
        (work / "driver.cpp").write_text(driver)
        compile_in(work, ["-shared", "driver.cpp", str(runtime_object), "-o", "out"], f"{family}.cu")

    return cached(pathlib.Path(cache_dir) / f"{family}-{_digest(source, driver, runtime_object.name)}.so", make)


def _symbols(library):
    """nm's listing of ``library``: [(name, value, type, size, section)]."""
    listing = subprocess.run(["nm", "--defined-only", "-S", "--format=sysv", str(library)], capture_output=True,
                             text=True, check=True).stdout
    rows = [[field.strip() for field in line.split("|")] for line in listing.splitlines()]
    return [(row[0], int(row[1], 16), row[3], int(row[4] or "0", 16), row[6]) for row in rows if len(row) == 7]


def load(library):
    """The ctypes handle of a built library, told where its kernels' __shared__ arrays lie: under
    shim.h, their function statics, i.e. zero-initialised (.bss) objects named as function-local."""
    handle = ctypes.CDLL(str(library))
    handle.ember_emu_kernel_name.restype = ctypes.c_char_p
    handle.ember_emu_kernel_signature.argtypes = [ctypes.c_int, ctypes.c_char_p]
    handle.ember_emu_set_shared_memory.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                                   ctypes.POINTER(ctypes.c_ulonglong)]
    handle.ember_emu_launch.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                        ctypes.POINTER(ctypes.c_void_p), ctypes.c_ulonglong, ctypes.c_char_p,
                                        ctypes.c_int]
    symbols = _symbols(library)
    launch_offset = next(value for name, value, *_ in symbols if name == "ember_emu_launch")
    base = ctypes.cast(handle.ember_emu_launch, ctypes.c_void_p).value - launch_offset
    arrays = [(value, size) for name, value, kind, size, section in symbols
              if name.startswith("_ZZ") and kind == "OBJECT" and section == ".bss"]
    addresses = (ctypes.c_void_p * len(arrays))(*[base + value for value, _ in arrays])
    sizes = (ctypes.c_ulonglong * len(arrays))(*[size for _, size in arrays])
    handle.ember_emu_set_shared_memory(len(arrays), addresses, sizes)
    return handle
