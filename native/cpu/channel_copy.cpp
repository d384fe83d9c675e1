/*
 * channel_copy.cpp — y[r, y_offset + i] (+)= x[r, x_offset + i] for i < count, over the
 * rows = N*H*W pixels of two NHWC tensors with Cx and Cy channels.
 *
 * Concat (copy each part into its channel range of y), slice (copy a range of x out) and
 * their gradients (the same copies in the other direction, accumulate where a value has
 * several consumers) are all this one op; Ghost modules use it. x and y must not overlap.
 */
#include <cstring>

#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu::ES_CPU_ISA {

void channel_copy(const Exec& ex, const ChannelCopyGeom& g, const float* x, float* y,
                  int accumulate) {
    const int64_t count = g.count;
    if (count <= 0 || g.rows <= 0) return;
    const float* xs = x + g.x_offset;
    float* ys = y + g.y_offset;
    /* both sides contiguous over whole rows: one flat loop */
    const bool flat = count == g.Cx && count == g.Cy;
    const int64_t total = g.rows * count;
    const bool parallel = total > 32768;
    if (flat) {
        if (accumulate) {
#pragma omp parallel for simd num_threads(ex.threads) schedule(static) if (parallel)
            for (int64_t k = 0; k < total; k++) ys[k] += xs[k];
        } else {
#pragma omp parallel for simd num_threads(ex.threads) schedule(static) if (parallel)
            for (int64_t k = 0; k < total; k++) ys[k] = xs[k];
        }
        return;
    }
    if (accumulate) {
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (parallel)
        for (int64_t r = 0; r < g.rows; r++) {
            const float* xp = xs + r * g.Cx;
            float* yp = ys + r * g.Cy;
#pragma omp simd
            for (int64_t c = 0; c < count; c++) yp[c] += xp[c];
        }
    } else {
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (parallel)
        for (int64_t r = 0; r < g.rows; r++)
            std::memcpy(ys + r * g.Cy, xs + r * g.Cx, (size_t)count * sizeof(float));
    }
}

}  // namespace es::cpu::ES_CPU_ISA
