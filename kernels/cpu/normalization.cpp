// Layer norm over the rows of x (*, D) and training-mode batch norm over each channel of x (N, C, *)
// (seen as (N, C, L), L the product of the spatial dims): forward (statistics, normalisation and the
// affine map in one kernel) and backward (the input's, the weight's and the bias's gradients in one
// kernel), each reading its inputs twice from memory: once for the sums, once to write the output.
// OpenMP splits the rows (layer norm) or the channels (batch norm) between threads. The variance is
// two-pass within chunks that sit in L1 (safe where the mean is large against the spread).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"

namespace {

using std::int64_t;

// Statistics are summed as wide as the vector unit in T, in chunks of at most kChunk values, and the
// chunks' sums are combined in double: a float32 batch-norm channel sums N * L values (65536 in a
// small CNN), more than float can add one by one without losing digits, and double all the way
// would halve the vector width of passes that read from cache.
using Acc = double;
constexpr int64_t kChunk = 1024;

// Sums in T of first(i) and second(i) over [0, n), each in four independent streams (the quarters
// of the range), so four vector additions are in flight rather than one waiting on the last
// (measured 15% faster on layer norm's rows). The terms must be lambdas that capture by value:
// GCC compiled the loads of by-reference captures to gathers.
template <typename T, typename First, typename Second>
std::pair<T, T> streamed_sums(int64_t n, First first, Second second) {
    const int64_t q = n / 4;
    T a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3, b0, b1, b2, b3)
    for (int64_t i = 0; i < q; ++i) {
        a0 += first(i);
        a1 += first(i + q);
        a2 += first(i + 2 * q);
        a3 += first(i + 3 * q);
        b0 += second(i);
        b1 += second(i + q);
        b2 += second(i + 2 * q);
        b3 += second(i + 3 * q);
    }
    T a = (a0 + a1) + (a2 + a3), b = (b0 + b1) + (b2 + b3);
    for (int64_t i = 4 * q; i < n; ++i) {
        a += first(i);
        b += second(i);
    }
    return {a, b};
}

template <typename T, typename Term>
T streamed_sum(int64_t n, Term term) {
    return streamed_sums<T>(n, term, [](int64_t) { return T(0); }).first;
}

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// An optional (weight or bias) vector of `size` elements as a contiguous T array.
template <typename T>
std::optional<ember::carray<T>> optional_vector(const char* op, const char* name, const py::object& value,
                                                int64_t size) {
    if (value.is_none()) return std::nullopt;
    ember::carray<T> array(value);
    if (array.size() != size)
        throw py::value_error(std::string(op) + ": expected " + name + " of " + std::to_string(size) +
                              " elements, got " + std::to_string(array.size()));
    return array;
}

template <typename T>
const T* data_or_null(const std::optional<ember::carray<T>>& array) {
    return array ? array->data() : nullptr;
}

std::vector<int64_t> shape_of(const py::array& array) {
    return std::vector<int64_t>(array.shape(), array.shape() + array.ndim());
}

// The product of dims [begin, end) of `shape`.
int64_t product(const std::vector<int64_t>& shape, size_t begin, size_t end) {
    int64_t result = 1;
    for (size_t i = begin; i < end; ++i) result *= shape[i];
    return result;
}

template <typename T>
ember::carray<T> array_of_shape(const char* op, const char* name, const py::array& value,
                                const std::vector<int64_t>& shape) {
    ember::carray<T> array(value);
    if (shape_of(array) != shape) {
        std::string expected;
        for (auto size : shape) {
            if (!expected.empty()) expected += ", ";
            expected += std::to_string(size);
        }
        throw py::value_error(std::string(op) + ": expected " + name + " of shape (" + expected + ")");
    }
    return array;
}

// Count, mean and sum of squared deviations of values added a block at a time: each chunk of a block
// two-pass (its second read comes from L1), chunks merged by Chan et al.'s update. So a batch-norm
// channel, whose N blocks sit C * L apart (blocks a power of two apart evict each other from L2), is
// read once for its statistics.
struct Moments {
    Acc count = 0, mean = 0, m2 = 0;

    template <typename T>
    void add_block(const T* x, int64_t n) {
        for (int64_t start = 0; start < n; start += kChunk) add_chunk(x + start, std::min(kChunk, n - start));
    }

    // 1 / sqrt(biased variance + eps)
    Acc rstd(double eps) const { return 1 / std::sqrt(m2 / count + eps); }

private:
    template <typename T>
    void add_chunk(const T* __restrict x, int64_t n) {
        const Acc chunk_mean = static_cast<Acc>(streamed_sum<T>(n, [x](int64_t i) { return x[i]; })) / n;
        const T m = static_cast<T>(chunk_mean);
        const T squares = streamed_sum<T>(n, [x, m](int64_t i) { return (x[i] - m) * (x[i] - m); });
        // deviations from m, the mean rounded to T: sum (x - mean)^2 = that - n (mean - m)^2
        const Acc chunk_m2 = squares - n * (chunk_mean - m) * (chunk_mean - m);
        if (count == 0) {  // a layer-norm row of one chunk ends here
            count = n, mean = chunk_mean, m2 = chunk_m2;
            return;
        }
        const Acc total = count + n, delta = chunk_mean - mean;
        mean += delta * n / total;
        m2 += chunk_m2 + delta * delta * count * n / total;
        count = total;
    }
};

// (sum of g', sum of g' (x - mean)) over n values, g' = g * weight elementwise (weight null: g).
template <typename T>
std::pair<Acc, Acc> gradient_sums(const T* g, const T* weight, const T* x, T mean, int64_t n) {
    Acc sum_g = 0, sum_g_centered = 0;
    for (int64_t start = 0; start < n; start += kChunk) {
        const T *gs = g + start, *ws = weight ? weight + start : nullptr, *xs = x + start;
        const int64_t size = std::min(kChunk, n - start);
        const auto [chunk_g, chunk_g_centered] =
            weight ? streamed_sums<T>(size, [gs, ws](int64_t i) { return gs[i] * ws[i]; },
                                      [gs, ws, xs, mean](int64_t i) { return gs[i] * ws[i] * (xs[i] - mean); })
                   : streamed_sums<T>(size, [gs](int64_t i) { return gs[i]; },
                                      [gs, xs, mean](int64_t i) { return gs[i] * (xs[i] - mean); });
        sum_g += chunk_g;
        sum_g_centered += chunk_g_centered;
    }
    return {sum_g, sum_g_centered};
}

// ---- layer norm ----------------------------------------------------------------------------------

// y = (x - mean) * rstd * weight + bias over one row; weight and bias may be null.
template <typename T>
void normalize_row(const T* __restrict x, T* __restrict y, const T* __restrict weight, const T* __restrict bias,
                   int64_t d, T mean, T rstd) {
    if (weight && bias) {
#pragma omp simd
        for (int64_t i = 0; i < d; ++i) y[i] = (x[i] - mean) * rstd * weight[i] + bias[i];
    } else if (weight) {
#pragma omp simd
        for (int64_t i = 0; i < d; ++i) y[i] = (x[i] - mean) * rstd * weight[i];
    } else if (bias) {
#pragma omp simd
        for (int64_t i = 0; i < d; ++i) y[i] = (x[i] - mean) * rstd + bias[i];
    } else {
#pragma omp simd
        for (int64_t i = 0; i < d; ++i) y[i] = (x[i] - mean) * rstd;
    }
}

template <typename T>
py::tuple layer_norm_forward_kernel(const py::array& input, const py::object& weight_in,
                                    const py::object& bias_in, double eps) {
    const char* op = "layer_norm_forward";
    ember::carray<T> x(input);
    if (x.ndim() < 1) throw py::value_error("layer_norm_forward: expected x of shape (*, D)");
    const auto shape = shape_of(x);
    const int64_t m = product(shape, 0, shape.size() - 1), d = shape.back();
    auto weight = optional_vector<T>(op, "weight", weight_in, d);
    auto bias = optional_vector<T>(op, "bias", bias_in, d);
    py::array_t<T> y(shape), mean_out(m), rstd_out(m);
    const T *xs = x.data(), *w = data_or_null(weight), *b = data_or_null(bias);
    T *ys = y.mutable_data(), *means = mean_out.mutable_data(), *rstds = rstd_out.mutable_data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for schedule(static) if (m * d > ember::kParallelThreshold)
        for (int64_t r = 0; r < m; ++r) {
            Moments moments;
            moments.add_block(xs + r * d, d);
            const Acc mean = moments.mean, rstd = moments.rstd(eps);
            means[r] = static_cast<T>(mean);
            rstds[r] = static_cast<T>(rstd);
            normalize_row(xs + r * d, ys + r * d, w, b, d, static_cast<T>(mean), static_cast<T>(rstd));
        }
    }
    return py::make_tuple(y, mean_out, rstd_out);
}

// Column sums over rows that threads split between them (layer norm's weight and bias gradients sum
// over every row). A thread adds its rows in T and folds those partial sums into its own double
// sums every kRowsPerFold rows (T sums of a few dozen rows keep their digits; double per element
// would double the work of the pass); the threads' double sums are added at the end.
constexpr int64_t kRowsPerFold = 32;

template <typename T>
class ColumnSums {
public:
    explicit ColumnSums(int64_t width) : width_(width), sums_(width * max_threads(), 0.0) {}

    // The calling thread's share: add each row into row(), and fold() once the thread is done.
    class Share {
    public:
        explicit Share(ColumnSums& owner)
            : partial_(owner.width_, T(0)), sums_(owner.sums_.data() + thread_index() * owner.width_) {}
        T* row() {
            if (rows_ == kRowsPerFold) fold();
            ++rows_;
            return partial_.data();
        }
        void fold() {
            for (size_t j = 0; j < partial_.size(); ++j) {
                sums_[j] += partial_[j];
                partial_[j] = 0;
            }
            rows_ = 0;
        }

    private:
        std::vector<T> partial_;
        Acc* sums_;
        int64_t rows_ = 0;
    };

    Share share() { return Share(*this); }

    py::array_t<T> total() const {
        py::array_t<T> out(width_);
        T* dst = out.mutable_data();
        for (int64_t j = 0; j < width_; ++j) {
            Acc sum = 0;
            for (size_t start = j; start < sums_.size(); start += width_) sum += sums_[start];
            dst[j] = static_cast<T>(sum);
        }
        return out;
    }

private:
    int64_t width_;
    std::vector<Acc> sums_;
};

template <typename T>
py::tuple layer_norm_backward_kernel(const py::array& grad_in, const py::array& input, const py::array& mean_in,
                                     const py::array& rstd_in, const py::object& weight_in, bool has_bias) {
    const char* op = "layer_norm_backward";
    ember::carray<T> x(input);
    if (x.ndim() < 1) throw py::value_error("layer_norm_backward: expected x of shape (*, D)");
    const auto shape = shape_of(x);
    const int64_t m = product(shape, 0, shape.size() - 1), d = shape.back();
    auto grad = array_of_shape<T>(op, "grad", grad_in, shape);
    auto mean = array_of_shape<T>(op, "mean", mean_in, {m});
    auto rstd = array_of_shape<T>(op, "rstd", rstd_in, {m});
    auto weight = optional_vector<T>(op, "weight", weight_in, d);
    py::array_t<T> grad_x(shape);
    const T *xs = x.data(), *gs = grad.data(), *means = mean.data(), *rstds = rstd.data(), *w = data_or_null(weight);
    T* dxs = grad_x.mutable_data();
    // both sums are kept even when a parameter is absent: they cost little in the pass that reads
    // g and x anyway, and one loop serves every case
    ColumnSums<T> weight_sums(d), bias_sums(d);
    {
        py::gil_scoped_release release;
#pragma omp parallel if (m * d > ember::kParallelThreshold)
        {
            auto weight_share = weight_sums.share(), bias_share = bias_sums.share();
#pragma omp for schedule(static) nowait
            for (int64_t r = 0; r < m; ++r) {
                T* __restrict dw = weight_share.row();
                T* __restrict db = bias_share.row();
                const T* __restrict xr = xs + r * d;
                const T* __restrict gr = gs + r * d;
                T* __restrict dx = dxs + r * d;
                const T mu = means[r], rs = rstds[r];
                // With g' = g * weight and xhat = (x - mean) * rstd, the gradient of xhat's row is
                // rstd * (g' - mean(g') - xhat * mean(g' xhat)).
                const auto [sum_g, sum_g_centered] = gradient_sums(gr, w, xr, mu, d);
                const T mean_g = static_cast<T>(sum_g / d), mean_g_xhat = static_cast<T>(sum_g_centered * rs / d);
#pragma omp simd
                for (int64_t i = 0; i < d; ++i) {
                    const T g = w ? gr[i] * w[i] : gr[i];
                    const T xhat = (xr[i] - mu) * rs;
                    dx[i] = rs * (g - mean_g - xhat * mean_g_xhat);
                    dw[i] += gr[i] * xhat;
                    db[i] += gr[i];
                }
            }
            weight_share.fold();
            bias_share.fold();
        }
    }
    py::object grad_weight = w ? py::object(weight_sums.total()) : py::none();
    py::object grad_bias = has_bias ? py::object(bias_sums.total()) : py::none();
    return py::make_tuple(grad_x, grad_weight, grad_bias);
}

// ---- batch norm ----------------------------------------------------------------------------------
// Two layouts of the same computation. Long channels (L >= kShortChannel) are one OpenMP task each:
// N runs of L contiguous values. Short ones (an (N, C) input has L = 1) would make those runs too
// short to vectorise, so x is read as N rows of C * L columns instead, each thread summing its share
// of the columns over the rows, and the columns of a channel are added up between the passes (three
// passes in all for the forward, as the variance is two-pass: short channels are small inputs).
constexpr int64_t kShortChannel = 32;

// y = x * scale + shift per channel: (x - mean) * rstd * weight + bias as one multiply-add.
std::pair<Acc, Acc> affine_map(Acc mean, Acc rstd, Acc weight, Acc bias) {
    const Acc scale = rstd * weight;
    return {scale, bias - mean * scale};
}

// dx = weight * rstd * (g - mean(g) - xhat * mean(g xhat)) is linear in g and x per channel:
// dx = a g + k x + shift, with k = -a rstd^2 mean(g (x - mean)) and shift = -a mean(g) - k mean.
struct InputGradient {
    Acc a, k, shift;
};

InputGradient input_gradient(Acc sum_g, Acc sum_g_centered, Acc mean, Acc rstd, Acc weight, Acc count) {
    const Acc a = weight * rstd;
    const Acc k = -a * rstd * rstd * sum_g_centered / count;
    return {a, k, -a * sum_g / count - k * mean};
}

// [begin, end) of [0, n) for the calling thread of a parallel region (all of it outside one).
std::pair<int64_t, int64_t> thread_share(int64_t n) {
#ifdef _OPENMP
    const int64_t threads = omp_get_num_threads(), id = omp_get_thread_num();
#else
    const int64_t threads = 1, id = 0;
#endif
    const int64_t chunk = (n + threads - 1) / threads;
    const int64_t begin = std::min(n, id * chunk);
    return {begin, std::min(n, begin + chunk)};
}

template <typename T>
struct BatchNormForward {
    const T *x, *weight, *bias;
    T *y, *means, *rstds;
    int64_t n, c, l;
    double eps;

    Acc count() const { return static_cast<Acc>(n) * l; }
    Acc weight_of(int64_t ch) const { return weight ? weight[ch] : 1; }
    Acc bias_of(int64_t ch) const { return bias ? bias[ch] : 0; }

    void long_channels() const {
        const int64_t stride = c * l;
#pragma omp parallel for schedule(static) if (n * c * l > ember::kParallelThreshold)
        for (int64_t ch = 0; ch < c; ++ch) {
            const T* __restrict xc = x + ch * l;
            T* __restrict yc = y + ch * l;
            Moments moments;
            for (int64_t b = 0; b < n; ++b) moments.add_block(xc + b * stride, l);
            const Acc mean = moments.mean, rstd = moments.rstd(eps);
            means[ch] = static_cast<T>(mean);
            rstds[ch] = static_cast<T>(rstd);
            const auto [scale, shift] = affine_map(mean, rstd, weight_of(ch), bias_of(ch));
            const T tscale = static_cast<T>(scale), tshift = static_cast<T>(shift);
            for (int64_t b = 0; b < n; ++b) {
                const T* __restrict in = xc + b * stride;
                T* __restrict out = yc + b * stride;
#pragma omp simd
                for (int64_t i = 0; i < l; ++i) out[i] = in[i] * tscale + tshift;
            }
        }
    }

    void short_channels() const {
        const int64_t cols = c * l;
        std::vector<Acc> sums(cols, 0.0);
        // per column: the channel's mean, then its scale and shift
        std::vector<T> scales(cols), shifts(cols);
        Acc* __restrict s = sums.data();
        T* __restrict scale = scales.data();
        T* __restrict shift = shifts.data();
#pragma omp parallel if (n * cols > ember::kParallelThreshold)
        {
            const auto [begin, end] = thread_share(cols);
            for (int64_t r = 0; r < n; ++r) {
                const T* __restrict row = x + r * cols;
#pragma omp simd
                for (int64_t j = begin; j < end; ++j) s[j] += row[j];
            }
#pragma omp barrier
#pragma omp single
            for (int64_t ch = 0; ch < c; ++ch) {
                Acc sum = 0;
                for (int64_t j = ch * l; j < (ch + 1) * l; ++j) sum += s[j];
                means[ch] = static_cast<T>(sum / count());
                for (int64_t j = ch * l; j < (ch + 1) * l; ++j) {
                    shift[j] = means[ch];
                    s[j] = 0;
                }
            }
            for (int64_t r = 0; r < n; ++r) {
                const T* __restrict row = x + r * cols;
#pragma omp simd
                for (int64_t j = begin; j < end; ++j) s[j] += (row[j] - shift[j]) * (row[j] - shift[j]);
            }
#pragma omp barrier
#pragma omp single
            for (int64_t ch = 0; ch < c; ++ch) {
                Acc squares = 0;
                for (int64_t j = ch * l; j < (ch + 1) * l; ++j) squares += s[j];
                const Acc rstd = 1 / std::sqrt(squares / count() + eps);
                rstds[ch] = static_cast<T>(rstd);
                const auto [channel_scale, channel_shift] = affine_map(means[ch], rstd, weight_of(ch), bias_of(ch));
                for (int64_t j = ch * l; j < (ch + 1) * l; ++j) {
                    scale[j] = static_cast<T>(channel_scale);
                    shift[j] = static_cast<T>(channel_shift);
                }
            }
            for (int64_t r = 0; r < n; ++r) {
                const T* __restrict row = x + r * cols;
                T* __restrict out = y + r * cols;
#pragma omp simd
                for (int64_t j = begin; j < end; ++j) out[j] = row[j] * scale[j] + shift[j];
            }
        }
    }
};

template <typename T>
py::tuple batch_norm_forward_kernel(const py::array& input, const py::object& weight_in, const py::object& bias_in,
                                    double eps) {
    const char* op = "batch_norm_forward";
    ember::carray<T> x(input);
    if (x.ndim() < 2) throw py::value_error("batch_norm_forward: expected x of shape (N, C, *)");
    const auto shape = shape_of(x);
    const int64_t n = shape[0], c = shape[1], l = product(shape, 2, shape.size());
    auto weight = optional_vector<T>(op, "weight", weight_in, c);
    auto bias = optional_vector<T>(op, "bias", bias_in, c);
    py::array_t<T> y(shape), mean_out(c), rstd_out(c);
    const BatchNormForward<T> kernel{x.data(), data_or_null(weight), data_or_null(bias), y.mutable_data(),
                                     mean_out.mutable_data(), rstd_out.mutable_data(), n, c, l, eps};
    {
        py::gil_scoped_release release;
        if (l >= kShortChannel) {
            kernel.long_channels();
        } else {
            kernel.short_channels();
        }
    }
    return py::make_tuple(y, mean_out, rstd_out);
}

template <typename T>
struct BatchNormBackward {
    const T *grad, *x, *means, *rstds, *weight;
    T *grad_x, *grad_weight, *grad_bias;
    int64_t n, c, l;

    // The parameters' gradients of channel ch, and the coefficients of its input's gradient.
    InputGradient finish_channel(int64_t ch, Acc sum_g, Acc sum_g_centered) const {
        grad_bias[ch] = static_cast<T>(sum_g);
        grad_weight[ch] = static_cast<T>(sum_g_centered * rstds[ch]);
        return input_gradient(sum_g, sum_g_centered, means[ch], rstds[ch], weight ? weight[ch] : 1,
                              static_cast<Acc>(n) * l);
    }

    void long_channels() const {
        const int64_t stride = c * l;
#pragma omp parallel for schedule(static) if (n * c * l > ember::kParallelThreshold)
        for (int64_t ch = 0; ch < c; ++ch) {
            const T* __restrict xc = x + ch * l;
            const T* __restrict gc = grad + ch * l;
            const T mu = means[ch];
            Acc sum_g = 0, sum_g_centered = 0;
            for (int64_t b = 0; b < n; ++b) {
                const auto [g, g_centered] = gradient_sums(gc + b * stride, static_cast<const T*>(nullptr),
                                                           xc + b * stride, mu, l);
                sum_g += g;
                sum_g_centered += g_centered;
            }
            const InputGradient dx = finish_channel(ch, sum_g, sum_g_centered);
            const T a = static_cast<T>(dx.a), k = static_cast<T>(dx.k), shift = static_cast<T>(dx.shift);
            for (int64_t b = 0; b < n; ++b) {
                const T* __restrict xb = xc + b * stride;
                const T* __restrict gb = gc + b * stride;
                T* __restrict out = grad_x + ch * l + b * stride;
#pragma omp simd
                for (int64_t i = 0; i < l; ++i) out[i] = a * gb[i] + k * xb[i] + shift;
            }
        }
    }

    void short_channels() const {
        const int64_t cols = c * l;
        std::vector<Acc> sums_g(cols, 0.0), sums_g_centered(cols, 0.0);
        // per column: the channel's mean, then the coefficients of the input's gradient
        std::vector<T> as(cols), ks(cols), shifts(cols);
        Acc* __restrict sg = sums_g.data();
        Acc* __restrict sgc = sums_g_centered.data();
        T* __restrict a = as.data();
        T* __restrict k = ks.data();
        T* __restrict shift = shifts.data();
        for (int64_t j = 0; j < cols; ++j) shift[j] = means[j / l];
#pragma omp parallel if (n * cols > ember::kParallelThreshold)
        {
            const auto [begin, end] = thread_share(cols);
            for (int64_t r = 0; r < n; ++r) {
                const T* __restrict xr = x + r * cols;
                const T* __restrict gr = grad + r * cols;
#pragma omp simd
                for (int64_t j = begin; j < end; ++j) {
                    sg[j] += gr[j];
                    sgc[j] += gr[j] * (xr[j] - shift[j]);
                }
            }
#pragma omp barrier
#pragma omp single
            for (int64_t ch = 0; ch < c; ++ch) {
                Acc sum_g = 0, sum_g_centered = 0;
                for (int64_t j = ch * l; j < (ch + 1) * l; ++j) {
                    sum_g += sg[j];
                    sum_g_centered += sgc[j];
                }
                const InputGradient dx = finish_channel(ch, sum_g, sum_g_centered);
                for (int64_t j = ch * l; j < (ch + 1) * l; ++j) {
                    a[j] = static_cast<T>(dx.a);
                    k[j] = static_cast<T>(dx.k);
                    shift[j] = static_cast<T>(dx.shift);
                }
            }
            for (int64_t r = 0; r < n; ++r) {
                const T* __restrict xr = x + r * cols;
                const T* __restrict gr = grad + r * cols;
                T* __restrict out = grad_x + r * cols;
#pragma omp simd
                for (int64_t j = begin; j < end; ++j) out[j] = a[j] * gr[j] + k[j] * xr[j] + shift[j];
            }
        }
    }
};

template <typename T>
py::tuple batch_norm_backward_kernel(const py::array& grad_in, const py::array& input, const py::array& mean_in,
                                     const py::array& rstd_in, const py::object& weight_in, bool has_bias) {
    const char* op = "batch_norm_backward";
    ember::carray<T> x(input);
    if (x.ndim() < 2) throw py::value_error("batch_norm_backward: expected x of shape (N, C, *)");
    const auto shape = shape_of(x);
    const int64_t n = shape[0], c = shape[1], l = product(shape, 2, shape.size());
    auto grad = array_of_shape<T>(op, "grad", grad_in, shape);
    auto mean = array_of_shape<T>(op, "mean", mean_in, {c});
    auto rstd = array_of_shape<T>(op, "rstd", rstd_in, {c});
    auto weight = optional_vector<T>(op, "weight", weight_in, c);
    py::array_t<T> grad_x(shape), grad_weight(c), grad_bias(c);
    const BatchNormBackward<T> kernel{grad.data(), x.data(), mean.data(), rstd.data(), data_or_null(weight),
                                      grad_x.mutable_data(), grad_weight.mutable_data(), grad_bias.mutable_data(),
                                      n, c, l};
    {
        py::gil_scoped_release release;
        if (l >= kShortChannel) {
            kernel.long_channels();
        } else {
            kernel.short_channels();
        }
    }
    return py::make_tuple(grad_x, weight ? py::object(grad_weight) : py::none(),
                          has_bias ? py::object(grad_bias) : py::none());
}

// ---- bindings ------------------------------------------------------------------------------------

py::tuple layer_norm_forward(const py::array& x, const py::object& weight, const py::object& bias, double eps) {
    return ember::dispatch_float("layer_norm_forward", x,
                                 [&]<typename T>() { return layer_norm_forward_kernel<T>(x, weight, bias, eps); });
}

py::tuple layer_norm_backward(const py::array& grad, const py::array& x, const py::array& mean,
                              const py::array& rstd, const py::object& weight, bool has_bias) {
    return ember::dispatch_float("layer_norm_backward", x, [&]<typename T>() {
        return layer_norm_backward_kernel<T>(grad, x, mean, rstd, weight, has_bias);
    });
}

py::tuple batch_norm_forward(const py::array& x, const py::object& weight, const py::object& bias, double eps) {
    return ember::dispatch_float("batch_norm_forward", x,
                                 [&]<typename T>() { return batch_norm_forward_kernel<T>(x, weight, bias, eps); });
}

py::tuple batch_norm_backward(const py::array& grad, const py::array& x, const py::array& mean,
                              const py::array& rstd, const py::object& weight, bool has_bias) {
    return ember::dispatch_float("batch_norm_backward", x, [&]<typename T>() {
        return batch_norm_backward_kernel<T>(grad, x, mean, rstd, weight, has_bias);
    });
}

void register_normalization(py::module_& m) {
    m.def("layer_norm_forward", &layer_norm_forward,
          "Layer norm of each row of x (*, D) (M rows), then * weight + bias (D,) (each may be None) -> "
          "(y (*, D), mean (M,), rstd (M,)).",
          py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("eps"));
    m.def("layer_norm_backward", &layer_norm_backward,
          "Gradients of layer_norm_forward from grad (*, D): (grad_x, grad_weight or None when weight "
          "is None, grad_bias or None when not has_bias).",
          py::arg("grad"), py::arg("x"), py::arg("mean"), py::arg("rstd"), py::arg("weight"), py::arg("has_bias"));
    m.def("batch_norm_forward", &batch_norm_forward,
          "Batch norm of each channel of x (N, C, *) with the batch statistics, then * weight + bias "
          "(C,) (each may be None) -> (y (N, C, *), mean (C,), rstd (C,)).",
          py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("eps"));
    m.def("batch_norm_backward", &batch_norm_backward,
          "Gradients of batch_norm_forward from grad (N, C, *): (grad_x, grad_weight or None when weight "
          "is None, grad_bias or None when not has_bias).",
          py::arg("grad"), py::arg("x"), py::arg("mean"), py::arg("rstd"), py::arg("weight"), py::arg("has_bias"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_normalization);
