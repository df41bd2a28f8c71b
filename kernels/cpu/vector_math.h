// exp, sigmoid, tanh and erf the compiler can vectorise: std::exp and std::tanh are opaque library
// calls that keep a loop scalar (libmvec's vector versions need -ffast-math), which made a fused LSTM
// step slower than NumPy's SIMD ufuncs. Loops calling these vectorise only without trapping math
// (GCC will not if-convert the range selects otherwise): CMakeLists passes -fno-trapping-math.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace ember::vmath {

// e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln2 / 2. Adding 1.5 * 2^(mantissa bits) rounds
// x / ln2 to an integer held in the low mantissa bits, so n is read with integer ops that vectorise
// (a float-to-int conversion of NaN or a huge x would be undefined). About 1 ulp; results that would
// be subnormal are flushed to 0 (exp(-inf) is exactly 0), overflow gives inf, NaN stays NaN. The
// range checks are masks and selects, not branches, so loops calling this stay branch-free.
inline float exp(float x) {
    constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
    const float t = std::fma(x, 1.44269504088896341f, kRound);
    const float n = t - kRound;
    float r = std::fma(n, -0.693359375f, x);  // ln 2 split in two: n * hi is exact
    r = std::fma(n, 2.12194440e-4f, r);
    // Cephes' minimax polynomial for e^r on [-ln2/2, ln2/2]
    float p = 1.9875691500e-4f;
    p = std::fma(p, r, 1.3981999507e-3f);
    p = std::fma(p, r, 8.3334519073e-3f);
    p = std::fma(p, r, 4.1665795894e-2f);
    p = std::fma(p, r, 1.6666665459e-1f);
    p = std::fma(p, r, 5.0000001201e-1f);
    p = std::fma(p, r * r, r) + 1.0f;
    const std::int32_t scale = (std::bit_cast<std::int32_t>(t) - std::bit_cast<std::int32_t>(kRound) + 127) << 23;
    const std::int32_t keep = -static_cast<std::int32_t>(!(x < -87.33f));
    const float value = std::bit_cast<float>(std::bit_cast<std::int32_t>(p * std::bit_cast<float>(scale)) & keep);
    return x > 88.72f ? std::numeric_limits<float>::infinity() : value;
}

inline double exp(double x) {
    constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52
    const double t = std::fma(x, 1.4426950408889634, kRound);
    const double n = t - kRound;
    double r = std::fma(n, -6.93147180369123816490e-01, x);
    r = std::fma(n, -1.90821492927058770002e-10, r);
    // Taylor series to r^12: the remainder is below 2e-16 relative on |r| <= ln2 / 2
    double p = 1.0 / 479001600.0;
    constexpr double kInverseFactorials[] = {1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                             1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
                                             1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    for (double c : kInverseFactorials) p = std::fma(p, r, c);
    const std::int64_t scale = (std::bit_cast<std::int64_t>(t) - std::bit_cast<std::int64_t>(kRound) + 1023) << 52;
    const std::int64_t keep = -static_cast<std::int64_t>(!(x < -708.39));
    const double value = std::bit_cast<double>(std::bit_cast<std::int64_t>(p * std::bit_cast<double>(scale)) & keep);
    return x > 709.78 ? std::numeric_limits<double>::infinity() : value;
}

template <typename T>
inline T sigmoid(T x) {
    return T(1) / (T(1) + exp(-x));
}

// tanh for float: sign(x) (1 - e) / (1 + e), e = e^(-2|x|) <= 1 (no overflow), and near 0, where
// 1 - e cancels, the Taylor series (to x^13: < 1e-7 relative at |x| = 0.5). Double keeps std::tanh
// (its exp needs 64-bit integer vectors AVX2 lacks, so it would stay scalar anyway).
template <typename T>
inline T tanh(T x) {
    if constexpr (std::is_same_v<T, double>) {
        return std::tanh(x);
    } else {
        const float e = exp(-2.0f * std::fabs(x));
        const float far = std::copysign((1.0f - e) / (1.0f + e), x);
        const float x2 = x * x;
        const float near = x + x * x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (
            62.0f / 2835 + x2 * (-1382.0f / 155925 + x2 * (21844.0f / 6081075))))));
        return x2 < 0.25f ? near : far;
    }
}

// erf for float: a rational approximation on [-4, 4] (Eigen's, ~2 ulp), erf(+-4) rounds to +-1 in
// float. Double keeps std::erf: correct to the last bit, but scalar.
template <typename T>
inline T erf(T x) {
    if constexpr (std::is_same_v<T, double>) {
        return std::erf(x);
    } else {
        x = x < -4.0f ? -4.0f : x;
        x = x > 4.0f ? 4.0f : x;
        const float x2 = x * x;
        float p = -2.72614225801306e-10f;
        p = p * x2 + 2.77068142495902e-08f;
        p = p * x2 - 2.10102402082508e-06f;
        p = p * x2 - 5.69250639462346e-05f;
        p = p * x2 - 7.34990630326855e-04f;
        p = p * x2 - 2.95459980854025e-03f;
        p = p * x2 - 1.60960333262415e-02f;
        float q = -1.45660718464996e-05f;
        q = q * x2 - 2.13374055278905e-04f;
        q = q * x2 - 1.68282697438203e-03f;
        q = q * x2 - 7.37332916720468e-03f;
        q = q * x2 - 1.42647390514189e-02f;
        return x * p / q;
    }
}

}  // namespace ember::vmath
