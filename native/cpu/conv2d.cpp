/*
 * conv2d.cpp — NHWC 2-D convolution, forward and backward, on the CPU.
 *
 * Layouts (effiseg.h): x [N,H,W,Cin], w [KH,KW,Cin/groups,Cout] (HWIO), b [Cout],
 * y [N,OH,OW,Cout]. Padding is pad_top/pad_left; the bottom/right padding is whatever
 * OH/OW imply (TensorFlow SAME puts the odd extra row/column there).
 *
 * This file chooses the path per call; each path has its own file, which says how it works:
 *  - conv2d_depthwise.cpp: depthwise (groups == Cin == Cout), direct loops vectorised over
 *    channels; forward, dx and dw (in one sweep where they can be). EfficientNet spends most
 *    of its convolution time here.
 *  - conv2d_direct.cpp: dense with a reduction of at most kDirectMaxK values (the 3x3x3 stem),
 *    forward: direct loops over output pixel pairs with all output channels in registers; the
 *    stem's weight gradient as direct loops over output rows too (its dx, which training never
 *    asks for, is the GEMM path's).
 *  - conv2d_pointwise.cpp: pointwise convolutions with small weight matrices (few channels
 *    over many pixels), direct loops: backward with dx and dw in one pass, and forward.
 *  - conv2d_winograd.cpp: dense 3x3 with stride 1 on maps of at least 28 x 28 (the decoder's
 *    finer scales) and channels in multiples of 8, forward and dx by Winograd's F(2x2, 3x3).
 *  - conv2d_taps.cpp: dense with stride 1 (the decoder's 3x3s: their dw, and forward and dx on
 *    the coarser maps) and channels in multiples of 8, as a sum over the kernel's taps of
 *    pointwise row products on shifted runs of pixels.
 *  - conv2d_gemm.cpp: pointwise (1x1, stride 1, no padding) as sgemm on the activations as they
 *    lie; everything else (dense KxK, strided 1x1, grouped, the stem's backward) as tiled
 *    im2col + sgemm, col2im for dx.
 * The pointwise variants (conv2d_forward_gated and conv2d_backward_gated: the input x * s;
 * conv2d_forward_blocks: the input [x | x2]; conv2d_backward_bn: dy from a batch norm's
 * unfinished dx) take the direct or the sgemm path, which make that operand a block of rows at
 * a time in a per-thread scratch buffer (conv2d_common.h) instead of reading it whole.
 * db is a column sum of dy (here) on every path.
 *
 * Threads: one pool only. Every parallel loop is OpenMP with ex.threads threads; OpenBLAS is
 * set to one thread and each OpenMP thread calls sgemm on its own tile or chunk. Letting
 * OpenBLAS run its own pthreads next to OpenMP's made the GEMM paths 5-10x slower whenever
 * the two cores were also busy with anything else (both pools spin-wait for each other), and
 * OpenBLAS cannot split dw's long reduction over pixels across threads anyway.
 *
 * Loops hand out contiguous parts of their rows/tiles dynamically (a descheduled thread
 * does not stall the rest). Reductions (db, dw) keep one partial sum per part, combined in
 * part order, and the parts depend only on the thread count: results are deterministic for a
 * given thread count.
 */
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv2d_common.h"
#include "cpu_kernels.h"
#include "row_blocks.h"

namespace es::cpu::ES_CPU_ISA {
namespace {

/* sums[c] = sum over rows of m[r, c] (m is [rows, C]): per part, in float over 64 rows then in
 * double (row_blocks.h's sum_rows), the parts added in order. */
void column_sums(const Exec& ex, const float* m, int64_t rows, int C, float* sums) {
    const int T = threads_for(ex, (double)rows * C);
    const int64_t parts = part_count(rows, T, kPartialsPerThread);
    std::vector<double> partial((size_t)(parts * C), 0.0);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        double* p = partial.data() + part * C;
        sum_rows<1>(C, part_begin(rows, parts, part), part_begin(rows, parts, part + 1), &p,
                    [&](int64_t r, int c0, auto width, auto& acc) {
                        const float* row = m + r * C + c0;
#pragma omp simd
                        for (int j = 0; j < width; j++) acc[0][j] += row[j];
                    });
    }
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int64_t part = 0; part < parts; part++) sum += partial[part * C + c];
        sums[c] = (float)sum;
    }
}

}  // namespace

void conv2d_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                    const float* b, const ConvEpilogue& e, float* y) {
    if (is_depthwise(g))
        depthwise_forward(ex, g, x, w, b, e, y);
    else if (pointwise_direct_fits(g))
        pointwise_forward_direct(ex, g, x, nullptr, w, b, e, y);
    else if (is_short_dense(g) && !is_pointwise(g))
        short_dense_forward(ex, g, x, w, b, e, y);
    else if (winograd_fits(g))
        winograd_forward(ex, g, x, w, b, e, y);
    else if (taps_fit(g))
        taps_forward(ex, g, x, w, b, e, y);
    else
        gemm_forward(ex, g, x, w, b, e, y);
}

void conv2d_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
    if (is_depthwise(g)) {
        depthwise_backward(ex, g, x, w, dy, dx, dw, dw ? db : nullptr);
        if (!dw && db) column_sums(ex, dy, (int64_t)g.N * g.OH * g.OW, g.Cout, db);
        return;
    }
    if (dw && short_dense_dw_fits(g)) {
        short_dense_backward_dw(ex, g, x, dy, dw);
        if (dx) gemm_backward(ex, g, x, w, dy, dx, nullptr);
    } else if (dx || dw) {
        if (pointwise_direct_fits(g))
            pointwise_backward_direct(ex, g, x, nullptr, w, dy, nullptr, dx, dw, nullptr);
        else if (winograd_fits(g)) { /* dx by Winograd, dw by taps (conv2d_winograd.cpp) */
            if (dx) winograd_backward_dx(ex, g, w, dy, dx);
            if (dw && taps_fit(g))
                taps_backward(ex, g, x, w, dy, nullptr, dw);
            else if (dw)
                gemm_backward(ex, g, x, w, dy, nullptr, dw);
        } else if (taps_fit(g))
            taps_backward(ex, g, x, w, dy, dx, dw);
        else
            gemm_backward(ex, g, x, w, dy, dx, dw);
    }
    if (db) column_sums(ex, dy, (int64_t)g.N * g.OH * g.OW, g.Cout, db);
}

/* Pointwise only (the C ABI checks): the paths of conv2d_forward / conv2d_backward for pointwise
 * geometries, each making the product x * s (and conv2d_backward_bn its dy from the batch norm's
 * unfinished dx) a block of rows at a time. */
void conv2d_forward_gated(const Exec& ex, const ConvGeom& g, const float* x, const float* s,
                          const float* w, const float* b, const ConvEpilogue& e, float* y) {
    if (pointwise_direct_fits(g))
        pointwise_forward_direct(ex, g, x, s, w, b, e, y);
    else
        gemm_forward_pointwise(ex, g, x, s, w, b, e, y);
}

void conv2d_backward_gated(const Exec& ex, const ConvGeom& g, const float* x, const float* s,
                           const float* w, const float* dy, float* dx, float* dw, float* db,
                           float* ds) {
    if (dx || dw) {
        if (pointwise_direct_fits(g))
            pointwise_backward_direct(ex, g, x, s, w, dy, nullptr, dx, dw, ds);
        else
            gemm_backward_pointwise(ex, g, x, s, w, dy, nullptr, dx, dw, ds);
    }
    if (db) column_sums(ex, dy, (int64_t)g.N * g.OH * g.OW, g.Cout, db);
}

void conv2d_forward_blocks(const Exec& ex, const ConvGeom& g, const float* x, const float* x2,
                           int C2, const float* w, const float* b, const ConvEpilogue& e,
                           float* y) {
    ConvGeom all = g;
    all.Cin = g.Cin + C2;
    if (pointwise_direct_fits(all))
        pointwise_forward_direct(ex, g, x, nullptr, w, b, e, y, x2, C2);
    else
        gemm_forward_pointwise(ex, g, x, nullptr, w, b, e, y, x2, C2);
}

void conv2d_backward_bn(const Exec& ex, const ConvGeom& g, const float* x, const float* s,
                        const float* x2, int C2, const float* w, const BnDy& bn, float* dx,
                        float* dx2, float* dw, float* ds) {
    if (!dx && !dw) return;
    const Blocks2 second{x2, C2, dx2};
    if (pointwise_direct_fits(g, C2))
        pointwise_backward_direct(ex, g, x, s, w, nullptr, &bn, dx, dw, ds, second);
    else
        gemm_backward_pointwise(ex, g, x, s, w, nullptr, &bn, dx, dw, ds, second);
}

}  // namespace es::cpu::ES_CPU_ISA
