/*
 * seg_loss.cpp — the training loss, forward and backward in one call, on logits and
 * target [N,H,W,1] (a map per sample; NHWC with C=1 is the same memory as NCHW).
 *
 *   total = w_dice * dice + w_bce * bce + w_npd * npd, terms = {total, dice, bce, npd}
 *
 *   bce  = mean over N*H*W of max(x,0) - x*t + log1p(exp(-|x|))   (BCE-with-logits)
 *   dice = mean over n of 1 - (2*I_n + 1e-5) / (P_n + T_n + 1e-5) with p = sigmoid(x),
 *          I_n = sum p*t, P_n = sum p, T_n = sum t over sample n
 *          (MONAI DiceLoss(sigmoid=True, batch=False, smooth_nr=smooth_dr=1e-5), C = 1)
 *   npd  = N * (mean(D1^2) + mean(D2^2) + mean(D3^2) + mean(D4^2)), d = npd_distance:
 *          D1 = x[h, w+d] - x[h, w]      over N*H*(W-d)    (x[..., d:] - x[..., :-d])
 *          D2 = x[h+d, w] - x[h, w]      over N*(H-d)*W
 *          D3 = x[h+d, w+d] - x[h, w]    over N*(H-d)*(W-d)
 *          D4 = x[h+d, w] - x[h, w+d]    over N*(H-d)*(W-d)  (x[:,:,d:,:-d] - x[:,:,:-d,d:])
 *          A term with no elements (H <= d or W <= d) counts as 0 (PyTorch would give NaN).
 *
 * Pass 1 (parallel over image rows) computes per-row sums in double into a row table;
 * they are combined in row order, so the result is independent of the thread count, and
 * turned into terms by the formulas the CUDA backend shares (seg_loss_dice_sample,
 * seg_loss_terms in native/src/kernels.h). It
 * leaves e = exp(-|x|) in dlogits for pass 2, which writes d total / d logits:
 *   bce:  w_bce * (p - t) / (N*H*W)
 *   dice: w_dice / N * (-2t / (P_n+T_n+s) + (2I_n+s) / (P_n+T_n+s)^2) * p(1-p)
 *   npd:  w_npd * N * 2/M_k * (D_k where x is the minuend - D_k where x is the subtrahend),
 *         gathered per pixel so each thread owns its rows (no atomics).
 * p and p(1-p) come from e without cancellation: p = 1/(1+e) or e/(1+e), p(1-p) = e/(1+e)^2.
 *
 * Speed: the per-pixel work (exp, log1p, sigmoid) is plain arithmetic (Cephes polynomials:
 * exp from activation_math.h, log1p below), so the row loops vectorise; GCC only if-converts the selects in them when it may
 * ignore floating-point traps, which nothing here relies on. The pragma must stay above
 * every #include, and the loops call only builtins and this file's own functions: GCC does
 * not inline a function compiled with other optimisation flags (a std::max instantiated
 * before the pragma would become an out-of-line call and block vectorisation).
 */
#pragma GCC optimize("no-trapping-math")

#include <algorithm>
#include <cmath>
#include <vector>

#include "activation_math.h"
#include "cpu_kernels.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

struct RowSums {
    double p, t, pt, bce; /* sigmoid, target, their product, BCE terms */
    double npd[4];        /* sums of squared differences anchored at this row */
};

/* log1p(e) for e in [0, 1] (Cephes logf polynomial on f in [sqrt(.5)-1, sqrt(2)-1], ~1 ulp):
 * small e is used as f directly, so log1p(e) ~ e keeps full relative precision. */
inline float log1p_unit(float e) {
    const bool big = e > 0.41421356f;
    const float f_big = (1.0f + e) * 0.5f - 1.0f; /* computed always: selects vectorise */
    const float f = big ? f_big : e;
    const float k = big ? 1.0f : 0.0f;
    const float z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += k * -2.12194440e-4f;
    y -= 0.5f * z;
    return (f + y) + k * 0.693359375f;
}

/* Sums of one image row; xd is the row d below (null if there is none). e = exp(-|x|)
 * goes to e_out [W] (the gradient pass reuses it). */
RowSums row_sums(const float* x, const float* t, const float* xd, int W, int d, float* e_out) {
    RowSums s{};
    double sp = 0, st = 0, spt = 0, sb = 0;
#pragma omp simd reduction(+ : sp, st, spt, sb)
    for (int w = 0; w < W; w++) {
        const float xv = x[w], tv = t[w];
        const float e = act::exp_nonpositive(-__builtin_fabsf(xv));
        const float inv = 1.0f / (1.0f + e);
        const float e_inv = e * inv;
        const float p = xv >= 0.0f ? inv : e_inv;
        sp += p;
        st += tv;
        spt += (double)(p * tv);
        sb += (double)((xv > 0.0f ? xv : 0.0f) - xv * tv + log1p_unit(e));
        e_out[w] = e;
    }
    s.p = sp, s.t = st, s.pt = spt, s.bce = sb;
    double n0 = 0, n1 = 0, n2 = 0, n3 = 0;
#pragma omp simd reduction(+ : n0)
    for (int w = 0; w < W - d; w++) {
        const double D = x[w + d] - x[w];
        n0 += D * D;
    }
    if (xd) {
#pragma omp simd reduction(+ : n1)
        for (int w = 0; w < W; w++) {
            const double D = xd[w] - x[w];
            n1 += D * D;
        }
#pragma omp simd reduction(+ : n2, n3)
        for (int w = 0; w < W - d; w++) {
            const double D3 = xd[w + d] - x[w];
            const double D4 = xd[w] - x[w + d];
            n2 += D3 * D3;
            n3 += D4 * D4;
        }
    }
    s.npd[0] = n0, s.npd[1] = n1, s.npd[2] = n2, s.npd[3] = n3;
    return s;
}

}  // namespace

void seg_loss(const Exec& ex, const LossGeom& g, const LossWeights& lw, const float* logits,
              const float* target, float* terms, float* dlogits) {
    const int N = g.N, H = g.H, W = g.W, d = lw.npd_distance;
    const int64_t rows = (int64_t)N * H;

    /* ---- pass 1: per-row sums ---- */
    std::vector<RowSums> row((size_t)rows);
#pragma omp parallel num_threads(ex.threads)
    {
        std::vector<float> scratch(dlogits ? 0 : (size_t)W);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const int h = (int)(r % H);
            const float* x = logits + r * W;
            row[(size_t)r] = row_sums(x, target + r * W, h + d < H ? x + (int64_t)d * W : nullptr,
                                      W, d, dlogits ? dlogits + r * W : scratch.data());
        }
    }

    /* ---- combine in row order ---- */
    std::vector<float> dice_a((size_t)N), dice_b((size_t)N); /* d dice/dp = a*t + b */
    double bce_sum = 0, npd_sum[4] = {0, 0, 0, 0}, dice_sum = 0;
    for (int n = 0; n < N; n++) {
        double p = 0, t = 0, pt = 0;
        for (int h = 0; h < H; h++) {
            const RowSums& s = row[(size_t)n * H + h];
            p += s.p, t += s.t, pt += s.pt, bce_sum += s.bce;
            for (int k = 0; k < 4; k++) npd_sum[k] += s.npd[k];
        }
        const DiceSample sample = seg_loss_dice_sample(p, t, pt, N, lw);
        dice_sum += sample.loss;
        dice_a[(size_t)n] = sample.a;
        dice_b[(size_t)n] = sample.b;
    }
    float coef[5]; /* c_bce, k1..k4 */
    seg_loss_terms(N, H, W, lw, dice_sum, bce_sum, npd_sum, terms, coef);
    if (!dlogits) return;

    /* ---- pass 2: gradient ---- */
    const float c_bce = coef[0];
    const float* k = coef + 1;
    const bool with_npd = k[0] != 0 || k[1] != 0 || k[2] != 0 || k[3] != 0;

#pragma omp parallel for num_threads(ex.threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int n = (int)(r / H), h = (int)(r % H);
        const float* x = logits + r * W;
        const float* t = target + r * W;
        float* gr = dlogits + r * W;
        const float a = dice_a[(size_t)n], b = dice_b[(size_t)n];
        for (int w = 0; w < W; w++) {
            const float e = gr[w], xv = x[w], tv = t[w];
            const float inv = 1.0f / (1.0f + e);
            const float p = xv >= 0.0f ? inv : e * inv;
            const float pq = e * inv * inv;
            gr[w] = c_bce * (p - tv) + (a * tv + b) * pq;
        }
        if (!with_npd) continue;
        const float* xu = h >= d ? x - (int64_t)d * W : nullptr; /* row h-d */
        const float* xd = h + d < H ? x + (int64_t)d * W : nullptr; /* row h+d */
        /* D1 */
        for (int w = d; w < W; w++) gr[w] += k[0] * (x[w] - x[w - d]);
        for (int w = 0; w + d < W; w++) gr[w] -= k[0] * (x[w + d] - x[w]);
        if (xu) {
            for (int w = 0; w < W; w++) gr[w] += k[1] * (x[w] - xu[w]);          /* D2 */
            for (int w = d; w < W; w++) gr[w] += k[2] * (x[w] - xu[w - d]);      /* D3 */
            for (int w = 0; w + d < W; w++) gr[w] += k[3] * (x[w] - xu[w + d]);  /* D4 */
        }
        if (xd) {
            for (int w = 0; w < W; w++) gr[w] -= k[1] * (xd[w] - x[w]);          /* D2 */
            for (int w = 0; w + d < W; w++) gr[w] -= k[2] * (xd[w + d] - x[w]);  /* D3 */
            for (int w = d; w < W; w++) gr[w] -= k[3] * (xd[w - d] - x[w]);      /* D4 */
        }
    }
}

}  // namespace es::cpu::ES_CPU_ISA
