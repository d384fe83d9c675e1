/*
 * conv2d_rows.h — the register-blocked row products that the direct pointwise path
 * (conv2d_pointwise.cpp) and the per-tap dense path (conv2d_taps.cpp) are made of. A "row" is
 * one pixel's channels, contiguous; rows follow each other at a fixed stride (the channel count),
 * so a run of pixels of one image row in NHWC is a run of rows.
 *   rows_times: out[r, :] (+)= a[r, :] · m         (m is [K][N], N a multiple of 8)
 *   dw_rows:    part[ci, co] (+)= sum over rows r of x[r, ci] dy[r, co]
 * Vectors run over contiguous channels: rows_times over output columns (each a value
 * broadcast, several rows at a time so each vector of m loaded serves them all), dw_rows over
 * output channels (each x value broadcast, kDwGroup input channels x up to two output vectors in
 * registers). Each output element is one sum in a fixed order (k, or r, ascending). Both
 * fetch rows ahead of use: read a few columns at a time, rows of several cache lines are a
 * pattern the hardware prefetchers miss.
 */
#ifndef EFFISEG_CPU_CONV2D_ROWS_H
#define EFFISEG_CPU_CONV2D_ROWS_H

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "conv2d_common.h"

namespace es::cpu::ES_CPU_ISA {

/* Input channels per dw register block: 8 x 2 vectors fits AVX-512's 32 registers, 4 x 2
 * AVX2's 16, and SSE's 16 (the portable path) in 4-float vectors. */
#if defined(__AVX512F__)
constexpr int kDwGroup = 8;
#else
constexpr int kDwGroup = 4;
#endif

/* A second operand whose products continue rows_times' sums: out[r, :] (+)= a[r, :] · m +
 * a2[r, :] · m2 (a2 [rows][K2], m2 [K2][N]), each sum added in that order, as a second call
 * with ACC would add it, without storing and reloading the sums in between (a Ghost module's
 * two halves into the next pointwise convolution: two passes over 8x224x224 16+16->16 took
 * 2.5x the time of one half's). */
struct RowsOperand2 {
    const float* a = nullptr;
    int K = 0;
    const float* m = nullptr;
};

/* out[r, c0 .. c0+L*NV) (+= with ACC) a[r, :] · m[:, c0 ..] for rows [r0, r1), R rows at a
 * time; a is [rows][K], m is [K][N], out is [rows][N]. Each of the R x NV sums is a chain of K
 * dependent multiply-adds, so R x NV must cover the FMA latency times the FMA units (4 x 2):
 * with one vector of columns (16 output channels on AVX-512) four rows left every sum waiting
 * on its previous multiply-add, and eight run twice as fast. */
template <int L, int NV, bool ACC, bool TWO>
inline void rows_times_block(const float* a, int K, const float* m, int N, int c0, int64_t r0,
                             int64_t r1, float* out, const RowsOperand2& second) {
    typedef typename Vec<L>::type V;
    constexpr int R = NV == 1 ? 8 : 4;
    /* The operands' sums in turn: a·m, then (second) a2·m2 continuing the same sums. Rows of a
     * of two or more cache lines (K >= 32) are read a column at a time, a line of each of the R
     * rows per 16 k: a pattern the hardware prefetchers did not follow (8x112x112 96->16 with a
     * from memory took 1.5-1.7x the time), so the first k each fetch a line of the block of
     * rows two blocks ahead. */
    auto add_products = [&](auto& acc, const float* d, int KK, const float* mm, auto rows_c) {
        constexpr int rows = decltype(rows_c)::value;
        const int64_t ahead = (int64_t)2 * rows * KK;
        const int lines = KK >= 32 ? rows * KK / 16 : 0;
        for (int k = 0; k < KK; k++) {
            if (k < lines) prefetch_at(d, ahead + (int64_t)k * 16);
            V wv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) wv[v] = vload<L>(mm + (int64_t)k * N + c0 + L * v);
#pragma GCC unroll 8
            for (int i = 0; i < rows; i++) {
                const V b = vsplat<L>(d[(int64_t)i * KK + k]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[i][v] += b * wv[v];
            }
        }
    };
    int64_t r = r0;
    for (; r + R <= r1; r += R) {
        V acc[R][NV];
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[i][v] = ACC ? vload<L>(out + (r + i) * N + c0 + L * v) : V{};
        add_products(acc, a + r * K, K, m, std::integral_constant<int, R>{});
        if constexpr (TWO)
            add_products(acc, second.a + r * second.K, second.K, second.m,
                         std::integral_constant<int, R>{});
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) vstore<L>(out + (r + i) * N + c0 + L * v, acc[i][v]);
    }
    for (; r < r1; r++) {
        V acc[1][NV];
        for (int v = 0; v < NV; v++) acc[0][v] = ACC ? vload<L>(out + r * N + c0 + L * v) : V{};
        add_products(acc, a + r * K, K, m, std::integral_constant<int, 1>{});
        if constexpr (TWO)
            add_products(acc, second.a + r * second.K, second.K, second.m,
                         std::integral_constant<int, 1>{});
        for (int v = 0; v < NV; v++) vstore<L>(out + r * N + c0 + L * v, acc[0][v]);
    }
}

/* out[r, :] (+= with ACC) a[r, :] · m for rows [r0, r1), N a multiple of 8, in blocks of up to
 * 4 vectors of columns (16 accumulators; on AVX2's 16 registers the widest block spills a
 * little, on AVX-512's 32 none does; the portable path's blocks are 2 SSE vectors, 8
 * accumulators). */
template <bool ACC, bool TWO = false>
inline void rows_times(const float* a, int K, const float* m, int N, int64_t r0, int64_t r1,
                       float* out, const RowsOperand2& second = {}) {
    int c = 0;
#if defined(__AVX512F__)
    for (; c + 64 <= N; c += 64)
        rows_times_block<16, 4, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
    if (N - c == 24) { /* one pass with 12 sums beats a 16-wide and an 8-wide one */
        rows_times_block<8, 3, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
        return;
    }
    if (N - c >= 48) {
        rows_times_block<16, 3, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
        c += 48;
    } else if (N - c >= 32) {
        rows_times_block<16, 2, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
        c += 32;
    } else if (N - c >= 16) {
        rows_times_block<16, 1, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
        c += 16;
    }
    if (N - c == 8) rows_times_block<8, 1, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
#elif defined(__AVX2__)
    for (; c + 32 <= N; c += 32)
        rows_times_block<8, 4, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
    if (N - c == 24) rows_times_block<8, 3, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
    if (N - c == 16) rows_times_block<8, 2, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
    if (N - c == 8) rows_times_block<8, 1, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
#else
    for (; c + 8 <= N; c += 8) rows_times_block<4, 2, ACC, TWO>(a, K, m, N, c, r0, r1, out, second);
#endif
}

/* part[ci0 .. ci0+kDwGroup, co0 .. co0+L*NV) (+= with ACC) sum over rows [r0, r1) of
 * x[r, ci] dy[r, co]; x is [rows][Cin], dy [rows][Cout], part [Cin][Cout]. */
template <int L, int NV, bool ACC, int G = kDwGroup>
inline void dw_rows_block(const float* x, int Cin, const float* dy, int Cout, int ci0, int co0,
                          int64_t r0, int64_t r1, float* part) {
    typedef typename Vec<L>::type V;
    V acc[G][NV];
#pragma GCC unroll 16
    for (int g = 0; g < G; g++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[g][v] = ACC ? vload<L>(part + (int64_t)(ci0 + g) * Cout + co0 + L * v) : V{};
    /* this block's columns of dy and x 32 rows ahead: a few lines of each longer row, which
     * the hardware prefetchers did not follow (8x112x112 16->96 dw, 1.45x the time) */
    for (int64_t r = r0; r < r1; r++) {
        prefetch_at(dy, (r + 32) * Cout + co0);
        if constexpr (L * NV > 16) prefetch_at(dy, (r + 32) * Cout + co0 + 16);
        prefetch_at(x, (r + 32) * Cin + ci0);
        V d[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) d[v] = vload<L>(dy + r * Cout + co0 + L * v);
        const float* xr = x + r * Cin + ci0;
#pragma GCC unroll 16
        for (int g = 0; g < G; g++) {
            const V b = vsplat<L>(xr[g]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[g][v] += b * d[v];
        }
    }
#pragma GCC unroll 16
    for (int g = 0; g < G; g++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            vstore<L>(part + (int64_t)(ci0 + g) * Cout + co0 + L * v, acc[g][v]);
}

/* part (+= with ACC) sum over rows [r0, r1) of x[r, :]ᵀ dy[r, :]; Cin a multiple of kDwGroup,
 * Cout of 8. */
template <bool ACC>
inline void dw_rows(const float* x, int Cin, const float* dy, int Cout, int64_t r0, int64_t r1,
                    float* part) {
    int ci = 0;
#if defined(__AVX512F__)
    /* 16 output channels: 16 input channels at a time where there are 16 (16 sums in flight:
     * with 8, each waited on its previous multiply-add, and the decoder's 16->16 and 32->16 dw
     * took 1.2x as long; with an 8-channel tail of columns as well, 144->24, it was slower) */
    if (Cout == 16)
        for (; ci + 16 <= Cin; ci += 16)
            dw_rows_block<16, 1, ACC, 16>(x, Cin, dy, Cout, ci, 0, r0, r1, part);
#endif
    for (; ci < Cin; ci += kDwGroup) {
        int co = 0;
#if defined(__AVX512F__)
        for (; co + 32 <= Cout; co += 32)
            dw_rows_block<16, 2, ACC>(x, Cin, dy, Cout, ci, co, r0, r1, part);
        if (Cout - co >= 16) {
            dw_rows_block<16, 1, ACC>(x, Cin, dy, Cout, ci, co, r0, r1, part);
            co += 16;
        }
#elif defined(__AVX2__)
        for (; co + 16 <= Cout; co += 16)
            dw_rows_block<8, 2, ACC>(x, Cin, dy, Cout, ci, co, r0, r1, part);
#else
        for (; co + 8 <= Cout; co += 8)
            dw_rows_block<4, 2, ACC>(x, Cin, dy, Cout, ci, co, r0, r1, part);
#endif
        if (co < Cout) dw_rows_block<8, 1, ACC>(x, Cin, dy, Cout, ci, co, r0, r1, part);
    }
}

/* The weights of each of `taps` taps, [Cin][Cout], transposed to [Cout][Cin]: the m of
 * rows_times for dx = dy · wᵀ. */
inline std::vector<float> transposed_taps(const float* w, int taps, int Cin, int Cout) {
    const int64_t tap_size = (int64_t)Cin * Cout;
    std::vector<float> wt((size_t)(taps * tap_size));
    for (int t = 0; t < taps; t++)
        for (int ci = 0; ci < Cin; ci++)
            for (int co = 0; co < Cout; co++)
                wt[(size_t)(t * tap_size + (int64_t)co * Cin + ci)] =
                    w[t * tap_size + (int64_t)ci * Cout + co];
    return wt;
}

/* dw[i] = sum over blocks b of partial[b][i] (each `size` floats), in double and in block order,
 * so that dw depends on the blocks only, never on which thread summed which block. */
inline void sum_block_partials(const Exec& ex, const float* partial, int64_t blocks,
                               int64_t size, float* dw) {
    /* a span of elements at a time, the blocks' rows of it read in order (one element at a
     * time over all blocks read a cache line per block and element) */
    constexpr int64_t kSpan = 256;
    const int64_t spans = (size + kSpan - 1) / kSpan;
#pragma omp parallel for num_threads(threads_for(ex, (double)blocks * size)) schedule(static)
    for (int64_t sp = 0; sp < spans; sp++) {
        const int64_t i0 = sp * kSpan, n = std::min(kSpan, size - i0);
        double sum[kSpan] = {};
        for (int64_t b = 0; b < blocks; b++) {
            const float* p = partial + (size_t)(b * size + i0);
            for (int64_t i = 0; i < n; i++) sum[i] += p[i];
        }
        for (int64_t i = 0; i < n; i++) dw[i0 + i] = (float)sum[i];
    }
}

}  // namespace es::cpu::ES_CPU_ISA

#endif
