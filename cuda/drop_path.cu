/*
 * drop_path.cu — per-sample stochastic depth. Sample n is kept iff
 * es::drop_path_uniform(seed, n) >= rate (kernels.h: computed here on the host, so the mask
 * is the CPU backend's bit for bit); kept samples are scaled by 1/(1-rate), dropped ones are
 * written as zeros. The per-sample factors travel as a kernel argument (no host-to-device
 * copy, so no synchronisation), in chunks of kChunk samples. The ABI layer turns training=0
 * and rate=0 into a copy; here 0 < rate < 1.
 */
#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

constexpr int kChunk = 512; /* 2 KiB of kernel arguments */

struct Factors {
    float f[kChunk];
};

__global__ void drop_path_kernel(const float* in, float* out, int64_t per_sample, int samples,
                                 Factors factors) {
    ES_GRID_STRIDE(i, (int64_t)samples * per_sample) {
        const float f = factors.f[i / per_sample];
        /* a dropped sample is written as zeros, as on the CPU: in * 0 would be NaN for inf/NaN
         * inputs and -0 for negative ones */
        out[i] = f == 0.0f ? 0.0f : in[i] * f;
    }
}

void apply_mask(const Exec& ex, int N, int64_t per_sample, const float* in, float* out,
                float rate, uint64_t seed) {
    State& s = state(ex);
    const float keep_scale = 1.0f / (1.0f - rate);
    for (int first = 0; first < N; first += kChunk) {
        const int samples = std::min(kChunk, N - first);
        Factors factors{};
        for (int j = 0; j < samples; j++)
            factors.f[j] = drop_path_uniform(seed, (uint64_t)(first + j)) >= rate ? keep_scale : 0.0f;
        const int64_t offset = (int64_t)first * per_sample;
        drop_path_kernel<<<grid_for((int64_t)samples * per_sample), kThreads, 0, s.stream>>>(
            in + offset, out + offset, per_sample, samples, factors);
        check_launch("drop_path_kernel");
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

}  // namespace es::cuda
