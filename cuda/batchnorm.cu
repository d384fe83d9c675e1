/*
 * batchnorm.cu — batch norm over NHWC rows (rows = N*H*W, C channels), optionally fused with
 * the activation after it: y = act(gamma * (x - mean) * invstd + beta).
 *
 * Forward, training: channel sums of d = x - x[0,c] and d^2 (the shift keeps E[d^2] - E[d]^2
 * free of cancellation when |mean| >> std, as on the CPU) with the deterministic two-stage
 * column sums of common.cuh; a per-channel kernel turns them into mean, invstd, the running
 * statistics (PyTorch: unbiased variance, running = (1-m)*running + m*batch) and save_*;
 * one elementwise pass normalises and activates. Eval: a per-channel kernel, then the pass.
 * With pooling (es_batchnorm_forward_pooled), global_avg_pool_forward then reads y.
 * Backward: one reduction pass recomputes pre = (x - mean)*scale + beta, gr = dy * act'(pre)
 * and sums gr and gr*(x - mean) per channel; a per-channel kernel gives dgamma, dbeta and the
 * coefficients of dx = ka*gr + kb*(x - mean) + kc (training; eval: dx = scale*gr); a last
 * pass writes dx, recomputing gr rather than storing it (fewer bytes moved). A gated dy
 * (dy * s + alpha * t per image and channel, BnGate) is formed wherever dy is read.
 */
#include "activation_math.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

struct ShiftedMoments { /* K = 2: d, d^2 with d = x - x[0,c] */
    const float* x;
    int C;
    __device__ void operator()(int, int64_t row, int c, double* acc) const {
        const double d = (double)x[row * C + c] - (double)x[c];
        acc[0] += d;
        acc[1] += d * d;
    }
};

/* Per channel: batch mean/invstd from the partial sums, running stats, save_*. */
__global__ void bn_train_stats_kernel(const double* partial, int parts, int C, int64_t rows,
                                      int64_t repeats, const float* x, float momentum, float eps,
                                      float* running_mean, float* running_var, float* mean_out,
                                      float* invstd_out) {
    ES_GRID_STRIDE(c64, C) {
        const int c = (int)c64;
        const double n = (double)rows;
        const double m = sum_parts(partial, 0, parts, 2, 0, C, c) / n;
        const double var = fmax(sum_parts(partial, 0, parts, 2, 1, C, c) / n - m * m, 0.0);
        const double mean = (double)x[c] + m;
        mean_out[c] = (float)mean;
        invstd_out[c] = (float)(1.0 / sqrt(var + (double)eps));
        const double mo = momentum;
        running_mean[c] = (float)((1.0 - mo) * running_mean[c] + mo * mean);
        const double count = n * (double)repeats; /* values the statistics stand for */
        running_var[c] = (float)((1.0 - mo) * running_var[c] + mo * var * count / (count - 1.0));
    }
}

__global__ void bn_eval_stats_kernel(int C, const float* running_mean, const float* running_var,
                                     float eps, float* mean_out, float* invstd_out) {
    ES_GRID_STRIDE(c, C) {
        mean_out[c] = running_mean[c];
        invstd_out[c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
    }
}

template <int A>
__global__ void bn_normalize_kernel(const float* x, const float* mean, const float* invstd,
                                    const float* gamma, const float* beta, float* y, int64_t n,
                                    int C) {
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % C);
        const float scale = gamma[c] * invstd[c];
        y[i] = act::apply<A>((x[i] - mean[c]) * scale + beta[c]);
    }
}

/* dy[row, c], or with a gate (s not null) dy * s + alpha_t of the row's image, alpha_t = alpha * t
 * rounded to float first (as the CPU computes it). */
struct GatedDy {
    const float *dy, *s, *t;
    float alpha;
    int64_t rows_per_image;
    int C;
    __device__ float operator()(int64_t row, int c) const {
        const float d = dy[row * C + c];
        if (!s) return d;
        const int64_t j = row / rows_per_image * C + c;
        const float at = alpha * t[j];
        return d * s[j] + at;
    }
};

GatedDy gated_dy(const float* dy, const BnGate* gate, int C) {
    if (!gate) return GatedDy{dy, nullptr, nullptr, 0.0f, 1, C};
    return GatedDy{dy, gate->s, gate->t, gate->alpha, gate->rows_per_image, C};
}

template <int A>
struct BackwardMoments { /* K = 2: gr, gr * (x - mean) */
    const float *x, *mean, *invstd, *gamma, *beta;
    GatedDy dy;
    int C;
    __device__ void operator()(int, int64_t row, int c, double* acc) const {
        const int64_t i = row * C + c;
        const float xc = x[i] - mean[c];
        const float gr = act::grad<A>(xc * (gamma[c] * invstd[c]) + beta[c], dy(row, c));
        acc[0] += (double)gr;
        acc[1] += (double)gr * (double)xc;
    }
};

/* coef [3][C]: dx = coef0*gr + coef1*(x - mean) + coef2 */
__global__ void bn_backward_coef_kernel(const double* partial, int parts, int C, int64_t rows,
                                        const float* gamma, const float* invstd, int training,
                                        float* dgamma, float* dbeta, float* coef) {
    ES_GRID_STRIDE(c64, C) {
        const int c = (int)c64;
        const double sum1 = sum_parts(partial, 0, parts, 2, 0, C, c);
        const double sum2 = sum_parts(partial, 0, parts, 2, 1, C, c);
        const double is = invstd[c], gm = gamma[c];
        if (dbeta) dbeta[c] = (float)sum1;
        if (dgamma) dgamma[c] = (float)(sum2 * is);
        if (!coef) continue;
        if (training) {
            const double n = (double)rows;
            coef[c] = (float)(gm * is);
            coef[C + c] = (float)(-gm * is * is * is * sum2 / n);
            coef[2 * C + c] = (float)(-gm * is * sum1 / n);
        } else {
            coef[c] = gamma[c] * invstd[c]; /* float product, as in the forward scale */
            coef[C + c] = 0.0f;
            coef[2 * C + c] = 0.0f;
        }
    }
}

template <int A>
__global__ void bn_backward_dx_kernel(const float* x, GatedDy dy, const float* mean,
                                      const float* invstd, const float* gamma, const float* beta,
                                      const float* coef, bool input_relu, float* dx, int64_t n,
                                      int C) {
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % C);
        const float xc = x[i] - mean[c];
        const float gr = act::grad<A>(xc * (gamma[c] * invstd[c]) + beta[c], dy(i / C, c));
        const float d = coef[c] * gr + coef[C + c] * xc + coef[2 * C + c];
        /* x is a ReLU's output: its gradient [x > 0] too */
        dx[i] = !input_relu || x[i] > 0.0f ? d : 0.0f;
    }
}

/* gr = dy * act'(pre) (may be in place: gr == dy) */
template <int A>
__global__ void bn_backward_gr_kernel(const float* x, const float* dy, const float* mean,
                                      const float* invstd, const float* gamma, const float* beta,
                                      float* gr, int64_t n, int C) {
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % C);
        const float xc = x[i] - mean[c];
        gr[i] = act::grad<A>(xc * (gamma[c] * invstd[c]) + beta[c], dy[i]);
    }
}

}  // namespace

void batchnorm_forward(const Exec& ex, const BnGeom& g, const float* x, const float* gamma,
                       const float* beta, float* running_mean, float* running_var, float* y,
                       float* save_mean, float* save_invstd, int training, float momentum,
                       float eps, int activation, float* pooled, int64_t rows_per_image) {
    State& s = state(ex);
    const int C = g.C;
    const int64_t n = g.rows * C;
    /* mean/invstd go to save_* when given, else to scratch */
    Scratch stats(s, (save_mean && save_invstd) ? 0 : 2 * (int64_t)C * (int64_t)sizeof(float));
    float* mean = save_mean ? save_mean : stats.as<float>();
    float* invstd = save_invstd ? save_invstd : stats.as<float>() + C;
    if (training) {
        if (g.rows < 2) fail(ES_ERR_SHAPE, "training mode needs more than one value per channel");
        const ColumnSplit split = column_split(g.rows, C, 1);
        Scratch partial(s, (int64_t)split.parts * 2 * C * (int64_t)sizeof(double));
        column_partials<2>(s, "batchnorm moments", ShiftedMoments{x, C}, 1, g.rows, C, split,
                           partial.as<double>());
        bn_train_stats_kernel<<<grid_for(C), kThreads, 0, s.stream>>>(
            partial.as<double>(), split.parts, C, g.rows, g.repeats, x, momentum, eps, running_mean,
            running_var, mean, invstd);
        check_launch("bn_train_stats_kernel");
    } else {
        bn_eval_stats_kernel<<<grid_for(C), kThreads, 0, s.stream>>>(C, running_mean, running_var,
                                                                    eps, mean, invstd);
        check_launch("bn_eval_stats_kernel");
    }
    act::dispatch(activation, [&](auto a) {
        bn_normalize_kernel<decltype(a)::value><<<grid_for(n), kThreads, 0, s.stream>>>(
            x, mean, invstd, gamma, beta, y, n, C);
    });
    check_launch("bn_normalize_kernel");
    if (pooled) /* the pooling pass after the normalising one (fused on the CPU only) */
        global_avg_pool_forward(ex, PoolGeom{(int)(g.rows / rows_per_image), rows_per_image, C}, y,
                                pooled);
}

void batchnorm_backward(const Exec& ex, const BnGeom& g, const float* x, const float* gamma,
                        const float* beta, const float* dy, const float* save_mean,
                        const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                        int training, int activation, int input_relu, const BnGate* gate) {
    if (!dx && !dgamma && !dbeta) return;
    State& s = state(ex);
    const GatedDy gdy = gated_dy(dy, gate, g.C);
    const int C = g.C;
    const int64_t n = g.rows * C;
    Scratch coef(s, dx ? 3 * (int64_t)C * (int64_t)sizeof(float) : 0);
    const bool need_sums = training || dgamma || dbeta;
    act::dispatch(activation, [&](auto a) {
        constexpr int A = decltype(a)::value;
        if (need_sums) {
            const ColumnSplit split = column_split(g.rows, C, 1);
            Scratch partial(s, (int64_t)split.parts * 2 * C * (int64_t)sizeof(double));
            column_partials<2>(s, "batchnorm backward moments",
                               BackwardMoments<A>{x, save_mean, save_invstd, gamma, beta, gdy, C},
                               1, g.rows, C, split, partial.as<double>());
            bn_backward_coef_kernel<<<grid_for(C), kThreads, 0, s.stream>>>(
                partial.as<double>(), split.parts, C, g.rows, gamma, save_invstd, training,
                dgamma, dbeta, dx ? coef.as<float>() : nullptr);
        } else {
            /* eval, dx only: no sums needed */
            bn_backward_coef_kernel<<<grid_for(C), kThreads, 0, s.stream>>>(
                nullptr, 0, C, g.rows, gamma, save_invstd, 0, nullptr, nullptr, coef.as<float>());
        }
        check_launch("bn_backward_coef_kernel");
        if (dx) {
            bn_backward_dx_kernel<A><<<grid_for(n), kThreads, 0, s.stream>>>(
                x, gdy, save_mean, save_invstd, gamma, beta, coef.as<float>(), input_relu != 0, dx,
                n, C);
            check_launch("bn_backward_dx_kernel");
        }
    });
}

void batchnorm_backward_deferred(const Exec& ex, const BnGeom& g, const float* x,
                                 const float* gamma, const float* beta, const float* dy,
                                 const float* save_mean, const float* save_invstd, float* gr,
                                 float* coef, float* dgamma, float* dbeta, int activation) {
    State& s = state(ex);
    const int C = g.C;
    const int64_t n = g.rows * C;
    const GatedDy gdy = gated_dy(dy, nullptr, C);
    act::dispatch(activation, [&](auto a) {
        constexpr int A = decltype(a)::value;
        const ColumnSplit split = column_split(g.rows, C, 1);
        Scratch partial(s, (int64_t)split.parts * 2 * C * (int64_t)sizeof(double));
        column_partials<2>(s, "batchnorm backward moments (deferred)",
                           BackwardMoments<A>{x, save_mean, save_invstd, gamma, beta, gdy, C}, 1,
                           g.rows, C, split, partial.as<double>());
        bn_backward_coef_kernel<<<grid_for(C), kThreads, 0, s.stream>>>(
            partial.as<double>(), split.parts, C, g.rows, gamma, save_invstd, 1, dgamma, dbeta, coef);
        check_launch("bn_backward_coef_kernel (deferred)");
        if (A == ES_ACT_NONE && gr == dy) return; /* gr is dy */
        bn_backward_gr_kernel<A><<<grid_for(n), kThreads, 0, s.stream>>>(
            x, dy, save_mean, save_invstd, gamma, beta, gr, n, C);
        check_launch("bn_backward_gr_kernel");
    });
}

}  // namespace es::cuda
