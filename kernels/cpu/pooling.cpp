// 2-D max and average pools over the (H, W) planes of (*, H, W) arrays, forward and backward. The
// semantics (NaN, ties, divisors, windows reading no input) are those of the NumPy references in
// kernels/pooling.py, which follow PyTorch's CPU kernels. OpenMP splits the planes; a plane is one
// thread's. Within a plane the loops run tap by tap over a row of outputs, so the innermost loop
// walks the outputs (vectorisable) instead of one window's few taps.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>

#include <pybind11/stl.h>

#include "common.h"

namespace {

using ember::carray;
using std::int64_t;
using Pair = std::array<int64_t, 2>;  // (h, w)

// Where the windows of one spatial dim read. Window o reads o * stride - padding + k * dilation
// for taps k < kernel, of which those in [lo[k], hi[k]) lie inside the input; its first tap inside
// is first[o] (PyTorch steps a window starting in the padding forward by whole dilations).
// For the avg divisors: count[o] taps inside, span[o] taps inside the padded input.
struct Axis {
    int64_t size, kernel, stride, padding, dilation, output;
    std::vector<int64_t> first, count, span, lo, hi;

    Axis(int64_t size, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, int64_t output)
        : size(size), kernel(kernel), stride(stride), padding(padding), dilation(dilation), output(output),
          first(output), count(output), span(output), lo(kernel), hi(kernel) {
        for (int64_t o = 0; o < output; ++o) {
            const int64_t start = o * stride - padding;
            const int64_t stop = start + (kernel - 1) * dilation + 1;
            first[o] = start < 0 ? start + (dilation - 1 - start) / dilation * dilation : start;
            count[o] = std::max<int64_t>(0, std::min(stop, size) - std::max<int64_t>(start, 0));
            span[o] = std::min(stop, size + padding) - start;
        }
        for (int64_t k = 0; k < kernel; ++k) {
            int64_t a = 0, b = output;
            while (a < b && position(a, k) < 0) ++a;
            while (b > a && position(b - 1, k) >= size) --b;
            lo[k] = a, hi[k] = b;
        }
    }
    int64_t position(int64_t o, int64_t k) const { return o * stride - padding + k * dilation; }
    bool inside(int64_t o, int64_t k) const { return position(o, k) >= 0 && position(o, k) < size; }
};

// The engine checks pool arguments; these checks only keep bad direct calls from dividing by zero or
// allocating negative sizes.
void check_geometry(const char* op, const Pair& kernel, const Pair& stride, const Pair& padding,
                    const Pair& dilation, const Pair& sizes) {
    for (int d = 0; d < 2; ++d)
        if (kernel[d] < 1 || stride[d] < 1 || dilation[d] < 1 || padding[d] < 0 || sizes[d] < 0)
            throw py::value_error(std::string(op) + ": kernel, stride and dilation must be positive, padding "
                                  "and sizes non-negative");
}

// The 2x2, stride 2, unpadded pool whose windows all lie inside the input: the common
// downsampling layer, worth loops without window bookkeeping.
bool is_2x2_stride_2(const Pair& kernel, const Pair& stride, const Pair& padding, const Pair& dilation,
                     const Pair& output, int64_t height, int64_t width) {
    return kernel == Pair{2, 2} && stride == Pair{2, 2} && padding == Pair{0, 0} && dilation == Pair{1, 1} &&
           2 * output[0] <= height && 2 * output[1] <= width;
}

// The (H, W) planes of a (*, H, W) array.
struct Planes {
    std::vector<py::ssize_t> lead;
    int64_t count = 1, height, width;

    Planes(const char* op, const py::array& x, const char* name) {
        if (x.ndim() < 2)
            throw py::value_error(std::string(op) + ": expected " + name + " of shape (*, H, W), got " +
                                  std::to_string(x.ndim()) + " dims");
        lead.assign(x.shape(), x.shape() + x.ndim() - 2);
        for (auto n : lead) count *= n;
        height = x.shape(x.ndim() - 2), width = x.shape(x.ndim() - 1);
    }
    // The shape of as many planes of (h, w).
    std::vector<py::ssize_t> shape(int64_t h, int64_t w) const {
        std::vector<py::ssize_t> out(lead);
        out.push_back(h), out.push_back(w);
        return out;
    }
};

// ---- max ---------------------------------------------------------------------------------------

// The PyTorch rule: a later value wins if it is greater or NaN (so the first of equal maxima stays).
template <typename T>
inline bool beats(T value, T best) { return value > best || std::isnan(value); }

// Taps in each window's row-major order, as PyTorch visits them, so ties resolve the same way.
template <typename T>
void max_plane(const T* __restrict in, T* __restrict out, int64_t* __restrict index, const Axis& rows,
               const Axis& cols) {
    const int64_t width = cols.size, wo = cols.output;
    for (int64_t oh = 0; oh < rows.output; ++oh) {
        T* __restrict best = out + oh * wo;
        int64_t* __restrict best_at = index + oh * wo;
        // a window reading no input reports its first position kept inside the plane
        const int64_t first_row = std::min(rows.first[oh], rows.size - 1) * width;
        for (int64_t ow = 0; ow < wo; ++ow) {
            best[ow] = -std::numeric_limits<T>::infinity();
            best_at[ow] = first_row + std::min(cols.first[ow], width - 1);
        }
        for (int64_t i = 0; i < rows.kernel; ++i) {
            if (!rows.inside(oh, i)) continue;
            const int64_t row = rows.position(oh, i) * width;
            for (int64_t j = 0; j < cols.kernel; ++j) {
                const int64_t column = row + cols.position(0, j);
#pragma omp simd
                for (int64_t ow = cols.lo[j]; ow < cols.hi[j]; ++ow) {
                    const int64_t at = column + ow * cols.stride;
                    const bool take = beats(in[at], best[ow]);
                    best[ow] = take ? in[at] : best[ow];
                    best_at[ow] = take ? at : best_at[ow];
                }
            }
        }
    }
}

template <typename T>
void max_plane_2x2(const T* __restrict in, T* __restrict out, int64_t* __restrict index, int64_t width,
                   int64_t ho, int64_t wo) {
    for (int64_t oh = 0; oh < ho; ++oh) {
        const T* top = in + 2 * oh * width;
        const T* bottom = top + width;
#pragma omp simd
        for (int64_t ow = 0; ow < wo; ++ow) {
            T best = top[2 * ow];
            int64_t offset = 0;
            if (beats(top[2 * ow + 1], best)) best = top[2 * ow + 1], offset = 1;
            if (beats(bottom[2 * ow], best)) best = bottom[2 * ow], offset = width;
            if (beats(bottom[2 * ow + 1], best)) best = bottom[2 * ow + 1], offset = width + 1;
            out[oh * wo + ow] = best;
            index[oh * wo + ow] = 2 * oh * width + 2 * ow + offset;
        }
    }
}

template <typename T>
py::tuple max_forward(const py::array& input, Pair kernel, Pair stride, Pair padding, Pair dilation,
                      Pair output) {
    const Planes shape("max_pool2d_forward", input, "x");
    check_geometry("max_pool2d_forward", kernel, stride, padding, dilation, output);
    carray<T> x(input);
    const int64_t planes = shape.count, height = shape.height, width = shape.width;
    const int64_t in_size = height * width, out_size = output[0] * output[1];
    py::array_t<T> values(shape.shape(output[0], output[1]));
    py::array_t<int64_t> indices(shape.shape(output[0], output[1]));
    const T* src = x.data();
    T* dst = values.mutable_data();
    int64_t* where = indices.mutable_data();
    {
        py::gil_scoped_release release;
        const int64_t work = planes * out_size * kernel[0] * kernel[1];
        if (is_2x2_stride_2(kernel, stride, padding, dilation, output, height, width)) {
#pragma omp parallel for if (work > ember::kParallelThreshold)
            for (int64_t p = 0; p < planes; ++p)
                max_plane_2x2(src + p * in_size, dst + p * out_size, where + p * out_size, width, output[0],
                              output[1]);
        } else {
            const Axis rows(height, kernel[0], stride[0], padding[0], dilation[0], output[0]);
            const Axis cols(width, kernel[1], stride[1], padding[1], dilation[1], output[1]);
#pragma omp parallel for if (work > ember::kParallelThreshold)
            for (int64_t p = 0; p < planes; ++p)
                max_plane(src + p * in_size, dst + p * out_size, where + p * out_size, rows, cols);
        }
    }
    return py::make_tuple(values, indices);
}

template <typename T>
py::array max_backward(const py::array& grad_input, const py::array& index_input, Pair input_size) {
    const Planes shape("max_pool2d_backward", grad_input, "grad");
    check_geometry("max_pool2d_backward", Pair{1, 1}, Pair{1, 1}, Pair{0, 0}, Pair{1, 1}, input_size);
    carray<T> grad(grad_input);
    carray<int64_t> index(index_input);
    if (index.ndim() != grad.ndim() || !std::equal(grad.shape(), grad.shape() + grad.ndim(), index.shape()))
        throw py::value_error("max_pool2d_backward: indices must have grad's shape");
    const int64_t planes = shape.count;
    const int64_t in_size = input_size[0] * input_size[1], out_size = shape.height * shape.width;
    py::array_t<T> result(shape.shape(input_size[0], input_size[1]));
    const T* g = grad.data();
    const int64_t* at = index.data();
    T* dst = result.mutable_data();
    bool outside = false;
    {
        py::gil_scoped_release release;
#pragma omp parallel for reduction(|| : outside) if (planes * (in_size + out_size) > ember::kParallelThreshold)
        for (int64_t p = 0; p < planes; ++p) {
            T* plane = dst + p * in_size;
            std::fill(plane, plane + in_size, T(0));
            for (int64_t o = p * out_size; o < (p + 1) * out_size; ++o) {
                if (at[o] >= 0 && at[o] < in_size)
                    plane[at[o]] += g[o];
                else
                    outside = true;
            }
        }
    }
    if (outside) throw py::value_error("max_pool2d_backward: an index lies outside the input plane");
    return result;
}

// ---- avg ---------------------------------------------------------------------------------------

struct AvgRule {
    bool count_include_pad;
    std::optional<int64_t> divisor_override;

    // What window (oh, ow)'s sum is divided by: Ho * Wo of them, row-major.
    template <typename T>
    std::vector<T> divisors(const Axis& rows, const Axis& cols) const {
        std::vector<T> out(rows.output * cols.output);
        for (int64_t oh = 0; oh < rows.output; ++oh)
            for (int64_t ow = 0; ow < cols.output; ++ow)
                out[oh * cols.output + ow] = T(divisor_override ? *divisor_override
                                               : count_include_pad ? rows.span[oh] * cols.span[ow]
                                                                   : rows.count[oh] * cols.count[ow]);
        return out;
    }
};

// Taps in row-major order per window (the NumPy reference's order of summation).
template <typename T>
void avg_plane(const T* __restrict in, T* __restrict out, const Axis& rows, const Axis& cols,
               const T* __restrict divisors) {
    const int64_t width = cols.size, wo = cols.output;
    for (int64_t oh = 0; oh < rows.output; ++oh) {
        T* __restrict total = out + oh * wo;
        std::fill(total, total + wo, T(0));
        for (int64_t i = 0; i < rows.kernel; ++i) {
            if (!rows.inside(oh, i)) continue;
            const T* row = in + rows.position(oh, i) * width;
            for (int64_t j = 0; j < cols.kernel; ++j) {
                const int64_t column = cols.position(0, j);
#pragma omp simd
                for (int64_t ow = cols.lo[j]; ow < cols.hi[j]; ++ow) total[ow] += row[column + ow * cols.stride];
            }
        }
        const T* divisor = divisors + oh * wo;
#pragma omp simd
        for (int64_t ow = 0; ow < wo; ++ow) total[ow] /= divisor[ow];
    }
}

template <typename T>
void avg_plane_2x2(const T* __restrict in, T* __restrict out, int64_t width, int64_t ho, int64_t wo, T divisor) {
    for (int64_t oh = 0; oh < ho; ++oh) {
        const T* top = in + 2 * oh * width;
        const T* bottom = top + width;
#pragma omp simd
        for (int64_t ow = 0; ow < wo; ++ow)
            out[oh * wo + ow] = (top[2 * ow] + top[2 * ow + 1] + bottom[2 * ow] + bottom[2 * ow + 1]) / divisor;
    }
}

template <typename T>
py::array avg_forward(const py::array& input, Pair kernel, Pair stride, Pair padding, Pair output,
                      const AvgRule& rule) {
    const Planes shape("avg_pool2d_forward", input, "x");
    check_geometry("avg_pool2d_forward", kernel, stride, padding, Pair{1, 1}, output);
    carray<T> x(input);
    const int64_t planes = shape.count, height = shape.height, width = shape.width;
    const int64_t in_size = height * width, out_size = output[0] * output[1];
    py::array_t<T> result(shape.shape(output[0], output[1]));
    const T* src = x.data();
    T* dst = result.mutable_data();
    {
        py::gil_scoped_release release;
        const int64_t work = planes * out_size * kernel[0] * kernel[1];
        if (is_2x2_stride_2(kernel, stride, padding, Pair{1, 1}, output, height, width)) {
            const T divisor = T(rule.divisor_override.value_or(4));
#pragma omp parallel for if (work > ember::kParallelThreshold)
            for (int64_t p = 0; p < planes; ++p)
                avg_plane_2x2(src + p * in_size, dst + p * out_size, width, output[0], output[1], divisor);
        } else {
            const Axis rows(height, kernel[0], stride[0], padding[0], 1, output[0]);
            const Axis cols(width, kernel[1], stride[1], padding[1], 1, output[1]);
            const std::vector<T> divisors = rule.divisors<T>(rows, cols);
#pragma omp parallel for if (work > ember::kParallelThreshold)
            for (int64_t p = 0; p < planes; ++p)
                avg_plane(src + p * in_size, dst + p * out_size, rows, cols, divisors.data());
        }
    }
    return result;
}

// `share` is scratch for one row of outputs' grad / divisor.
template <typename T>
void avg_plane_backward(const T* __restrict g, T* __restrict out, const Axis& rows, const Axis& cols,
                        const T* __restrict divisors, T* __restrict share) {
    const int64_t width = cols.size, wo = cols.output;
    std::fill(out, out + rows.size * width, T(0));
    for (int64_t oh = 0; oh < rows.output; ++oh) {
#pragma omp simd
        for (int64_t ow = 0; ow < wo; ++ow) share[ow] = g[oh * wo + ow] / divisors[oh * wo + ow];
        for (int64_t i = 0; i < rows.kernel; ++i) {
            if (!rows.inside(oh, i)) continue;
            T* __restrict row = out + rows.position(oh, i) * width;
            for (int64_t j = 0; j < cols.kernel; ++j) {
                const int64_t column = cols.position(0, j);
                // one tap of distinct windows: distinct positions (stride >= 1), no dependence
#pragma omp simd
                for (int64_t ow = cols.lo[j]; ow < cols.hi[j]; ++ow) row[column + ow * cols.stride] += share[ow];
            }
        }
    }
}

// Each input position is in exactly one window or none: every position is written once, no zero fill.
template <typename T>
void avg_plane_backward_2x2(const T* __restrict g, T* __restrict out, int64_t height, int64_t width, int64_t ho,
                            int64_t wo, T divisor) {
    for (int64_t oh = 0; oh < ho; ++oh) {
        T* top = out + 2 * oh * width;
        T* bottom = top + width;
#pragma omp simd
        for (int64_t ow = 0; ow < wo; ++ow) {
            const T share = g[oh * wo + ow] / divisor;
            top[2 * ow] = top[2 * ow + 1] = bottom[2 * ow] = bottom[2 * ow + 1] = share;
        }
        std::fill(top + 2 * wo, top + width, T(0));  // an odd last column is in no window
        std::fill(bottom + 2 * wo, bottom + width, T(0));
    }
    std::fill(out + 2 * ho * width, out + height * width, T(0));
}

template <typename T>
py::array avg_backward(const py::array& grad_input, Pair input_size, Pair kernel, Pair stride, Pair padding,
                       const AvgRule& rule) {
    const Planes shape("avg_pool2d_backward", grad_input, "grad");
    check_geometry("avg_pool2d_backward", kernel, stride, padding, Pair{1, 1}, input_size);
    carray<T> grad(grad_input);
    const int64_t planes = shape.count;
    const Pair output{shape.height, shape.width};
    const int64_t height = input_size[0], width = input_size[1];
    const int64_t in_size = height * width, out_size = output[0] * output[1];
    py::array_t<T> result(shape.shape(height, width));
    const T* g = grad.data();
    T* dst = result.mutable_data();
    {
        py::gil_scoped_release release;
        const int64_t work = planes * (in_size + out_size * kernel[0] * kernel[1]);
        if (is_2x2_stride_2(kernel, stride, padding, Pair{1, 1}, output, height, width)) {
            const T divisor = T(rule.divisor_override.value_or(4));
#pragma omp parallel for if (work > ember::kParallelThreshold)
            for (int64_t p = 0; p < planes; ++p)
                avg_plane_backward_2x2(g + p * out_size, dst + p * in_size, height, width, output[0], output[1],
                                       divisor);
        } else {
            const Axis rows(height, kernel[0], stride[0], padding[0], 1, output[0]);
            const Axis cols(width, kernel[1], stride[1], padding[1], 1, output[1]);
            const std::vector<T> divisors = rule.divisors<T>(rows, cols);
#pragma omp parallel if (work > ember::kParallelThreshold)
            {
                std::vector<T> share(output[1]);
#pragma omp for
                for (int64_t p = 0; p < planes; ++p)
                    avg_plane_backward(g + p * out_size, dst + p * in_size, rows, cols, divisors.data(),
                                       share.data());
            }
        }
    }
    return result;
}

// ---- bindings ----------------------------------------------------------------------------------

py::tuple max_pool2d_forward(const py::array& x, Pair kernel, Pair stride, Pair padding, Pair dilation, Pair output) {
    return ember::dispatch_float("max_pool2d_forward", x, [&]<typename T>() {
        return max_forward<T>(x, kernel, stride, padding, dilation, output);
    });
}

py::array max_pool2d_backward(const py::array& grad, const py::array& indices, Pair input_size) {
    return ember::dispatch_float("max_pool2d_backward", grad, [&]<typename T>() {
        return max_backward<T>(grad, indices, input_size);
    });
}

py::array avg_pool2d_forward(const py::array& x, Pair kernel, Pair stride, Pair padding, Pair output,
                             bool count_include_pad, std::optional<int64_t> divisor_override) {
    return ember::dispatch_float("avg_pool2d_forward", x, [&]<typename T>() {
        return avg_forward<T>(x, kernel, stride, padding, output, AvgRule{count_include_pad, divisor_override});
    });
}

py::array avg_pool2d_backward(const py::array& grad, Pair input_size, Pair kernel, Pair stride, Pair padding,
                              bool count_include_pad, std::optional<int64_t> divisor_override) {
    return ember::dispatch_float("avg_pool2d_backward", grad, [&]<typename T>() {
        return avg_backward<T>(grad, input_size, kernel, stride, padding, AvgRule{count_include_pad, divisor_override});
    });
}

void register_pooling(py::module_& m) {
    m.def("max_pool2d_forward", &max_pool2d_forward,
          "Max pool of (*, H, W) -> (values, int64 flat indices), both (*, Ho, Wo).", py::arg("x"),
          py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("output_size"));
    m.def("max_pool2d_backward", &max_pool2d_backward,
          "Scatter-add of grad (*, Ho, Wo) at the indices into zeros (*, H, W).", py::arg("grad"),
          py::arg("indices"), py::arg("input_size"));
    m.def("avg_pool2d_forward", &avg_pool2d_forward, "Average pool of (*, H, W) -> (*, Ho, Wo).",
          py::arg("x"), py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("output_size"),
          py::arg("count_include_pad"), py::arg("divisor_override"));
    m.def("avg_pool2d_backward", &avg_pool2d_backward,
          "Gradient of the average pool: grad (*, Ho, Wo) -> (*, H, W).", py::arg("grad"),
          py::arg("input_size"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
          py::arg("count_include_pad"), py::arg("divisor_override"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_pooling);
