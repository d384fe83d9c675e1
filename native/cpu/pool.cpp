/*
 * pool.cpp — global average pooling over NHWC ([N, HW, C] -> [N, C]) and the squeeze-excite
 * gate y = x * s[n, c], forward and backward.
 *
 * The reductions over HW (pooling forward, the gate's ds) cut each sample's HW rows into fixed
 * blocks (row_blocks.h's sum_over_samples; work units = samples x blocks, enough to keep every
 * thread busy even at batch 1) and add float chunks into per-unit double sums, combined in
 * order: the same bits whatever the thread count.
 */
#include <vector>

#include "cpu_kernels.h"
#include "row_blocks.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* out[n, c] = sum over HW of row_fn's values (row_blocks.h's sum_over_samples). */
template <class RowFn>
void sum_over_hw(const Exec& ex, const PoolGeom& g, std::vector<double>& out, RowFn&& row_fn) {
    sum_over_samples(ex, g.N, g.HW, g.C, out, row_fn);
}

/* f(n, r_in_sample, flat_row) for all N*HW rows, in blocks. */
template <class F>
void for_each_row(const Exec& ex, const PoolGeom& g, F&& f) {
    for_each_block(ex, row_blocks((int64_t)g.N * g.HW, g.C), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; r++) f((int)(r / g.HW), r);
    });
}

}  // namespace

void global_avg_pool_forward(const Exec& ex, const PoolGeom& g, const float* x, float* y) {
    const int C = g.C;
    std::vector<double> total;
    sum_over_hw(ex, g, total, [&](int n, int64_t r, int c0, auto width, float* acc) {
        const float* xr = x + ((int64_t)n * g.HW + r) * C + c0;
#pragma omp simd
        for (int j = 0; j < width; j++) acc[j] += xr[j];
    });
    for (int64_t i = 0; i < (int64_t)g.N * C; i++) y[i] = (float)(total[i] / (double)g.HW);
}

void global_avg_pool_backward(const Exec& ex, const PoolGeom& g, const float* dy, float* dx) {
    const int C = g.C;
    const float hw = (float)g.HW;
    for_each_row(ex, g, [&](int n, int64_t r) {
        const float* dyn = dy + (int64_t)n * C;
        float* dxr = dx + r * C;
#pragma omp simd
        for (int c = 0; c < C; c++) dxr[c] = dyn[c] / hw;
    });
}

void channel_scale_forward(const Exec& ex, const PoolGeom& g, const float* x, const float* s,
                           float* y) {
    const int C = g.C;
    for_each_row(ex, g, [&](int n, int64_t r) {
        const float* sn = s + (int64_t)n * C;
        const float* xr = x + r * C;
        float* yr = y + r * C;
#pragma omp simd
        for (int c = 0; c < C; c++) yr[c] = xr[c] * sn[c];
    });
}

void channel_scale_add(const Exec& ex, const PoolGeom& g, const float* x, const float* s,
                       const float* t, float alpha, float* y) {
    const int C = g.C;
    std::vector<float> at((size_t)g.N * C);
    for (size_t i = 0; i < at.size(); i++) at[i] = alpha * t[i];
    for_each_row(ex, g, [&](int n, int64_t r) {
        const float* sn = s + (int64_t)n * C;
        const float* tn = at.data() + (int64_t)n * C;
        const float* xr = x + r * C;
        float* yr = y + r * C;
#pragma omp simd
        for (int c = 0; c < C; c++) yr[c] = xr[c] * sn[c] + tn[c];
    });
}

void channel_scale_backward(const Exec& ex, const PoolGeom& g, const float* x, const float* s,
                            const float* dy, float* dx, float* ds) {
    const int C = g.C;
    if (!ds) {
        if (dx) channel_scale_forward(ex, g, dy, s, dx); /* dx = dy * s */
        return;
    }
    /* One pass: dx = dy * s (if wanted) and ds[n, c] = sum over HW of dy * x. */
    std::vector<double> total;
    sum_over_hw(ex, g, total, [&](int n, int64_t r, int c0, auto width, float* acc) {
        const int64_t o = ((int64_t)n * g.HW + r) * C + c0;
        const float* xr = x + o;
        const float* dyr = dy + o;
        if (dx) {
            const float* sn = s + (int64_t)n * C + c0;
            float* dxr = dx + o;
#pragma omp simd
            for (int j = 0; j < width; j++) {
                const float d = dyr[j];
                acc[j] += d * xr[j];
                dxr[j] = d * sn[j];
            }
        } else {
#pragma omp simd
            for (int j = 0; j < width; j++) acc[j] += dyr[j] * xr[j];
        }
    });
    for (int64_t i = 0; i < (int64_t)g.N * C; i++) ds[i] = (float)total[i];
}

}  // namespace es::cpu::ES_CPU_ISA
