// Softmax, log_softmax (forward and backward, along any dim) and cross entropy: each line along the
// reduced dim is reduced and rewritten while it sits in cache, with an exp the compiler can
// vectorise (glibc's is a scalar call per element).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "common.h"
#include "vector_math.h"

namespace {

namespace vm = ember::vmath;

using std::int64_t;

// The largest element of a row; NaN elements are skipped here, but still reach the output through
// exp(NaN), as in PyTorch. An all -inf row gives -inf, so x - max is NaN there, as in PyTorch.
template <typename T>
T row_max(const T* __restrict x, int64_t n) {
    T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t c = 0; c < n; ++c) m = std::max(m, x[c]);
    return m;
}

// sum(exp(x - m)) over a row, optionally storing each exp in y.
template <typename T, bool Store>
T sum_exp(const T* __restrict x, T* __restrict y, int64_t n, T m) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < n; ++c) {
        const T e = vm::exp(x[c] - m);
        if constexpr (Store) y[c] = e;
        s += e;
    }
    return s;
}

// ---- the ops, on one contiguous row of C elements (row) or on up to kLanes lines that lie side by
// side, element c of line j at [c * stride + j] (lanes: the reduced dim is not the last one, and the
// lines vectorise across j). Inputs a (and b), output out.

// 128 lines (512 bytes of float) per block: each element index c reads whole cache lines in order,
// and 64 of them still fit in L1 and L2 with the per-line sums. 32 lines ran 2x slower (lines 4 KB
// apart alias in L1 between the passes), 512 no faster.
constexpr int64_t kLanes = 128;

// log(sum(exp(x))) of a row as max + log(sum(exp(x - max))): kept apart, so that subtracting an
// element (cross entropy's loss) subtracts it from the max first, exactly.
template <typename T>
struct LogSumExp {
    T max, log_sum;
};

// y = softmax(x) over a row.
template <typename T>
LogSumExp<T> softmax_row(const T* __restrict x, T* __restrict y, int64_t n) {
    const T m = row_max(x, n);
    const T total = sum_exp<T, true>(x, y, n, m);
    const T inverse = T(1) / total;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) y[c] *= inverse;
    return {m, std::log(total)};
}

// m[j] = the largest element of line j (NaN skipped, as row_max).
template <typename T>
void lane_max(const T* __restrict x, int64_t n, int64_t stride, int64_t lanes, T* __restrict m) {
    std::fill(m, m + lanes, -std::numeric_limits<T>::infinity());
    for (int64_t c = 0; c < n; ++c) {
        const T* __restrict xc = x + c * stride;
#pragma omp simd
        for (int64_t j = 0; j < lanes; ++j) m[j] = std::max(m[j], xc[j]);
    }
}

// s[j] = sum(exp(x - m[j])) over line j, optionally storing each exp in y.
template <typename T, bool Store>
void lane_sum_exp(const T* __restrict x, T* __restrict y, int64_t n, int64_t stride, int64_t lanes,
                  const T* __restrict m, T* __restrict s) {
    std::fill(s, s + lanes, T(0));
    for (int64_t c = 0; c < n; ++c) {
#pragma omp simd
        for (int64_t j = 0; j < lanes; ++j) {
            const T e = vm::exp(x[c * stride + j] - m[j]);
            if constexpr (Store) y[c * stride + j] = e;
            s[j] += e;
        }
    }
}

template <typename T>
struct SoftmaxForward {
    static void row(const T* __restrict x, const T*, T* __restrict y, int64_t n) { softmax_row(x, y, n); }

    static void lanes(const T* __restrict x, const T*, T* __restrict y, int64_t n, int64_t stride, int64_t lanes) {
        T m[kLanes], inverse[kLanes];
        lane_max(x, n, stride, lanes, m);
        lane_sum_exp<T, true>(x, y, n, stride, lanes, m, inverse);
        for (int64_t j = 0; j < lanes; ++j) inverse[j] = T(1) / inverse[j];
        for (int64_t c = 0; c < n; ++c) {
#pragma omp simd
            for (int64_t j = 0; j < lanes; ++j) y[c * stride + j] *= inverse[j];
        }
    }
};

template <typename T>
struct LogSoftmaxForward {
    static void row(const T* __restrict x, const T*, T* __restrict y, int64_t n) {
        const T m = row_max(x, n);
        const T log_sum = std::log(sum_exp<T, false>(x, nullptr, n, m));
#pragma omp simd
        for (int64_t c = 0; c < n; ++c) y[c] = (x[c] - m) - log_sum;
    }

    static void lanes(const T* __restrict x, const T*, T* __restrict y, int64_t n, int64_t stride, int64_t lanes) {
        T m[kLanes], log_sum[kLanes];
        lane_max(x, n, stride, lanes, m);
        lane_sum_exp<T, false>(x, nullptr, n, stride, lanes, m, log_sum);
        for (int64_t j = 0; j < lanes; ++j) log_sum[j] = std::log(log_sum[j]);
        for (int64_t c = 0; c < n; ++c) {
#pragma omp simd
            for (int64_t j = 0; j < lanes; ++j) y[c * stride + j] = (x[c * stride + j] - m[j]) - log_sum[j];
        }
    }
};

// d softmax: y * (g - sum(g * y))
template <typename T>
struct SoftmaxBackward {
    static void row(const T* __restrict y, const T* __restrict g, T* __restrict out, int64_t n) {
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t c = 0; c < n; ++c) dot += g[c] * y[c];
#pragma omp simd
        for (int64_t c = 0; c < n; ++c) out[c] = y[c] * (g[c] - dot);
    }

    static void lanes(const T* __restrict y, const T* __restrict g, T* __restrict out, int64_t n, int64_t stride,
                      int64_t lanes) {
        T dot[kLanes] = {};
        for (int64_t c = 0; c < n; ++c) {
#pragma omp simd
            for (int64_t j = 0; j < lanes; ++j) dot[j] += g[c * stride + j] * y[c * stride + j];
        }
        for (int64_t c = 0; c < n; ++c) {
#pragma omp simd
            for (int64_t j = 0; j < lanes; ++j)
                out[c * stride + j] = y[c * stride + j] * (g[c * stride + j] - dot[j]);
        }
    }
};

// d log_softmax: g - exp(y) * sum(g)
template <typename T>
struct LogSoftmaxBackward {
    static void row(const T* __restrict y, const T* __restrict g, T* __restrict out, int64_t n) {
        T total = 0;
#pragma omp simd reduction(+ : total)
        for (int64_t c = 0; c < n; ++c) total += g[c];
#pragma omp simd
        for (int64_t c = 0; c < n; ++c) out[c] = g[c] - vm::exp(y[c]) * total;
    }

    static void lanes(const T* __restrict y, const T* __restrict g, T* __restrict out, int64_t n, int64_t stride,
                      int64_t lanes) {
        T total[kLanes] = {};
        for (int64_t c = 0; c < n; ++c) {
#pragma omp simd
            for (int64_t j = 0; j < lanes; ++j) total[j] += g[c * stride + j];
        }
        for (int64_t c = 0; c < n; ++c) {
#pragma omp simd
            for (int64_t j = 0; j < lanes; ++j)
                out[c * stride + j] = g[c * stride + j] - vm::exp(y[c * stride + j]) * total[j];
        }
    }
};

// ---- layouts: lines of an (outer, C, inner) array, reduced along C -----------------------------------

struct Layout {
    int64_t outer, classes, inner;
};

Layout layout_of(const char* op, const py::array& x, int64_t dim) {
    const int64_t ndim = x.ndim();
    if (dim < 0 || dim >= ndim)
        throw py::index_error(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for " +
                              std::to_string(ndim) + "-D input");
    Layout l{1, x.shape(dim), 1};
    for (int64_t d = 0; d < dim; ++d) l.outer *= x.shape(d);
    for (int64_t d = dim + 1; d < ndim; ++d) l.inner *= x.shape(d);
    return l;
}

// out = Op applied along C to each (outer, inner) line of a (and b, if the op takes two inputs):
// rows when C is the last dim, else blocks of kLanes neighbouring lines.
template <typename T, typename Op>
void apply_lines(const T* a, const T* b, T* out, const Layout& l) {
    const int64_t total = l.outer * l.classes * l.inner;
    if (total == 0) return;
    const int64_t C = l.classes;
    if (l.inner == 1) {
#pragma omp parallel for schedule(static) if (total > ember::kParallelThreshold)
        for (int64_t r = 0; r < l.outer; ++r) Op::row(a + r * C, b ? b + r * C : nullptr, out + r * C, C);
        return;
    }
    const int64_t blocks_per_outer = (l.inner + kLanes - 1) / kLanes;
#pragma omp parallel for schedule(static) if (total > ember::kParallelThreshold)
    for (int64_t block = 0; block < l.outer * blocks_per_outer; ++block) {
        const int64_t o = block / blocks_per_outer, first = (block % blocks_per_outer) * kLanes;
        const int64_t base = o * C * l.inner + first;
        Op::lanes(a + base, b ? b + base : nullptr, out + base, C, l.inner, std::min(kLanes, l.inner - first));
    }
}

template <template <typename> class Op>
py::array along_dim(const char* op, const py::array& a_in, const py::array* b_in, int64_t dim) {
    return ember::dispatch_float(op, a_in, [&]<typename T>() -> py::array {
        const Layout l = layout_of(op, a_in, dim);
        ember::carray<T> a(a_in);
        std::optional<ember::carray<T>> b;
        if (b_in) {
            b.emplace(*b_in);
            if (b->ndim() != a.ndim() || !std::equal(a.shape(), a.shape() + a.ndim(), b->shape()))
                throw py::value_error(std::string(op) + ": the two inputs must have the same shape");
        }
        py::array_t<T> out(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
        const T* pa = a.data();
        const T* pb = b ? b->data() : nullptr;
        T* po = out.mutable_data();
        {
            py::gil_scoped_release release;
            apply_lines<T, Op<T>>(pa, pb, po, l);
        }
        return out;
    });
}

py::array softmax_forward(const py::array& x, int64_t dim) {
    return along_dim<SoftmaxForward>("softmax_forward", x, nullptr, dim);
}

py::array log_softmax_forward(const py::array& x, int64_t dim) {
    return along_dim<LogSoftmaxForward>("log_softmax_forward", x, nullptr, dim);
}

py::array softmax_backward(const py::array& y, const py::array& grad, int64_t dim) {
    return along_dim<SoftmaxBackward>("softmax_backward", y, &grad, dim);
}

py::array log_softmax_backward(const py::array& y, const py::array& grad, int64_t dim) {
    return along_dim<LogSoftmaxBackward>("log_softmax_backward", y, &grad, dim);
}

// ---- cross entropy ---------------------------------------------------------------------------------

// Targets as int64, checked: a class outside [0, C) that is not ignore_index would index past a row.
ember::carray<int64_t> checked_targets(const char* op, const py::array& target_in, int64_t rows,
                                       int64_t classes, int64_t ignore_index) {
    ember::carray<int64_t> target(target_in);
    if (target.ndim() != 1 || target.shape(0) != rows)
        throw py::value_error(std::string(op) + ": expected " + std::to_string(rows) + " targets");
    const int64_t* t = target.data();
    for (int64_t n = 0; n < rows; ++n)
        if (t[n] != ignore_index && (t[n] < 0 || t[n] >= classes))
            throw py::index_error(std::string(op) + ": Target " + std::to_string(t[n]) + " is out of bounds.");
    return target;
}

template <typename T>
ember::carray<T> matrix(const char* op, const char* name, const py::array& array_in) {
    ember::carray<T> array(array_in);
    if (array.ndim() != 2) throw py::value_error(std::string(op) + ": expected " + name + " of shape (N, C)");
    return array;
}

// loss[n] = log(sum_c exp(x[n, c])) - x[n, target[n]] (0 where target[n] == ignore_index), and
// softmax(x[n]), which the backward turns into the gradient without another exp.
py::tuple cross_entropy_forward(const py::array& logits_in, const py::array& target_in, int64_t ignore_index) {
    const char* op = "cross_entropy_forward";
    return ember::dispatch_float(op, logits_in, [&]<typename T>() -> py::tuple {
        ember::carray<T> logits = matrix<T>(op, "logits", logits_in);
        const int64_t N = logits.shape(0), C = logits.shape(1);
        ember::carray<int64_t> target = checked_targets(op, target_in, N, C, ignore_index);
        py::array_t<T> loss(N), probabilities({N, C});
        const T* x = logits.data();
        const int64_t* t = target.data();
        T* pl = loss.mutable_data();
        T* pp = probabilities.mutable_data();
        {
            py::gil_scoped_release release;
#pragma omp parallel for schedule(static) if (N * C > ember::kParallelThreshold)
            for (int64_t n = 0; n < N; ++n) {
                const LogSumExp<T> lse = softmax_row(x + n * C, pp + n * C, C);
                pl[n] = t[n] == ignore_index ? T(0) : lse.log_sum - (x[n * C + t[n]] - lse.max);
            }
        }
        return py::make_tuple(loss, probabilities);
    });
}

template <typename T>
void scaled(const T* __restrict x, T* __restrict y, int64_t n, T factor) {
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) y[c] = x[c] * factor;
}

// grad_logits[n] = (probabilities[n] - onehot(target[n])) * grad[n], zero where target[n] ==
// ignore_index; grad is one value per row (N,) or one for all rows ().
py::array cross_entropy_backward(const py::array& probabilities_in, const py::array& target_in,
                                 const py::array& grad_in, int64_t ignore_index) {
    const char* op = "cross_entropy_backward";
    return ember::dispatch_float(op, probabilities_in, [&]<typename T>() -> py::array {
        ember::carray<T> probabilities = matrix<T>(op, "probabilities", probabilities_in);
        const int64_t N = probabilities.shape(0), C = probabilities.shape(1);
        ember::carray<int64_t> target = checked_targets(op, target_in, N, C, ignore_index);
        ember::carray<T> grad(grad_in);
        if (grad.size() != N && grad.ndim() != 0)
            throw py::value_error(std::string(op) + ": expected grad of shape (N,) or ()");
        py::array_t<T> out({N, C});
        const T* pp = probabilities.data();
        const int64_t* t = target.data();
        const T* pg = grad.data();
        const int64_t grad_step = grad.ndim() == 0 ? 0 : 1;
        T* po = out.mutable_data();
        {
            py::gil_scoped_release release;
#pragma omp parallel for schedule(static) if (N * C > ember::kParallelThreshold)
            for (int64_t n = 0; n < N; ++n) {
                T* dst = po + n * C;
                if (t[n] == ignore_index) {
                    std::fill(dst, dst + C, T(0));
                    continue;
                }
                const T g = pg[n * grad_step];
                scaled(pp + n * C, dst, C, g);
                dst[t[n]] -= g;
            }
        }
        return out;
    });
}

void register_softmax(py::module_& m) {
    m.def("softmax_forward", &softmax_forward, "softmax along dim (float32/float64).", py::arg("x"),
          py::arg("dim"));
    m.def("log_softmax_forward", &log_softmax_forward, "log_softmax along dim (float32/float64).",
          py::arg("x"), py::arg("dim"));
    m.def("softmax_backward", &softmax_backward, "y * (grad - sum(grad * y)) along dim.", py::arg("y"),
          py::arg("grad"), py::arg("dim"));
    m.def("log_softmax_backward", &log_softmax_backward, "grad - exp(y) * sum(grad) along dim.",
          py::arg("y"), py::arg("grad"), py::arg("dim"));
    m.def("cross_entropy_forward", &cross_entropy_forward,
          "Per-row cross entropy of logits (N, C) against class indices (N,), and softmax(logits).",
          py::arg("logits"), py::arg("target"), py::arg("ignore_index"));
    m.def("cross_entropy_backward", &cross_entropy_backward,
          "(probabilities - onehot(target)) * grad per row, zero at ignored rows.", py::arg("probabilities"),
          py::arg("target"), py::arg("grad"), py::arg("ignore_index"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_softmax);
