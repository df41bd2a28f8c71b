// Elementwise kernels NumPy lacks or computes in several passes.
#include <cmath>

#include "common.h"
#include "vector_math.h"

namespace {

template <typename T>
py::array erf_kernel(const py::array& input) {
    ember::carray<T> x(input);
    py::array_t<T> out(x.request().shape);
    const T* src = x.data();
    T* dst = out.mutable_data();
    const std::int64_t n = x.size();
    {
        py::gil_scoped_release release;
        ember::parallel_chunks(n, ember::kParallelThreshold, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t i = begin; i < end; ++i) dst[i] = ember::vmath::erf(src[i]);
        });
    }
    return out;
}

py::array erf(const py::array& x) {
    return ember::dispatch_float("erf", x, [&]<typename T>() { return erf_kernel<T>(x); });
}

void register_elementwise(py::module_& m) {
    m.def("erf", &erf, "Elementwise error function (float32/float64).", py::arg("x"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_elementwise);
