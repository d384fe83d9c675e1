/*
 * drop_path.cpp — per-sample stochastic depth (drop-connect), forward and backward.
 * Sample n is kept iff es::drop_path_uniform(seed, n) >= rate (kernels.h: the same numbers on
 * every backend); kept samples are scaled by 1/(1-rate) (timm's x * (mask / keep_prob)),
 * dropped samples are written as zeros. The backward applies the same mask and scale to dy.
 * The ABI layer turns training=0 and rate=0 into a plain copy; here 0 < rate < 1.
 */
#include <vector>

#include "cpu_kernels.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* out[n, i] = in[n, i] * factor[n], with factor = 1/(1-rate) or 0 per the mask. */
void apply_mask(const Exec& ex, int N, int64_t per_sample, const float* in, float* out,
                float rate, uint64_t seed) {
    const float keep_scale = 1.0f / (1.0f - rate);
    std::vector<float> factor(N);
    for (int n = 0; n < N; n++)
        factor[n] = drop_path_uniform(seed, (uint64_t)n) >= rate ? keep_scale : 0.0f;

    const bool parallel = (int64_t)N * per_sample > 65536;
#pragma omp parallel num_threads(ex.threads) if (parallel)
    for (int n = 0; n < N; n++) {
        const float f = factor[n];
        const float* src = in + (int64_t)n * per_sample;
        float* dst = out + (int64_t)n * per_sample;
        if (f == 0.0f) {
#pragma omp for simd schedule(static) nowait
            for (int64_t i = 0; i < per_sample; i++) dst[i] = 0.0f;
        } else {
#pragma omp for simd schedule(static) nowait
            for (int64_t i = 0; i < per_sample; i++) dst[i] = src[i] * f;
        }
    }
}

}  // namespace

void drop_path_forward(const Exec& ex, int N, int64_t per_sample, const float* x, float* y,
                       float rate, uint64_t seed) {
    apply_mask(ex, N, per_sample, x, y, rate, seed);
}

void drop_path_backward(const Exec& ex, int N, int64_t per_sample, const float* dy, float* dx,
                        float rate, uint64_t seed) {
    apply_mask(ex, N, per_sample, dy, dx, rate, seed);
}

}  // namespace es::cpu::ES_CPU_ISA
