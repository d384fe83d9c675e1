/*
 * activation_math.cuh — the activations and their derivatives on the device, shared by
 * activation.cu and batchnorm.cu (the fused BN + activation), in the forms the CPU backend
 * uses (native/cpu/activation_math.h): exp is only ever taken of -|x|, 1 - sigmoid is formed
 * without cancellation, relu' = [x > 0]. CUDA's expf (not __expf; no fast math) is within
 * 2 ulp, so results agree with the CPU to a few ulp, not bit for bit.
 */
#ifndef EFFISEG_CUDA_ACTIVATION_MATH_CUH
#define EFFISEG_CUDA_ACTIVATION_MATH_CUH

#include <string>
#include <type_traits>

#include "common.cuh"

namespace es::cuda::act {

/* sigmoid(x) and 1 - sigmoid(x), both to full relative precision */
__device__ __forceinline__ void sigmoid_pair(float x, float& s, float& one_minus_s) {
    const float e = expf(-fabsf(x));
    const float inv = 1.0f / (1.0f + e);
    const bool positive = x >= 0.0f;
    s = (positive ? 1.0f : e) * inv;
    one_minus_s = (positive ? e : 1.0f) * inv;
}

template <int A>
__device__ __forceinline__ float apply(float x) {
    if constexpr (A == ES_ACT_RELU) {
        return x > 0.0f ? x : 0.0f;
    } else if constexpr (A == ES_ACT_SWISH || A == ES_ACT_SIGMOID) {
        float s, sc;
        sigmoid_pair(x, s, sc);
        return A == ES_ACT_SWISH ? x * s : s;
    } else {
        return x;
    }
}

/* dy * act'(x), x being the activation's input */
template <int A>
__device__ __forceinline__ float grad(float x, float dy) {
    if constexpr (A == ES_ACT_RELU) {
        return x > 0.0f ? dy : 0.0f;
    } else if constexpr (A == ES_ACT_SWISH) {
        float s, sc;
        sigmoid_pair(x, s, sc);
        return dy * (s * (1.0f + x * sc));
    } else if constexpr (A == ES_ACT_SIGMOID) {
        float s, sc;
        sigmoid_pair(x, s, sc);
        return dy * (s * sc);
    } else {
        return dy;
    }
}

/* f(std::integral_constant<int, A>{}) for the activation A: one kernel instance each. */
template <class F>
void dispatch(int activation, F&& f) {
    switch (activation) {
        case ES_ACT_NONE: f(std::integral_constant<int, ES_ACT_NONE>{}); break;
        case ES_ACT_RELU: f(std::integral_constant<int, ES_ACT_RELU>{}); break;
        case ES_ACT_SWISH: f(std::integral_constant<int, ES_ACT_SWISH>{}); break;
        case ES_ACT_SIGMOID: f(std::integral_constant<int, ES_ACT_SIGMOID>{}); break;
        default: fail(ES_ERR_INVALID_ARGUMENT, "unknown activation " + std::to_string(activation));
    }
}

}  // namespace es::cuda::act

#endif
