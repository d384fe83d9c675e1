/*
 * seg_loss.cu — the training loss, forward and backward in one call, on logits and target
 * [N,H,W,1]; the definitions are those of native/cpu/seg_loss.cpp:
 *   total = w_dice * dice + w_bce * bce + w_npd * npd, terms = {total, dice, bce, npd}
 *   bce  = mean of max(x,0) - x*t + log1p(exp(-|x|))
 *   dice = mean over n of 1 - (2*I_n + 1e-5) / (P_n + T_n + 1e-5), p = sigmoid(x)
 *   npd  = N * sum over k of mean(D_k^2), D1..D4 the horizontal, vertical and two diagonal
 *          differences at distance d (a term with no elements counts as 0).
 *
 * Three launches, no host synchronisation, terms written on the device:
 *  1. loss_sums_kernel: one pass over the pixels; each block sums a contiguous range of one
 *     sample's pixels (P, T, I, bce, the four npd sums anchored there) in double and reduces
 *     them in shared memory in a fixed tree order -> partial[n][part][8];
 *  2. loss_finalize_kernel (one thread): combines the parts in order and, through the formulas
 *     both backends share (seg_loss_dice_sample, seg_loss_terms in native/src/kernels.h),
 *     writes terms[4] and the gradient coefficients (per-sample dice a_n, b_n with
 *     d dice/dp = a_n t + b_n; the bce factor; the npd factors k1..k4);
 *  3. loss_grad_kernel (if dlogits): one thread per pixel, the CPU's per-pixel formula.
 * The split into parts depends only on the shape: results are the same from run to run.
 */
#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

constexpr int kLossThreads = 256;
constexpr int kSums = 8; /* p, t, pt, bce, npd1..npd4 */

__device__ __forceinline__ void sigmoid_parts(float x, float& e, float& p) {
    e = expf(-fabsf(x));
    const float inv = 1.0f / (1.0f + e);
    p = x >= 0.0f ? inv : e * inv;
}

__global__ void loss_sums_kernel(const float* logits, const float* target, int H, int W, int d,
                                 int parts, int64_t per_part, double* partial) {
    __shared__ double sh[kSums][kLossThreads];
    const int n = blockIdx.y, part = blockIdx.x, tid = threadIdx.x;
    const int64_t HW = (int64_t)H * W;
    const float* x = logits + (int64_t)n * HW;
    const float* t = target + (int64_t)n * HW;
    double acc[kSums] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int64_t begin = (int64_t)part * per_part;
    const int64_t end = min(HW, begin + per_part);
    for (int64_t i = begin + tid; i < end; i += kLossThreads) {
        const int h = (int)(i / W), w = (int)(i % W);
        const float xv = x[i], tv = t[i];
        float e, p;
        sigmoid_parts(xv, e, p);
        acc[0] += p;
        acc[1] += tv;
        acc[2] += (double)(p * tv);
        acc[3] += (double)((xv > 0.0f ? xv : 0.0f) - xv * tv + log1pf(e));
        if (w + d < W) {
            const double D1 = (double)x[i + d] - xv;
            acc[4] += D1 * D1;
        }
        if (h + d < H) {
            const float* xd = x + i + (int64_t)d * W; /* the pixel d rows below */
            const double D2 = (double)xd[0] - xv;
            acc[5] += D2 * D2;
            if (w + d < W) {
                const double D3 = (double)xd[d] - xv;
                const double D4 = (double)xd[0] - x[i + d];
                acc[6] += D3 * D3;
                acc[7] += D4 * D4;
            }
        }
    }
    for (int k = 0; k < kSums; k++) sh[k][tid] = acc[k];
    __syncthreads();
    for (int stride = kLossThreads / 2; stride > 0; stride /= 2) {
        if (tid < stride)
            for (int k = 0; k < kSums; k++) sh[k][tid] += sh[k][tid + stride];
        __syncthreads();
    }
    if (tid < kSums) partial[((int64_t)n * parts + part) * kSums + tid] = sh[tid][0];
}

/* coef layout: [0, N) dice a_n, [N, 2N) dice b_n, then c_bce, k1..k4 (seg_loss_terms' order) */
__global__ void loss_finalize_kernel(const double* partial, int N, int H, int W, int parts,
                                     LossWeights lw, float* terms, float* coef) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return; /* N is small: one thread, fixed order */
    double bce_sum = 0, npd_sum[4] = {0, 0, 0, 0}, dice_sum = 0;
    for (int n = 0; n < N; n++) {
        double p = 0, t = 0, pt = 0;
        for (int q = 0; q < parts; q++) {
            const double* s = partial + ((int64_t)n * parts + q) * kSums;
            p += s[0], t += s[1], pt += s[2], bce_sum += s[3];
            for (int k = 0; k < 4; k++) npd_sum[k] += s[4 + k];
        }
        const DiceSample sample = seg_loss_dice_sample(p, t, pt, N, lw);
        dice_sum += sample.loss;
        if (coef) {
            coef[n] = sample.a;
            coef[N + n] = sample.b;
        }
    }
    seg_loss_terms(N, H, W, lw, dice_sum, bce_sum, npd_sum, terms, coef ? coef + 2 * N : nullptr);
}

__global__ void loss_grad_kernel(const float* logits, const float* target, int N, int H, int W,
                                 int d, const float* coef, float* dlogits) {
    const int64_t HW = (int64_t)H * W;
    const float c_bce = coef[2 * N];
    const float k0 = coef[2 * N + 1], k1 = coef[2 * N + 2], k2 = coef[2 * N + 3],
                k3 = coef[2 * N + 4];
    ES_GRID_STRIDE(i, (int64_t)N * HW) {
        const int n = (int)(i / HW);
        const int64_t pix = i % HW;
        const int h = (int)(pix / W), w = (int)(pix % W);
        const float* x = logits + i - w; /* this image row */
        const float xv = x[w], tv = target[i];
        float e, p;
        sigmoid_parts(xv, e, p);
        const float inv = 1.0f / (1.0f + e);
        const float pq = e * inv * inv; /* p (1 - p) */
        float gr = c_bce * (p - tv) + (coef[n] * tv + coef[N + n]) * pq;
        /* D1 */
        if (w >= d) gr += k0 * (xv - x[w - d]);
        if (w + d < W) gr -= k0 * (x[w + d] - xv);
        if (h >= d) {
            const float* xu = x - (int64_t)d * W; /* row h - d */
            gr += k1 * (xv - xu[w]);                  /* D2 */
            if (w >= d) gr += k2 * (xv - xu[w - d]);  /* D3 */
            if (w + d < W) gr += k3 * (xv - xu[w + d]); /* D4 */
        }
        if (h + d < H) {
            const float* xd = x + (int64_t)d * W; /* row h + d */
            gr -= k1 * (xd[w] - xv);                  /* D2 */
            if (w + d < W) gr -= k2 * (xd[w + d] - xv); /* D3 */
            if (w >= d) gr -= k3 * (xd[w - d] - xv);  /* D4 */
        }
        dlogits[i] = gr;
    }
}

}  // namespace

void seg_loss(const Exec& ex, const LossGeom& g, const LossWeights& lw, const float* logits,
              const float* target, float* terms, float* dlogits) {
    State& s = state(ex);
    const int N = g.N, H = g.H, W = g.W, d = lw.npd_distance;
    const int64_t HW = (int64_t)H * W;
    /* about 4 blocks per SM-sized chunk of work: parts of >= 2048 pixels, <= 256 per sample */
    const int parts = (int)std::max<int64_t>(1, std::min<int64_t>(256, HW / 2048));
    const int64_t per_part = (HW + parts - 1) / parts;
    Scratch partial(s, (int64_t)N * parts * kSums * (int64_t)sizeof(double));
    Scratch coef(s, dlogits ? (2 * (int64_t)N + 5) * (int64_t)sizeof(float) : 0);
    loss_sums_kernel<<<dim3((unsigned)parts, (unsigned)N), kLossThreads, 0, s.stream>>>(
        logits, target, H, W, d, parts, per_part, partial.as<double>());
    check_launch("loss_sums_kernel");
    loss_finalize_kernel<<<1, 1, 0, s.stream>>>(partial.as<double>(), N, H, W, parts, lw, terms,
                                                dlogits ? coef.as<float>() : nullptr);
    check_launch("loss_finalize_kernel");
    if (!dlogits) return;
    loss_grad_kernel<<<grid_for((int64_t)N * HW), kThreads, 0, s.stream>>>(
        logits, target, N, H, W, d, coef.as<float>(), dlogits);
    check_launch("loss_grad_kernel");
}

}  // namespace es::cuda
