/*
 * pool.cpp — global average pooling over NHWC ([N, HW, C] -> [N, C]) and the squeeze-excite
 * gate y = x * s[n, c], forward and backward.
 *
 * The reductions over HW (pooling forward, the gate's ds) split each sample's HW rows into
 * parts (enough parts in all to keep every thread busy even at batch 1) and sum with
 * channel_sums.h: float chunks into double, parts combined in order, deterministic for a
 * given thread count.
 */
#include <algorithm>
#include <vector>

#include "channel_sums.h"
#include "cpu_kernels.h"

namespace es::cpu {

namespace {

/* Each sample's HW rows split into `per_sample` parts; unit u = n * per_sample + p. */
struct SampleParts {
    int per_sample;
    RowParts rows;
    int units(int N) const { return N * per_sample; }
};

SampleParts sample_parts(const Exec& ex, const PoolGeom& g) {
    const int threads = std::max(ex.threads, 1);
    const int wanted = (threads + g.N - 1) / g.N; /* parts per sample to fill the threads */
    const RowParts rows = row_parts(wanted, g.HW, g.C);
    return SampleParts{rows.count, rows};
}

bool worth_parallel(const PoolGeom& g) { return (int64_t)g.N * g.HW * g.C > 2 * kMinElemsPerPart; }

}  // namespace

void global_avg_pool_forward(const Exec& ex, const PoolGeom& g, const float* x, float* y) {
    const int C = g.C;
    const SampleParts sp = sample_parts(ex, g);
    UnitSums sums(sp.units(g.N), 1, C);

#pragma omp parallel for num_threads(ex.threads) schedule(static) if (worth_parallel(g))
    for (int u = 0; u < sp.units(g.N); u++) {
        const int n = u / sp.per_sample, p = u % sp.per_sample;
        const float* xn = x + (int64_t)n * g.HW * C;
        double* dst[1] = {sums.at(u, 0)};
        sum_rows<1>(C, sp.rows.begin(p), sp.rows.end(p), dst, [&](int64_t r, float* const* acc) {
            const float* xr = xn + r * C;
            float* __restrict s = acc[0];
#pragma omp simd
            for (int c = 0; c < C; c++) s[c] += xr[c];
        });
    }

    std::vector<double> total(C);
    for (int n = 0; n < g.N; n++) {
        sums.combine(n * sp.per_sample, (n + 1) * sp.per_sample, 0, total.data());
        for (int c = 0; c < C; c++) y[(int64_t)n * C + c] = (float)(total[c] / (double)g.HW);
    }
}

void global_avg_pool_backward(const Exec& ex, const PoolGeom& g, const float* dy, float* dx) {
    const int C = g.C;
    const int64_t rows = (int64_t)g.N * g.HW;
    const float hw = (float)g.HW;
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (worth_parallel(g))
    for (int64_t r = 0; r < rows; r++) {
        const float* dyn = dy + (r / g.HW) * C;
        float* dxr = dx + r * C;
#pragma omp simd
        for (int c = 0; c < C; c++) dxr[c] = dyn[c] / hw;
    }
}

void channel_scale_forward(const Exec& ex, const PoolGeom& g, const float* x, const float* s,
                           float* y) {
    const int C = g.C;
    const int64_t rows = (int64_t)g.N * g.HW;
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (worth_parallel(g))
    for (int64_t r = 0; r < rows; r++) {
        const float* sn = s + (r / g.HW) * C;
        const float* xr = x + r * C;
        float* yr = y + r * C;
#pragma omp simd
        for (int c = 0; c < C; c++) yr[c] = xr[c] * sn[c];
    }
}

void channel_scale_backward(const Exec& ex, const PoolGeom& g, const float* x, const float* s,
                            const float* dy, float* dx, float* ds) {
    const int C = g.C;
    if (!ds) {
        if (!dx) return;
        channel_scale_forward(ex, g, dy, s, dx); /* dx = dy * s */
        return;
    }
    /* One pass: dx = dy * s (if wanted) and ds[n, c] = sum over HW of dy * x. */
    const SampleParts sp = sample_parts(ex, g);
    UnitSums sums(sp.units(g.N), 1, C);

#pragma omp parallel for num_threads(ex.threads) schedule(static) if (worth_parallel(g))
    for (int u = 0; u < sp.units(g.N); u++) {
        const int n = u / sp.per_sample, p = u % sp.per_sample;
        const int64_t base = (int64_t)n * g.HW * C;
        const float* sn = s + (int64_t)n * C;
        double* dst[1] = {sums.at(u, 0)};
        sum_rows<1>(C, sp.rows.begin(p), sp.rows.end(p), dst, [&](int64_t r, float* const* acc) {
            const float* xr = x + base + r * C;
            const float* dyr = dy + base + r * C;
            float* __restrict a = acc[0];
            if (dx) {
                float* dxr = dx + base + r * C;
#pragma omp simd
                for (int c = 0; c < C; c++) {
                    const float d = dyr[c];
                    a[c] += d * xr[c];
                    dxr[c] = d * sn[c];
                }
            } else {
#pragma omp simd
                for (int c = 0; c < C; c++) a[c] += dyr[c] * xr[c];
            }
        });
    }

    std::vector<double> total(C);
    for (int n = 0; n < g.N; n++) {
        sums.combine(n * sp.per_sample, (n + 1) * sp.per_sample, 0, total.data());
        for (int c = 0; c < C; c++) ds[(int64_t)n * C + c] = (float)total[c];
    }
}

}  // namespace es::cpu
