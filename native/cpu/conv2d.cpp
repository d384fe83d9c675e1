/*
 * conv2d.cpp — NHWC 2-D convolution, forward and backward, on the CPU.
 *
 * Layouts (effiseg.h): x [N,H,W,Cin], w [KH,KW,Cin/groups,Cout] (HWIO), b [Cout],
 * y [N,OH,OW,Cout]. Padding is pad_top/pad_left; the bottom/right padding is whatever
 * OH/OW imply (TensorFlow SAME puts the odd extra row/column there).
 *
 * Three paths, chosen per call:
 *  - depthwise (groups == Cin == Cout): hand-written direct loops vectorised over channels
 *    (8-wide vectors, several per block kept in registers), parallel over rows. EfficientNet
 *    spends most of its convolution time here; these loops are memory-bound.
 *  - pointwise (1x1, stride 1, no padding): one sgemm per group on the activations as they
 *    lie, [N*H*W, Cin] x [Cin, Cout]; no copies.
 *  - everything else (dense KxK, strided 1x1, grouped): im2col in tiles of whole output rows
 *    bounded to kColTileBytes, then sgemm. The backward pass uses the same tiles: dw += colᵀ·dy,
 *    dcol = dy·Wᵀ, and col2im as a gather into input rows (each thread owns whole input rows,
 *    so there are no races and the result does not depend on scheduling).
 *
 * sgemm is always called outside OpenMP regions; OpenBLAS gets ex.threads threads.
 * Reductions (db, depthwise dw) use per-thread partial sums in double, combined in thread
 * order: results are deterministic for a given thread count.
 *
 * Scratch memory (im2col tiles, per-thread partials) lives in a per-calling-thread buffer that
 * grows to the largest request and is reused, so hot loops do not page-fault fresh blocks.
 */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {
namespace {

/* Upper bound of one im2col tile (at least one output row is always taken). */
constexpr int64_t kColTileBytes = int64_t(8) << 20;

/* ---- small helpers -------------------------------------------------------- */

/* 8 floats; GCC/Clang lower it to one AVX register, or two SSE registers without AVX. */
typedef float v8 __attribute__((vector_size(32)));

inline v8 load8(const float* p) {
    v8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

int threads_of(const Exec& ex) { return ex.threads > 0 ? ex.threads : 1; }

/* OpenBLAS keeps one global thread count; only change it when it differs. */
void set_blas_threads(int threads) {
    static std::atomic<int> current{-1};
    if (current.load(std::memory_order_relaxed) != threads) {
        openblas_set_num_threads(threads);
        current.store(threads, std::memory_order_relaxed);
    }
}

/* A per-calling-thread scratch buffer, grown on demand and kept for reuse. */
float* scratch(size_t floats) {
    thread_local std::vector<float> buffer;
    if (buffer.size() < floats) {
        buffer.clear();
        buffer.shrink_to_fit();
        buffer.resize(floats);
    }
    return buffer.data();
}

/* sums[c] = sum over rows of m[r, c] (m is [rows, C]); per-thread double partials. */
void column_sums(const Exec& ex, const float* m, int64_t rows, int C, float* sums) {
    const int T = threads_of(ex);
    std::vector<double> partial((size_t)T * C, 0.0);
#pragma omp parallel num_threads(T)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double* p = partial.data() + (size_t)t * C;
        std::vector<float> block(C);
        constexpr int64_t kRowBlock = 64; /* sum in float over a few rows, then in double */
#pragma omp for schedule(static)
        for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
            const int64_t r1 = std::min(rows, r0 + kRowBlock);
            std::fill(block.begin(), block.end(), 0.0f);
            for (int64_t r = r0; r < r1; r++) {
                const float* row = m + r * C;
#pragma omp simd
                for (int c = 0; c < C; c++) block[c] += row[c];
            }
            for (int c = 0; c < C; c++) p[c] += block[c];
        }
    }
    for (int c = 0; c < C; c++) {
        double s = 0.0;
        for (int t = 0; t < T; t++) s += partial[(size_t)t * C + c];
        sums[c] = (float)s;
    }
}

/* y[r, :] = b for every row (the forward pass then accumulates into it). */
void fill_rows(const Exec& ex, float* y, int64_t rows, int C, const float* b) {
#pragma omp parallel for num_threads(threads_of(ex)) schedule(static) if (rows * C > 65536)
    for (int64_t r = 0; r < rows; r++) std::memcpy(y + r * C, b, (size_t)C * sizeof(float));
}

/* Valid range [lo, hi) of kernel offsets k with 0 <= origin + k < extent, within [0, K). */
inline void tap_range(int origin, int K, int extent, int& lo, int& hi) {
    lo = std::max(0, -origin);
    hi = std::min(K, extent - origin);
    if (hi < lo) hi = lo;
}

/* ---- depthwise: direct loops ----------------------------------------------- */

/* Channels of one block: NV vectors of 8 (NV = 0 means one scalar channel). */

/* y[pixel, c..] = b + sum over taps of x[tap, c..] * w[tap, c..]; taps given as a rectangle
 * [kh0,kh1) x [kw0,kw1) relative to the pixel's origin xo (index into x of tap (0,0)). */
template <int NV>
inline void dw_forward_block(const float* x, int64_t xo, int64_t x_row_stride, const float* w,
                             int KW, int C, int kh0, int kh1, int kw0, int kw1, const float* b,
                             float* y, int c) {
    if constexpr (NV == 0) {
        float acc = b ? b[c] : 0.0f;
        for (int kh = kh0; kh < kh1; kh++)
            for (int kw = kw0; kw < kw1; kw++)
                acc += x[xo + kh * x_row_stride + (int64_t)kw * C + c] * w[(kh * KW + kw) * C + c];
        y[c] = acc;
    } else {
        v8 acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = b ? load8(b + c + 8 * v) : v8{};
        for (int kh = kh0; kh < kh1; kh++) {
            const float* xp = x + (xo + kh * x_row_stride + (int64_t)kw0 * C + c);
            const float* wp = w + ((int64_t)(kh * KW + kw0) * C + c);
            for (int kw = kw0; kw < kw1; kw++, xp += C, wp += C) {
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[v] += load8(xp + 8 * v) * load8(wp + 8 * v);
            }
        }
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) store8(y + c + 8 * v, acc[v]);
    }
}

void depthwise_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                       const float* b, float* y) {
    const int C = g.Cin, H = g.H, W = g.W, OH = g.OH, OW = g.OW, KH = g.KH, KW = g.KW;
    const int64_t rows = (int64_t)g.N * OH;
#pragma omp parallel for num_threads(threads_of(ex)) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int n = (int)(r / OH), oh = (int)(r % OH);
        const int ih0 = oh * g.stride_h - g.pad_top;
        int kh0, kh1;
        tap_range(ih0, KH, H, kh0, kh1);
        float* yrow = y + r * OW * C;
        for (int ow = 0; ow < OW; ow++) {
            const int iw0 = ow * g.stride_w - g.pad_left;
            int kw0, kw1;
            tap_range(iw0, KW, W, kw0, kw1);
            /* index of tap (0,0); only valid taps are dereferenced */
            const int64_t xo = (((int64_t)n * H + ih0) * W + iw0) * C;
            const int64_t rs = (int64_t)W * C;
            float* yp = yrow + (int64_t)ow * C;
            int c = 0;
            for (; c + 32 <= C; c += 32)
                dw_forward_block<4>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
            for (; c + 8 <= C; c += 8)
                dw_forward_block<1>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
            for (; c < C; c++)
                dw_forward_block<0>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
        }
    }
}

/* First tap k in [0, K) with (pos + pad - k) divisible by stride and the output index
 * o = (pos + pad - k) / stride inside [0, O); taps then step by stride while o >= 0. */
inline void transposed_taps(int pos, int pad, int stride, int K, int O, int& k_first,
                            int& k_end) {
    const int t = pos + pad;              /* = o * stride + k */
    int k = t % stride;                   /* smallest k with matching residue */
    const int k_min = t - (O - 1) * stride; /* o <= O-1  <=>  k >= t - (O-1)*stride */
    if (k < k_min) k += (k_min - k + stride - 1) / stride * stride;
    k_first = k;
    k_end = std::min(K, t + 1); /* o >= 0  <=>  k <= t */
}

/* dx[pixel, c..] = sum over taps (kh, kw) that reach this input pixel of
 * dy[oh, ow, c..] * w[kh, kw, c..]. Output index of a tap: (t_h - kh)/s_h, (t_w - kw)/s_w. */
template <int NV>
inline void dw_dx_block(const float* dyn, int OW, int C, int sh, int sw, int th, int tw, int kh0,
                        int kh1, int kw0, int kw1, const float* w, int KW, float* dxp, int c) {
    if constexpr (NV == 0) {
        float acc = 0.0f;
        for (int kh = kh0; kh < kh1; kh += sh) {
            const int oh = (th - kh) / sh;
            for (int kw = kw0; kw < kw1; kw += sw) {
                const int ow = (tw - kw) / sw;
                acc += dyn[((int64_t)oh * OW + ow) * C + c] * w[(kh * KW + kw) * C + c];
            }
        }
        dxp[c] = acc;
    } else {
        v8 acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = v8{};
        for (int kh = kh0; kh < kh1; kh += sh) {
            const int oh = (th - kh) / sh;
            const float* dyr = dyn + (int64_t)oh * OW * C + c;
            const float* wr = w + (int64_t)kh * KW * C + c;
            for (int kw = kw0; kw < kw1; kw += sw) {
                const int ow = (tw - kw) / sw;
                const float* dp = dyr + (int64_t)ow * C;
                const float* wp = wr + (int64_t)kw * C;
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[v] += load8(dp + 8 * v) * load8(wp + 8 * v);
            }
        }
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) store8(dxp + c + 8 * v, acc[v]);
    }
}

void depthwise_backward_dx(const Exec& ex, const ConvGeom& g, const float* w, const float* dy,
                           float* dx) {
    const int C = g.Cin, H = g.H, W = g.W, OH = g.OH, OW = g.OW, KH = g.KH, KW = g.KW;
    const int sh = g.stride_h, sw = g.stride_w;
    const int64_t rows = (int64_t)g.N * H;
#pragma omp parallel for num_threads(threads_of(ex)) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int n = (int)(r / H), ih = (int)(r % H);
        int kh0, kh1;
        transposed_taps(ih, g.pad_top, sh, KH, OH, kh0, kh1);
        const float* dyn = dy + (int64_t)n * OH * OW * C;
        float* dxrow = dx + r * W * C;
        for (int iw = 0; iw < W; iw++) {
            int kw0, kw1;
            transposed_taps(iw, g.pad_left, sw, KW, OW, kw0, kw1);
            const int th = ih + g.pad_top, tw = iw + g.pad_left;
            float* dxp = dxrow + (int64_t)iw * C;
            int c = 0;
            for (; c + 32 <= C; c += 32)
                dw_dx_block<4>(dyn, OW, C, sh, sw, th, tw, kh0, kh1, kw0, kw1, w, KW, dxp, c);
            for (; c + 8 <= C; c += 8)
                dw_dx_block<1>(dyn, OW, C, sh, sw, th, tw, kh0, kh1, kw0, kw1, w, KW, dxp, c);
            for (; c < C; c++)
                dw_dx_block<0>(dyn, OW, C, sh, sw, th, tw, kh0, kh1, kw0, kw1, w, KW, dxp, c);
        }
    }
}

/* For one output row and one channel block: for every tap, sum over the row's pixels of
 * dy * x in registers, then add into the thread's double partial; optionally the row's
 * sum of dy for db. */
template <int NV>
inline void dw_dw_block(const float* dyrow, const float* x, int64_t x_img, int ih0, int iw_pad,
                        const ConvGeom& g, int kh0, int kh1, double* pw, double* pb, int c) {
    const int C = g.Cin, W = g.W, OW = g.OW, KW = g.KW, sw = g.stride_w;
    constexpr int L = NV == 0 ? 1 : 8 * NV;
    for (int kh = kh0; kh < kh1; kh++) {
        const float* xr = x + x_img + (int64_t)(ih0 + kh) * W * C + c;
        for (int kw = 0; kw < KW; kw++) {
            /* pixels ow with 0 <= ow*sw - iw_pad + kw < W */
            const int lo_num = iw_pad - kw, hi_num = W - 1 + iw_pad - kw;
            const int ow0 = lo_num > 0 ? (lo_num + sw - 1) / sw : 0;
            const int ow1 = hi_num < 0 ? 0 : std::min(OW, hi_num / sw + 1);
            double* p = pw + (int64_t)(kh * KW + kw) * C + c;
            if constexpr (NV == 0) {
                float acc = 0.0f;
                for (int ow = ow0; ow < ow1; ow++)
                    acc += dyrow[(int64_t)ow * C + c] * xr[((int64_t)ow * sw - iw_pad + kw) * C];
                p[0] += acc;
            } else {
                v8 acc[NV];
                for (int v = 0; v < NV; v++) acc[v] = v8{};
                for (int ow = ow0; ow < ow1; ow++) {
                    const float* dp = dyrow + (int64_t)ow * C + c;
                    const float* xp = xr + ((int64_t)ow * sw - iw_pad + kw) * C;
#pragma GCC unroll 8
                    for (int v = 0; v < NV; v++) acc[v] += load8(dp + 8 * v) * load8(xp + 8 * v);
                }
                for (int v = 0; v < NV; v++)
                    for (int j = 0; j < 8; j++) p[8 * v + j] += acc[v][j];
            }
        }
    }
    if (pb) {
        float acc[L] = {};
        for (int ow = 0; ow < OW; ow++)
            for (int j = 0; j < L; j++) acc[j] += dyrow[(int64_t)ow * C + c + j];
        for (int j = 0; j < L; j++) pb[c + j] += acc[j];
    }
}

void depthwise_backward_dw(const Exec& ex, const ConvGeom& g, const float* x, const float* dy,
                           float* dw, float* db) {
    const int C = g.Cin, H = g.H, W = g.W, OH = g.OH, OW = g.OW, KH = g.KH, KW = g.KW;
    const int T = threads_of(ex);
    const int64_t taps = (int64_t)KH * KW * C;
    const int64_t per_thread = taps + (db ? C : 0);
    std::vector<double> partial((size_t)(T * per_thread), 0.0);
    const int64_t rows = (int64_t)g.N * OH;
#pragma omp parallel num_threads(T)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double* pw = partial.data() + t * per_thread;
        double* pb = db ? pw + taps : nullptr;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const int n = (int)(r / OH), oh = (int)(r % OH);
            const int ih0 = oh * g.stride_h - g.pad_top;
            int kh0, kh1;
            tap_range(ih0, KH, H, kh0, kh1);
            const float* dyrow = dy + r * OW * C;
            const int64_t x_img = (int64_t)n * H * W * C;
            int c = 0;
            for (; c + 32 <= C; c += 32)
                dw_dw_block<4>(dyrow, x, x_img, ih0, g.pad_left, g, kh0, kh1, pw, pb, c);
            for (; c + 8 <= C; c += 8)
                dw_dw_block<1>(dyrow, x, x_img, ih0, g.pad_left, g, kh0, kh1, pw, pb, c);
            for (; c < C; c++)
                dw_dw_block<0>(dyrow, x, x_img, ih0, g.pad_left, g, kh0, kh1, pw, pb, c);
        }
    }
    for (int64_t i = 0; i < taps; i++) {
        double s = 0.0;
        for (int t = 0; t < T; t++) s += partial[t * per_thread + i];
        dw[i] = (float)s;
    }
    if (db)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int t = 0; t < T; t++) s += partial[t * per_thread + taps + c];
            db[c] = (float)s;
        }
}

/* ---- dense and grouped: im2col + sgemm ----------------------------------- */

struct GemmShape {
    int Cin_g, Cout_g; /* channels per group */
    int K;             /* KH*KW*Cin_g: the reduction length */
    int rows_per_tile; /* output rows (n, oh) per im2col tile */
};

GemmShape gemm_shape(const ConvGeom& g) {
    GemmShape s;
    s.Cin_g = g.Cin / g.groups;
    s.Cout_g = g.Cout / g.groups;
    s.K = g.KH * g.KW * s.Cin_g;
    const int64_t row_bytes = (int64_t)g.OW * s.K * (int64_t)sizeof(float);
    const int64_t rows = (int64_t)g.N * g.OH;
    s.rows_per_tile = (int)std::max<int64_t>(1, std::min(rows, kColTileBytes / row_bytes));
    return s;
}

bool is_pointwise(const ConvGeom& g) {
    return g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
           g.pad_left == 0 && g.OH == g.H && g.OW == g.W;
}

/* col[(r - r0)*OW + ow, (kh*KW + kw)*Cin_g + ci] = x[n, ih, iw, group*Cin_g + ci] (0 outside),
 * for output rows r = n*OH + oh in [r0, r1). */
void im2col(const Exec& ex, const ConvGeom& g, const GemmShape& s, const float* x, int group,
            int64_t r0, int64_t r1, float* col) {
    const int OH = g.OH, OW = g.OW, KH = g.KH, KW = g.KW, Cg = s.Cin_g;
#pragma omp parallel for num_threads(threads_of(ex)) schedule(static)
    for (int64_t r = r0; r < r1; r++) {
        const int n = (int)(r / OH), oh = (int)(r % OH);
        const int ih0 = oh * g.stride_h - g.pad_top;
        float* dst = col + (r - r0) * OW * s.K;
        for (int ow = 0; ow < OW; ow++) {
            const int iw0 = ow * g.stride_w - g.pad_left;
            for (int kh = 0; kh < KH; kh++) {
                const int ih = ih0 + kh;
                const bool row_ok = ih >= 0 && ih < g.H;
                const int64_t xrow = (((int64_t)n * g.H + ih) * g.W) * g.Cin + (int64_t)group * Cg;
                for (int kw = 0; kw < KW; kw++, dst += Cg) {
                    const int iw = iw0 + kw;
                    if (row_ok && iw >= 0 && iw < g.W)
                        std::memcpy(dst, x + xrow + (int64_t)iw * g.Cin, (size_t)Cg * sizeof(float));
                    else
                        std::memset(dst, 0, (size_t)Cg * sizeof(float));
                }
            }
        }
    }
}

/* dx[n, ih, iw, group*Cin_g + ci] += every dcol entry that im2col would have copied from
 * there, for the output rows [r0, r1). Parallel over input rows: each is written by one
 * thread only, in a fixed order. */
void col2im_add(const Exec& ex, const ConvGeom& g, const GemmShape& s, const float* dcol,
                int group, int64_t r0, int64_t r1, float* dx) {
    const int OH = g.OH, OW = g.OW, KH = g.KH, KW = g.KW, Cg = s.Cin_g;
    const int sh = g.stride_h;
    /* input rows (n, ih) that the tile reaches */
    std::vector<int64_t> in_rows;
    for (int n = (int)(r0 / OH); n <= (int)((r1 - 1) / OH); n++) {
        const int oh_lo = (int)std::max<int64_t>(0, r0 - (int64_t)n * OH);
        const int oh_hi = (int)std::min<int64_t>(OH - 1, r1 - 1 - (int64_t)n * OH);
        const int ih_lo = std::max(0, oh_lo * sh - g.pad_top);
        const int ih_hi = std::min(g.H - 1, oh_hi * sh - g.pad_top + KH - 1);
        for (int ih = ih_lo; ih <= ih_hi; ih++) in_rows.push_back((int64_t)n * g.H + ih);
    }
    const int64_t count = (int64_t)in_rows.size();
#pragma omp parallel for num_threads(threads_of(ex)) schedule(static)
    for (int64_t i = 0; i < count; i++) {
        const int64_t nr = in_rows[i];
        const int n = (int)(nr / g.H), ih = (int)(nr % g.H);
        float* dxrow = dx + nr * g.W * g.Cin + (int64_t)group * Cg;
        for (int kh = 0; kh < KH; kh++) {
            const int t = ih + g.pad_top - kh;
            if (t < 0 || t % sh != 0) continue;
            const int64_t r = (int64_t)n * OH + t / sh;
            if (t / sh >= OH || r < r0 || r >= r1) continue;
            const float* src_row = dcol + (r - r0) * OW * s.K + (int64_t)kh * KW * Cg;
            for (int ow = 0; ow < OW; ow++) {
                const int iw0 = ow * g.stride_w - g.pad_left;
                const float* src = src_row + (int64_t)ow * s.K;
                for (int kw = 0; kw < KW; kw++) {
                    const int iw = iw0 + kw;
                    if (iw < 0 || iw >= g.W) continue;
                    float* d = dxrow + (int64_t)iw * g.Cin;
                    const float* sp = src + (int64_t)kw * Cg;
#pragma omp simd
                    for (int ci = 0; ci < Cg; ci++) d[ci] += sp[ci];
                }
            }
        }
    }
}

void gemm_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                  const float* b, float* y) {
    const GemmShape s = gemm_shape(g);
    const int64_t out_rows = (int64_t)g.N * g.OH;
    const float beta = b ? 1.0f : 0.0f;
    set_blas_threads(threads_of(ex));
    if (is_pointwise(g)) {
        const int64_t M = out_rows * g.OW;
        if (b) fill_rows(ex, y, M, g.Cout, b);
        for (int grp = 0; grp < g.groups; grp++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, s.Cout_g, s.Cin_g,
                        1.0f, x + (int64_t)grp * s.Cin_g, g.Cin, w + (int64_t)grp * s.Cout_g,
                        g.Cout, beta, y + (int64_t)grp * s.Cout_g, g.Cout);
        return;
    }
    float* col = scratch((size_t)s.rows_per_tile * g.OW * s.K);
    for (int64_t r0 = 0; r0 < out_rows; r0 += s.rows_per_tile) {
        const int64_t r1 = std::min(out_rows, r0 + s.rows_per_tile);
        const int Mt = (int)((r1 - r0) * g.OW);
        float* yt = y + r0 * g.OW * g.Cout;
        if (b) fill_rows(ex, yt, Mt, g.Cout, b);
        for (int grp = 0; grp < g.groups; grp++) {
            im2col(ex, g, s, x, grp, r0, r1, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Mt, s.Cout_g, s.K, 1.0f, col,
                        s.K, w + (int64_t)grp * s.Cout_g, g.Cout, beta,
                        yt + (int64_t)grp * s.Cout_g, g.Cout);
        }
    }
}

void gemm_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                   const float* dy, float* dx, float* dw) {
    const GemmShape s = gemm_shape(g);
    const int64_t out_rows = (int64_t)g.N * g.OH;
    set_blas_threads(threads_of(ex));
    if (is_pointwise(g)) {
        const int M = (int)(out_rows * g.OW);
        for (int grp = 0; grp < g.groups; grp++) {
            const float* dyg = dy + (int64_t)grp * s.Cout_g;
            const float* wg = w + (int64_t)grp * s.Cout_g;
            if (dx) /* dx[M, Cin_g] = dy[M, Cout_g] · w[Cin_g, Cout_g]ᵀ */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, s.Cin_g, s.Cout_g, 1.0f,
                            dyg, g.Cout, wg, g.Cout, 0.0f, dx + (int64_t)grp * s.Cin_g, g.Cin);
            if (dw) /* dw[Cin_g, Cout_g] = x[M, Cin_g]ᵀ · dy[M, Cout_g] */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.Cin_g, s.Cout_g, M, 1.0f,
                            x + (int64_t)grp * s.Cin_g, g.Cin, dyg, g.Cout, 0.0f,
                            dw + (int64_t)grp * s.Cout_g, g.Cout);
        }
        return;
    }
    if (dx) std::memset(dx, 0, (size_t)g.N * g.H * g.W * g.Cin * sizeof(float));
    float* col = scratch((size_t)s.rows_per_tile * g.OW * s.K);
    for (int64_t r0 = 0; r0 < out_rows; r0 += s.rows_per_tile) {
        const int64_t r1 = std::min(out_rows, r0 + s.rows_per_tile);
        const int Mt = (int)((r1 - r0) * g.OW);
        const float* dyt = dy + r0 * g.OW * g.Cout;
        for (int grp = 0; grp < g.groups; grp++) {
            const float* dyg = dyt + (int64_t)grp * s.Cout_g;
            const float* wg = w + (int64_t)grp * s.Cout_g;
            if (dw) { /* dw[K, Cout_g] (+)= colᵀ · dy */
                im2col(ex, g, s, x, grp, r0, r1, col);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.K, s.Cout_g, Mt, 1.0f, col,
                            s.K, dyg, g.Cout, r0 == 0 ? 0.0f : 1.0f,
                            dw + (int64_t)grp * s.Cout_g, g.Cout);
            }
            if (dx) { /* dcol[Mt, K] = dy · W_gᵀ, then scatter back as a gather */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Mt, s.K, s.Cout_g, 1.0f, dyg,
                            g.Cout, wg, g.Cout, 0.0f, col, s.K);
                col2im_add(ex, g, s, col, grp, r0, r1, dx);
            }
        }
    }
}

bool is_depthwise(const ConvGeom& g) { return g.groups == g.Cin && g.groups == g.Cout; }

}  // namespace

void conv2d_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                    const float* b, float* y) {
    if (is_depthwise(g))
        depthwise_forward(ex, g, x, w, b, y);
    else
        gemm_forward(ex, g, x, w, b, y);
}

void conv2d_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
    if (is_depthwise(g)) {
        if (dx) depthwise_backward_dx(ex, g, w, dy, dx);
        if (dw)
            depthwise_backward_dw(ex, g, x, dy, dw, db);
        else if (db)
            column_sums(ex, dy, (int64_t)g.N * g.OH * g.OW, g.Cout, db);
        return;
    }
    if (dx || dw) gemm_backward(ex, g, x, w, dy, dx, dw);
    if (db) column_sums(ex, dy, (int64_t)g.N * g.OH * g.OW, g.Cout, db);
}

}  // namespace es::cpu
