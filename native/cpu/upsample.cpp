/*
 * upsample.cpp — nearest-neighbour upsampling of NHWC maps, x [N,h,w,C] -> y [N,H,W,C].
 *
 * Index rule: PyTorch's `nearest` for a target size (aten/src/ATen/native/UpSample.h,
 * nearest_idx + nearest_neighbor_compute_source_index, scales absent):
 *   H == h   -> src = dst
 *   H == 2h  -> src = dst >> 1
 *   else     -> scale = (float)h / H (a float division), src = min((int64)floorf(dst * scale), h-1)
 * with dst converted to float before the float multiply, so non-integer ratios (7 -> 224,
 * 13 -> 20) pick exactly the rows PyTorch picks. The same rule serves downsampling.
 *
 * Forward: y (+)= x[src_h(i), src_w(j)], one output row per loop iteration.
 * Backward: dx[i, j] = sum of dy over the output pixels whose source is (i, j). Since the
 * rule is monotone, the output rows of source row i form one contiguous range; each thread
 * owns whole dx rows (no atomics) and sums its range in double, in a fixed order, so the
 * result does not depend on the thread count.
 */
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* src index for each of out_size destinations, PyTorch's rule (see the file comment). */
std::vector<int> nearest_sources(int in_size, int out_size) {
    std::vector<int> src((size_t)out_size);
    const float scale = (float)in_size / (float)out_size;
    for (int d = 0; d < out_size; d++) {
        int64_t s;
        if (out_size == in_size) {
            s = d;
        } else if (out_size == 2 * in_size) {
            s = d >> 1;
        } else {
            s = std::min((int64_t)std::floor((float)d * scale), (int64_t)in_size - 1);
        }
        src[(size_t)d] = (int)s;
    }
    return src;
}

/* first[i] .. first[i+1]-1 are the destinations whose source is i (src is non-decreasing). */
std::vector<int> source_ranges(const std::vector<int>& src, int in_size) {
    std::vector<int> first((size_t)in_size + 1, (int)src.size());
    for (int d = (int)src.size() - 1; d >= 0; d--) first[(size_t)src[(size_t)d]] = d;
    /* a source no destination reads (downsampling) gets an empty range */
    for (int i = in_size - 1; i >= 0; i--)
        first[(size_t)i] = std::min(first[(size_t)i], first[(size_t)i + 1]);
    return first;
}

/* upsample_nearest_backward of an exact 2x upsampling (the decoder's): each dx value is its
 * 2x2 block of dy added in double in the order the general loop adds them, from 0 (the upper
 * row's two, then the lower row's): the same bits, without the row of double accumulators. */
void twice_backward(const Exec& ex, const UpsampleGeom& g, const float* dy, float* dx) {
    const int64_t C = g.C, W = g.W;
    const int64_t rows = (int64_t)g.N * g.h;
#pragma omp parallel for num_threads(ex.threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float* top = dy + 2 * r * W * C; /* output rows 2i and 2i+1 of the same image */
        const float* bottom = top + W * C;
        float* dxrow = dx + r * g.w * C;
        for (int64_t j = 0; j < g.w; j++) {
            const float *a = top + 2 * j * C, *b = bottom + 2 * j * C;
            float* d = dxrow + j * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++)
                d[c] = (float)((((0.0 + (double)a[c]) + (double)a[C + c]) + (double)b[c]) +
                               (double)b[C + c]);
        }
    }
}

}  // namespace

void upsample_nearest_forward(const Exec& ex, const UpsampleGeom& g, const float* x, float* y,
                              int accumulate) {
    const std::vector<int> src_h = nearest_sources(g.h, g.H);
    const std::vector<int> src_w = nearest_sources(g.w, g.W);
    const int64_t C = g.C;
    const int64_t rows = (int64_t)g.N * g.H;
#pragma omp parallel for num_threads(ex.threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t n = r / g.H;
        const int oh = (int)(r % g.H);
        const float* xrow = x + ((n * g.h + src_h[(size_t)oh]) * g.w) * C;
        float* yrow = y + r * g.W * C;
        for (int ow = 0; ow < g.W; ow++) {
            const float* xp = xrow + (int64_t)src_w[(size_t)ow] * C;
            float* yp = yrow + (int64_t)ow * C;
            if (accumulate) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) yp[c] += xp[c];
            } else {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) yp[c] = xp[c];
            }
        }
    }
}

void upsample_nearest_backward(const Exec& ex, const UpsampleGeom& g, const float* dy,
                               float* dx) {
    if (g.H == 2 * g.h && g.W == 2 * g.w) {
        twice_backward(ex, g, dy, dx);
        return;
    }
    const std::vector<int> src_w = nearest_sources(g.w, g.W);
    const std::vector<int> first_h = source_ranges(nearest_sources(g.h, g.H), g.h);
    const int64_t C = g.C;
    const int64_t rows = (int64_t)g.N * g.h;
#pragma omp parallel num_threads(ex.threads)
    {
        std::vector<double> acc((size_t)(g.w * C));
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t n = r / g.h;
            const int i = (int)(r % g.h);
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int oh = first_h[(size_t)i]; oh < first_h[(size_t)i + 1]; oh++) {
                const float* dyrow = dy + ((n * g.H + oh) * g.W) * C;
                for (int ow = 0; ow < g.W; ow++) {
                    const float* dp = dyrow + (int64_t)ow * C;
                    double* ap = acc.data() + (int64_t)src_w[(size_t)ow] * C;
#pragma omp simd
                    for (int64_t c = 0; c < C; c++) ap[c] += (double)dp[c];
                }
            }
            float* dxrow = dx + r * g.w * C;
#pragma omp simd
            for (int64_t k = 0; k < g.w * C; k++) dxrow[k] = (float)acc[(size_t)k];
        }
    }
}

}  // namespace es::cpu::ES_CPU_ISA
