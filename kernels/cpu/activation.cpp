// Activation functions and their gradients in one pass each: NumPy evaluates gelu and its gradient
// as five to ten whole-array passes with temporaries, and relu's gradient as a mask plus a select.
#include <cmath>

#include "common.h"
#include "vector_math.h"

namespace {

using ember::carray;
namespace vm = ember::vmath;

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluCubic = 0.044715;

// out[i] = f(x[i]) (unary) or f(a[i], b[i]) (binary): same-shaped inputs, output shaped like them.
// The `if` names `parallel`: a bare `if` on `parallel for simd` also turns off simd when false, which
// left small arrays scalar (10x slower).
template <typename T, typename F>
py::array map_unary(const py::array& x_in, F f) {
    carray<T> x(x_in);
    py::array_t<T> out(x.request().shape);
    const T* __restrict src = x.data();
    T* __restrict dst = out.mutable_data();
    const std::int64_t n = x.size();
    {
        py::gil_scoped_release release;
#pragma omp parallel for simd if (parallel : n > ember::kParallelThreshold)
        for (std::int64_t i = 0; i < n; ++i) dst[i] = f(src[i]);
    }
    return out;
}

template <typename T, typename F>
py::array map_binary(const char* op, const py::array& a_in, const py::array& b_in, F f) {
    carray<T> a(a_in), b(b_in);
    if (a.size() != b.size()) throw py::value_error(std::string(op) + ": the two arrays differ in size");
    py::array_t<T> out(a.request().shape);
    const T* __restrict pa = a.data();
    const T* __restrict pb = b.data();
    T* __restrict dst = out.mutable_data();
    const std::int64_t n = a.size();
    {
        py::gil_scoped_release release;
#pragma omp parallel for simd if (parallel : n > ember::kParallelThreshold)
        for (std::int64_t i = 0; i < n; ++i) dst[i] = f(pa[i], pb[i]);
    }
    return out;
}

// ---- relu ----------------------------------------------------------------------------------------

py::array relu_forward(const py::array& x) {
    return ember::dispatch_float("relu_forward", x, [&]<typename T>() {
        return map_unary<T>(x, [](T v) { return v < T(0) ? T(0) : v; });  // NaN passes, as in NumPy
    });
}

// PyTorch's rule: no gradient where the output is <= 0 (so none at 0).
py::array relu_backward(const py::array& grad, const py::array& y) {
    return ember::dispatch_float("relu_backward", grad, [&]<typename T>() {
        return map_binary<T>("relu_backward", grad, y, [](T g, T out) { return out <= T(0) ? T(0) : g; });
    });
}

// ---- gelu: x Phi(x), Phi the standard normal cdf ----------------------------------------------------

template <typename T>
inline T normal_cdf(T x) {
    return T(0.5) * (T(1) + vm::erf(x * T(kSqrt1_2)));
}

py::array gelu_forward(const py::array& x) {
    return ember::dispatch_float("gelu_forward", x, [&]<typename T>() {
        return map_unary<T>(x, [](T v) { return v * normal_cdf(v); });
    });
}

// d/dx x Phi(x) = Phi(x) + x phi(x), phi the density
py::array gelu_backward(const py::array& grad, const py::array& x) {
    return ember::dispatch_float("gelu_backward", grad, [&]<typename T>() {
        return map_binary<T>("gelu_backward", grad, x, [](T g, T v) {
            return g * (normal_cdf(v) + v * vm::exp(T(-0.5) * v * v) * T(kInvSqrt2Pi));
        });
    });
}

// ---- gelu, tanh approximation: x/2 (1 + tanh(k (x + c x^3))) --------------------------------------------

template <typename T>
inline T gelu_tanh_inner(T x) {
    return T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
}

py::array gelu_tanh_forward(const py::array& x) {
    return ember::dispatch_float("gelu_tanh_forward", x, [&]<typename T>() {
        return map_unary<T>(x, [](T v) { return T(0.5) * v * (T(1) + vm::tanh(gelu_tanh_inner(v))); });
    });
}

// dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2), t = tanh(k (x + c x^3))
py::array gelu_tanh_backward(const py::array& grad, const py::array& x) {
    return ember::dispatch_float("gelu_tanh_backward", grad, [&]<typename T>() {
        return map_binary<T>("gelu_tanh_backward", grad, x, [](T g, T v) {
            const T t = vm::tanh(gelu_tanh_inner(v));
            const T inner_derivative = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * v * v);
            return g * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * inner_derivative);
        });
    });
}

void register_activation(py::module_& m) {
    m.def("relu_forward", &relu_forward, "max(x, 0) (float32/float64).", py::arg("x"));
    m.def("relu_backward", &relu_backward, "grad where relu's output y > 0, else 0.", py::arg("grad"),
          py::arg("y"));
    m.def("gelu_forward", &gelu_forward, "x Phi(x), Phi the normal cdf (exact, erf form).", py::arg("x"));
    m.def("gelu_backward", &gelu_backward, "grad (Phi(x) + x phi(x)).", py::arg("grad"), py::arg("x"));
    m.def("gelu_tanh_forward", &gelu_tanh_forward, "gelu's tanh approximation.", py::arg("x"));
    m.def("gelu_tanh_backward", &gelu_tanh_backward, "Gradient of gelu's tanh approximation.",
          py::arg("grad"), py::arg("x"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_activation);
