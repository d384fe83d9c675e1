/*
 * adamw.cu — one AdamW step over a flat block (params, grads, exp_avg, exp_avg_sq), the
 * update of native/cpu/adamw.cpp (torch.optim.AdamW's single-tensor path, op by op):
 *   p = p * f32(1 - lr*wd);  m = fma(w, g - m, m) (torch's lerp: base g and w - 1 when w >= .5)
 *   v = v * beta2 + (f32(1-beta2) * g) * g;  denom = sqrt(v) / f32(sqrt(bc2)) + eps
 *   p = p + (f32(-lr/bc1) * m) / denom
 * The scalars are computed on the host in double exactly as on the CPU; on the device every
 * product and sum is rounded on its own (__fmul_rn/__fadd_rn/__fdiv_rn, no contraction into
 * FMAs) except the lerp's explicit fmaf, and sqrtf is IEEE-rounded (no fast math), so the
 * result should equal the CPU backend's bit for bit (to be confirmed on a GPU).
 */
#include <cmath>

#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

__global__ void adamw_kernel(AdamWScalars k, float* params, const float* grads, float* exp_avg,
                             float* exp_avg_sq, int64_t n) {
    ES_GRID_STRIDE(i, n) {
        const float g = grads[i];
        float p = __fmul_rn(params[i], k.decay);
        float m = exp_avg[i];
        m = fmaf(k.lerp_coeff, __fsub_rn(g, m), k.lerp_from_old ? m : g);
        float v = __fmul_rn(exp_avg_sq[i], k.beta2);
        v = __fadd_rn(v, __fmul_rn(__fmul_rn(k.one_minus_beta2, g), g));
        const float denom = __fadd_rn(__fdiv_rn(sqrtf(v), k.bc2_sqrt), k.eps);
        p = __fadd_rn(p, __fdiv_rn(__fmul_rn(k.neg_step_size, m), denom));
        params[i] = p;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
    }
}

}  // namespace

void adamw_step(const Exec& ex, const AdamW& o, float* params, const float* grads, float* exp_avg,
                float* exp_avg_sq, int64_t n) {
    State& s = state(ex);
    const AdamWScalars k = adamw_scalars(o); /* the ABI layer checked step >= 1 */
    adamw_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(k, params, grads, exp_avg, exp_avg_sq, n);
    check_launch("adamw_kernel");
}

}  // namespace es::cuda
