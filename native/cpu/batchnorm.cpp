/*
 * batchnorm.cpp — batch norm over NHWC rows (rows = N*H*W, C channels), optionally fused with
 * an activation applied after it: y = act(gamma * (x - mean) * invstd + beta).
 *
 * Memory-bound, so the passes over the tensors are what matters:
 *  - forward, training: one pass for the statistics, one to normalise + activate;
 *  - forward, eval: one pass;
 *  - with pooling (es_batchnorm_forward_pooled), the normalising pass also sums y per sample
 *    and channel, as global average pooling would in a pass of its own;
 *  - backward, training: one pass computing gr = dy * act'(pre) (pre is recomputed from x and
 *    the saved statistics, gr is parked in dx) together with the channel sums of gr and
 *    gr * (x - mean), and one pass finishing dx in place; eval: one pass. A gated dy
 *    (dy * s + alpha * t per image and channel, BnGate) is formed in the first pass as dy is
 *    read, so the squeeze-excite input's gradient is never written out. The deferred backward
 *    (es_batchnorm_backward_deferred) stops before the second pass and hands gr and the
 *    coefficients of dx to the pointwise convolution before the batch norm, which forms dx a
 *    block of rows at a time as its dy (conv2d_pointwise.cpp, conv2d_gemm.cpp).
 * Rows are processed in fixed blocks (row_blocks.h): channel sums in float chunks added into
 * per-block double accumulators, combined in block order, so results do not depend on the
 * thread count. The statistics are taken of x - x[0,c], which keeps E[x^2] - E[x]^2 free of
 * cancellation when |mean| >> std.
 */
/* The activation math selects between values (clamp, sign); with GCC's default
 * -ftrapping-math it may not compute both arms of a select up front, so the loops would stay
 * scalar. Speculating float arithmetic changes no result. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "activation_math.h"
#include "cpu_kernels.h"
#include "row_blocks.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* Training-mode statistics: mean and biased variance per channel, in double. */
void batch_statistics(const Exec& ex, const BnGeom& g, const float* x, std::vector<double>& mean,
                      std::vector<double>& var) {
    const int C = g.C;
    const RowBlocks blocks = row_blocks(g.rows, C);
    UnitSums sums(blocks.count(), 2, C);
    const float* shift = x; /* the first row */

    for_each_block(ex, blocks, [&](int64_t begin, int64_t end) {
        const int64_t b = begin / blocks.per_block;
        double* dst[2] = {sums.at(b, 0), sums.at(b, 1)};
        sum_rows<2>(C, begin, end, dst, [&](int64_t r, int c0, auto width, auto& acc) {
            const float* xr = x + r * C + c0;
            const float* sh = shift + c0;
#pragma omp simd
            for (int j = 0; j < width; j++) {
                const float d = xr[j] - sh[j];
                acc[0][j] += d;
                acc[1][j] += d * d;
            }
        });
    });

    std::vector<double> s(C), q(C);
    sums.combine(0, blocks.count(), 0, s.data());
    sums.combine(0, blocks.count(), 1, q.data());
    const double n = (double)g.rows;
    mean.resize(C);
    var.resize(C);
    for (int c = 0; c < C; c++) {
        const double m = s[c] / n;
        mean[c] = (double)shift[c] + m;
        var[c] = std::max(q[c] / n - m * m, 0.0);
    }
}

/* Per-channel scale = gamma * invstd (gamma may be null): the normalised value is
 * (x - mean) * scale + beta, in forward and (recomputed) in backward alike. Subtracting the
 * mean first (rather than folding it into one bias) keeps full precision when |mean| >> std. */
std::vector<float> fold_scale(int C, const float* gamma, const float* invstd) {
    std::vector<float> scale(C);
    for (int c = 0; c < C; c++) scale[c] = (gamma ? gamma[c] : 1.0f) * invstd[c];
    return scale;
}

std::vector<float> beta_or_zero(int C, const float* beta) {
    return beta ? std::vector<float>(beta, beta + C) : std::vector<float>(C, 0.0f);
}

/* Rows [r0, r1) of y = act((x - mean) * scale + beta), row after row (y may be x). */
template <int A>
inline void normalize_rows(int C, const float* x, const float* mean, const float* scale,
                           const float* beta, int64_t r0, int64_t r1, float* y) {
    for (int64_t r = r0; r < r1; r++) {
        const float* xr = x + r * C;
        float* yr = y + r * C;
#pragma omp simd
        for (int c = 0; c < C; c++) yr[c] = act::apply<A>((xr[c] - mean[c]) * scale[c] + beta[c]);
    }
}

/* y = act((x - mean) * scale + beta) over all rows (y may be x). */
template <int A>
void normalize_activate(const Exec& ex, const BnGeom& g, const float* x, const float* mean,
                        const float* scale, const float* beta, float* y) {
    const int C = g.C;
    const bool runs = runs_of_rows(C);
    const int per_run = runs ? kRun / C : 0;
    for_each_block(ex, row_blocks(g.rows, C), [&](int64_t begin, int64_t end) {
        int64_t r = begin;
        if (runs) {
            /* the coefficients repeated along a run, in local arrays: held in registers over
             * the loop (row_blocks.h, kRun) */
            float m[kRun], sc[kRun], b[kRun];
            tile_run(mean, C, m);
            tile_run(scale, C, sc);
            tile_run(beta, C, b);
            for (; r + per_run <= end; r += per_run) {
                const float* xr = x + r * C;
                float* yr = y + r * C;
#pragma omp simd
                for (int j = 0; j < kRun; j++)
                    yr[j] = act::apply<A>((xr[j] - m[j]) * sc[j] + b[j]);
            }
        }
        normalize_rows<A>(C, x, mean, scale, beta, r, end, y);
    });
}

/* Up to this many channels, normalize_activate_pooled writes a chunk of rows row after row and
 * then sums it from y (a chunk of 64 rows up to 64 KiB). Made slice by slice, each row was read
 * and written a few lines at a time: from memory 1.26x the time of the same pass without
 * pooling on 8x56x56x144; chunk first 0.84x the slice-by-slice time there, 0.94x and 0.96x on
 * 8x28x28x144 and x240 (effiseg_lib_ab bn-pooled, cold). Wider rows (8x7x7x1152) took 1.05x:
 * their chunk no longer stays near the core. */
constexpr int kChunkFirstMaxC = 256;

/* normalize_activate that also writes pooled[n, c], y's mean over each sample's HW rows, summed
 * as global_avg_pool_forward sums (row_blocks.h's sum_over_samples): the same bits. */
template <int A>
void normalize_activate_pooled(const Exec& ex, const BnGeom& g, int64_t HW, const float* x,
                               const float* mean, const float* scale, const float* beta, float* y,
                               float* pooled) {
    const int C = g.C;
    const int N = (int)(g.rows / HW);
    std::vector<double> total;
    if (C > kSliceLanes && C <= kChunkFirstMaxC) {
        /* rows wider than a register slice: each chunk of rows normalised row after row, then
         * summed slice by slice from y while the chunk is in L1/L2 (the same values added in
         * the same order, so the same bits) */
        sum_over_samples(
            ex, N, HW, C, total,
            [&](int n, int64_t r, int c0, auto width, float* acc) {
                const float* yr = y + ((int64_t)n * HW + r) * C + c0;
#pragma omp simd
                for (int j = 0; j < width; j++) acc[j] += yr[j];
            },
            [&](int n, int64_t r0, int64_t r1) {
                const int64_t first = (int64_t)n * HW; /* sample n's rows */
                normalize_rows<A>(C, x, mean, scale, beta, first + r0, first + r1, y);
            });
    } else {
        sum_over_samples(
            ex, N, HW, C, total, [&](int n, int64_t r, int c0, auto width, float* acc) {
                const int64_t o = ((int64_t)n * HW + r) * C + c0;
                const float* xr = x + o;
                float* yr = y + o;
                const float *m = mean + c0, *sc = scale + c0, *b = beta + c0;
#pragma omp simd
                for (int j = 0; j < width; j++) {
                    const float v = act::apply<A>((xr[j] - m[j]) * sc[j] + b[j]);
                    yr[j] = v;
                    acc[j] += v;
                }
            });
    }
    for (int64_t i = 0; i < (int64_t)N * C; i++) pooled[i] = (float)(total[i] / (double)HW);
}

}  // namespace

void batchnorm_forward(const Exec& ex, const BnGeom& g, const float* x, const float* gamma,
                       const float* beta, float* running_mean, float* running_var, float* y,
                       float* save_mean, float* save_invstd, int training, float momentum,
                       float eps, int activation, float* pooled, int64_t rows_per_image) {
    const int C = g.C;
    std::vector<float> mean(C), invstd(C);
    if (training) {
        std::vector<double> bmean, bvar;
        batch_statistics(ex, g, x, bmean, bvar);
        const double n = (double)g.rows * (double)g.repeats; /* values the statistics stand for */
        const double m = momentum;
        for (int c = 0; c < C; c++) {
            mean[c] = (float)bmean[c];
            invstd[c] = (float)(1.0 / std::sqrt(bvar[c] + (double)eps));
            running_mean[c] = (float)((1.0 - m) * running_mean[c] + m * bmean[c]);
            running_var[c] = (float)((1.0 - m) * running_var[c] + m * bvar[c] * n / (n - 1.0));
        }
    } else {
        for (int c = 0; c < C; c++) {
            mean[c] = running_mean[c];
            invstd[c] = (float)(1.0 / std::sqrt((double)running_var[c] + (double)eps));
        }
    }
    if (save_mean) std::copy(mean.begin(), mean.end(), save_mean);
    if (save_invstd) std::copy(invstd.begin(), invstd.end(), save_invstd);

    const std::vector<float> scale = fold_scale(C, gamma, invstd.data());
    const std::vector<float> shift = beta_or_zero(C, beta);
    act::dispatch(activation, [&](auto a) {
        constexpr int A = decltype(a)::value;
        if (pooled)
            normalize_activate_pooled<A>(ex, g, rows_per_image, x, mean.data(), scale.data(),
                                         shift.data(), y, pooled);
        else
            normalize_activate<A>(ex, g, x, mean.data(), scale.data(), shift.data(), y);
    });
}

namespace {

/* What the first backward pass does with gr = dy * act'(pre) besides summing it. */
enum class GradOut {
    None,   /* nothing (only dgamma/dbeta wanted) */
    Park,   /* out = gr (training: finished by finish_dx) */
    Finish, /* out = gr * dscale (eval: dx = gamma * invstd * gr) */
};

/* The gate of a gated dy: s and alpha * t, [N, C], and the image of a row. Rows come in
 * ascending runs, so the image is recomputed (a division) only when a row leaves the last
 * one's image. */
struct RowGate {
    const float* s;
    const float* at;
    int64_t rows_per_image, first = 0, end = 0, image = 0;
    int64_t image_of(int64_t r) {
        if (r < first || r >= end) {
            image = r / rows_per_image;
            first = image * rows_per_image;
            end = first + rows_per_image;
        }
        return image;
    }
};

/* One pass: gr = dy * act'((x - mean) * scale + beta) per element and, per channel,
 * sum1 = sum(gr), sum2 = sum(gr * (x - mean)). out may alias dy. With input_relu, Finish
 * writes 0 where x <= 0 (x is a ReLU's output: the ReLU's gradient). GATED: dy is taken as
 * dy * s + alpha * t of the row's image (gate). */
template <int A, GradOut OUT, bool GATED>
void backward_sums(const Exec& ex, const BnGeom& g, const float* x, const float* dy,
                   const RowGate& gate, const float* mean, const float* scale, const float* beta,
                   const float* dscale, bool input_relu, float* out, std::vector<double>& sum1,
                   std::vector<double>& sum2) {
    const int C = g.C;
    const RowBlocks blocks = row_blocks(g.rows, C);
    UnitSums sums(blocks.count(), 2, C);

    /* The block's pass with the per-channel coefficients at mean, scale, beta, dscale. */
    auto block = [&](int64_t begin, int64_t end, const float* mean, const float* scale,
                     const float* beta, const float* dscale) {
        const int64_t b = begin / blocks.per_block;
        double* dst[2] = {sums.at(b, 0), sums.at(b, 1)};
        RowGate rg = gate;
        constexpr bool kWrites = OUT != GradOut::None; /* front to back (sum_rows) */
        sum_rows<2, kWrites>(C, begin, end, dst, [&](int64_t r, int c0, auto width, auto& acc) {
            const int64_t o = r * C + c0;
            const float* xr = x + o;
            const float* dyr = dy + o;
            float* outr = OUT == GradOut::None ? nullptr : out + o;
            const float *m = mean + c0, *sc = scale + c0, *b = beta + c0;
            const float *gs = nullptr, *gt = nullptr;
            if constexpr (GATED) {
                const int64_t n = rg.image_of(r);
                gs = rg.s + n * C + c0;
                gt = rg.at + n * C + c0;
            }
#pragma omp simd
            for (int j = 0; j < width; j++) {
                const float xc = xr[j] - m[j];
                float d = dyr[j];
                if constexpr (GATED) d = d * gs[j] + gt[j];
                const float gr = act::grad<A>(xc * sc[j] + b[j], d);
                if constexpr (OUT == GradOut::Park) outr[j] = gr;
                if constexpr (OUT == GradOut::Finish)
                    outr[j] = !input_relu || xr[j] > 0.0f ? gr * dscale[c0 + j] : 0.0f;
                acc[0][j] += gr;
                acc[1][j] += gr * xc;
            }
        });
    };
    for_each_block(ex, blocks, [&](int64_t begin, int64_t end) {
        if (C <= kRun) {
            /* few channels (rows of 16 or 32 over the decoder's maps): the coefficients in
             * local arrays, which the written rows cannot alias, so they stay in registers
             * instead of being loaded again with every row */
            float m[kRun], sc[kRun], b[kRun], ds[kRun];
            std::copy(mean, mean + C, m);
            std::copy(scale, scale + C, sc);
            std::copy(beta, beta + C, b);
            if (dscale) std::copy(dscale, dscale + C, ds);
            block(begin, end, m, sc, b, dscale ? ds : nullptr);
        } else {
            block(begin, end, mean, scale, beta, dscale);
        }
    });
    sum1.resize(C);
    sum2.resize(C);
    sums.combine(0, blocks.count(), 0, sum1.data());
    sums.combine(0, blocks.count(), 1, sum2.data());
}

/* dx = ka * gr + kb * (x - mean) + kc: the training-mode dx with the sums folded in
 * (gr may be dx itself); with input_relu, 0 where x <= 0. */
void finish_dx(const Exec& ex, const BnGeom& g, const float* x, const float* gr,
               const float* mean, const float* ka, const float* kb, const float* kc,
               bool input_relu, float* dx) {
    const int C = g.C;
    const bool runs = runs_of_rows(C);
    const int per_run = runs ? kRun / C : 0;
    for_each_block(ex, row_blocks(g.rows, C), [&](int64_t begin, int64_t end) {
        int64_t r = begin;
        if (runs) {
            /* the coefficients repeated along a run, in local arrays: held in registers over
             * the loop (row_blocks.h, kRun) */
            float m[kRun], a[kRun], b[kRun], k[kRun];
            tile_run(mean, C, m);
            tile_run(ka, C, a);
            tile_run(kb, C, b);
            tile_run(kc, C, k);
            for (; r + per_run <= end; r += per_run) {
                const float* xr = x + r * C;
                const float* grr = gr + r * C;
                float* dxr = dx + r * C;
#pragma omp simd
                for (int j = 0; j < kRun; j++) {
                    const float d = a[j] * grr[j] + b[j] * (xr[j] - m[j]) + k[j];
                    dxr[j] = !input_relu || xr[j] > 0.0f ? d : 0.0f;
                }
            }
        }
        for (; r < end; r++) {
            const float* xr = x + r * C;
            const float* grr = gr + r * C;
            float* dxr = dx + r * C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                const float d = ka[c] * grr[c] + kb[c] * (xr[c] - mean[c]) + kc[c];
                dxr[c] = !input_relu || xr[c] > 0.0f ? d : 0.0f;
            }
        }
    });
}

/* The training-mode dx = ka * gr + kb * (x - mean) + kc per channel, k = [ka | kb | kc]: dx =
 * gamma*invstd/n * (n*gr - sum(gr) - xhat*sum(gr*xhat)), xhat = (x - mean)*invstd, and
 * sum(gr*xhat) = invstd * sum2. */
void training_dx_coefficients(const BnGeom& g, const float* gamma, const float* save_invstd,
                              const std::vector<double>& sum1, const std::vector<double>& sum2,
                              float* k) {
    const int C = g.C;
    const double n = (double)g.rows;
    for (int c = 0; c < C; c++) {
        const double gm = gamma ? gamma[c] : 1.0;
        const double is = save_invstd[c];
        k[c] = (float)(gm * is);
        k[C + c] = (float)(-gm * is * is * is * sum2[c] / n);
        k[2 * C + c] = (float)(-gm * is * sum1[c] / n);
    }
}

}  // namespace

void batchnorm_backward(const Exec& ex, const BnGeom& g, const float* x, const float* gamma,
                        const float* beta, const float* dy, const float* save_mean,
                        const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                        int training, int activation, int input_relu, const BnGate* gate) {
    if (!dx && !dgamma && !dbeta) return;
    const bool relu_in = input_relu != 0;
    const int C = g.C;
    const std::vector<float> scale = fold_scale(C, gamma, save_invstd);
    const std::vector<float> shift = beta_or_zero(C, beta);
    std::vector<float> alpha_t;
    RowGate rg{};
    if (gate) {
        const int64_t images = g.rows / gate->rows_per_image;
        alpha_t.resize((size_t)(images * C));
        for (size_t i = 0; i < alpha_t.size(); i++) alpha_t[i] = gate->alpha * gate->t[i];
        rg = RowGate{gate->s, alpha_t.data(), gate->rows_per_image};
    }

    /* Training mode parks gr in dx unless the activation is NONE and dy is not gated (then gr
     * is dy itself); eval mode finishes dx = gamma * invstd * gr (= scale * gr) in the same
     * pass. */
    const GradOut out = !dx ? GradOut::None
                        : !training ? GradOut::Finish
                        : activation != ES_ACT_NONE || gate ? GradOut::Park
                                                            : GradOut::None;
    std::vector<double> sum1, sum2;
    auto sums = [&](auto gated) {
        constexpr bool G = decltype(gated)::value;
        act::dispatch(activation, [&](auto a) {
            constexpr int A = decltype(a)::value;
            const float *m = save_mean, *sc = scale.data(), *sh = shift.data();
            switch (out) {
                case GradOut::None:
                    backward_sums<A, GradOut::None, G>(ex, g, x, dy, rg, m, sc, sh, nullptr, false,
                                                       nullptr, sum1, sum2);
                    break;
                case GradOut::Park:
                    backward_sums<A, GradOut::Park, G>(ex, g, x, dy, rg, m, sc, sh, nullptr, false,
                                                       dx, sum1, sum2);
                    break;
                case GradOut::Finish:
                    backward_sums<A, GradOut::Finish, G>(ex, g, x, dy, rg, m, sc, sh, sc, relu_in,
                                                         dx, sum1, sum2);
                    break;
            }
        });
    };
    if (gate)
        sums(std::true_type{});
    else
        sums(std::false_type{});

    for (int c = 0; c < C; c++) {
        if (dbeta) dbeta[c] = (float)sum1[c];
        if (dgamma) dgamma[c] = (float)(sum2[c] * save_invstd[c]);
    }
    if (!training || !dx) return;

    std::vector<float> k(3 * (size_t)C);
    training_dx_coefficients(g, gamma, save_invstd, sum1, sum2, k.data());
    finish_dx(ex, g, x, out == GradOut::Park ? dx : dy, save_mean, k.data(), k.data() + C,
              k.data() + 2 * C, relu_in, dx);
}

void batchnorm_backward_deferred(const Exec& ex, const BnGeom& g, const float* x,
                                 const float* gamma, const float* beta, const float* dy,
                                 const float* save_mean, const float* save_invstd, float* gr,
                                 float* coef, float* dgamma, float* dbeta, int activation) {
    const int C = g.C;
    const std::vector<float> scale = fold_scale(C, gamma, save_invstd);
    const std::vector<float> shift = beta_or_zero(C, beta);
    std::vector<double> sum1, sum2;
    act::dispatch(activation, [&](auto a) {
        constexpr int A = decltype(a)::value;
        const float *m = save_mean, *sc = scale.data(), *sh = shift.data();
        if constexpr (A == ES_ACT_NONE) { /* gr is dy */
            backward_sums<A, GradOut::None, false>(ex, g, x, dy, RowGate{}, m, sc, sh, nullptr,
                                                   false, nullptr, sum1, sum2);
            if (gr != dy) copy(ex, gr, dy, g.rows * C);
        } else {
            backward_sums<A, GradOut::Park, false>(ex, g, x, dy, RowGate{}, m, sc, sh, nullptr,
                                                   false, gr, sum1, sum2);
        }
    });
    for (int c = 0; c < C; c++) {
        if (dbeta) dbeta[c] = (float)sum1[c];
        if (dgamma) dgamma[c] = (float)(sum2[c] * save_invstd[c]);
    }
    training_dx_coefficients(g, gamma, save_invstd, sum1, sum2, coef);
}

}  // namespace es::cpu::ES_CPU_ISA
