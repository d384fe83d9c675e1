/*
 * conv2d_direct.cpp — the direct path of conv2d.cpp for dense convolutions with a short
 * reduction (at most kDirectMaxK values per output: the 3x3x3 stem), forward, and the stem's
 * weight gradient.
 */
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv2d_common.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* The stem (3x3x3 -> 32) reduces over K = 27 values per output: too short for a GEMM, whose
 * packing then costs about as much as the arithmetic. Instead a few output pixels at a time
 * (kDirectPixels) accumulate all their output channels in registers: per input value, one
 * broadcast per pixel and NV weight vectors feed NV FMAs per pixel. An interior pixel reads its
 * patch straight from x (each kernel row is one contiguous run of KW*Cin values); a border pixel
 * first gathers it, with zeros for the padding. */

/* out[p][co..] = b[co..] + sum over kernel rows kh and j < L of
 *   src[p*KH + kh][j] * w[(kh*L + j)*Cout + co..]   for P pixels, VL*NV channels (NV = 0: one).
 * Every output channel adds its products in the same order whatever VL, NV and P are. */
template <int P, int VL, int NV>
inline void direct_block(const float* const* src, int KH, int L, const float* w, int Cout,
                         const float* b, float* const* out, int co) {
    if constexpr (NV == 0) {
        for (int p = 0; p < P; p++) {
            float acc = b ? b[co] : 0.0f;
            for (int kh = 0; kh < KH; kh++)
                for (int j = 0; j < L; j++)
                    acc += src[p * KH + kh][j] * w[(int64_t)(kh * L + j) * Cout + co];
            out[p][co] = acc;
        }
    } else {
        typedef typename Vec<VL>::type V;
        V acc[P][NV];
        for (int p = 0; p < P; p++)
            for (int v = 0; v < NV; v++) acc[p][v] = b ? vload<VL>(b + co + VL * v) : V{};
        const float* wk = w + co;
        for (int kh = 0; kh < KH; kh++) {
            const float* row[P];
            for (int p = 0; p < P; p++) row[p] = src[p * KH + kh];
            for (int j = 0; j < L; j++, wk += Cout) {
                V wv[NV];
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) wv[v] = vload<VL>(wk + VL * v);
#pragma GCC unroll 8
                for (int p = 0; p < P; p++) {
                    const V xv = vsplat<VL>(row[p][j]);
#pragma GCC unroll 8
                    for (int v = 0; v < NV; v++) acc[p][v] += xv * wv[v];
                }
            }
        }
        for (int p = 0; p < P; p++)
            for (int v = 0; v < NV; v++) vstore<VL>(out[p] + co + VL * v, acc[p][v]);
    }
}

/* Output pixels per register block: with AVX-512's 32 registers, 4 pixels x 32 channels in
 * 16-float vectors (8 accumulators, a quarter of the multiply-add instructions per pixel of 8-float
 * ones over 2 pixels: the stem's forward ran in 0.59x the time); elsewhere 2 pixels x 32 channels
 * in 8-float vectors (8 of AVX's 16 registers). */
#if defined(__AVX512F__)
constexpr int kDirectPixels = 4;
#else
constexpr int kDirectPixels = 2;
#endif

template <int P>
void direct_pixels(const float* const* src, int KH, int L, const float* w, int Cout,
                   const float* b, float* const* out) {
    int co = 0;
#if defined(__AVX512F__)
    for (; co + 32 <= Cout; co += 32) direct_block<P, 16, 2>(src, KH, L, w, Cout, b, out, co);
    for (; co + 16 <= Cout; co += 16) direct_block<P, 16, 1>(src, KH, L, w, Cout, b, out, co);
#else
    for (; co + 32 <= Cout; co += 32) direct_block<P, 8, 4>(src, KH, L, w, Cout, b, out, co);
#endif
    for (; co + 8 <= Cout; co += 8) direct_block<P, 8, 1>(src, KH, L, w, Cout, b, out, co);
    for (; co < Cout; co++) direct_block<P, 8, 0>(src, KH, L, w, Cout, b, out, co);
}

}  // namespace

namespace {

/* Points src[p*KH .. p*KH + KH) at the kernel rows of the patch of output pixel (n, ih0, ow):
 * straight into x when the patch lies inside the image, else into `patch` (KH*KW*Cin values)
 * after gathering it there with zeros for the padding. */
inline void patch_rows(const ConvGeom& g, const float* x, int n, int ih0, int ow, float* patch,
                       const float** src) {
    const int KH = g.KH, L = g.KW * g.Cin;
    const int iw0 = ow * g.stride_w - g.pad_left;
    if (ih0 >= 0 && ih0 + KH <= g.H && iw0 >= 0 && iw0 + g.KW <= g.W) {
        for (int kh = 0; kh < KH; kh++)
            src[kh] = x + (((int64_t)n * g.H + ih0 + kh) * g.W + iw0) * g.Cin;
        return;
    }
    float* dst = patch;
    for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < g.KW; kw++, dst += g.Cin) {
            const int ih = ih0 + kh, iw = iw0 + kw;
            if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) {
                const float* from = x + (((int64_t)n * g.H + ih) * g.W + iw) * g.Cin;
                for (int ci = 0; ci < g.Cin; ci++) dst[ci] = from[ci];
            } else {
                for (int ci = 0; ci < g.Cin; ci++) dst[ci] = 0.0f;
            }
        }
    for (int kh = 0; kh < KH; kh++) src[kh] = patch + kh * L;
}

}  // namespace

void short_dense_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                         const float* b, const ConvEpilogue& e, float* y) {
    const int KH = g.KH, L = g.KW * g.Cin, OW = g.OW;
    const int64_t rows = (int64_t)g.N * g.OH;
    const int T = threads_for(ex, (double)rows * OW * KH * L * g.Cout);
    const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        constexpr int P = kDirectPixels;
        float patch[P][kDirectMaxK];
        const float* src[P * kDirectMaxK]; /* KH <= K <= kDirectMaxK row pointers per pixel */
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
            const int n = (int)(r / g.OH), ih0 = (int)(r % g.OH) * g.stride_h - g.pad_top;
            /* points src[p*KH .. p*KH + KH) at the kernel rows of output ow's patch */
            auto patch_rows = [&](int ow, int p) {
                es::cpu::ES_CPU_ISA::patch_rows(g, x, n, ih0, ow, patch[p], src + p * KH);
            };
            float* yrow = y + r * OW * g.Cout;
            int ow = 0;
            for (; ow + P <= OW; ow += P) {
                float* out[P];
                for (int p = 0; p < P; p++) {
                    patch_rows(ow + p, p);
                    out[p] = yrow + (int64_t)(ow + p) * g.Cout;
                }
                direct_pixels<P>(src, KH, L, w, g.Cout, b, out);
            }
            for (; ow < OW; ow++) {
                patch_rows(ow, 0);
                float* out[1] = {yrow + (int64_t)ow * g.Cout};
                direct_pixels<1>(src, KH, L, w, g.Cout, b, out);
            }
            if (e.any())
                conv_epilogue(e, yrow, e.residual ? e.residual + r * OW * g.Cout : nullptr, OW, g.Cout);
        }
    }
}

namespace {

/* Output channels per register block of the weight gradient: 9 patch values x NV vectors of
 * VL floats (18 registers of AVX-512's 32, 9 of AVX's 16). */
#if defined(__AVX512F__)
constexpr int kDwLanes = 16, kDwNV = 2;
#else
constexpr int kDwLanes = 8, kDwNV = 1;
#endif

/* part[j][co..] (9 x VL*NV, double) += sum over the output pixels of row (n, ih0) of
 * patch[kh][j] * dy[ow][co..] for kernel row kh; the row's products sum in float registers. */
template <int VL, int NV>
inline void dw_row_block(const ConvGeom& g, const float* x, int n, int ih0, int kh,
                         const float* dyrow, int co, double* part) {
    typedef typename Vec<VL>::type V;
    constexpr int L = 9;
    V acc[L][NV];
    for (int j = 0; j < L; j++)
        for (int v = 0; v < NV; v++) acc[j][v] = V{};
    float patch[kDirectMaxK];
    const float* src[kDirectMaxK];
    /* pixels [ow_lo, ow_hi) of a row whose patches lie inside the image read kernel row kh
     * straight from x; the others gather it (patch_rows) */
    const int sw = g.stride_w, pl = g.pad_left;
    int ow_lo = g.OW, ow_hi = g.OW;
    if (ih0 >= 0 && ih0 + g.KH <= g.H) inside_outputs(g.W, g.KW, sw, pl, g.OW, ow_lo, ow_hi);
    const float* xrow = x + (((int64_t)n * g.H + ih0 + kh) * g.W - pl) * g.Cin;
    for (int ow = 0; ow < g.OW; ow++) {
        const float* row;
        if (ow >= ow_lo && ow < ow_hi) {
            row = xrow + (int64_t)ow * sw * g.Cin;
        } else {
            patch_rows(g, x, n, ih0, ow, patch, src);
            row = src[kh];
        }
        const float* d = dyrow + (int64_t)ow * g.Cout + co;
        V dv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) dv[v] = vload<VL>(d + VL * v);
#pragma GCC unroll 9
        for (int j = 0; j < L; j++) {
            const V b = vsplat<VL>(row[j]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[j][v] += b * dv[v];
        }
    }
    for (int j = 0; j < L; j++)
        for (int v = 0; v < NV; v++)
            add_to_double<VL>(part + (int64_t)(kh * L + j) * g.Cout + co + VL * v, acc[j][v]);
}

}  // namespace

bool short_dense_dw_fits(const ConvGeom& g) {
    return is_short_dense(g) && g.KW * g.Cin == 9 && g.Cout % 8 == 0;
}

/* Parallel over parts of the output rows, each summing its rows into its own double partial
 * (rows in ascending order, each row's pixels in float registers); the partials are added in
 * part order, so dw depends on the thread count only through the parts. The GEMM path it
 * replaces wrote and read an im2col matrix 27 values wide, and its sgemm ran with 27 x 32
 * outputs over a long reduction. */
void short_dense_backward_dw(const Exec& ex, const ConvGeom& g, const float* x, const float* dy,
                             float* dw) {
    const int KH = g.KH, Cout = g.Cout;
    const int64_t rows = (int64_t)g.N * g.OH, wsize = (int64_t)KH * 9 * Cout;
    const int T = threads_for(ex, (double)rows * g.OW * KH * 9 * Cout);
    const int64_t parts = part_count(rows, T, kPartialsPerThread);
    std::vector<double> partial((size_t)(parts * wsize), 0.0);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        double* pw = partial.data() + part * wsize;
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
            const int n = (int)(r / g.OH), ih0 = (int)(r % g.OH) * g.stride_h - g.pad_top;
            const float* dyrow = dy + r * g.OW * Cout;
            for (int kh = 0; kh < KH; kh++) {
                int co = 0;
                for (; co + kDwLanes * kDwNV <= Cout; co += kDwLanes * kDwNV)
                    dw_row_block<kDwLanes, kDwNV>(g, x, n, ih0, kh, dyrow, co, pw);
                for (; co < Cout; co += 8) dw_row_block<8, 1>(g, x, n, ih0, kh, dyrow, co, pw);
            }
        }
    }
    for (int64_t i = 0; i < wsize; i++) {
        double sum = 0.0;
        for (int64_t part = 0; part < parts; part++) sum += partial[part * wsize + i];
        dw[i] = (float)sum;
    }
}

}  // namespace es::cpu::ES_CPU_ISA
