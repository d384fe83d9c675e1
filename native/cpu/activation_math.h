/*
 * activation_math.h — scalar activation functions written so that GCC/Clang auto-vectorise
 * the loops that call them (no libm calls, no branches: selects only). Shared by
 * activation.cpp and batchnorm.cpp (the fused BN+activation), so both paths give
 * bit-identical results.
 *
 * exp is the Cephes single-precision algorithm (range reduction by ln 2 split in two
 * parts, degree-6 polynomial, 2^n built from the exponent bits): about 1 ulp over the range
 * used here, close to what PyTorch's vectorised (Sleef) exp gives.
 */
#ifndef EFFISEG_CPU_ACTIVATION_MATH_H
#define EFFISEG_CPU_ACTIVATION_MATH_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "effiseg/effiseg.h"
#include "error.h"

namespace es::cpu::ES_CPU_ISA::act {

/* exp(x) for x <= 0; 0 below -87 (exp(-87) = 1.6e-38 is near FLT_MIN), so that x * sigmoid(x)
 * goes to 0, not to x * 1e-38, for huge negative x. Files that loop over these functions
 * compile with -fno-trapping-math (a pragma at their top): GCC threads the clamp and the
 * zeroing into a branch and, with trapping math, would not vectorise it. */
inline float exp_nonpositive(float x) {
    const float xc = x < -87.0f ? -87.0f : x;
    /* n = round(x / ln 2) via the 1.5 * 2^23 trick (exact for |t| < 2^22) */
    const float t = xc * 1.44269504088896341f + 12582912.0f;
    const float n = t - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23; /* n in [-126, 0]: a normal power of two */
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : p * scale;
}

/* 1 / (1 + exp(-x)), safe for any x: exp is only ever taken of -|x|. */
inline float sigmoid(float x) {
    const float e = exp_nonpositive(-std::fabs(x));
    const float num = x >= 0.0f ? 1.0f : e;
    return num / (1.0f + e);
}

inline float relu(float x) { return x > 0.0f ? x : 0.0f; }

inline float swish(float x) { return x * sigmoid(x); }

/* act(x) for a compile-time activation (the kernels branch once, outside their loops). */
template <int A>
inline float apply(float x) {
    if constexpr (A == ES_ACT_RELU) return relu(x);
    else if constexpr (A == ES_ACT_SWISH) return swish(x);
    else if constexpr (A == ES_ACT_SIGMOID) return sigmoid(x);
    else return x;
}

/* sigmoid(x) and 1 - sigmoid(x), both to full relative precision (1 - s computed from s would
 * lose all digits once s rounds to 1, at x > ~17). */
inline void sigmoid_and_complement(float x, float& s, float& one_minus_s) {
    const float e = exp_nonpositive(-std::fabs(x));
    const float inv = 1.0f / (1.0f + e);
    const bool positive = x >= 0.0f;
    s = (positive ? 1.0f : e) * inv;
    one_minus_s = (positive ? e : 1.0f) * inv;
}

/* dy * act'(x), written in terms of the activation's input x (what the backward kernels
 * keep): relu' = [x > 0] (PyTorch's threshold_backward), swish' = s * (1 + x * (1 - s)),
 * sigmoid' = s * (1 - s). */
template <int A>
inline float grad(float x, float dy) {
    if constexpr (A == ES_ACT_RELU) {
        return x > 0.0f ? dy : 0.0f;
    } else if constexpr (A == ES_ACT_SWISH) {
        float s, sc;
        sigmoid_and_complement(x, s, sc);
        return dy * (s * (1.0f + x * sc));
    } else if constexpr (A == ES_ACT_SIGMOID) {
        float s, sc;
        sigmoid_and_complement(x, s, sc);
        return dy * (s * sc);
    } else {
        return dy;
    }
}

/* Calls f(std::integral_constant<int, A>{}) for the activation A, so each kernel body is
 * compiled once per activation with no branch in its inner loop. */
template <class F>
inline void dispatch(int activation, F&& f) {
    switch (activation) {
        case ES_ACT_NONE: f(std::integral_constant<int, ES_ACT_NONE>{}); break;
        case ES_ACT_RELU: f(std::integral_constant<int, ES_ACT_RELU>{}); break;
        case ES_ACT_SWISH: f(std::integral_constant<int, ES_ACT_SWISH>{}); break;
        case ES_ACT_SIGMOID: f(std::integral_constant<int, ES_ACT_SIGMOID>{}); break;
        default:
            throw Error(ES_ERR_INVALID_ARGUMENT, "unknown activation " + std::to_string(activation));
    }
}

}  // namespace es::cpu::ES_CPU_ISA::act

#endif
