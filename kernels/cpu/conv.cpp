// im2col and col2im of 2-D convolutions; the GEMMs between them are NumPy matmuls (kernels/conv.py).
//
// Columns hold, for every input channel c and kernel position (i, j), the row r = (c * kh + i) * kw + j
// of the values each output position (oh, ow) reads: x[c, oh * sh - pt + i * dh, ow * sw - pl + j * dw],
// zero where that falls in the padding. The layout is (C * kh * kw, N, Ho * Wo): all samples side by side,
// so each GEMM of a convolution is one matmul over N * Ho * Wo columns. Measured on 2 cores: the same
// work as a matmul per sample, but one hand-off to OpenBLAS's threads instead of N (each hand-off costs
// a scheduling round when the cores are busy: 2-9x slower per-sample GEMMs then).
#include <algorithm>
#include <array>

#include <pybind11/stl.h>

#include "common.h"

namespace {

using Pair = std::array<std::int64_t, 2>;

struct Geometry {
    std::int64_t height, width, kh, kw, sh, sw, pt, pl, dh, dw, out_h, out_w;

    std::int64_t rows_per_channel() const { return kh * kw; }
    std::int64_t positions() const { return out_h * out_w; }

    // The output columns [first, last) whose input column ow * sw - pl + j * dw lies inside the
    // input: outside it the column reads padding. Precomputed per kernel column j so the inner loops
    // run over a plain range the compiler can vectorise.
    void valid_columns(std::int64_t j, std::int64_t& first, std::int64_t& last) const {
        const std::int64_t shift = pl - j * dw;  // ow * sw >= shift and ow * sw < width + shift
        first = shift <= 0 ? 0 : (shift + sw - 1) / sw;
        last = width + shift <= 0 ? 0 : (width + shift - 1) / sw + 1;
        first = std::min(first, out_w);
        last = std::clamp(last, first, out_w);
    }
};

Geometry make_geometry(Pair input_size, Pair kernel, Pair stride, Pair padding, Pair dilation,
                       Pair output_size) {
    // the engine checks these; a bad call must still raise rather than divide by zero
    for (int d = 0; d < 2; ++d) {
        if (kernel[d] < 1 || stride[d] < 1 || dilation[d] < 1 || input_size[d] < 0 || output_size[d] < 0)
            throw py::value_error("conv2d im2col/col2im: expected positive kernel size, stride and dilation");
    }
    return {input_size[0], input_size[1], kernel[0], kernel[1], stride[0], stride[1], padding[0],
            padding[1], dilation[0], dilation[1], output_size[0], output_size[1]};
}

// One input channel plane (height, width) -> its kh * kw rows of columns, row_stride apart.
template <typename T>
void im2col_plane(const T* __restrict src, T* __restrict dst, std::int64_t row_stride, const Geometry& g) {
    for (std::int64_t i = 0; i < g.kh; ++i) {
        for (std::int64_t j = 0; j < g.kw; ++j) {
            T* __restrict row = dst + (i * g.kw + j) * row_stride;
            std::int64_t first, last;
            g.valid_columns(j, first, last);
            const std::int64_t shift = j * g.dw - g.pl;
            for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
                T* __restrict out = row + oh * g.out_w;
                const std::int64_t ih = oh * g.sh - g.pt + i * g.dh;
                if (ih < 0 || ih >= g.height) {
                    std::fill(out, out + g.out_w, T(0));
                    continue;
                }
                const T* __restrict in = src + ih * g.width;
                std::fill(out, out + first, T(0));
                if (g.sw == 1) {
#pragma omp simd
                    for (std::int64_t ow = first; ow < last; ++ow) out[ow] = in[ow + shift];
                } else {
                    for (std::int64_t ow = first; ow < last; ++ow) out[ow] = in[ow * g.sw + shift];
                }
                std::fill(out + last, out + g.out_w, T(0));
            }
        }
    }
}

// The adjoint: one plane (height, width) = the sum of its kh * kw rows of columns, each entry added
// back where im2col read it (entries that read padding are dropped).
template <typename T>
void col2im_plane(const T* __restrict src, T* __restrict dst, std::int64_t row_stride, const Geometry& g) {
    std::fill(dst, dst + g.height * g.width, T(0));
    for (std::int64_t i = 0; i < g.kh; ++i) {
        for (std::int64_t j = 0; j < g.kw; ++j) {
            const T* __restrict row = src + (i * g.kw + j) * row_stride;
            std::int64_t first, last;
            g.valid_columns(j, first, last);
            const std::int64_t shift = j * g.dw - g.pl;
            for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
                const std::int64_t ih = oh * g.sh - g.pt + i * g.dh;
                if (ih < 0 || ih >= g.height) continue;
                const T* __restrict in = row + oh * g.out_w;
                T* __restrict out = dst + ih * g.width;
                if (g.sw == 1) {
#pragma omp simd
                    for (std::int64_t ow = first; ow < last; ++ow) out[ow + shift] += in[ow];
                } else {
                    for (std::int64_t ow = first; ow < last; ++ow) out[ow * g.sw + shift] += in[ow];
                }
            }
        }
    }
}

template <typename T>
py::array im2col_kernel(const py::array& input, const Geometry& g) {
    ember::carray<T> x(input);
    const std::int64_t batch = x.shape(0), channels = x.shape(1), planes = batch * channels;
    const std::int64_t row_stride = batch * g.positions();  // row r of sample n: r * row_stride + n * positions
    py::array_t<T> columns({channels * g.rows_per_channel(), batch, g.positions()});
    const T* src = x.data();
    T* dst = columns.mutable_data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for if (planes * g.rows_per_channel() * g.positions() > ember::kParallelThreshold)
        // channel-major, so a thread's consecutive planes fill each row of columns left to right
        for (std::int64_t p = 0; p < planes; ++p) {
            const std::int64_t c = p / batch, n = p % batch;
            im2col_plane(src + (n * channels + c) * g.height * g.width,
                         dst + c * g.rows_per_channel() * row_stride + n * g.positions(), row_stride, g);
        }
    }
    return columns;
}

template <typename T>
py::array col2im_kernel(const py::array& input, std::int64_t channels, const Geometry& g) {
    ember::carray<T> columns(input);
    const std::int64_t batch = columns.shape(1), planes = batch * channels;
    const std::int64_t row_stride = batch * g.positions();
    py::array_t<T> out({batch, channels, g.height, g.width});
    const T* src = columns.data();
    T* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
#pragma omp parallel for if (planes * g.rows_per_channel() * g.positions() > ember::kParallelThreshold)
        for (std::int64_t p = 0; p < planes; ++p) {
            const std::int64_t c = p / batch, n = p % batch;
            col2im_plane(src + c * g.rows_per_channel() * row_stride + n * g.positions(),
                         dst + (n * channels + c) * g.height * g.width, row_stride, g);
        }
    }
    return out;
}

py::array conv2d_im2col(const py::array& x, Pair kernel, Pair stride, Pair padding, Pair dilation,
                        Pair output_size) {
    if (x.ndim() != 4) throw py::value_error("conv2d_im2col: expected x of shape (N, C, H, W)");
    const Geometry g = make_geometry({x.shape(2), x.shape(3)}, kernel, stride, padding, dilation, output_size);
    return ember::dispatch_float("conv2d_im2col", x, [&]<typename T>() { return im2col_kernel<T>(x, g); });
}

py::array conv2d_col2im(const py::array& columns, std::int64_t channels, Pair input_size, Pair kernel,
                        Pair stride, Pair padding, Pair dilation, Pair output_size) {
    const Geometry g = make_geometry(input_size, kernel, stride, padding, dilation, output_size);
    if (columns.ndim() != 3 || columns.shape(0) != channels * g.rows_per_channel() ||
        columns.shape(2) != g.positions())
        throw py::value_error("conv2d_col2im: expected columns of shape (channels * kh * kw, N, Ho * Wo)");
    return ember::dispatch_float("conv2d_col2im", columns,
                                 [&]<typename T>() { return col2im_kernel<T>(columns, channels, g); });
}

// padding: (top, left); the padding after the input needs no argument, as the output size fixes it.
void register_conv(py::module_& m) {
    m.def("conv2d_im2col", &conv2d_im2col, "x (N, C, H, W) -> columns (C * kh * kw, N, Ho * Wo).",
          py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
          py::arg("output_size"));
    m.def("conv2d_col2im", &conv2d_col2im,
          "columns (channels * kh * kw, N, Ho * Wo) -> (N, channels, H, W): the adjoint of conv2d_im2col.",
          py::arg("columns"), py::arg("channels"), py::arg("input_size"), py::arg("kernel_size"),
          py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("output_size"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_conv);
