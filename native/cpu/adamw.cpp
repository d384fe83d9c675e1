/*
 * adamw.cpp — one AdamW step over a flat block (params, grads, exp_avg, exp_avg_sq).
 *
 * PyTorch's torch.optim.AdamW on CPU (single-tensor path, amsgrad=False, maximize=False),
 * operation by operation, in the same float roundings:
 *   param.mul_(1 - lr*wd)                       p = p * f32(1 - lr*wd)        (if wd != 0)
 *   exp_avg.lerp_(grad, 1 - beta1)              m = fma(w, g - m, m)          (w = f32(1-beta1) < 0.5;
 *                                                   otherwise fma(w - 1, g - m, g), torch's lerp)
 *   exp_avg_sq.mul_(beta2)                      v = v * f32(beta2)
 *            .addcmul_(grad, grad, 1 - beta2)   v = v + (f32(1-beta2) * g) * g
 *   bias_correction{1,2} = 1 - beta{1,2}**step, step_size = lr / bc1, sqrt(bc2): in double
 *   denom = (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps)   denom = sqrt(v) / f32(sqrt(bc2)) + eps
 *   param.addcdiv_(exp_avg, denom, -step_size)  p = p + (f32(-step_size) * m) / denom
 * The scalars are computed in double from the float arguments (where PyTorch has Python
 * doubles), then rounded to float as PyTorch does when a scalar meets a float tensor.
 * Only the lerp is a fused multiply-add (ATen's vectorised lerp uses fmadd); every other
 * product must round on its own, so this file is compiled without FP contraction.
 */
#pragma GCC optimize("fp-contract=off")

#include <cmath>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

inline void update(const AdamWScalars& k, float& p, float g, float& m, float& v) {
    p = p * k.decay;
    m = std::fma(k.lerp_coeff, g - m, k.lerp_from_old ? m : g);
    v = v * k.beta2;
    v = v + (k.one_minus_beta2 * g) * g;
    const float denom = std::sqrt(v) / k.bc2_sqrt + k.eps;
    p = p + (k.neg_step_size * m) / denom;
}

}  // namespace

void adamw_step(const Exec& ex, const AdamW& o, float* params, const float* grads,
                float* exp_avg, float* exp_avg_sq, int64_t n) {
    const AdamWScalars k = adamw_scalars(o); /* the ABI layer checked step >= 1 */

    /* 8-float blocks in parallel (std::sqrt's errno path keeps the compiler from
     * vectorising the scalar loop, hence the intrinsics), the remainder scalar. */
    constexpr int64_t kBlock = 8;
    const int64_t blocks = n / kBlock;
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (n > 32768)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t i = b * kBlock;
#if defined(__AVX2__) && defined(__FMA__)
        const __m256 g = _mm256_loadu_ps(grads + i);
        const __m256 m0 = _mm256_loadu_ps(exp_avg + i);
        __m256 p = _mm256_mul_ps(_mm256_loadu_ps(params + i), _mm256_set1_ps(k.decay));
        const __m256 m = _mm256_fmadd_ps(_mm256_set1_ps(k.lerp_coeff), _mm256_sub_ps(g, m0),
                                         k.lerp_from_old ? m0 : g);
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(exp_avg_sq + i), _mm256_set1_ps(k.beta2));
        v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(k.one_minus_beta2), g), g));
        const __m256 denom = _mm256_add_ps(
            _mm256_div_ps(_mm256_sqrt_ps(v), _mm256_set1_ps(k.bc2_sqrt)), _mm256_set1_ps(k.eps));
        p = _mm256_add_ps(p, _mm256_div_ps(_mm256_mul_ps(_mm256_set1_ps(k.neg_step_size), m), denom));
        _mm256_storeu_ps(params + i, p);
        _mm256_storeu_ps(exp_avg + i, m);
        _mm256_storeu_ps(exp_avg_sq + i, v);
#else
        for (int64_t j = i; j < i + kBlock; j++)
            update(k, params[j], grads[j], exp_avg[j], exp_avg_sq[j]);
#endif
    }
    for (int64_t j = blocks * kBlock; j < n; j++)
        update(k, params[j], grads[j], exp_avg[j], exp_avg_sq[j]);
}

}  // namespace es::cpu::ES_CPU_ISA
