// exp, sigmoid and tanh the compiler can vectorise: std::exp and std::tanh are opaque library calls
// that keep a loop scalar (libmvec's vector versions need -ffast-math), which made a fused LSTM
// step slower than NumPy's SIMD ufuncs. Loops calling these vectorise only without trapping math
// (GCC threads the clamps' branches through the rest and then may not if-convert them): CMakeLists
// passes -fno-trapping-math, and a file that uses these also starts with
// `#pragma GCC optimize("no-trapping-math")`, so it keeps vectorising should the flag go.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace ember::vmath {

// Per type: the input range where exp neither overflows nor goes subnormal, the exponent layout,
// and how many Taylor terms reach the type's precision on |r| <= ln2/2 (7: ~5e-9; 12: ~6e-15).
template <typename T> struct ExpTraits;
template <> struct ExpTraits<float> {
    using Bits = std::int32_t;
    static constexpr float low = -87.0f, high = 88.0f;
    static constexpr int mantissa = 23, bias = 127, terms = 7;
};
template <> struct ExpTraits<double> {
    using Bits = std::int64_t;
    static constexpr double low = -708.0, high = 709.0;
    static constexpr int mantissa = 52, bias = 1023, terms = 12;
};

// sum_{k<=terms} r^k / k!, by Horner: 1 + r (1 + r/2 (1 + r/3 (...))), unrolled at compile time (a
// loop here would stop the caller's loop from vectorising).
template <typename T, int terms, int k = 1>
inline T taylor_exp(T r) {
    if constexpr (k > terms) {
        return T(1);
    } else {
        return T(1) + r * (T(1) / T(k)) * taylor_exp<T, terms, k + 1>(r);
    }
}

// e^x = 2^n e^r with n = round(x / ln2), |r| <= ln2 / 2; ln2 split in two so r is exact.
template <typename T>
inline T exp(T x) {
    using Traits = ExpTraits<T>;
    using Bits = typename Traits::Bits;
    x = x < Traits::low ? Traits::low : x;
    x = x > Traits::high ? Traits::high : x;
    // round to nearest by adding and subtracting 1.5 * 2^mantissa (std::floor/nearbyint do not vectorise)
    const T shifter = T(1.5) * T(Bits(1) << Traits::mantissa);
    const T n = (x * T(1.4426950408889634) + shifter) - shifter;
    const T r = (x - n * T(0.693145751953125)) - n * T(1.428606820309417232e-06);
    const T poly = taylor_exp<T, Traits::terms>(r);
    const Bits scale_bits = (static_cast<Bits>(n) + Traits::bias) << Traits::mantissa;
    return poly * std::bit_cast<T>(scale_bits);
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
