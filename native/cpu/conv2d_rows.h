/*
 * conv2d_rows.h — the register-blocked row products that the direct pointwise path
 * (conv2d_pointwise.cpp) and the per-tap dense path (conv2d_taps.cpp) are made of. A "row" is
 * one pixel's channels, contiguous; rows follow each other at a fixed stride (the channel count),
 * so a run of pixels of one image row in NHWC is a run of rows.
 *   rows_times: out[r, :] (+)= a[r, :] · m         (m is [K][N], N a multiple of 8)
 *   dw_rows:    part[ci, co] (+)= sum over rows r of x[r, ci] dy[r, co]
 * Vectors are 8 floats over contiguous channels: rows_times over output columns (each a value
 * broadcast, four rows at a time so each vector of m loaded serves four rows), dw_rows over
 * output channels (each x value broadcast, kDwGroup input channels x up to two output vectors in
 * registers). Each output element is one sum in a fixed order (k, or r, ascending).
 */
#ifndef EFFISEG_CPU_CONV2D_ROWS_H
#define EFFISEG_CPU_CONV2D_ROWS_H

#include <cstdint>

#include "conv2d_common.h"

namespace es::cpu::ES_CPU_ISA {

/* Input channels per dw register block: 8 x 2 vectors fits AVX-512's 32 registers, 4 x 2
 * AVX2's 16 (SSE, the portable path, spills either way). */
#if defined(__AVX512F__)
constexpr int kDwGroup = 8;
#else
constexpr int kDwGroup = 4;
#endif

/* out[r, c0 .. c0+8NV) (+= with ACC) a[r, :] · m[:, c0 ..] for rows [r0, r1); a is [rows][K],
 * m is [K][N], out is [rows][N]. */
template <int NV, bool ACC>
inline void rows_times_block(const float* a, int K, const float* m, int N, int c0, int64_t r0,
                             int64_t r1, float* out) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        v8 acc[4][NV];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[i][v] = ACC ? load8(out + (r + i) * N + c0 + 8 * v) : v8{};
        const float* d = a + r * K;
        for (int k = 0; k < K; k++) {
            v8 wv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) wv[v] = load8(m + (int64_t)k * N + c0 + 8 * v);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                const v8 b = splat(d[(int64_t)i * K + k]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[i][v] += b * wv[v];
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) store8(out + (r + i) * N + c0 + 8 * v, acc[i][v]);
    }
    for (; r < r1; r++) {
        v8 acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = ACC ? load8(out + r * N + c0 + 8 * v) : v8{};
        const float* d = a + r * K;
        for (int k = 0; k < K; k++) {
            const v8 b = splat(d[k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[v] += b * load8(m + (int64_t)k * N + c0 + 8 * v);
        }
        for (int v = 0; v < NV; v++) store8(out + r * N + c0 + 8 * v, acc[v]);
    }
}

/* out[r, :] (+= with ACC) a[r, :] · m for rows [r0, r1), N a multiple of 8. */
template <bool ACC>
inline void rows_times(const float* a, int K, const float* m, int N, int64_t r0, int64_t r1,
                       float* out) {
    int c = 0;
    for (; c + 32 <= N; c += 32) rows_times_block<4, ACC>(a, K, m, N, c, r0, r1, out);
    if (N - c == 24) rows_times_block<3, ACC>(a, K, m, N, c, r0, r1, out);
    if (N - c == 16) rows_times_block<2, ACC>(a, K, m, N, c, r0, r1, out);
    if (N - c == 8) rows_times_block<1, ACC>(a, K, m, N, c, r0, r1, out);
}

/* part[ci0 .. ci0+kDwGroup, co0 .. co0+8NV) (+= with ACC) sum over rows [r0, r1) of
 * x[r, ci] dy[r, co]; x is [rows][Cin], dy [rows][Cout], part [Cin][Cout]. */
template <int NV, bool ACC>
inline void dw_rows_block(const float* x, int Cin, const float* dy, int Cout, int ci0, int co0,
                          int64_t r0, int64_t r1, float* part) {
    v8 acc[kDwGroup][NV];
#pragma GCC unroll 8
    for (int g = 0; g < kDwGroup; g++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[g][v] = ACC ? load8(part + (int64_t)(ci0 + g) * Cout + co0 + 8 * v) : v8{};
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

/* part (+= with ACC) sum over rows [r0, r1) of x[r, :]ᵀ dy[r, :]; Cin a multiple of kDwGroup,
 * Cout of 8. */
template <bool ACC>
inline void dw_rows(const float* x, int Cin, const float* dy, int Cout, int64_t r0, int64_t r1,
                    float* part) {
    for (int ci = 0; ci < Cin; ci += kDwGroup) {
        int co = 0;
        for (; co + 16 <= Cout; co += 16)
            dw_rows_block<2, ACC>(x, Cin, dy, Cout, ci, co, r0, r1, part);
        if (co < Cout) dw_rows_block<1, ACC>(x, Cin, dy, Cout, ci, co, r0, r1, part);
    }
}

}  // namespace es::cpu::ES_CPU_ISA

#endif
