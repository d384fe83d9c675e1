/*
 * conv2d_pointwise.cpp — the backward pass of pointwise convolutions (1x1, stride 1, no
 * padding, no groups) with a small weight matrix, as direct loops instead of sgemm:
 *   dx[r, :] = w · dy[r, :]          (w is [Cin, Cout])
 *   dw       = sum over rows r of x[r, :]ᵀ dy[r, :]
 * and, with Cout a multiple of 8, their forward pass the same way (y[r, :] = x[r, :] · w + b, then
 * the epilogue, per block; with one output channel sgemm's dot products were faster).
 * EffiSegNet's decoder runs such convolutions over every pixel of the input size (the Ghost
 * modules' 32->16 primary convolutions, the 32->1 head) and the encoder's first blocks over
 * 112x112 and 56x56 maps (16->96, 24->144): a few multiply-adds per byte, so the op is bound by
 * memory, and sgemm with a reduction of 16 to 32 values or 16 to 32 output columns spent most
 * of its time packing and on its tile edges (8x224x224 32->16: dw 15.5 ms, dx 8.5 ms on one
 * thread; one pass here).
 *
 * Rows are cut into blocks of kRowsPerBlock, a constant, and handed out dynamically; each
 * block computes its rows of dx and its own partial dw (in float, registers over the block),
 * and the partials are added in block order in double. So dw does not depend on the thread
 * count, and every dx element is one dot product in a fixed order.
 *
 * Vectors are 8 floats over contiguous channels: dx over input channels (each dy value
 * broadcast, four rows at a time so each weight vector loaded serves four rows), dw over output
 * channels (each x value broadcast, G input channels x up to two output vectors in registers).
 */
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv2d_common.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

constexpr int64_t kRowsPerBlock = 512;

/* Input channels per dw register block: 8 x 2 vectors fits AVX-512's 32 registers, 4 x 2
 * AVX2's 16 (SSE, the portable path, spills either way). */
#if defined(__AVX512F__)
constexpr int kDwGroup = 8;
#else
constexpr int kDwGroup = 4;
#endif

/* dx[r, c0 .. c0+8NV) for rows [r0, r1); wt is w transposed, [Cout][Cin]. */
template <int NV>
void dx_rows(const float* dy, int Cout, const float* wt, int Cin, int c0, int64_t r0, int64_t r1,
             float* dx) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        v8 acc[4][NV];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[i][v] = v8{};
        const float* d = dy + r * Cout;
        for (int co = 0; co < Cout; co++) {
            v8 wv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) wv[v] = load8(wt + (int64_t)co * Cin + c0 + 8 * v);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                const v8 b = splat(d[(int64_t)i * Cout + co]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[i][v] += b * wv[v];
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) store8(dx + (r + i) * Cin + c0 + 8 * v, acc[i][v]);
    }
    for (; r < r1; r++) {
        v8 acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = v8{};
        const float* d = dy + r * Cout;
        for (int co = 0; co < Cout; co++) {
            const v8 b = splat(d[co]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[v] += b * load8(wt + (int64_t)co * Cin + c0 + 8 * v);
        }
        for (int v = 0; v < NV; v++) store8(dx + r * Cin + c0 + 8 * v, acc[v]);
    }
}

/* out[r, :] = a[r, :] · m for rows [r0, r1), a being [rows][K] and m [K][N], N a multiple of 8:
 * dx = dy · wᵀ (with wt) and the forward y = x · w. */
void rows_times(const float* a, int K, const float* m, int N, int64_t r0, int64_t r1,
                float* out) {
    int c = 0;
    for (; c + 32 <= N; c += 32) dx_rows<4>(a, K, m, N, c, r0, r1, out);
    if (N - c == 24) dx_rows<3>(a, K, m, N, c, r0, r1, out);
    if (N - c == 16) dx_rows<2>(a, K, m, N, c, r0, r1, out);
    if (N - c == 8) dx_rows<1>(a, K, m, N, c, r0, r1, out);
}

/* part[ci0 .. ci0+kDwGroup, co0 .. co0+8NV) = sum over rows [r0, r1) of x[r, ci] dy[r, co]. */
template <int NV>
void dw_rows(const float* x, int Cin, const float* dy, int Cout, int ci0, int co0, int64_t r0,
             int64_t r1, float* part) {
    v8 acc[kDwGroup][NV];
#pragma GCC unroll 8
    for (int g = 0; g < kDwGroup; g++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[g][v] = v8{};
    for (int64_t r = r0; r < r1; r++) {
        v8 d[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) d[v] = load8(dy + r * Cout + co0 + 8 * v);
        const float* xr = x + r * Cin + ci0;
#pragma GCC unroll 8
        for (int g = 0; g < kDwGroup; g++) {
            const v8 b = splat(xr[g]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[g][v] += b * d[v];
        }
    }
#pragma GCC unroll 8
    for (int g = 0; g < kDwGroup; g++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) store8(part + (int64_t)(ci0 + g) * Cout + co0 + 8 * v, acc[g][v]);
}

/* One block of rows: dx (if wanted) and this block's partial dw (if wanted). */
void block_backward(const ConvGeom& g, const float* x, const float* w, const float* wt,
                    const float* dy, int64_t r0, int64_t r1, float* dx, float* part) {
    const int Cin = g.Cin, Cout = g.Cout;
    if (Cout == 1) { /* dx[r, :] = dy[r] w, part += dy[r] x[r, :] */
        if (part) std::fill(part, part + Cin, 0.0f);
        for (int64_t r = r0; r < r1; r++) {
            const float d = dy[r];
            const float* xr = x + r * Cin;
            if (dx) {
                float* dxr = dx + r * Cin;
#pragma omp simd
                for (int c = 0; c < Cin; c++) dxr[c] = d * w[c];
            }
            if (part) {
#pragma omp simd
                for (int c = 0; c < Cin; c++) part[c] += d * xr[c];
            }
        }
        return;
    }
    if (dx) rows_times(dy, Cout, wt, Cin, r0, r1, dx);
    if (part) {
        for (int ci = 0; ci < Cin; ci += kDwGroup) {
            int co = 0;
            for (; co + 16 <= Cout; co += 16) dw_rows<2>(x, Cin, dy, Cout, ci, co, r0, r1, part);
            if (co < Cout) dw_rows<1>(x, Cin, dy, Cout, ci, co, r0, r1, part);
        }
    }
}

}  // namespace

bool pointwise_direct_fits(const ConvGeom& g) {
    return is_pointwise(g) && g.groups == 1 && g.Cin % 8 == 0 && g.Cin % kDwGroup == 0 &&
           (g.Cout % 8 == 0 || g.Cout == 1) && (int64_t)g.Cin * g.Cout <= kPointwiseDirectMaxWeights;
}

void pointwise_backward_direct(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                               const float* dy, float* dx, float* dw) {
    const int Cin = g.Cin, Cout = g.Cout;
    const int64_t M = (int64_t)g.N * g.H * g.W;
    const int64_t blocks = (M + kRowsPerBlock - 1) / kRowsPerBlock;
    const int64_t wsize = (int64_t)Cin * Cout;
    std::vector<float> wt((size_t)wsize); /* [Cout][Cin] */
    for (int ci = 0; ci < Cin; ci++)
        for (int co = 0; co < Cout; co++) wt[(size_t)co * Cin + ci] = w[(int64_t)ci * Cout + co];
    std::vector<float> partial(dw ? (size_t)(blocks * wsize) : 0);
    const int T = threads_for(ex, (double)M * wsize * ((dx ? 1 : 0) + (dw ? 1 : 0)));
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t r0 = b * kRowsPerBlock, r1 = std::min(M, r0 + kRowsPerBlock);
        block_backward(g, x, w, wt.data(), dy, r0, r1, dx, dw ? partial.data() + b * wsize : nullptr);
    }
    if (!dw) return;
#pragma omp parallel for num_threads(threads_for(ex, (double)blocks * wsize)) schedule(static)
    for (int64_t i = 0; i < wsize; i++) {
        double sum = 0.0;
        for (int64_t b = 0; b < blocks; b++) sum += partial[(size_t)(b * wsize + i)];
        dw[i] = (float)sum;
    }
}

void pointwise_forward_direct(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                              const float* b, const ConvEpilogue& e, float* y) {
    const int Cin = g.Cin, Cout = g.Cout;
    const int64_t M = (int64_t)g.N * g.H * g.W;
    const int64_t blocks = (M + kRowsPerBlock - 1) / kRowsPerBlock;
    const int T = threads_for(ex, (double)M * Cin * Cout);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t r0 = blk * kRowsPerBlock, r1 = std::min(M, r0 + kRowsPerBlock);
        rows_times(x, Cin, w, Cout, r0, r1, y); /* y[r, :] = x[r, :] · w, w is [Cin][Cout] */
        for (int64_t r = r0; b && r < r1; r++) {
            float* yr = y + r * Cout;
#pragma omp simd
            for (int co = 0; co < Cout; co++) yr[co] += b[co];
        }
        if (e.any())
            conv_epilogue(e, y + r0 * Cout, e.residual ? e.residual + r0 * Cout : nullptr, r1 - r0,
                          Cout);
    }
}

}  // namespace es::cpu::ES_CPU_ISA
