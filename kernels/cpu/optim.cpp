// Fused optimizer updates: one pass over each parameter instead of NumPy's five to ten (each of
// which reads and writes whole arrays and allocates temporaries). The arithmetic is the NumPy
// reference's (kernels/optim.py), element by element, in the parameter's precision.
#include <cmath>

#include "common.h"

namespace {

// An update is a few flops per element on arrays that are usually still in cache: one core does a
// million elements in about a millisecond, and below that waking a second thread (which may find
// its core busy with NumPy's BLAS threads) risks more than it saves.
constexpr std::int64_t kOptimizerParallelThreshold = 1 << 20;

// The arrays a kernel updates in place must be the caller's own memory: a silent copy would
// update the copy.
template <typename T>
T* writable(py::array a, const char* op, const char* name, std::int64_t size) {
    if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style) || !a.writeable() ||
        a.size() != size)
        throw py::value_error(std::string(op) + ": " + name +
                              " must be a writeable C-contiguous array of the parameter's dtype and size");
    return static_cast<T*>(a.mutable_data());
}

// Loop-invariant options are selects (blends once vectorised), and the two optional state arrays
// are template parameters, so every loop is a straight line the compiler vectorises.
template <typename T, bool kMomentum>
void sgd_loop(T* __restrict p, const T* __restrict g, T* __restrict b, std::int64_t begin, std::int64_t end,
              T lr, T m, T keep, T wd, bool decay, bool nesterov, bool maximize, bool first) {
    for (std::int64_t i = begin; i < end; ++i) {
        const T gi = g[i], pi = p[i];
        T d = maximize ? -gi : gi;
        d = decay ? d + wd * pi : d;
        if constexpr (kMomentum) {
            const T b0 = b[i];
            const T average = first ? d : b0 * m + keep * d;
            b[i] = average;
            d = nesterov ? d + m * average : average;
        }
        p[i] = pi + -lr * d;
    }
}

template <typename T>
void sgd(py::array param, const py::array& grad_in, py::object buffer, double lr, double momentum,
         double dampening, double weight_decay, bool nesterov, bool maximize, bool first) {
    const std::int64_t n = param.size();
    T* p = writable<T>(param, "sgd_step", "param", n);
    ember::carray<T> grad(grad_in);
    const T* g = grad.data();
    T* b = momentum != 0 ? writable<T>(buffer.cast<py::array>(), "sgd_step", "momentum_buffer", n) : nullptr;
    const T m = T(momentum), keep = T(1 - dampening), wd = T(weight_decay);
    py::gil_scoped_release release;
    ember::parallel_chunks(n, kOptimizerParallelThreshold, [&](std::int64_t begin, std::int64_t end) {
        if (b) sgd_loop<T, true>(p, g, b, begin, end, T(lr), m, keep, wd, weight_decay != 0, nesterov, maximize, first);
        else sgd_loop<T, false>(p, g, b, begin, end, T(lr), m, keep, wd, weight_decay != 0, nesterov, maximize, first);
    });
}

struct AdamScalars {
    double lr, beta1, beta2, eps, weight_decay, step;
    bool decoupled, maximize;
};

template <typename T, bool kAmsgrad, bool kL2, bool kSmallWeight>
void adam_loop(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax,
               std::int64_t begin, std::int64_t end, const AdamScalars& s) {
    const T w1 = T(1 - s.beta1), b2 = T(s.beta2), w2 = T(1 - s.beta2), eps = T(s.eps), wd = T(s.weight_decay);
    const T step_size = T(s.lr / (1 - std::pow(s.beta1, s.step)));
    const T correction2 = T(std::sqrt(1 - std::pow(s.beta2, s.step)));
    // x * 1 and g * -1 are exact, so these two options are arithmetic rather than branches
    const T shrink = s.decoupled && s.weight_decay != 0 ? T(1 - s.lr * s.weight_decay) : T(1);
    const T sign = s.maximize ? T(-1) : T(1);
    for (std::int64_t i = begin; i < end; ++i) {
        const T x = p[i] * shrink;
        T d = sign * g[i];
        if constexpr (kL2) d = d + wd * x;
        T mi;
        if constexpr (kSmallWeight) mi = m[i] + w1 * (d - m[i]);  // PyTorch's lerp has two forms
        else mi = d - (d - m[i]) * (1 - w1);
        const T vi = v[i] * b2 + (w2 * d) * d;
        m[i] = mi;
        v[i] = vi;
        T second = vi;
        if constexpr (kAmsgrad) {
            second = std::max(vmax[i], vi);
            vmax[i] = second;
        }
        p[i] = x + (-step_size * mi) / (std::sqrt(second) / correction2 + eps);
    }
}

template <typename T>
void adam(py::array param, const py::array& grad_in, py::array exp_avg, py::array exp_avg_sq,
          py::object max_exp_avg_sq, const AdamScalars& scalars) {
    const std::int64_t n = param.size();
    T* p = writable<T>(param, "adam_step", "param", n);
    T* m = writable<T>(exp_avg, "adam_step", "exp_avg", n);
    T* v = writable<T>(exp_avg_sq, "adam_step", "exp_avg_sq", n);
    T* vmax = max_exp_avg_sq.is_none() ? nullptr
                                       : writable<T>(max_exp_avg_sq.cast<py::array>(), "adam_step", "max_exp_avg_sq", n);
    ember::carray<T> grad(grad_in);
    const T* g = grad.data();
    py::gil_scoped_release release;
    const bool l2 = scalars.weight_decay != 0 && !scalars.decoupled;
    const bool small_weight = std::abs(T(1 - scalars.beta1)) < T(0.5);
    ember::parallel_chunks(n, kOptimizerParallelThreshold, [&](std::int64_t begin, std::int64_t end) {
        ember::with_flag(vmax != nullptr, [&](auto amsgrad) {
            ember::with_flag(l2, [&](auto decay) {
                ember::with_flag(small_weight, [&](auto small) {
                    adam_loop<T, decltype(amsgrad)::value, decltype(decay)::value, decltype(small)::value>(
                        p, g, m, v, vmax, begin, end, scalars);
                });
            });
        });
    });
}

void sgd_step(py::array param, const py::array& grad, py::object buffer, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool maximize, bool first) {
    ember::dispatch_float("sgd_step", param, [&]<typename T>() {
        sgd<T>(param, grad, buffer, lr, momentum, dampening, weight_decay, nesterov, maximize, first);
    });
}

void adam_step(py::array param, const py::array& grad, py::array exp_avg, py::array exp_avg_sq,
               py::object max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
               double weight_decay, bool decoupled, bool maximize, double step) {
    const AdamScalars scalars{lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize};
    ember::dispatch_float("adam_step", param, [&]<typename T>() {
        adam<T>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, scalars);
    });
}

void register_optim(py::module_& m) {
    m.def("sgd_step", &sgd_step, "SGD update in place (see kernels/optim.py).");
    m.def("adam_step", &adam_step, "Adam update in place (see kernels/optim.py).");
}

}  // namespace

EMBER_REGISTER_KERNELS(register_optim);
