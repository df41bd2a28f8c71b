// int8 GEMMs of quantized layers (kernels/quantized.py is the NumPy reference and the glue).
//
// int8_matmul: C (M, N) int32 = A (M, K) int8 x B (K, N) int8, exactly: every product of two int8
// values fits in int16 and the sums are kept in int32 (exact while K * 128 * 128 < 2^31).
// quantized_linear / quantized_conv2d: a quantized layer's forward from a float input to a float
// output, the same GEMM in between (A = the layer's int8 weight, B = the quantized input).
//
// Without VNNI, the fastest exact int8 product on AVX2 is vpmaddwd: 16 int16 x int16 products summed
// in pairs into 8 int32 (vpmaddubsw does 32 but saturates its int16 pair sums, so it is exact only for
// 7-bit operands). So both operands are widened to int16 while packed, two rows of K side by side:
//   A, per block of kRows rows: (K/2, kRows) pairs a[i, 2k], a[i, 2k+1], read by broadcast;
//   B, per panel of kCols columns: (K/2, kCols) pairs b[2k, j], b[2k+1, j], read as two vectors.
// The micro-kernel keeps a kRows x kCols tile of C in 12 of AVX2's 16 registers while it runs down K.
// B is packed a block of panels at a time into a buffer that stays in L2 while every row block of A
// passes over it, so nothing the size of B is written: a convolution's packer reads the windows
// straight from the quantized input (no im2col columns), and the tile's store is where the int32
// sums become the float output.
//
// Measured on one Zen 3 core (AVX2, no VNNI): 64 G multiply-adds/s at 512^3 against 48 G for
// OpenBLAS's sgemm, 1.2-1.8x its speed at the shapes of LeNet's layers.

#include <array>
#include <cmath>
#include <cstring>
#include <optional>

#include <pybind11/stl.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "common.h"

namespace {

constexpr std::int64_t kRows = 6, kCols = 16;
// Below this many multiply-adds, waking OpenMP threads costs more than the product.
constexpr std::int64_t kParallelWork = std::int64_t{1} << 20;

using Tile = std::array<std::int32_t, kRows * kCols>;

std::int64_t pairs_of(std::int64_t k) { return (k + 1) / 2; }

// A (M, K) int8 -> blocks of kRows rows, each (pairs, kRows, 2) int16; rows past M and the row of K
// past an odd K are zeros, so the micro-kernel always computes a full tile.
std::vector<std::int16_t> pack_rows(const std::int8_t* a, std::int64_t m, std::int64_t k) {
    const std::int64_t pairs = pairs_of(k), blocks = (m + kRows - 1) / kRows;
    std::vector<std::int16_t> packed(blocks * pairs * kRows * 2, 0);
    for (std::int64_t i = 0; i < m; ++i) {
        std::int16_t* block = packed.data() + (i / kRows) * pairs * kRows * 2 + (i % kRows) * 2;
        for (std::int64_t kk = 0; kk < k; ++kk) block[(kk / 2) * kRows * 2 + kk % 2] = a[i * k + kk];
    }
    return packed;
}

// tile[i * kCols + j] = sum over pairs p of a[p, i] . b[p, j] (a pair's dot product).
void micro_kernel(const std::int16_t* __restrict a, const std::int16_t* __restrict b, std::int64_t pairs,
                  Tile& tile) {
#ifdef __AVX2__
    // the loops over rows fully unrolled: otherwise GCC keeps the accumulators in memory
    __m256i acc[kRows][2];
#pragma GCC unroll 6
    for (std::int64_t i = 0; i < kRows; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    for (std::int64_t p = 0; p < pairs; ++p) {
        const __m256i left = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p * kCols * 2));
        const __m256i right = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p * kCols * 2 + 16));
#pragma GCC unroll 6
        for (std::int64_t i = 0; i < kRows; ++i) {
            std::int32_t pair;  // a[2k], a[2k+1] as the two halves of one int32, broadcast
            std::memcpy(&pair, a + (p * kRows + i) * 2, sizeof pair);
            const __m256i w = _mm256_set1_epi32(pair);
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(left, w));
            acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(right, w));
        }
    }
#pragma GCC unroll 6
    for (std::int64_t i = 0; i < kRows; ++i) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile.data() + i * kCols), acc[i][0]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile.data() + i * kCols + 8), acc[i][1]);
    }
#else  // the same sums, left to the compiler
    tile.fill(0);
    for (std::int64_t p = 0; p < pairs; ++p)
        for (std::int64_t i = 0; i < kRows; ++i)
            for (std::int64_t j = 0; j < kCols; ++j)
                tile[i * kCols + j] += std::int32_t{a[(p * kRows + i) * 2]} * b[(p * kCols + j) * 2] +
                                       std::int32_t{a[(p * kRows + i) * 2 + 1]} * b[(p * kCols + j) * 2 + 1];
#endif
}

// The GEMM over packed A, in blocks of columns: pack(block, j0, cols) fills the panels of columns
// [j0, j0 + cols) (zeros past cols), store(tile, i0, rows, j0, cols) takes the rows x cols corner of each
// finished tile. A block is packed before any of it is multiplied, so that a packer reads a block's width
// from each row of B in one run: one panel at a time reads 16 entries from each of K rows, more streams
// than the prefetcher follows.
template <typename Pack, typename Store>
void gemm(const std::vector<std::int16_t>& a, std::int64_t m, std::int64_t k, std::int64_t n, Pack&& pack,
          Store&& store) {
    constexpr std::int64_t kBlockBytes = 96 * 1024;  // the packed block stays in L2 while A passes over it
    const std::int64_t pairs = pairs_of(k), panel_size = pairs * kCols * 2;
    const std::int64_t panel_bytes = std::max<std::int64_t>(panel_size * 2, 1);
    const std::int64_t block_cols = kCols * std::clamp<std::int64_t>(kBlockBytes / panel_bytes, 1, 32);
    const std::int64_t blocks = (n + block_cols - 1) / block_cols;
    const bool parallel = m * k * n > kParallelWork;
    ember::parallel_chunks(blocks, parallel ? 1 : blocks, [&](std::int64_t first, std::int64_t last) {
        std::vector<std::int16_t> packed(block_cols / kCols * panel_size);
        Tile tile;
        for (std::int64_t q = first; q < last; ++q) {
            const std::int64_t j0 = q * block_cols, cols = std::min(block_cols, n - j0);
            pack(packed.data(), j0, cols);
            for (std::int64_t jp = 0; jp < cols; jp += kCols) {
                const std::int16_t* panel = packed.data() + jp / kCols * panel_size;
                for (std::int64_t i0 = 0; i0 < m; i0 += kRows) {
                    micro_kernel(a.data() + i0 * pairs * 2, panel, pairs, tile);
                    store(tile, i0, std::min(kRows, m - i0), j0 + jp, std::min(kCols, cols - jp));
                }
            }
        }
    });
}

// ---- int8_matmul ---------------------------------------------------------------------------------

// The panels of columns [j0, j0 + cols) of B (K, N) int8, one after another; zeros past `cols` and past
// row K.
void pack_int8_block(const std::int8_t* __restrict b, std::int64_t n, std::int64_t k, std::int64_t j0,
                     std::int64_t cols, std::int16_t* __restrict packed) {
    const std::int64_t pairs = pairs_of(k), panel_size = pairs * kCols * 2;
    std::int64_t full = 0;  // columns packed by the vector loop: whole panels
#ifdef __AVX2__
    full = cols / kCols * kCols;
    const __m256i low_half = _mm256_set1_epi32(0xFFFF);
    for (std::int64_t p = 0; p < pairs; ++p) {
        const std::int8_t* top_row = b + 2 * p * n + j0;
        const bool second = 2 * p + 1 < k;
        for (std::int64_t j = 0; j < full; j += 8) {  // 8 columns of both rows as int32
            const __m256i top = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(top_row + j)));
            const __m256i bottom = second ? _mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                                reinterpret_cast<const __m128i*>(top_row + n + j)))
                                          : _mm256_setzero_si256();
            // the pair (top, bottom) of int16 is the int32 top & 0xFFFF | bottom << 16
            const __m256i pair = _mm256_or_si256(_mm256_and_si256(top, low_half), _mm256_slli_epi32(bottom, 16));
            std::int16_t* out = packed + j / kCols * panel_size + (p * kCols + j % kCols) * 2;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), pair);
        }
    }
#endif
    if (full == cols) return;
    std::int16_t* __restrict rest = packed + full / kCols * panel_size;  // the other columns, one by one
    std::fill(rest, packed + (cols + kCols - 1) / kCols * panel_size, std::int16_t{0});
    for (std::int64_t r = 0; r < k; ++r) {
        for (std::int64_t j = full; j < cols; ++j) {
            const std::int64_t c = j - full;
            rest[c / kCols * panel_size + ((r / 2) * kCols + c % kCols) * 2 + r % 2] = b[r * n + j0 + j];
        }
    }
}

std::string shape_text(const py::array& array) {  // "3x4", as PyTorch writes shapes in errors
    std::string text;
    for (py::ssize_t d = 0; d < array.ndim(); ++d) text += (d ? "x" : "") + std::to_string(array.shape(d));
    return text;
}

void check_depth(const char* op, std::int64_t k, std::int64_t limit) {
    if (k > limit)
        throw py::value_error(std::string(op) + ": the inner dimension " + std::to_string(k) +
                              " is too long for exact int32 sums (at most " + std::to_string(limit) + ")");
}

void check_int8(const char* op, const char* name, const py::array& array) {
    if (!py::isinstance<py::array_t<std::int8_t>>(array))
        throw py::type_error(std::string(op) + ": expected " + name + " of dtype int8, got " +
                             std::string(py::str(array.dtype())));
}

// int8 (M, K) x int8 (K, N) -> int32 (M, N).
py::array int8_matmul(const py::array& a_in, const py::array& b_in) {
    check_int8("int8_matmul", "a", a_in);
    check_int8("int8_matmul", "b", b_in);
    if (a_in.ndim() != 2 || b_in.ndim() != 2 || a_in.shape(1) != b_in.shape(0))
        throw py::value_error("int8_matmul: a and b shapes cannot be multiplied (" + shape_text(a_in) + " and " +
                              shape_text(b_in) + "); expected matrices (M, K) and (K, N)");
    ember::carray<std::int8_t> a(a_in), b(b_in);
    const std::int64_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
    check_depth("int8_matmul", k, 131071);  // 131071 * 128 * 128 < 2^31
    py::array_t<std::int32_t> c({m, n});
    const std::int8_t* src = b.data();
    std::int32_t* dst = c.mutable_data();
    {
        py::gil_scoped_release release;
        const auto packed = pack_rows(a.data(), m, k);
        gemm(packed, m, k, n,
             [&](std::int16_t* block, std::int64_t j0, std::int64_t cols) {
                 pack_int8_block(src, n, k, j0, cols, block);
             },
             [&](const Tile& tile, std::int64_t i0, std::int64_t rows, std::int64_t j0, std::int64_t cols) {
                 for (std::int64_t i = 0; i < rows; ++i)
                     std::copy(tile.data() + i * kCols, tile.data() + i * kCols + cols, dst + (i0 + i) * n + j0);
             });
    }
    return c;
}

// ---- quantized layers ------------------------------------------------------------------------------
// The input is quantized per tensor, q = clamp(round(x / x_scale) + zero_point, -128, 127), and the GEMM
// multiplies the int8 weight by q - zero_point, which lies in [-255, 255]: an int16, so the zero point
// costs nothing in the GEMM (products stay below 2^15, pair sums fit int32). The output is
// sum * scale[o] + bias[o], with scale = x_scale * weight_scale[o].

// q - zero_point, written as int16. Clamped before rounding (the bounds are integers, so it is the same)
// to keep huge inputs from overflowing the conversion; rounding is to nearest even, as NumPy's rint, and
// x / scale is x * inv_scale, as PyTorch computes it. A plain loop: the compiler vectorises it.
void quantize_centered(const float* __restrict x, std::int64_t count, float inv_scale, std::int64_t zero_point,
                       std::int16_t* __restrict out) {
    const float low = static_cast<float>(-128 - zero_point), high = static_cast<float>(127 - zero_point);
    for (std::int64_t i = 0; i < count; ++i)
        out[i] = static_cast<std::int16_t>(std::nearbyint(std::clamp(x[i] * inv_scale, low, high)));
}

// What every quantized layer checks and reads: the float32 input, the int8 weight (M, ...), the per-
// output scale (M,) and the optional bias (M,).
struct LayerArguments {
    ember::carray<float> x, scale;
    ember::carray<std::int8_t> weight;
    std::optional<ember::carray<float>> bias;
    std::int64_t m;

    LayerArguments(const char* op, const py::array& x_in, const py::array& weight_in, std::int64_t zero_point,
                   const py::array& scale_in, const py::object& bias_in)
        : x(check_float(op, x_in)), scale(scale_in), weight((check_int8(op, "weight", weight_in), weight_in)),
          m(weight_in.ndim() ? weight_in.shape(0) : 0) {
        if (zero_point < -128 || zero_point > 127)
            throw py::value_error(std::string(op) + ": zero_point must lie in [-128, 127], got " +
                                  std::to_string(zero_point));
        if (scale.ndim() != 1 || scale.shape(0) != m)
            throw py::value_error(std::string(op) + ": expected a scale of shape (" + std::to_string(m) +
                                  ",), got (" + shape_text(scale) + ")");
        if (!bias_in.is_none()) {
            bias.emplace(bias_in);
            if (bias->ndim() != 1 || bias->shape(0) != m)
                throw py::value_error(std::string(op) + ": expected a bias of shape (" + std::to_string(m) +
                                      ",), got (" + shape_text(*bias) + ")");
        }
    }

    static const py::array& check_float(const char* op, const py::array& x) {
        if (!py::isinstance<py::array_t<float>>(x))
            throw py::type_error(std::string(op) + ": expected a float32 input, got " +
                                 std::string(py::str(x.dtype())));
        return x;
    }

    // The tile's store: column j = sample * positions + p of the product goes to out[sample, o, p].
    auto store(float* out, std::int64_t positions) const {
        const float* scales = scale.data();
        const float* biases = bias ? bias->data() : nullptr;
        const std::int64_t rows_out = m;
        return [=](const Tile& tile, std::int64_t i0, std::int64_t rows, std::int64_t j0, std::int64_t cols) {
            std::int64_t sample = j0 / positions, p = j0 % positions;
            for (std::int64_t j = 0; j < cols; ++sample, p = 0) {  // runs of columns in one sample
                const std::int64_t run = std::min(cols - j, positions - p);
                for (std::int64_t i = 0; i < rows; ++i) {
                    const float s = scales[i0 + i], add = biases ? biases[i0 + i] : 0.0f;
                    const std::int32_t* __restrict from = tile.data() + i * kCols + j;
                    float* __restrict to = out + (sample * rows_out + i0 + i) * positions + p;
                    for (std::int64_t t = 0; t < run; ++t) to[t] = static_cast<float>(from[t]) * s + add;
                }
                j += run;
            }
        };
    }
};

// x (N, K) float32, weight (M, K) int8 -> (N, M) float32.
py::array quantized_linear(const py::array& x_in, const py::array& weight_in, float inv_scale, std::int64_t zero_point,
                           const py::array& scale_in, const py::object& bias_in) {
    const LayerArguments args("quantized_linear", x_in, weight_in, zero_point, scale_in, bias_in);
    if (args.x.ndim() != 2 || args.weight.ndim() != 2 || args.x.shape(1) != args.weight.shape(1))
        throw py::value_error("quantized_linear: expected x (N, K) and weight (M, K), got x (" + shape_text(args.x) +
                              ") and weight (" + shape_text(args.weight) + ")");
    const std::int64_t n = args.x.shape(0), k = args.x.shape(1), m = args.m, pairs = pairs_of(k);
    check_depth("quantized_linear", k, 65793);  // 65793 * 128 * 255 < 2^31
    py::array_t<float> out({n, m});
    float* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        // each sample's q - zero_point, padded to whole pairs: a panel is a transpose of pairs
        std::vector<std::int16_t> centered(n * pairs * 2, 0);
        const float* x = args.x.data();
        const std::int64_t threshold = ember::kParallelThreshold / std::max<std::int64_t>(k, 1);
        ember::parallel_chunks(n, threshold, [&](std::int64_t first, std::int64_t last) {
            for (std::int64_t i = first; i < last; ++i)
                quantize_centered(x + i * k, k, inv_scale, zero_point, centered.data() + i * pairs * 2);
        });
        const auto packed = pack_rows(args.weight.data(), m, k);
        gemm(packed, m, k, n,
             [&](std::int16_t* block, std::int64_t j0, std::int64_t cols) {
                 // panel q, pair p, column c: the pair p of sample j0 + 16 q + c, one int32
                 const std::int64_t panel_size = pairs * kCols * 2;
                 std::fill(block + cols / kCols * panel_size, block + (cols + kCols - 1) / kCols * panel_size,
                           std::int16_t{0});
                 for (std::int64_t j = 0; j < cols; ++j) {
                     const std::int16_t* from = centered.data() + (j0 + j) * pairs * 2;
                     std::int16_t* to = block + j / kCols * panel_size + (j % kCols) * 2;
                     for (std::int64_t p = 0; p < pairs; ++p) std::memcpy(to + p * kCols * 2, from + p * 2, 4);
                 }
             },
             args.store(dst, 1));
    }
    return out;
}

using Pair = std::array<std::int64_t, 2>;

// Where output positions read in the padded input: column j = sample * positions + oh * out_w + ow
// has its window's corner at sample * image + oh * row_step + ow * column_step.
struct WindowGrid {
    std::int64_t positions, out_w, image, row_step, column_step;
};

// One panel of B for a convolution: columns [j0, j0 + cols) (cols <= kCols), each pair of rows r, r + 1
// interleaved. The panel's columns split into pieces that lie in one output row; at stride 1 a piece's
// columns read neighbouring values, so column c of a piece starting at `first` reads
// base[shift + c + offset[r]] with shift = corner - first. A row of the panel is one load per piece,
// blended in from the piece's first column.
void pack_windows(const std::int16_t* __restrict base, const std::int64_t* __restrict offset, std::int64_t k,
                  std::int64_t j0, std::int64_t cols, const WindowGrid& grid, std::int16_t* __restrict panel) {
    std::array<std::int64_t, kCols> first, shift;
    std::int64_t pieces = 0;
    std::int64_t sample = j0 / grid.positions, oh = j0 % grid.positions / grid.out_w, ow = j0 % grid.out_w;
    for (std::int64_t c = 0; c < cols; ++pieces) {
        const std::int64_t run = grid.column_step == 1 ? std::min(cols - c, grid.out_w - ow) : 1;
        first[pieces] = c;
        shift[pieces] = sample * grid.image + oh * grid.row_step + ow * grid.column_step - c;
        c += run;
        if ((ow += run) == grid.out_w) {
            ow = 0;
            if (++oh * grid.out_w == grid.positions) oh = 0, ++sample;
        }
    }
    const std::int64_t pairs = pairs_of(k);
#ifdef __AVX2__
    const __m256i lane = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    auto row = [&](std::int64_t r) {  // row r of the panel: 16 int16 (past `cols`, whatever was loaded)
        __m256i values = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + shift[0] + offset[r]));
        for (std::int64_t q = 1; q < pieces; ++q) {
            const __m256i from = _mm256_cmpgt_epi16(lane, _mm256_set1_epi16(static_cast<std::int16_t>(first[q] - 1)));
            const __m256i piece = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + shift[q] + offset[r]));
            values = _mm256_blendv_epi8(values, piece, from);
        }
        return values;
    };
    for (std::int64_t p = 0; p < pairs; ++p) {
        const __m256i top = row(2 * p);
        const __m256i bottom = 2 * p + 1 < k ? row(2 * p + 1) : _mm256_setzero_si256();
        // interleave: unpack pairs columns 0-3 and 8-11 (lo), 4-7 and 12-15 (hi) within 128-bit lanes
        const __m256i lo = _mm256_unpacklo_epi16(top, bottom), hi = _mm256_unpackhi_epi16(top, bottom);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + p * kCols * 2), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + p * kCols * 2 + 16),
                            _mm256_permute2x128_si256(lo, hi, 0x31));
    }
#else
    std::fill(panel, panel + pairs * kCols * 2, std::int16_t{0});
    for (std::int64_t q = 0; q < pieces; ++q) {
        const std::int64_t end = q + 1 < pieces ? first[q + 1] : cols;
        for (std::int64_t r = 0; r < k; ++r)
            for (std::int64_t c = first[q]; c < end; ++c)
                panel[((r / 2) * kCols + c) * 2 + r % 2] = base[shift[q] + c + offset[r]];
    }
#endif
}


// x (N, C, H, W) float32, weight (M, C, kh, kw) int8 -> (N, M, Ho, Wo) float32. padding: ((top, bottom),
// (left, right)). Row r = (c * kh + i) * kw + j of B is what each output position reads at kernel
// position (i, j) of channel c, as in kernels/conv.py's im2col, but no columns are made: x is quantized
// once into a zero-padded copy (the padding is q - zero_point = 0, a quantized zero), and the packer
// reads each panel's windows from it. A panel's 16 columns are output positions; those in one output
// row (at stride 1) read 16 neighbouring values, one vector load per row of B.
py::array quantized_conv2d(const py::array& x_in, const py::array& weight_in, float inv_scale, std::int64_t zero_point,
                           const py::array& scale_in, const py::object& bias_in, Pair stride,
                           std::array<Pair, 2> padding, Pair dilation) {
    const LayerArguments args("quantized_conv2d", x_in, weight_in, zero_point, scale_in, bias_in);
    const auto& x = args.x;
    if (x.ndim() != 4 || args.weight.ndim() != 4 || x.shape(1) != args.weight.shape(1))
        throw py::value_error("quantized_conv2d: expected x (N, C, H, W) and weight (M, C, kh, kw), got x (" +
                              shape_text(x) + ") and weight (" + shape_text(args.weight) + ")");
    for (int d = 0; d < 2; ++d)
        if (stride[d] < 1 || dilation[d] < 1 || padding[d][0] < 0 || padding[d][1] < 0)
            throw py::value_error("quantized_conv2d: expected positive stride and dilation, non-negative padding");
    const std::int64_t batch = x.shape(0), channels = x.shape(1), height = x.shape(2), width = x.shape(3);
    const std::int64_t kh = args.weight.shape(2), kw = args.weight.shape(3), m = args.m;
    const std::int64_t hp = height + padding[0][0] + padding[0][1], wp = width + padding[1][0] + padding[1][1];
    const std::int64_t out_h = (hp - dilation[0] * (kh - 1) - 1) / stride[0] + 1;
    const std::int64_t out_w = (wp - dilation[1] * (kw - 1) - 1) / stride[1] + 1;
    if (hp < dilation[0] * (kh - 1) + 1 || wp < dilation[1] * (kw - 1) + 1)
        throw py::value_error("quantized_conv2d: the padded input (" + std::to_string(hp) + "x" + std::to_string(wp) +
                              ") is smaller than the kernel (" + std::to_string(kh) + "x" + std::to_string(kw) + ")");
    const std::int64_t k = channels * kh * kw, positions = out_h * out_w, n = batch * positions;
    check_depth("quantized_conv2d", k, 65793);
    py::array_t<float> out({batch, m, out_h, out_w});
    float* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        // the padded copy, with kCols values of slack on each side: a load at a piece's shifted start
        // (below) may begin up to kCols - 1 values before the first pixel and end as far after the last
        const std::int64_t plane = hp * wp, image = channels * plane;
        std::vector<std::int16_t> padded(batch * image + 2 * kCols, 0);
        std::int16_t* base = padded.data() + kCols;
        ember::parallel_chunks(batch * channels, ember::kParallelThreshold / std::max<std::int64_t>(height * width, 1),
                               [&](std::int64_t first, std::int64_t last) {
            for (std::int64_t p = first; p < last; ++p)
                for (std::int64_t h = 0; h < height; ++h)
                    quantize_centered(x.data() + (p * height + h) * width, width, inv_scale, zero_point,
                                      base + p * plane + (h + padding[0][0]) * wp + padding[1][0]);
        });
        std::vector<std::int64_t> offset(k);  // where row r of B reads, relative to a window's corner
        for (std::int64_t c = 0; c < channels; ++c)
            for (std::int64_t i = 0; i < kh; ++i)
                for (std::int64_t j = 0; j < kw; ++j)
                    offset[(c * kh + i) * kw + j] = c * plane + i * dilation[0] * wp + j * dilation[1];
        const std::int64_t pairs = pairs_of(k), panel_size = pairs * kCols * 2;
        const auto packed_weight = pack_rows(args.weight.data(), m, k);
        gemm(packed_weight, m, k, n,
             [&](std::int16_t* block, std::int64_t j0, std::int64_t block_cols) {
                 for (std::int64_t jp = 0; jp < block_cols; jp += kCols)
                     pack_windows(base, offset.data(), k, j0 + jp, std::min(kCols, block_cols - jp),
                                  {positions, out_w, image, stride[0] * wp, stride[1]},
                                  block + jp / kCols * panel_size);
             },
             args.store(dst, positions));
    }
    return out;
}

void register_quantized(py::module_& m) {
    m.def("int8_matmul", &int8_matmul, "int8 (M, K) x int8 (K, N) -> int32 (M, N), exact.", py::arg("a"),
          py::arg("b"));
    m.def("quantized_linear", &quantized_linear,
          "x (N, K) float32 quantized per tensor, times the int8 weight (M, K), scaled, plus the bias -> (N, M).",
          py::arg("x"), py::arg("weight"), py::arg("inv_scale"), py::arg("zero_point"), py::arg("scale"),
          py::arg("bias"));
    m.def("quantized_conv2d", &quantized_conv2d,
          "x (N, C, H, W) float32 quantized per tensor, convolved with the int8 weight (M, C, kh, kw), scaled, "
          "plus the bias -> (N, M, Ho, Wo).",
          py::arg("x"), py::arg("weight"), py::arg("inv_scale"), py::arg("zero_point"), py::arg("scale"),
          py::arg("bias"), py::arg("stride"), py::arg("padding"), py::arg("dilation"));
}

}  // namespace

EMBER_REGISTER_KERNELS(register_quantized);
