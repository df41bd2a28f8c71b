// Elementwise kernels NumPy lacks or computes in several passes.
#include <cmath>
#include <cstdint>
#include <pybind11/pybind11.h>
#include <pybind11/numpy.h>

namespace py = pybind11;

namespace {

// Below this many elements, starting OpenMP threads costs more than it saves.
constexpr std::int64_t kParallelThreshold = 1 << 15;

template <typename T>
py::array_t<T> erf_kernel(py::array_t<T, py::array::c_style | py::array::forcecast> x) {
    auto out = py::array_t<T>(x.request().shape);
    const T* src = x.data();
    T* dst = out.mutable_data();
    const std::int64_t n = x.size();
    {
        py::gil_scoped_release release;
#pragma omp parallel for simd if (n > kParallelThreshold)
        for (std::int64_t i = 0; i < n; ++i) dst[i] = std::erf(src[i]);
    }
    return out;
}

py::array erf_dispatch(py::array x) {
    if (py::isinstance<py::array_t<float>>(x)) return erf_kernel<float>(x);
    if (py::isinstance<py::array_t<double>>(x)) return erf_kernel<double>(x);
    throw py::type_error("erf: expected a float32 or float64 array");
}

}  // namespace

void register_elementwise(py::module_& m) {
    m.def("erf", &erf_dispatch, "Elementwise error function (float32/float64).", py::arg("x"));
}
