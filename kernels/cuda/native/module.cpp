// ember.kernels._cuda: host launchers of ember's CUDA kernels, one pybind11 module. The kernels are the
// kernels/cuda/<family>.cu files that CuPy also compiles; nvcc compiles them here for the architectures
// CMakeLists.txt lists, and the CUDA runtime is linked statically, so the module imports on a machine
// without a GPU or driver and only its calls fail (RuntimeError naming the CUDA error).
// Python glue (kernels/cuda/native.py) checks CuPy arrays and passes their pointers and CuPy's stream.
//
// Adding a launcher for a kernel of kernels/cuda/<family>.cu:
//   1. native/<family>.cu: #include "../<family>.cu" and "launchers.h", then write
//      `template <typename T> cudaError_t launch_<kernel>(Pointer..., sizes..., Pointer stream)` from the
//      kernel's launch contract, ending in `return cudaGetLastError();`, and instantiate it for float and
//      double (CMake compiles every native/*.cu);
//   2. launchers.h: declare it;
//   3. below: m.def("<kernel>", for_float_types("<kernel>", launch_<kernel><float>, launch_<kernel><double>),
//      py::arg("dtype"), py::arg(...)...). Python calls it as `<kernel>(dtype_name, *arguments)`.
#include <stdexcept>
#include <string>

#include <pybind11/pybind11.h>

#include "launchers.h"

namespace py = pybind11;
using ember_cuda::Pointer;

namespace {

// RuntimeError "<op>: <CUDA's message> (<error name>)" for a failed CUDA call.
void cuda_error_check(cudaError_t status, const std::string& op) {
  if (status == cudaSuccess) return;
  throw std::runtime_error(op + ": " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
}

// Devices the CUDA runtime sees: 0 without a driver or device, instead of raising.
int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear it, or the next launch's cudaGetLastError would report it
    return 0;
  }
  return count;
}

// A Python function `(dtype_name, arguments...)` running the float or double instantiation of a launcher.
template <typename... Args>
auto for_float_types(std::string op, cudaError_t (*launch_float)(Args...), cudaError_t (*launch_double)(Args...)) {
  return [op, launch_float, launch_double](const std::string& dtype, Args... args) {
    if (dtype == "float32") return cuda_error_check(launch_float(args...), op);
    if (dtype == "float64") return cuda_error_check(launch_double(args...), op);
    throw py::type_error(op + ": expected dtype float32 or float64, got " + dtype);
  };
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  using namespace ember_cuda;
  m.doc() = "ember's C++/CUDA kernels: launchers taking device pointers and a CUDA stream as integers";
  m.def("device_count", &device_count, "CUDA devices visible to this module's runtime (0 without a driver).");
  m.attr("runtime_version") = CUDART_VERSION;

  m.def("gemm", for_float_types("gemm", launch_gemm<float>, launch_gemm<double>),
        "c (batch, m, n) = a (batch, m, k) @ b (batch, k, n), c C-contiguous; stride_a, stride_b: elements "
        "between a batch's matrices of a, b (0: one matrix for the whole batch); a_row, a_column, b_row, "
        "b_column: elements between rows and between columns of a matrix of a, b.",
        py::arg("dtype"), py::arg("a"), py::arg("b"), py::arg("c"), py::arg("batch"), py::arg("m"), py::arg("n"),
        py::arg("k"), py::arg("stride_a"), py::arg("stride_b"), py::arg("a_row"), py::arg("a_column"),
        py::arg("b_row"), py::arg("b_column"), py::arg("stream"));
}
