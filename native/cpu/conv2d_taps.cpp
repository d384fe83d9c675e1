/*
 * conv2d_taps.cpp — dense convolutions with stride 1 and no groups (EffiSegNet's decoder: a 3x3
 * from each encoder scale to 32 channels) as a sum over the kernel's taps of pointwise products
 * on shifted runs of pixels, instead of im2col + sgemm. For tap (kh, kw), output row (n, oh) and
 * input row ih = oh - pad_top + kh, the output pixels whose input pixel ow - pad_left + kw lies
 * inside the image form one contiguous run, and so do those input pixels: one row product
 * (conv2d_rows.h) per tap and row, accumulating into the row while it is in cache. Nothing the
 * size of the im2col matrix (KH*KW times the input) is written or read.
 *   forward: y[n, oh, :] = b + sum over taps of x[n, ih, run] · w[kh, kw]
 *   dx:      dx[n, ih, :] = sum over taps of dy[n, oh, run] · w[kh, kw]ᵀ (the same gather)
 *   dw:      dw[kh, kw] = sum over output rows of x[n, ih, run]ᵀ dy[n, oh, run]
 * Each output element sums its taps in (kh, kw) order. dw is summed per block of output rows
 * (the blocks depend only on the geometry) and the blocks' partials are added in block order in
 * double, so dw does not depend on the thread count.
 */
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "conv2d_common.h"
#include "conv2d_rows.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* dw's blocks: about this many output pixels each, and at most kMaxDwBlocks of them. */
constexpr int64_t kDwBlockPixels = 512;
constexpr int64_t kMaxDwBlocks = 256;

/* The run of positions p in [0, out_len) with 0 <= p + shift < in_len: [lo, hi), hi >= lo. */
inline void run_of(int shift, int out_len, int in_len, int& lo, int& hi) {
    lo = std::max(0, -shift);
    hi = std::min(out_len, in_len - shift);
    if (hi < lo) hi = lo;
}

}  // namespace

bool taps_fit(const ConvGeom& g) {
    return g.groups == 1 && g.stride_h == 1 && g.stride_w == 1 && !is_pointwise(g) &&
           g.Cin % 8 == 0 && g.Cin % kDwGroup == 0 && g.Cout % 8 == 0 &&
           (int64_t)g.Cin * g.Cout <= kPointwiseDirectMaxWeights;
}

void taps_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                  const float* b, const ConvEpilogue& e, float* y) {
    const int OW = g.OW, Cin = g.Cin, Cout = g.Cout;
    const int64_t rows = (int64_t)g.N * g.OH, tap_size = (int64_t)Cin * Cout;
    const int T = threads_for(ex, (double)rows * OW * g.KH * g.KW * tap_size);
    const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
            const int n = (int)(r / g.OH), oh = (int)(r % g.OH);
            float* yrow = y + r * OW * Cout;
            for (int ow = 0; ow < OW; ow++) {
                float* yp = yrow + (int64_t)ow * Cout;
                if (b)
                    std::copy(b, b + Cout, yp);
                else
                    std::fill(yp, yp + Cout, 0.0f);
            }
            for (int kh = 0; kh < g.KH; kh++) {
                const int ih = oh - g.pad_top + kh;
                if (ih < 0 || ih >= g.H) continue;
                const float* xrow = x + ((int64_t)n * g.H + ih) * g.W * Cin;
                for (int kw = 0; kw < g.KW; kw++) {
                    const int shift = kw - g.pad_left; /* iw = ow + shift */
                    int lo, hi;
                    run_of(shift, OW, g.W, lo, hi);
                    if (hi == lo) continue;
                    rows_times<true>(xrow + (int64_t)(lo + shift) * Cin, Cin,
                                     w + (kh * g.KW + kw) * tap_size, Cout, 0, hi - lo,
                                     yrow + (int64_t)lo * Cout);
                }
            }
            if (e.any())
                conv_epilogue(e, yrow, e.residual ? e.residual + r * OW * Cout : nullptr, OW, Cout);
        }
    }
}

void taps_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                   const float* dy, float* dx, float* dw) {
    const int OW = g.OW, Cin = g.Cin, Cout = g.Cout, taps = g.KH * g.KW;
    const int64_t tap_size = (int64_t)Cin * Cout;
    const double work = (double)g.N * g.OH * OW * taps * tap_size;
    if (dx) {
        const std::vector<float> wt = transposed_taps(w, taps, Cin, Cout); /* [Cout][Cin] per tap */
        const int64_t rows = (int64_t)g.N * g.H;
        const int T = threads_for(ex, work);
        const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
        for (int64_t part = 0; part < parts; part++) {
            const int64_t r_end = part_begin(rows, parts, part + 1);
            for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
                const int n = (int)(r / g.H), ih = (int)(r % g.H);
                float* dxrow = dx + r * g.W * Cin;
                std::fill(dxrow, dxrow + (int64_t)g.W * Cin, 0.0f);
                for (int kh = 0; kh < g.KH; kh++) {
                    const int oh = ih + g.pad_top - kh;
                    if (oh < 0 || oh >= g.OH) continue;
                    const float* dyrow = dy + ((int64_t)n * g.OH + oh) * OW * Cout;
                    for (int kw = 0; kw < g.KW; kw++) {
                        const int shift = g.pad_left - kw; /* ow = iw + shift */
                        int lo, hi;
                        run_of(shift, g.W, OW, lo, hi);
                        if (hi == lo) continue;
                        rows_times<true>(dyrow + (int64_t)(lo + shift) * Cout, Cout,
                                         wt.data() + (kh * g.KW + kw) * tap_size, Cin, 0, hi - lo,
                                         dxrow + (int64_t)lo * Cin);
                    }
                }
            }
        }
    }
    if (!dw) return;
    const int64_t rows = (int64_t)g.N * g.OH, wsize = taps * tap_size;
    const int64_t rows_per_block = std::max<int64_t>(
        {1, (kDwBlockPixels + OW - 1) / OW, (rows + kMaxDwBlocks - 1) / kMaxDwBlocks});
    const int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
    /* each block zeroes its own partial (in its thread's cache) */
    const std::unique_ptr<float[]> partial(new float[(size_t)(blocks * wsize)]);
#pragma omp parallel for num_threads(threads_for(ex, work)) schedule(dynamic, 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        float* part = partial.get() + blk * wsize;
        std::fill(part, part + wsize, 0.0f);
        const int64_t r_end = std::min(rows, (blk + 1) * rows_per_block);
        for (int64_t r = blk * rows_per_block; r < r_end; r++) {
            const int n = (int)(r / g.OH), oh = (int)(r % g.OH);
            const float* dyrow = dy + r * OW * Cout;
            for (int kh = 0; kh < g.KH; kh++) {
                const int ih = oh - g.pad_top + kh;
                if (ih < 0 || ih >= g.H) continue;
                const float* xrow = x + ((int64_t)n * g.H + ih) * g.W * Cin;
                for (int kw = 0; kw < g.KW; kw++) {
                    const int shift = kw - g.pad_left;
                    int lo, hi;
                    run_of(shift, OW, g.W, lo, hi);
                    if (hi == lo) continue;
                    dw_rows<true>(xrow + (int64_t)(lo + shift) * Cin, Cin,
                                  dyrow + (int64_t)lo * Cout, Cout, 0, hi - lo,
                                  part + (kh * g.KW + kw) * tap_size);
                }
            }
        }
    }
    sum_block_partials(ex, partial.get(), blocks, wsize, dw);
}

}  // namespace es::cpu::ES_CPU_ISA
