/*
 * conv2d.cpp — NHWC 2-D convolution, forward and backward, on the CPU.
 *
 * Layouts (effiseg.h): x [N,H,W,Cin], w [KH,KW,Cin/groups,Cout] (HWIO), b [Cout],
 * y [N,OH,OW,Cout]. Padding is pad_top/pad_left; the bottom/right padding is whatever
 * OH/OW imply (TensorFlow SAME puts the odd extra row/column there).
 *
 * Four paths, chosen per call:
 *  - depthwise (groups == Cin == Cout): hand-written direct loops vectorised over channels
 *    (8-wide vectors, up to four per block kept in registers; 5x5 kernels in register-blocked
 *    strips of pixels), parallel over rows: output rows for y and dw (partial sums per part),
 *    input rows for dx (a gather, so no races). EfficientNet spends most of its convolution
 *    time here.
 *  - dense with a reduction of at most kDirectMaxK values (the 3x3x3 stem), forward: direct
 *    loops over output pixel pairs with all output channels in registers.
 *  - pointwise (1x1, stride 1, no padding): sgemm on the activations as they lie,
 *    [rows, Cin] x [Cin, Cout], in chunks of rows; no copies.
 *  - everything else (dense KxK, strided 1x1, grouped): im2col of tiles of whole output rows
 *    (about kColTileBytes each), then sgemm. Backward uses the same tiles: dw += colᵀ·dy,
 *    dcol = dy·Wᵀ and col2im, running tiles of even and odd index in two rounds so that
 *    tiles that share input rows never run at the same time.
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
 *
 * Scratch memory (im2col tiles) lives in a per-thread buffer that grows to the largest tile
 * requested (about kColTileBytes) and is reused, so hot loops do not page-fault fresh blocks.
 */
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {
namespace {

/* ---- small helpers -------------------------------------------------------- */

/* 8 floats; GCC/Clang lower it to one AVX register, or two SSE registers without AVX. */
typedef float v8 __attribute__((vector_size(32)));

inline v8 load8(const float* p) {
    v8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

/* p[0..8) += v, in double. */
inline void add_to_double(double* p, v8 v) {
    typedef double v4d __attribute__((vector_size(32)));
    typedef float v4f __attribute__((vector_size(16)));
    const v4f lo = {v[0], v[1], v[2], v[3]}, hi = {v[4], v[5], v[6], v[7]};
    v4d a, b;
    std::memcpy(&a, p, sizeof a);
    std::memcpy(&b, p + 4, sizeof b);
    a += __builtin_convertvector(lo, v4d);
    b += __builtin_convertvector(hi, v4d);
    std::memcpy(p, &a, sizeof a);
    std::memcpy(p + 4, &b, sizeof b);
}

/* Threads for `work` multiply-adds (or element visits): at most ex.threads, and only as many
 * as get kMinWorkPerThread each. Every parallel region costs a fork and a join, and when the
 * cores are also busy with something else (the data loader, other processes) a sleeping
 * worker can take a scheduler time slice (milliseconds) to wake: a small op then runs far
 * faster on the calling thread alone. 4M multiply-adds is 0.1-0.3 ms on one core here. */
constexpr double kMinWorkPerThread = 4.0 * (1 << 20);

int threads_for(const Exec& ex, double work) {
    const int most = ex.threads > 0 ? ex.threads : 1;
    return (int)std::max(1.0, std::min<double>(most, std::floor(work / kMinWorkPerThread)));
}

/* Work is split into contiguous parts that threads take dynamically, so that a thread the
 * OS has descheduled (data loading, other processes) does not hold the others up at the end
 * of a loop. Loops without reductions use kPartsPerThread parts per thread; reductions keep
 * one partial sum per part (not per thread) and combine them in part order, so their result
 * depends only on the thread count, never on which thread ran what. */
constexpr int kPartsPerThread = 8;
constexpr int kPartialsPerThread = 2;

int64_t part_count(int64_t items, int threads, int per_thread) {
    return std::max<int64_t>(1, std::min<int64_t>(items, (int64_t)threads * per_thread));
}

/* Part i of `parts` nearly equal contiguous ranges of [0, items) starts here. */
inline int64_t part_begin(int64_t items, int64_t parts, int64_t i) { return items * i / parts; }

/* OpenBLAS keeps one process-wide thread count; only change it when it differs. */
void set_blas_threads(int threads) {
    static std::atomic<int> current{-1};
    if (current.load(std::memory_order_relaxed) != threads) {
        openblas_set_num_threads(threads);
        current.store(threads, std::memory_order_relaxed);
    }
}

/* A per-thread scratch buffer, grown on demand and kept for reuse (OpenMP reuses its
 * threads, so this is allocated once per thread, not per call). */
float* scratch(size_t floats) {
    thread_local std::vector<float> buffer;
    if (buffer.size() < floats) {
        buffer.clear();
        buffer.shrink_to_fit();
        buffer.resize(floats);
    }
    return buffer.data();
}

/* sums[c] = sum over rows of m[r, c] (m is [rows, C]), in double per part. */
void column_sums(const Exec& ex, const float* m, int64_t rows, int C, float* sums) {
    const int T = threads_for(ex, (double)rows * C);
    const int64_t parts = part_count(rows, T, kPartialsPerThread);
    std::vector<double> partial((size_t)(parts * C), 0.0);
#pragma omp parallel num_threads(T)
    {
        std::vector<float> block(C);
#pragma omp for schedule(dynamic, 1)
        for (int64_t part = 0; part < parts; part++) {
            double* p = partial.data() + part * C;
            const int64_t end = part_begin(rows, parts, part + 1);
            constexpr int64_t kRowBlock = 64; /* sum in float over a few rows, then in double */
            for (int64_t r0 = part_begin(rows, parts, part); r0 < end; r0 += kRowBlock) {
                std::fill(block.begin(), block.end(), 0.0f);
                for (int64_t r = r0; r < std::min(end, r0 + kRowBlock); r++) {
                    const float* row = m + r * C;
#pragma omp simd
                    for (int c = 0; c < C; c++) block[c] += row[c];
                }
                for (int c = 0; c < C; c++) p[c] += block[c];
            }
        }
    }
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int64_t part = 0; part < parts; part++) sum += partial[part * C + c];
        sums[c] = (float)sum;
    }
}

/* Valid range [lo, hi) of kernel offsets k with 0 <= origin + k < extent, within [0, K). */
inline void tap_range(int origin, int K, int extent, int& lo, int& hi) {
    lo = std::max(0, -origin);
    hi = std::min(K, extent - origin);
    if (hi < lo) hi = lo;
}

/* ---- depthwise: direct loops ----------------------------------------------- */

/* The per-pixel blocks below handle channels [c, c + 8*NV) (NV = 0: the one channel c). */

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

/* The register-blocked inner kernel for 8 channels and P neighbouring pixels of one row,
 * all of whose KW taps lie inside the row: a 1-D correlation along the row, repeated over
 * nrows kernel rows. Each input vector loaded is used by every pixel whose window covers it
 * and the KW weights of a kernel row stay in registers, so there are about 0.5 loads per FMA
 * instead of 2 (P=8, KW=5: 8 accumulators + 5 weights + 1 input = 14 of 16 AVX registers).
 *   out[p] = init + sum_k sum_kw in[k*in_row + (p*SW + kw)*C] * wt[k*w_row + kw*w_tap]
 * The forward pass uses it on x and w; the stride-1 dx pass on dy and w flipped along kw
 * (w_tap = -C), which turns the transposed convolution into the same correlation. */
template <int KW, int SW, int P>
inline void dw_strip(const float* in, int64_t in_row, int64_t C, int nrows, const float* wt,
                     int64_t w_row, int64_t w_tap, v8 init, float* out) {
    v8 acc[P];
#pragma GCC unroll 16
    for (int p = 0; p < P; p++) acc[p] = init;
    for (int k = 0; k < nrows; k++) {
        const float* ir = in + k * in_row;
        const float* wr = wt + k * w_row;
        v8 wk[KW];
#pragma GCC unroll 16
        for (int kw = 0; kw < KW; kw++) wk[kw] = load8(wr + kw * w_tap);
#pragma GCC unroll 64
        for (int j = 0; j < (P - 1) * SW + KW; j++) {
            const v8 iv = load8(ir + j * C);
#pragma GCC unroll 16
            for (int p = 0; p < P; p++) {
                const int kw = j - p * SW;
                if (kw >= 0 && kw < KW) acc[p] += iv * wk[kw];
            }
        }
    }
#pragma GCC unroll 16
    for (int p = 0; p < P; p++) store8(out + p * C, acc[p]);
}

using StripKernel = void (*)(const float*, int64_t, int64_t, int, const float*, int64_t, int64_t,
                             v8, float*);

/* Strip kernels of 8 and 4 pixels for 5-wide kernels, stride 1 or 2 (null for anything
 * else, which takes the per-pixel path). 5x5 is compute-bound and the strips run it about
 * 1.5x faster out of cache. 3x3 (9 taps) is memory-bound: out of cache the per-pixel loop,
 * which streams each pixel's channels contiguously, was faster than strips, which walk their
 * window in 32-byte pieces across pixels (in cache, strips won there too). */
struct Strips {
    StripKernel p8 = nullptr, p4 = nullptr;
    explicit operator bool() const { return p8 != nullptr; }
};

Strips strip_kernels(int KW, int SW) {
    Strips s;
    if (KW == 5 && SW == 1) s = {dw_strip<5, 1, 8>, dw_strip<5, 1, 4>};
    if (KW == 5 && SW == 2) s = {dw_strip<5, 2, 8>, dw_strip<5, 2, 4>};
    return s;
}

/* Covers pixels [lo, hi) of a row with strips of 8, then 4 pixels; each strip runs over all
 * 8-channel blocks while its input window is in cache. strip(kernel, p, count) does one
 * strip for every channel block; returns where the strips stopped. */
template <class StripAt>
int for_strips(const Strips& k, int lo, int hi, StripAt strip) {
    int p = lo;
    for (; p + 8 <= hi; p += 8) strip(k.p8, p, 8);
    for (; p + 4 <= hi; p += 4) strip(k.p4, p, 4);
    return p;
}

void depthwise_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                       const float* b, float* y) {
    const int C = g.Cin, H = g.H, W = g.W, OH = g.OH, OW = g.OW, KH = g.KH, KW = g.KW;
    const int sw = g.stride_w, pl = g.pad_left, C8 = C / 8 * 8;
    const int64_t rows = (int64_t)g.N * OH, rs = (int64_t)W * C;
    const Strips strips = C >= 8 ? strip_kernels(KW, sw) : Strips{};
    /* outputs [ow_lo, ow_hi) have all KW taps inside the row (empty when the kernel is wider
     * than the row; both stay within [0, OW] even when the padding exceeds the input) */
    const int ow_lo = std::min(OW, (pl + sw - 1) / sw);
    const int ow_hi = W - KW + pl >= 0 ? std::max(ow_lo, std::min(OW, (W - KW + pl) / sw + 1))
                                       : ow_lo;
    const int T = threads_for(ex, (double)rows * OW * C * KH * KW);
    const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
            const int n = (int)(r / OH), oh = (int)(r % OH);
            const int ih0 = oh * g.stride_h - g.pad_top;
            int kh0, kh1;
            tap_range(ih0, KH, H, kh0, kh1);
            float* yrow = y + r * OW * C;
            /* index into x of tap (0,0) of output ow; only valid taps are dereferenced */
            auto origin = [&](int ow) { return (((int64_t)n * H + ih0) * W + ow * sw - pl) * C; };
            auto pixel = [&](int ow, int c_begin) {
                int kw0, kw1;
                tap_range(ow * sw - pl, KW, W, kw0, kw1);
                const int64_t xo = origin(ow);
                float* yp = yrow + (int64_t)ow * C;
                int c = c_begin;
                for (; c + 32 <= C; c += 32)
                    dw_forward_block<4>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
                for (; c + 8 <= C; c += 8)
                    dw_forward_block<1>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
                for (; c < C; c++)
                    dw_forward_block<0>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
            };
            int ow = 0;
            if (strips && kh1 > kh0) {
                for (; ow < ow_lo; ow++) pixel(ow, 0);
                ow = for_strips(strips, ow_lo, ow_hi, [&](StripKernel k, int o, int count) {
                    const float* in = x + (origin(o) + kh0 * rs);
                    const float* wt = w + (int64_t)kh0 * KW * C;
                    for (int c = 0; c < C8; c += 8)
                        k(in + c, rs, C, kh1 - kh0, wt + c, (int64_t)KW * C, C,
                          b ? load8(b + c) : v8{}, yrow + (int64_t)o * C + c);
                    for (int p = 0; C8 < C && p < count; p++) pixel(o + p, C8);
                });
            }
            for (; ow < OW; ow++) pixel(ow, 0);
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
    const int sh = g.stride_h, sw = g.stride_w, pl = g.pad_left, C8 = C / 8 * 8;
    const int64_t rows = (int64_t)g.N * H;
    /* With stride 1 along the row, dx is a correlation of dy with w flipped along kw. */
    const Strips strips = C >= 8 && sw == 1 ? strip_kernels(KW, 1) : Strips{};
    /* inputs [iw_lo, iw_hi) receive all KW taps (both within [0, W]) */
    const int iw_lo = std::min(W, std::max(0, KW - 1 - pl));
    const int iw_hi = std::max(iw_lo, std::min(W, OW - pl));
    const int T = threads_for(ex, (double)g.N * OH * OW * C * KH * KW);
    const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
            const int n = (int)(r / H), ih = (int)(r % H);
            int kh0, kh1;
            transposed_taps(ih, g.pad_top, sh, KH, OH, kh0, kh1);
            const int th = ih + g.pad_top;
            const float* dyn = dy + (int64_t)n * OH * OW * C;
            float* dxrow = dx + r * W * C;
            auto pixel = [&](int iw, int c_begin) {
                int kw0, kw1;
                transposed_taps(iw, pl, sw, KW, OW, kw0, kw1);
                const int tw = iw + pl;
                float* dxp = dxrow + (int64_t)iw * C;
                int c = c_begin;
                for (; c + 32 <= C; c += 32)
                    dw_dx_block<4>(dyn, OW, C, sh, sw, th, tw, kh0, kh1, kw0, kw1, w, KW, dxp, c);
                for (; c + 8 <= C; c += 8)
                    dw_dx_block<1>(dyn, OW, C, sh, sw, th, tw, kh0, kh1, kw0, kw1, w, KW, dxp, c);
                for (; c < C; c++)
                    dw_dx_block<0>(dyn, OW, C, sh, sw, th, tw, kh0, kh1, kw0, kw1, w, KW, dxp, c);
            };
            int iw = 0;
            if (strips && kh1 > kh0) {
                const int nrows = (kh1 - kh0 + sh - 1) / sh; /* kh0, kh0 + sh, ... < kh1 */
                const int oh_first = (th - kh0) / sh;        /* one output row up per tap row */
                for (; iw < iw_lo; iw++) pixel(iw, 0);
                iw = for_strips(strips, iw_lo, iw_hi, [&](StripKernel k, int i, int count) {
                    /* dy pixel of tap kw = KW-1 for input i, i.e. the window's first column */
                    const float* in = dyn + ((int64_t)oh_first * OW + i + pl - (KW - 1)) * C;
                    const float* wt = w + ((int64_t)kh0 * KW + KW - 1) * C;
                    for (int c = 0; c < C8; c += 8)
                        k(in + c, -(int64_t)OW * C, C, nrows, wt + c, (int64_t)sh * KW * C,
                          -(int64_t)C, v8{}, dxrow + (int64_t)i * C + c);
                    for (int p = 0; C8 < C && p < count; p++) pixel(i + p, C8);
                });
            }
            for (; iw < W; iw++) pixel(iw, 0);
        }
    }
}

/* For one output row and one channel block: for every tap, sum over the row's pixels of
 * dy * x in registers, then add into the part's double partial; optionally the row's sum of
 * dy for db. */
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
                for (int v = 0; v < NV; v++) add_to_double(p + 8 * v, acc[v]);
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
    const int T = threads_for(ex, (double)g.N * OH * OW * C * KH * KW);
    const int64_t taps = (int64_t)KH * KW * C;
    const int64_t per_part = taps + (db ? C : 0);
    const int64_t rows = (int64_t)g.N * OH;
    const int64_t parts = part_count(rows, T, kPartialsPerThread);
    std::vector<double> partial((size_t)(parts * per_part), 0.0);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        double* pw = partial.data() + part * per_part;
        double* pb = db ? pw + taps : nullptr;
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
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
    for (int64_t i = 0; i < per_part; i++) {
        double sum = 0.0;
        for (int64_t part = 0; part < parts; part++) sum += partial[part * per_part + i];
        if (i < taps)
            dw[i] = (float)sum;
        else
            db[i - taps] = (float)sum;
    }
}

/* ---- dense with a short reduction (the stem): direct loops ------------------ */

/* The stem (3x3x3 -> 32) reduces over K = 27 values per output: too short for a GEMM, whose
 * packing then costs about as much as the arithmetic. Instead each pair of output pixels
 * accumulates all its output channels in registers: per input value, one broadcast and NV
 * weight vectors feed 2*NV FMAs. An interior pixel reads its patch straight from x (each
 * kernel row is one contiguous run of KW*Cin values); a border pixel first gathers it, with
 * zeros for the padding. */
constexpr int kDirectMaxK = 32;

bool is_short_dense(const ConvGeom& g) {
    return g.groups == 1 && g.KH * g.KW * g.Cin <= kDirectMaxK;
}

inline v8 splat(float s) { return v8{s, s, s, s, s, s, s, s}; }

/* out[p][co..] = b[co..] + sum over kernel rows kh and j < L of
 *   src[p*KH + kh][j] * w[(kh*L + j)*Cout + co..]   for P pixels, 8*NV channels (NV = 0: one). */
template <int P, int NV>
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
        v8 acc[P][NV];
        for (int p = 0; p < P; p++)
            for (int v = 0; v < NV; v++) acc[p][v] = b ? load8(b + co + 8 * v) : v8{};
        const float* wk = w + co;
        for (int kh = 0; kh < KH; kh++) {
            const float* row[P];
            for (int p = 0; p < P; p++) row[p] = src[p * KH + kh];
            for (int j = 0; j < L; j++, wk += Cout) {
                v8 wv[NV];
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) wv[v] = load8(wk + 8 * v);
#pragma GCC unroll 4
                for (int p = 0; p < P; p++) {
                    const v8 xv = splat(row[p][j]);
#pragma GCC unroll 8
                    for (int v = 0; v < NV; v++) acc[p][v] += xv * wv[v];
                }
            }
        }
        for (int p = 0; p < P; p++)
            for (int v = 0; v < NV; v++) store8(out[p] + co + 8 * v, acc[p][v]);
    }
}

template <int P>
void direct_pixels(const float* const* src, int KH, int L, const float* w, int Cout,
                   const float* b, float* const* out) {
    int co = 0;
    for (; co + 32 <= Cout; co += 32) direct_block<P, 4>(src, KH, L, w, Cout, b, out, co);
    for (; co + 8 <= Cout; co += 8) direct_block<P, 1>(src, KH, L, w, Cout, b, out, co);
    for (; co < Cout; co++) direct_block<P, 0>(src, KH, L, w, Cout, b, out, co);
}

void short_dense_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                         const float* b, float* y) {
    const int KH = g.KH, L = g.KW * g.Cin, OW = g.OW;
    const int64_t rows = (int64_t)g.N * g.OH;
    const int T = threads_for(ex, (double)rows * OW * KH * L * g.Cout);
    const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        float patch[2][kDirectMaxK];
        const float* src[2 * kDirectMaxK]; /* KH <= K <= kDirectMaxK row pointers per pixel */
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
            const int n = (int)(r / g.OH), ih0 = (int)(r % g.OH) * g.stride_h - g.pad_top;
            const bool rows_inside = ih0 >= 0 && ih0 + KH <= g.H;
            /* points src[p*KH .. p*KH + KH) at the kernel rows of output ow's patch */
            auto patch_rows = [&](int ow, int p) {
                const int iw0 = ow * g.stride_w - g.pad_left;
                if (rows_inside && iw0 >= 0 && iw0 + g.KW <= g.W) {
                    for (int kh = 0; kh < KH; kh++)
                        src[p * KH + kh] = x + (((int64_t)n * g.H + ih0 + kh) * g.W + iw0) * g.Cin;
                    return;
                }
                float* dst = patch[p];
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
                for (int kh = 0; kh < KH; kh++) src[p * KH + kh] = patch[p] + kh * L;
            };
            float* yrow = y + r * OW * g.Cout;
            int ow = 0;
            for (; ow + 2 <= OW; ow += 2) {
                patch_rows(ow, 0);
                patch_rows(ow + 1, 1);
                float* out[2] = {yrow + (int64_t)ow * g.Cout, yrow + (int64_t)(ow + 1) * g.Cout};
                direct_pixels<2>(src, KH, L, w, g.Cout, b, out);
            }
            if (ow < OW) {
                patch_rows(ow, 0);
                float* out[1] = {yrow + (int64_t)ow * g.Cout};
                direct_pixels<1>(src, KH, L, w, g.Cout, b, out);
            }
        }
    }
}

/* ---- dense, strided and grouped: im2col + sgemm ----------------------------- */

/* One thread pool only: OpenBLAS runs single-threaded, and each OpenMP thread calls it on its
 * own tile. (OpenBLAS's own threads next to OpenMP's spin against each other on a small
 * machine, and it cannot split a long reduction such as dw = colᵀ·dy across threads.) */

/* Target size of one thread's im2col tile: a few hundred KB to a few MB stays near L2. */
constexpr int64_t kColTileBytes = int64_t(2) << 20;
/* Fewer GEMM rows than this make OpenBLAS repack the weights for too little work. */
constexpr int64_t kMinGemmRows = 256;

/* Rows per piece when `items` rows are cut for `threads` threads: about `budget` rows, with
 * several threads at most a quarter of a thread's share (to balance the load), at least
 * kMinGemmRows pixels (`pixels_per_row` each) as long as that stays within 4x the budget and
 * leaves no thread without work, at least `floor_rows`; then evened out over the pieces. */
int64_t piece_rows(int64_t items, int64_t pixels_per_row, int64_t budget, int threads,
                   int64_t floor_rows) {
    budget = std::max<int64_t>(1, budget);
    int64_t rows = budget;
    if (threads > 1) rows = std::min(rows, (items + 4 * threads - 1) / (4 * threads));
    const int64_t min_rows = (kMinGemmRows + pixels_per_row - 1) / pixels_per_row;
    rows = std::max(rows, std::min(min_rows, 4 * budget));
    rows = std::min(rows, (items + threads - 1) / threads);
    rows = std::min(std::max(rows, floor_rows), items);
    const int64_t pieces = (items + rows - 1) / rows;
    return std::max(floor_rows, (items + pieces - 1) / pieces);
}

struct GemmShape {
    int Cin_g, Cout_g; /* channels per group */
    int K;             /* KH*KW*Cin_g: the reduction length of the forward GEMM */
    int64_t rows_per_tile; /* output rows (n, oh), counted across images, per tile */
    int64_t tiles;
};

/* Tiles are runs of whole output rows, counted across images (r = n*OH + oh), so that small
 * images still give GEMMs of a few hundred rows. Each holds at least KH rows (so in col2im
 * only neighbouring tiles touch the same input rows) and about kColTileBytes of im2col. */
GemmShape gemm_shape(const ConvGeom& g, int threads) {
    GemmShape s;
    s.Cin_g = g.Cin / g.groups;
    s.Cout_g = g.Cout / g.groups;
    s.K = g.KH * g.KW * s.Cin_g;
    const int64_t out_rows = (int64_t)g.N * g.OH;
    const int64_t row_bytes = (int64_t)g.OW * s.K * (int64_t)sizeof(float);
    s.rows_per_tile = piece_rows(out_rows, g.OW, kColTileBytes / row_bytes, threads,
                                 std::min<int64_t>(g.KH, out_rows));
    s.tiles = (out_rows + s.rows_per_tile - 1) / s.rows_per_tile;
    return s;
}

/* Multiply-adds of the forward GEMM (and of each of the two backward ones). */
double gemm_work(const ConvGeom& g) {
    return (double)g.N * g.OH * g.OW * g.KH * g.KW * (g.Cin / g.groups) * g.Cout;
}

bool is_pointwise(const ConvGeom& g) {
    return g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
           g.pad_left == 0 && g.OH == g.H && g.OW == g.W;
}

/* Output rows [r0, r1), r = n*OH + oh. */
struct Tile {
    int64_t r0, r1;
    int64_t pixels(const ConvGeom& g) const { return (r1 - r0) * g.OW; }
    int64_t first_pixel(const ConvGeom& g) const { return r0 * g.OW; }
};

Tile tile_at(const ConvGeom& g, const GemmShape& s, int64_t t) {
    const int64_t r0 = t * s.rows_per_tile;
    return {r0, std::min((int64_t)g.N * g.OH, r0 + s.rows_per_tile)};
}

/* col[p, (kh*KW + kw)*Cin_g + ci] = x[n, ih, iw, group*Cin_g + ci] (0 in the padding) for the
 * tile's output pixels p. */
void im2col(const ConvGeom& g, const GemmShape& s, const float* x, int group, const Tile& t,
            float* col) {
    const int Cg = s.Cin_g, KW = g.KW;
    /* without groups, the KW taps of a kernel row are one contiguous run of x */
    const bool runs = g.groups == 1;
    float* dst = col;
    for (int64_t r = t.r0; r < t.r1; r++) {
        const int n = (int)(r / g.OH), ih0 = (int)(r % g.OH) * g.stride_h - g.pad_top;
        for (int ow = 0; ow < g.OW; ow++) {
            const int iw0 = ow * g.stride_w - g.pad_left;
            const bool cols_ok = iw0 >= 0 && iw0 + KW <= g.W;
            for (int kh = 0; kh < g.KH; kh++) {
                const int ih = ih0 + kh;
                const bool row_ok = ih >= 0 && ih < g.H;
                const int64_t xrow = ((int64_t)n * g.H + ih) * g.W * g.Cin + (int64_t)group * Cg;
                if (runs && row_ok && cols_ok) {
                    const float* src = x + xrow + (int64_t)iw0 * g.Cin;
                    for (int i = 0; i < KW * Cg; i++) dst[i] = src[i];
                    dst += KW * Cg;
                    continue;
                }
                for (int kw = 0; kw < KW; kw++, dst += Cg) {
                    const int iw = iw0 + kw;
                    if (row_ok && iw >= 0 && iw < g.W) {
                        const float* src = x + xrow + (int64_t)iw * g.Cin;
                        for (int ci = 0; ci < Cg; ci++) dst[ci] = src[ci];
                    } else {
                        for (int ci = 0; ci < Cg; ci++) dst[ci] = 0.0f;
                    }
                }
            }
        }
    }
}

/* The adjoint of im2col: dx[n, ih, iw, group*Cin_g + ci] += dcol entries of the tile. */
void col2im_add(const ConvGeom& g, const GemmShape& s, const float* dcol, int group,
                const Tile& t, float* dx) {
    const int Cg = s.Cin_g, KW = g.KW;
    const bool runs = g.groups == 1;
    const float* src = dcol;
    for (int64_t r = t.r0; r < t.r1; r++) {
        const int n = (int)(r / g.OH), ih0 = (int)(r % g.OH) * g.stride_h - g.pad_top;
        for (int ow = 0; ow < g.OW; ow++) {
            const int iw0 = ow * g.stride_w - g.pad_left;
            const bool cols_ok = iw0 >= 0 && iw0 + KW <= g.W;
            for (int kh = 0; kh < g.KH; kh++) {
                const int ih = ih0 + kh;
                const bool row_ok = ih >= 0 && ih < g.H;
                const int64_t xrow = ((int64_t)n * g.H + ih) * g.W * g.Cin + (int64_t)group * Cg;
                if (runs && row_ok && cols_ok) {
                    float* d = dx + xrow + (int64_t)iw0 * g.Cin;
#pragma omp simd
                    for (int i = 0; i < KW * Cg; i++) d[i] += src[i];
                    src += KW * Cg;
                    continue;
                }
                for (int kw = 0; kw < KW; kw++, src += Cg) {
                    const int iw = iw0 + kw;
                    if (!row_ok || iw < 0 || iw >= g.W) continue;
                    float* d = dx + xrow + (int64_t)iw * g.Cin;
#pragma omp simd
                    for (int ci = 0; ci < Cg; ci++) d[ci] += src[ci];
                }
            }
        }
    }
}

/* dst[i] = sum over parts of partial[part][i], in part order. */
void reduce_partials(const Exec& ex, const float* partial, int64_t parts, int64_t n, float* dst) {
#pragma omp parallel for num_threads(threads_for(ex, (double)n * parts)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float sum = partial[i];
        for (int64_t part = 1; part < parts; part++) sum += partial[part * n + i];
        dst[i] = sum;
    }
}

/* Pointwise: the activations are already the GEMM operand, taken in chunks of rows of about
 * kColTileBytes of x and y. */
int64_t pointwise_chunk_rows(const ConvGeom& g, int threads) {
    const int64_t M = (int64_t)g.N * g.OH * g.OW;
    const int64_t bytes_per_row = (int64_t)(g.Cin + g.Cout) * sizeof(float);
    return piece_rows(M, 1, kColTileBytes / bytes_per_row, threads, 1);
}

void gemm_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                  const float* b, float* y) {
    const int T = threads_for(ex, gemm_work(g));
    const GemmShape s = gemm_shape(g, T);
    const float beta = b ? 1.0f : 0.0f;
    set_blas_threads(1);
    if (is_pointwise(g)) {
        const int64_t M = (int64_t)g.N * g.OH * g.OW, rows = pointwise_chunk_rows(g, T);
        const int64_t chunks = (M + rows - 1) / rows;
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
        for (int64_t c = 0; c < chunks; c++) {
            const int64_t r0 = c * rows;
            const int Mc = (int)std::min(rows, M - r0);
            float* yc = y + r0 * g.Cout;
            for (int64_t r = 0; b && r < Mc; r++)
                std::memcpy(yc + r * g.Cout, b, (size_t)g.Cout * sizeof(float));
            for (int grp = 0; grp < g.groups; grp++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Mc, s.Cout_g, s.Cin_g, 1.0f,
                            x + r0 * g.Cin + (int64_t)grp * s.Cin_g, g.Cin,
                            w + (int64_t)grp * s.Cout_g, g.Cout, beta,
                            yc + (int64_t)grp * s.Cout_g, g.Cout);
        }
        return;
    }
    const int64_t tiles = s.tiles;
    const size_t col_floats = (size_t)s.rows_per_tile * g.OW * s.K;
#pragma omp parallel num_threads(T)
    {
        float* col = scratch(col_floats);
#pragma omp for schedule(dynamic, 1)
        for (int64_t ti = 0; ti < tiles; ti++) {
            const Tile t = tile_at(g, s, ti);
            const int Mt = (int)t.pixels(g);
            float* yt = y + t.first_pixel(g) * g.Cout;
            for (int64_t r = 0; b && r < Mt; r++)
                std::memcpy(yt + r * g.Cout, b, (size_t)g.Cout * sizeof(float));
            for (int grp = 0; grp < g.groups; grp++) {
                im2col(g, s, x, grp, t, col);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Mt, s.Cout_g, s.K, 1.0f,
                            col, s.K, w + (int64_t)grp * s.Cout_g, g.Cout, beta,
                            yt + (int64_t)grp * s.Cout_g, g.Cout);
            }
        }
    }
}

void gemm_backward_pointwise(const Exec& ex, const ConvGeom& g, const GemmShape& s,
                             const float* x, const float* w, const float* dy, float* dx,
                             float* dw) {
    const int T = threads_for(ex, gemm_work(g));
    const int64_t M = (int64_t)g.N * g.OH * g.OW, rows = pointwise_chunk_rows(g, T);
    const int64_t chunks = (M + rows - 1) / rows;
    const int64_t parts = part_count(chunks, T, kPartialsPerThread);
    const int64_t wsize = (int64_t)s.Cin_g * g.Cout;
    std::vector<float> partial(dw ? (size_t)(parts * wsize) : 0);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        const int64_t c0 = part_begin(chunks, parts, part);
        const int64_t c1 = part_begin(chunks, parts, part + 1);
        for (int64_t c = c0; c < c1; c++) {
            const int64_t r0 = c * rows;
            const int Mc = (int)std::min(rows, M - r0);
            for (int grp = 0; grp < g.groups; grp++) {
                const float* dyc = dy + r0 * g.Cout + (int64_t)grp * s.Cout_g;
                if (dx) /* dx = dy · w_gᵀ */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Mc, s.Cin_g, s.Cout_g,
                                1.0f, dyc, g.Cout, w + (int64_t)grp * s.Cout_g, g.Cout, 0.0f,
                                dx + r0 * g.Cin + (int64_t)grp * s.Cin_g, g.Cin);
                if (dw) /* this part's dw (+)= xᵀ · dy */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.Cin_g, s.Cout_g, Mc,
                                1.0f, x + r0 * g.Cin + (int64_t)grp * s.Cin_g, g.Cin, dyc, g.Cout,
                                c == c0 ? 0.0f : 1.0f,
                                partial.data() + part * wsize + (int64_t)grp * s.Cout_g, g.Cout);
            }
        }
    }
    if (dw) reduce_partials(ex, partial.data(), parts, wsize, dw);
}

void gemm_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                   const float* dy, float* dx, float* dw) {
    const int T = threads_for(ex, gemm_work(g));
    const GemmShape s = gemm_shape(g, T);
    set_blas_threads(1);
    if (is_pointwise(g)) {
        gemm_backward_pointwise(ex, g, s, x, w, dy, dx, dw);
        return;
    }
    const int64_t tiles = s.tiles;
    const size_t col_floats = (size_t)s.rows_per_tile * g.OW * s.K;
    if (dw) { /* each part of the tiles sums colᵀ · dy into its own partial dw */
        const int64_t wsize = (int64_t)g.KH * g.KW * s.Cin_g * g.Cout;
        const int64_t parts = part_count(tiles, T, kPartialsPerThread);
        std::vector<float> partial((size_t)(parts * wsize));
#pragma omp parallel num_threads(T)
        {
            float* col = scratch(col_floats);
#pragma omp for schedule(dynamic, 1)
            for (int64_t part = 0; part < parts; part++) {
                const int64_t t0 = part_begin(tiles, parts, part);
                for (int64_t ti = t0; ti < part_begin(tiles, parts, part + 1); ti++) {
                    const Tile t = tile_at(g, s, ti);
                    const float* dyt = dy + t.first_pixel(g) * g.Cout;
                    for (int grp = 0; grp < g.groups; grp++) {
                        im2col(g, s, x, grp, t, col);
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.K, s.Cout_g,
                                    (int)t.pixels(g), 1.0f, col, s.K,
                                    dyt + (int64_t)grp * s.Cout_g, g.Cout, ti == t0 ? 0.0f : 1.0f,
                                    partial.data() + part * wsize + (int64_t)grp * s.Cout_g,
                                    g.Cout);
                    }
                }
            }
        }
        reduce_partials(ex, partial.data(), parts, wsize, dw);
    }
    if (dx) { /* dcol = dy · W_gᵀ per tile, then col2im back to input pixels */
        const int64_t xsize = (int64_t)g.N * g.H * g.W * g.Cin;
#pragma omp parallel num_threads(T)
        {
            float* col = scratch(col_floats);
#pragma omp for schedule(static)
            for (int64_t i = 0; i < xsize; i++) dx[i] = 0.0f;
            /* Tiles of even index first, then odd ones: tiles running at the same time never
             * share input rows (a tile between them spans >= KH output rows, or they lie in
             * different images), and every dx element sums its contributions in the same
             * order whatever the thread count. */
            for (int parity = 0; parity < 2; parity++) {
#pragma omp for schedule(dynamic, 1)
                for (int64_t k = 0; k < (tiles + 1 - parity) / 2; k++) {
                    const int64_t ti = 2 * k + parity;
                    const Tile t = tile_at(g, s, ti);
                    const float* dyt = dy + t.first_pixel(g) * g.Cout;
                    for (int grp = 0; grp < g.groups; grp++) {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t.pixels(g), s.K,
                                    s.Cout_g, 1.0f, dyt + (int64_t)grp * s.Cout_g, g.Cout,
                                    w + (int64_t)grp * s.Cout_g, g.Cout, 0.0f, col, s.K);
                        col2im_add(g, s, col, grp, t, dx);
                    }
                }
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
    else if (is_short_dense(g) && !is_pointwise(g))
        short_dense_forward(ex, g, x, w, b, y);
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
