"""Build and install ember.

The repository keeps the design card's top-level folders (engine/, kernels/, nn/) and maps them into
one import namespace: engine/ -> ember.engine, kernels/ -> ember.kernels, nn/ -> ember.nn, and the
public facade _ember/ -> ember. build_ext runs CMake (CMakeLists.txt) to build the C++ kernels.
"""
import os
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name, optional=False):
        super().__init__(name, sources=[], optional=optional)


class CMakeBuild(build_ext):
    """Configure and build CMakeLists.txt, putting the modules where setuptools expects them.

    One CMake build makes every module, so it runs for the first extension only. It makes
    ember.kernels._cuda only where it finds nvcc (environment EMBER_CUDA=AUTO, the default; ON
    requires it, OFF skips it): that extension is optional, and setuptools skips it when absent."""

    def build_extension(self, ext):
        import pybind11

        if getattr(self, "_cmake_done", False):
            return
        output_dir = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        build_dir = os.path.join(os.path.abspath(self.build_temp), "cmake")
        os.makedirs(build_dir, exist_ok=True)
        configure = ["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja",
                     f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={output_dir}",
                     f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
                     f"-DPython_EXECUTABLE={sys.executable}",
                     f"-DEMBER_CUDA={os.environ.get('EMBER_CUDA', 'AUTO').upper()}",
                     "-DCMAKE_BUILD_TYPE=Release"]
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", build_dir, "--parallel", str(os.cpu_count() or 2)], check=True)
        self._cmake_done = True


PACKAGES = {
    "ember": "_ember",
    "ember.engine": "engine",
    "ember.engine.ops": "engine/ops",
    "ember.kernels": "kernels",
    "ember.kernels.cuda": "kernels/cuda",
    "ember.kernels.numba_cuda": "kernels/numba_cuda",
    "ember.amp": "_ember/amp",
    "ember.nn": "nn",
    "ember.optim": "_ember/optim",
    "ember.data": "_ember/data",
    "ember.models": "_ember/models",
    "ember.distributed": "_ember/distributed",
    "ember.compress": "_ember/compress",
    "ember.compress.quantize": "_ember/compress/quantize",
    "ember.tune": "_ember/tune",
    "ember.viz": "_ember/viz",
    "ember.bench": "bench",
}

setup(
    name="ember",
    version="0.1.0",
    description="A from-scratch reverse-mode autodiff engine with its own kernels",
    long_description=open(os.path.join(ROOT, "README.md")).read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=list(PACKAGES),
    package_dir=PACKAGES,
    package_data={"ember.kernels.cuda": ["*.cu", "*.cuh"]},  # CuPy compiles these at run time
    ext_modules=[CMakeExtension("ember.kernels._cpu"), CMakeExtension("ember.kernels._cuda", optional=True)],
    cmdclass={"build_ext": CMakeBuild},
    install_requires=["numpy>=1.26", "safetensors>=0.4", "tqdm>=4.60"],
    extras_require={
        "data": ["scikit-learn>=1.3", "mlxtend>=0.23", "matplotlib>=3.6"],
        "test": ["torch>=2.3,<2.15", "pytest>=8", "pytest-benchmark>=4", "hypothesis>=6", "numba-cuda>=0.20",
                 "nvidia-cuda-nvrtc>=13.0,<13.1",  # tests/test_cuda_sources.py compiles the .cu files
                 "scikit-learn>=1.3", "mlxtend>=0.23", "matplotlib>=3.6",
                 "mpi4py>=3.1", "mpich>=4",  # tests/test_distributed.py runs mpiexec
                 "optuna>=3", "graphviz>=0.20", "graphviz-pure>=0.2.2"],
        "cuda": ["cupy-cuda13x>=13", "numba-cuda>=0.20", "nvidia-cuda-nvrtc>=13.0,<14"],
        "distributed": ["mpi4py>=3.1", "mpich>=4"],
        "tune": ["optuna>=3"],
        "viz": ["graphviz>=0.20", "matplotlib>=3.6", "graphviz-pure>=0.2.2"],  # graphviz-pure: a dot without system Graphviz
        "bench": ["torch>=2.3,<2.15", "pytest-benchmark>=4", "matplotlib>=3.6"],
    },
    entry_points={"console_scripts": ["ember=ember.cli:main"]},
    zip_safe=False,
)
