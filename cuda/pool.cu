/*
 * pool.cu — global average pooling over NHWC ([N, HW, C] -> [N, C]) and the squeeze-excite
 * gate y = x * s[n, c], forward and backward. The reductions over HW (pooling forward, the
 * gate's ds) are the deterministic column sums of common.cuh with one segment per sample.
 */
#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

__global__ void avg_pool_backward_kernel(const float* dy, float* dx, int64_t HW, int C,
                                         float inv_hw, int64_t n) {
    ES_GRID_STRIDE(i, n) {
        const int64_t sample = i / (HW * C);
        const int c = (int)(i % C);
        dx[i] = dy[sample * C + c] * inv_hw;
    }
}

__global__ void channel_scale_kernel(const float* x, const float* s, float* y, int64_t HW, int C,
                                     int64_t n) {
    ES_GRID_STRIDE(i, n) {
        const int64_t sample = i / (HW * C);
        const int c = (int)(i % C);
        y[i] = x[i] * s[sample * C + c];
    }
}

__global__ void channel_scale_add_kernel(const float* x, const float* s, const float* t,
                                         float alpha, float* y, int64_t HW, int C, int64_t n) {
    ES_GRID_STRIDE(i, n) {
        const int64_t sc = i / (HW * C) * C + (int)(i % C);
        y[i] = x[i] * s[sc] + alpha * t[sc];
    }
}

struct GateProduct { /* ds[n,c] = sum over hw of dy * x */
    const float *x, *dy;
    int64_t HW;
    int C;
    __device__ void operator()(int seg, int64_t row, int c, double* acc) const {
        const int64_t i = ((int64_t)seg * HW + row) * C + c;
        acc[0] += (double)dy[i] * (double)x[i];
    }
};

}  // namespace

void global_avg_pool_forward(const Exec& ex, const PoolGeom& g, const float* x, float* y) {
    State& s = state(ex);
    column_sums(s, "global_avg_pool_forward", x, g.N, g.HW, g.C, 1.0 / (double)g.HW, y);
}

void global_avg_pool_backward(const Exec& ex, const PoolGeom& g, const float* dy, float* dx) {
    State& s = state(ex);
    const int64_t n = (int64_t)g.N * g.HW * g.C;
    avg_pool_backward_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(
        dy, dx, g.HW, g.C, (float)(1.0 / (double)g.HW), n);
    check_launch("avg_pool_backward_kernel");
}

void channel_scale_forward(const Exec& ex, const PoolGeom& g, const float* x, const float* sc,
                           float* y) {
    State& s = state(ex);
    const int64_t n = (int64_t)g.N * g.HW * g.C;
    channel_scale_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(x, sc, y, g.HW, g.C, n);
    check_launch("channel_scale_kernel");
}

void channel_scale_add(const Exec& ex, const PoolGeom& g, const float* x, const float* sc,
                       const float* t, float alpha, float* y) {
    State& s = state(ex);
    const int64_t n = (int64_t)g.N * g.HW * g.C;
    channel_scale_add_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(x, sc, t, alpha, y, g.HW, g.C,
                                                                      n);
    check_launch("channel_scale_add_kernel");
}

void channel_scale_backward(const Exec& ex, const PoolGeom& g, const float* x, const float* sc,
                            const float* dy, float* dx, float* ds) {
    State& s = state(ex);
    const int64_t n = (int64_t)g.N * g.HW * g.C;
    if (ds) {
        /* before dx: dx may alias dy (in-place backward) */
        const ColumnSplit split = column_split(g.HW, g.C, g.N);
        Scratch partial(s, (int64_t)g.N * split.parts * g.C * (int64_t)sizeof(double));
        column_partials<1>(s, "channel_scale ds", GateProduct{x, dy, g.HW, g.C}, g.N, g.HW, g.C,
                           split, partial.as<double>());
        finalize_column_sums(s, "channel_scale ds (finalize)", partial.as<double>(), g.N,
                             split.parts, g.C, 1.0, ds);
    }
    if (dx) {
        channel_scale_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(dy, sc, dx, g.HW, g.C, n);
        check_launch("channel_scale_kernel (dx)");
    }
}

}  // namespace es::cuda
