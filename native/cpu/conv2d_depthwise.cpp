/*
 * conv2d_depthwise.cpp — the depthwise path of conv2d.cpp (groups == Cin == Cout): hand-written
 * direct loops vectorised over channels (vectors of 16 floats where the path has them, else 8;
 * up to four per block kept in registers; 3x3 and 5x5 kernels in register-blocked strips of
 * pixels, on rows of at most 16 pixels up to the row's ends; 3x3 over 16 or 32 channels a row
 * at a time with the weights in registers),
 * parallel over rows: output rows for y and dw (partial sums per part, in double), input rows
 * for dx (a gather, so no races); dw over many channels on several threads is parallel over
 * blocks of channels instead, each summing every row. With stride 1, dx is the forward pass
 * itself, on dy with the kernel flipped; when dw is per row too, dx and dw run in one sweep
 * over the rows (depthwise_backward), for 3x3 over 16 channels in one pass over each row.
 * EfficientNet spends most of its convolution time here.
 */
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv2d_common.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* Work for threads_for: the multiply-adds, or for small kernels on many channels (3x3 on 7x7
 * maps) the traffic of the input and the output, whichever is more. */
double depthwise_work(const ConvGeom& g) {
    const double in = (double)g.N * g.H * g.W * g.Cin, out = (double)g.N * g.OH * g.OW * g.Cin;
    return std::max(out * g.KH * g.KW, streaming_work(in + out));
}

/* The per-pixel blocks below handle channels [c, c + L*NV) in NV vectors of L floats (NV = 0:
 * the one channel c). */

/* y[pixel, c..] = b + sum over taps of x[tap, c..] * w[tap, c..]; taps given as a rectangle
 * [kh0,kh1) x [kw0,kw1) relative to the pixel's origin xo (index into x of tap (0,0)). */
template <int L, int NV>
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
        typedef typename Vec<L>::type V;
        V acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = b ? vload<L>(b + c + L * v) : V{};
        for (int kh = kh0; kh < kh1; kh++) {
            const float* xp = x + (xo + kh * x_row_stride + (int64_t)kw0 * C + c);
            const float* wp = w + ((int64_t)(kh * KW + kw0) * C + c);
            for (int kw = kw0; kw < kw1; kw++, xp += C, wp += C) {
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[v] += vload<L>(xp + L * v) * vload<L>(wp + L * v);
            }
        }
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) vstore<L>(y + c + L * v, acc[v]);
    }
}

/* dw_forward_block for a pixel whose whole K x K window lies inside x (most pixels): the taps
 * unrolled, in the same order. */
template <int K, int L, int NV>
__attribute__((always_inline)) inline void dw_forward_window(const float* x, int64_t xo,
                                                             int64_t x_row_stride, const float* w,
                                                             int C, const float* b, float* y,
                                                             int c) {
    typedef typename Vec<L>::type V;
    V acc[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[v] = b ? vload<L>(b + c + L * v) : V{};
#pragma GCC unroll 8
    for (int kh = 0; kh < K; kh++) {
        const float* xp = x + (xo + kh * x_row_stride + c);
        const float* wp = w + ((int64_t)kh * K * C + c);
#pragma GCC unroll 8
        for (int kw = 0; kw < K; kw++) {
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[v] += vload<L>(xp + (int64_t)kw * C + L * v) *
                          vload<L>(wp + (int64_t)kw * C + L * v);
        }
    }
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) vstore<L>(y + c + L * v, acc[v]);
}

/* The widest vectors of this path: blocks of channels for the per-pixel loops. */
#if defined(__AVX512F__)
constexpr int kWide = 16;
#else
constexpr int kWide = 8;
#endif

/* The register-blocked inner kernel for L channels (one vector) and P neighbouring pixels of
 * one row, all of whose KW taps lie inside the row: a 1-D correlation along the row, repeated
 * over nrows kernel rows. Each input vector loaded is used by every pixel whose window covers
 * it and the KW weights of a kernel row stay in registers, so there are about 0.5 loads per FMA
 * instead of 2 (P=8, KW=5: 8 accumulators + 5 weights + 1 input = 14 of 16 AVX registers).
 *   out[p] = bias + sum_k sum_kw in[k*in_row + (p*SW + kw)*C] * wt[k*w_row + kw*w_tap]
 * (bias may be null: 0). The forward pass uses it on x and w; the stride-1 dx pass on dy and w
 * flipped along kw (w_tap = -C), which turns the transposed convolution into the same
 * correlation. */
template <int KW, int SW, int P, int L, bool EDGE>
inline void dw_strip_cols(const float* in, int jlo, int jhi, int64_t in_row, int64_t C, int nrows,
                          const float* wt, int64_t w_row, int64_t w_tap, const float* bias,
                          float* out) {
    typedef typename Vec<L>::type V;
    const V init = bias ? vload<L>(bias) : V{};
    V acc[P];
#pragma GCC unroll 16
    for (int p = 0; p < P; p++) acc[p] = init;
    for (int k = 0; k < nrows; k++) {
        const float* ir = in + k * in_row;
        const float* wr = wt + k * w_row;
        V wk[KW];
#pragma GCC unroll 16
        for (int kw = 0; kw < KW; kw++) wk[kw] = vload<L>(wr + kw * w_tap);
#pragma GCC unroll 64
        for (int j = 0; j < (P - 1) * SW + KW; j++) {
            if constexpr (EDGE) {
                if (j < jlo || j >= jhi) continue;
            }
            const V iv = vload<L>(ir + (j - jlo) * C);
#pragma GCC unroll 16
            for (int p = 0; p < P; p++) {
                const int kw = j - p * SW;
                if (kw >= 0 && kw < KW) acc[p] += iv * wk[kw];
            }
        }
    }
#pragma GCC unroll 16
    for (int p = 0; p < P; p++) vstore<L>(out + p * C, acc[p]);
}

template <int KW, int SW, int P, int L>
inline void dw_strip(const float* in, int64_t in_row, int64_t C, int nrows, const float* wt,
                     int64_t w_row, int64_t w_tap, const float* bias, float* out) {
    dw_strip_cols<KW, SW, P, L, false>(in, 0, (P - 1) * SW + KW, in_row, C, nrows, wt, w_row,
                                       w_tap, bias, out);
}

/* dw_strip for a strip that reaches past the row's ends: only its input columns [jlo, jhi)
 * (counted from the strip's first window column) exist, and in points at column jlo. Each
 * pixel adds its taps that exist in the same order as the per-pixel path, so the sums are the
 * same bits as there. */
template <int KW, int SW, int P, int L>
inline void dw_strip_edge(const float* in, int jlo, int jhi, int64_t in_row, int64_t C,
                          int nrows, const float* wt, int64_t w_row, int64_t w_tap,
                          const float* bias, float* out) {
    dw_strip_cols<KW, SW, P, L, true>(in, jlo, jhi, in_row, C, nrows, wt, w_row, w_tap, bias,
                                      out);
}

using StripKernel = void (*)(const float*, int64_t, int64_t, int, const float*, int64_t, int64_t,
                             const float*, float*);
using EdgeKernel = void (*)(const float*, int, int, int64_t, int64_t, int, const float*, int64_t,
                            int64_t, const float*, float*);

/* Strip kernels of 8 and 4 pixels for 3- and 5-wide kernels, stride 1 or 2 (null for anything
 * else, which takes the per-pixel path). 5x5 is compute-bound and the strips run it about 1.5x
 * faster out of cache. With few channels the per-pixel loop's fixed cost per pixel dominates,
 * and strips ran 8x224x224x16 (the Ghost modules' cheap convolution) 2.3x faster forward and
 * 5.8x faster for dx (one thread, 2026-12-02). With many channels the per-pixel loop, which
 * loads a weight vector for every multiply-add, was faster than 8-float strips walking their
 * window across pixels out of cache; 16-float strips are not, nor 8-float ones any more: 3x3 s1
 * forward over 8x56x56x144 in 0.78-0.88x the time, 8x14x14x480 0.82-0.86x, 8x7x7x1152
 * 0.6-0.67x, dx alike (2 threads, cold cache), 8x56x56x120 (8-float strips) 0.76-0.8x and
 * 8x28x28x264 0.95-0.97x on one thread (2026-12-05). With stride 2 neighbouring windows share a
 * column: 3x3 s2 over 8x112x112x96 ran in 0.6-0.85x the time with strips (1 and 2 threads), over
 * 8x28x28x240 in 0.6x on one thread and about the same on two. */
struct Strips {
    StripKernel p8 = nullptr, p4 = nullptr;
    /* stride 1: strips of P = 4..8 pixels that may reach past the row's ends, edge[P] */
    EdgeKernel edge[9] = {};
    int lanes = 8; /* channels per strip call */
    explicit operator bool() const { return p8 != nullptr; }
    /* the channels the strips cover, [0, covered(C)); the rest go pixel by pixel */
    int covered(int C) const { return C / lanes * lanes; }
};

template <int KW, int SW, int L>
Strips strips_for() {
    Strips s;
    s.p8 = dw_strip<KW, SW, 8, L>;
    s.p4 = dw_strip<KW, SW, 4, L>;
    s.lanes = L;
    if constexpr (SW == 1) {
        s.edge[4] = dw_strip_edge<KW, SW, 4, L>;
        s.edge[5] = dw_strip_edge<KW, SW, 5, L>;
        s.edge[6] = dw_strip_edge<KW, SW, 6, L>;
        s.edge[7] = dw_strip_edge<KW, SW, 7, L>;
        s.edge[8] = dw_strip_edge<KW, SW, 8, L>;
    }
    return s;
}

template <int L>
Strips strips_of(int KW, int SW) {
    if (KW == 3 && SW == 1) return strips_for<3, 1, L>();
    if (KW == 3 && SW == 2) return strips_for<3, 2, L>();
    if (KW == 5 && SW == 1) return strips_for<5, 1, L>();
    if (KW == 5 && SW == 2) return strips_for<5, 2, L>();
    return Strips{};
}

/* 16-channel strips where the path has 16-float vectors and the channels are whole multiples
 * of 16, from 32 channels up (half the instructions of two 8-channel ones: 0.76-0.9x the time
 * on B0's 5x5 layers and on 3x3 over 112x112x32, 2 threads); else 8-channel ones (on 16
 * channels, 8x224x224x16, the 16-channel strips took 1.15x as long). */
Strips strip_kernels(int KW, int SW, int C) {
#if defined(__AVX512F__)
    if (C % 16 == 0 && C >= 32) return strips_of<16>(KW, SW);
#endif
    return strips_of<8>(KW, SW);
}

/* Covers pixels [lo, hi) of a row with strips of 8, then 4 pixels; each strip runs over all
 * blocks of channels (Strips::lanes each) while its input window is in cache. strip(kernel, p,
 * count) does one strip for every channel block; returns where the strips stopped. */
template <class StripAt>
int for_strips(const Strips& k, int lo, int hi, StripAt strip) {
    int p = lo;
    for (; p + 8 <= hi; p += 8) strip(k.p8, p, 8);
    for (; p + 4 <= hi; p += 4) strip(k.p4, p, 4);
    return p;
}

/* Rows of at most this many pixels (stride 1) are covered by strips of 4 to 8 pixels, ends
 * included (dw_strip_edge): on 14- and 7-pixel rows the per-pixel loop at the ends and the
 * remainder took most of the time (5x5 over 8x14x14x672 and 8x7x7x1152: the whole-row strips
 * ran the forward in 0.62x and 0.38x the time). On 28-pixel rows strips at the ends were slower
 * than the per-pixel loop. */
constexpr int kEdgeStripRow = 16;

#if defined(__AVX512F__)
/* count pixels of one output row of a 3x3 stride-1 depthwise convolution over 16 * NV channels
 * whose windows lie inside the input: in points at the first pixel's window's top-left input
 * pixel, rs is the input's row stride. The nine weights stay in registers and each pixel sums
 * its taps from the bias (or zero) kernel row by kernel row and along the row, the order of
 * dw_strip_cols and dw_forward_window: the same bits. (8x224x224x16, the decoder's cheap
 * convolution, ran in 8-float strips: two calls per strip of pixels, each with its setup.) */
template <int NV>
inline void dw_forward_row3(const float* in, int64_t rs, const float* w, const float* b,
                            float* out, int count) {
    typedef typename Vec<16>::type V;
    constexpr int C = 16 * NV;
    V wk[3][3][NV], init[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
#pragma GCC unroll 3
        for (int kh = 0; kh < 3; kh++)
#pragma GCC unroll 3
            for (int kw = 0; kw < 3; kw++)
                wk[kh][kw][v] = vload<16>(w + (kh * 3 + kw) * C + 16 * v);
        init[v] = b ? vload<16>(b + 16 * v) : V{};
    }
    for (int p = 0; p < count; p++, in += C, out += C) {
        /* the pixel's lines in the input row that the next output row's window adds (8
         * images, 2 threads, cold: 224x224x16 and 112x112x32 in 0.87-0.90x the time) */
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) prefetch_at(in, 3 * rs + 16 * v);
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            V acc = init[v];
#pragma GCC unroll 3
            for (int kh = 0; kh < 3; kh++)
#pragma GCC unroll 3
                for (int kw = 0; kw < 3; kw++)
                    acc += vload<16>(in + kh * rs + kw * C + 16 * v) * wk[kh][kw][v];
            vstore<16>(out + 16 * v, acc);
        }
    }
}
#endif

/* One 64-byte line (channels [c, c + 16)) of each of cols pixels C floats apart in the input
 * row `below` floats after in, and with two, in the row after that: the lines that the next
 * output row's window adds to a strip's. */
__attribute__((always_inline)) inline void prefetch_rows_below(const float* in, int64_t below,
                                                              int64_t rs, bool two, int c,
                                                              int cols, int C) {
    for (int j = 0; j < cols; j++) {
        prefetch_at(in, below + c + (int64_t)j * C);
        if (two) prefetch_at(in, below + rs + c + (int64_t)j * C);
    }
}

/* One output row of the depthwise forward pass at a time (depthwise_forward's loop body, and
 * the dx rows of the fused stride-1 backward). */
class ForwardRows {
public:
    ForwardRows(const ConvGeom& g, const float* x, const float* w, const float* b,
                const ConvEpilogue& e, float* y)
        : g_(g), x_(x), w_(w), b_(b), e_(e), y_(y),
          strips_(g.Cin >= 8 ? strip_kernels(g.KW, g.stride_w, g.Cin) : Strips{}) {
        /* outputs [ow_lo, ow_hi) have all KW taps inside the row */
        inside_outputs(g.W, g.KW, g.stride_w, g.pad_left, g.OW, ow_lo_, ow_hi_);
    }

    void row(int64_t r) const {
        const ConvGeom& g = g_;
        const float *x = x_, *w = w_, *b = b_;
        const int C = g.Cin, H = g.H, W = g.W, OH = g.OH, OW = g.OW, KH = g.KH, KW = g.KW;
        const int sw = g.stride_w, pl = g.pad_left;
        const int64_t rs = (int64_t)W * C;
        const int CS = strips_.covered(C), lanes = strips_.lanes;
        const int n = (int)(r / OH), oh = (int)(r % OH);
        const int ih0 = oh * g.stride_h - g.pad_top;
        int kh0, kh1;
        tap_range(ih0, KH, H, kh0, kh1);
        float* yrow = y_ + r * OW * C;
        /* index into x of tap (0,0) of output ow; only valid taps are dereferenced */
        auto origin = [&](int ow) { return (((int64_t)n * H + ih0) * W + ow * sw - pl) * C; };
        /* 3x3 windows wholly inside the input: unrolled taps (dw_forward_window) */
        const bool rows_inside = KH == 3 && KW == 3 && kh0 == 0 && kh1 == 3;
        auto pixel = [&](int ow, int c_begin) {
            int kw0, kw1;
            tap_range(ow * sw - pl, KW, W, kw0, kw1);
            const int64_t xo = origin(ow);
            float* yp = yrow + (int64_t)ow * C;
            int c = c_begin;
            if (rows_inside && kw0 == 0 && kw1 == 3) {
                for (; c + 4 * kWide <= C; c += 4 * kWide)
                    dw_forward_window<3, kWide, 4>(x, xo, rs, w, C, b, yp, c);
                for (; c + 2 * kWide <= C; c += 2 * kWide)
                    dw_forward_window<3, kWide, 2>(x, xo, rs, w, C, b, yp, c);
                for (; c + kWide <= C; c += kWide)
                    dw_forward_window<3, kWide, 1>(x, xo, rs, w, C, b, yp, c);
                for (; c + 8 <= C; c += 8) dw_forward_window<3, 8, 1>(x, xo, rs, w, C, b, yp, c);
            }
            for (; c + 4 * kWide <= C; c += 4 * kWide)
                dw_forward_block<kWide, 4>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
            for (; c + 2 * kWide <= C; c += 2 * kWide)
                dw_forward_block<kWide, 2>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
            for (; c + kWide <= C; c += kWide)
                dw_forward_block<kWide, 1>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
            for (; c + 8 <= C; c += 8)
                dw_forward_block<8, 1>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
            for (; c < C; c++)
                dw_forward_block<8, 0>(x, xo, rs, w, KW, C, kh0, kh1, kw0, kw1, b, yp, c);
        };
        int ow = 0;
#if defined(__AVX512F__)
        if (rows_inside && (C == 16 || C == 32) && sw == 1 && ow_lo_ < ow_hi_) {
            for (; ow < ow_lo_; ow++) pixel(ow, 0);
            (C == 16 ? dw_forward_row3<1> : dw_forward_row3<2>)(
                x + origin(ow), rs, w, b, yrow + (int64_t)ow * C, ow_hi_ - ow_lo_);
            ow = ow_hi_;
        } else
#endif
        if (strips_ && kh1 > kh0) {
            const float* wt = w + (int64_t)kh0 * KW * C;
            /* Each strip also fetches its columns of the input rows below its window that the
             * next output row's window adds (one, or two with stride 2): 8 images, 2 threads,
             * cold, 3x3 over 56x56x144 and 14x14x480 and 5x5 over 28x28x240, 14x14x480 and
             * 14x14x672 forward and dx in 0.75-0.88x the time, on 7x7 maps 0.87-0.95x; stride 2
             * over 112x112x96, 28x28x240 and 14x14x672 0.87-0.92x (with only the first of the
             * two rows, 1.06-1.09x). */
            const bool ahead2 = g.stride_h == 2;
            const int64_t below = (int64_t)(kh1 - kh0) * rs; /* the row below the window */
            /* pixels [o, o + count) whose windows may reach past the row's ends: the strip's
             * window columns [jlo, jhi) exist (column col0 + j of the input row) */
            auto edge = [&](EdgeKernel k, int o, int count) {
                const int col0 = o * sw - pl, J = (count - 1) * sw + KW;
                const int jlo = std::max(0, -col0), jhi = std::min(J, W - col0);
                const int first = std::min(W - 1, std::max(0, col0 + jlo));
                const float* in = x + (((int64_t)n * H + ih0 + kh0) * W + first) * C;
                for (int c = 0; c < CS; c += lanes) {
                    if (c % 16 == 0) prefetch_rows_below(in, below, rs, ahead2, c, jhi - jlo, C);
                    k(in + c, jlo, jhi, rs, C, kh1 - kh0, wt + c, (int64_t)KW * C, C,
                      b ? b + c : nullptr, yrow + (int64_t)o * C + c);
                }
                for (int p = 0; CS < C && p < count; p++) pixel(o + p, CS);
            };
            if (OW <= kEdgeStripRow && sw == 1 && OW >= 4) {
                /* a short row: ceil(OW / 8) strips of as equal a width as can be (4 to 8
                 * pixels: 14 = 7 + 7, 7 = 7), their ends included */
                const int S = (OW + 7) / 8, base = OW / S, extra = OW % S;
                for (int i = 0; i < S; i++) {
                    const int P = base + (i < extra ? 1 : 0);
                    edge(strips_.edge[P], ow, P);
                    ow += P;
                }
            } else {
                for (; ow < ow_lo_; ow++) pixel(ow, 0);
                ow = for_strips(strips_, ow_lo_, ow_hi_, [&](StripKernel k, int o, int count) {
                    const float* in = x + (origin(o) + kh0 * rs);
                    const int J = (count - 1) * sw + KW;
                    for (int c = 0; c < CS; c += lanes) {
                        if (c % 16 == 0) prefetch_rows_below(in, below, rs, ahead2, c, J, C);
                        k(in + c, rs, C, kh1 - kh0, wt + c, (int64_t)KW * C, C,
                          b ? b + c : nullptr, yrow + (int64_t)o * C + c);
                    }
                    for (int p = 0; CS < C && p < count; p++) pixel(o + p, CS);
                });
            }
        }
        for (; ow < OW; ow++) pixel(ow, 0);
        if (e_.any())
            conv_epilogue(e_, yrow, e_.residual ? e_.residual + r * OW * C : nullptr, OW, C);
    }

private:
    ConvGeom g_;
    const float *x_, *w_, *b_;
    ConvEpilogue e_;
    float* y_;
    Strips strips_;
    int ow_lo_, ow_hi_;
};

}  // namespace

void depthwise_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                       const float* b, const ConvEpilogue& e, float* y) {
    const int64_t rows = (int64_t)g.N * g.OH;
    const ForwardRows fwd(g, x, w, b, e, y);
    const int T = threads_for(ex, depthwise_work(g));
    const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) fwd.row(r);
    }
}

namespace {

/* With stride 1, dx is the forward correlation of dy with w flipped in both directions and
 * padding K-1-pad: dx[i] = sum_k dy[i + pad - k] w[k] = sum_k' dy[i - (K-1-pad) + k'] w[K-1-k'].
 * The forward's loops (strips for 5x5, no index divisions) then do it: geom is that forward's
 * geometry (dy in, dx out), flipped its kernel. */
struct Transposed {
    ConvGeom geom;
    std::vector<float> flipped;
    Transposed(const ConvGeom& g, const float* w) : geom(g) {
        const int C = g.Cin, KH = g.KH, KW = g.KW;
        flipped.resize((size_t)KH * KW * C);
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++)
                std::copy(w + ((int64_t)(KH - 1 - kh) * KW + (KW - 1 - kw)) * C,
                          w + ((int64_t)(KH - 1 - kh) * KW + (KW - 1 - kw)) * C + C,
                          flipped.data() + ((int64_t)kh * KW + kw) * C);
        geom.H = g.OH;
        geom.W = g.OW;
        geom.OH = g.H;
        geom.OW = g.W;
        geom.pad_top = KH - 1 - g.pad_top;
        geom.pad_left = KW - 1 - g.pad_left;
    }
};

/* dx[pixel, c..] = sum over taps (kh, kw) that reach this input pixel of
 * dy[oh, ow, c..] * w[kh, kw, c..]: taps kh0, kh0 + sh, ... < kh1 with output rows oh0, oh0 - 1,
 * ..., and the same along the row (kw0, ow0). Channels [c, c + L*NV) in NV vectors of L floats
 * (NV = 0: the one channel c). */
template <int L, int NV>
inline void dw_dx_block(const float* dyn, int OW, int C, int sh, int sw, int oh0, int ow0, int kh0,
                        int kh1, int kw0, int kw1, const float* w, int KW, float* dxp, int c) {
    if constexpr (NV == 0) {
        float acc = 0.0f;
        for (int kh = kh0, oh = oh0; kh < kh1; kh += sh, oh--)
            for (int kw = kw0, ow = ow0; kw < kw1; kw += sw, ow--)
                acc += dyn[((int64_t)oh * OW + ow) * C + c] * w[(kh * KW + kw) * C + c];
        dxp[c] = acc;
    } else {
        typedef typename Vec<L>::type V;
        V acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = V{};
        for (int kh = kh0, oh = oh0; kh < kh1; kh += sh, oh--) {
            const float* dyr = dyn + (int64_t)oh * OW * C + c;
            const float* wr = w + (int64_t)kh * KW * C + c;
            for (int kw = kw0, ow = ow0; kw < kw1; kw += sw, ow--) {
                const float* dp = dyr + (int64_t)ow * C;
                const float* wp = wr + (int64_t)kw * C;
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[v] += vload<L>(dp + L * v) * vload<L>(wp + L * v);
            }
        }
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) vstore<L>(dxp + c + L * v, acc[v]);
    }
}

/* dw_dx_block over all C channels of count dx pixels, dxp, dxp + step, ..., whose NT taps
 * (kernel row by kernel row, then along the row: dw_dx_block's order) read w at wp[t] and dy at
 * dyp[t] for the first pixel, one dy pixel further for each next one (the input pixels of one
 * residue modulo the stride, inside the row: the same taps, each one output pixel on); each
 * at channel 0. The same sums in the same order as dw_dx_block: the same bits. With the tap
 * count a compile-time constant and the taps' addresses made once per run, not once per pixel
 * and block of channels, the loops unroll: one pixel's blocks of channels each walking its taps
 * at run time took 8x56x56x96 (3x3, stride 2) at about 75 cycles per pixel on one thread, its
 * data in cache. */
template <int NT>
void dw_dx_run(const float* const* dyp, const float* const* wp, int C, float* dxp, int count,
               int64_t step) {
    for (int i = 0; i < count; i++, dxp += step) {
        const int64_t o = (int64_t)i * C;
        int c = 0;
        auto block = [&](auto lanes, auto nv) {
            constexpr int L = decltype(lanes)::value, NV = decltype(nv)::value;
            typedef typename Vec<L>::type V;
            for (; c + L * NV <= C; c += L * NV) {
                V acc[NV];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[v] = V{};
#pragma GCC unroll 9
                for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++)
                        acc[v] += vload<L>(dyp[t] + o + c + L * v) * vload<L>(wp[t] + c + L * v);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) vstore<L>(dxp + c + L * v, acc[v]);
            }
        };
        block(std::integral_constant<int, kWide>{}, std::integral_constant<int, 4>{});
        block(std::integral_constant<int, kWide>{}, std::integral_constant<int, 2>{});
        block(std::integral_constant<int, kWide>{}, std::integral_constant<int, 1>{});
        block(std::integral_constant<int, 8>{}, std::integral_constant<int, 1>{});
        for (; c < C; c++) {
            float acc = 0.0f;
            for (int t = 0; t < NT; t++) acc += dyp[t][o + c] * wp[t][c];
            dxp[c] = acc;
        }
    }
}

using DxRun = void (*)(const float* const*, const float* const*, int, float*, int, int64_t);

/* dw_dx_run by tap count (at most 9 here: kernels up to 5x5 with a stride of 2 or more). */
inline DxRun dx_run_kernel(int taps) {
    static constexpr DxRun k[10] = {dw_dx_run<0>, dw_dx_run<1>, dw_dx_run<2>, dw_dx_run<3>,
                                    dw_dx_run<4>, dw_dx_run<5>, dw_dx_run<6>, dw_dx_run<7>,
                                    dw_dx_run<8>, dw_dx_run<9>};
    return k[taps];
}

/* The taps of a strided convolution's transposed pass that reach input position pos along one
 * axis: k in [k0, k1) stepping by the stride, the first one's output o0 (one less per step). The
 * first tap is the smallest k with (pos + pad - k) divisible by the stride and its output index
 * o = (pos + pad - k) / stride inside [0, O); taps then step while o >= 0. */
struct TapRun {
    int k0, k1, o0;
};

inline TapRun tap_run(int pos, int pad, int stride, int K, int O) {
    const int t = pos + pad;              /* = o * stride + k */
    int k = t % stride;                   /* smallest k with matching residue */
    const int k_min = t - (O - 1) * stride; /* o <= O-1  <=>  k >= t - (O-1)*stride */
    if (k < k_min) k += (k_min - k + stride - 1) / stride * stride;
    return TapRun{k, std::min(K, t + 1) /* o >= 0  <=>  k <= t */, (t - k) / stride};
}

}  // namespace

void depthwise_backward_dx(const Exec& ex, const ConvGeom& g, const float* w, const float* dy,
                           float* dx) {
    const int C = g.Cin, H = g.H, W = g.W, OH = g.OH, OW = g.OW, KH = g.KH, KW = g.KW;
    if (g.stride_h == 1 && g.stride_w == 1) {
        const Transposed t(g, w);
        depthwise_forward(ex, t.geom, dy, t.flipped.data(), nullptr, ConvEpilogue{}, dx);
        return;
    }
    const int sh = g.stride_h, sw = g.stride_w, pl = g.pad_left;
    const int64_t rows = (int64_t)g.N * H;
    /* With stride 1 along the row, dx is a correlation of dy with w flipped along kw. */
    const Strips strips = C >= 8 && sw == 1 ? strip_kernels(KW, 1, C) : Strips{};
    const int CS = strips.covered(C), lanes = strips.lanes;
    /* inputs [iw_lo, iw_hi) receive every tap of their residue modulo sw, all KW taps with
     * stride 1 ((iw + pl - kw) / sw inside [0, OW) for every kw; both within [0, W]) */
    const int iw_lo = std::min(W, std::max(0, KW - 1 - pl));
    const int iw_hi = std::max(iw_lo, std::min(W, (OW - 1) * sw - pl + 1));
    /* each input column's taps, the same for every row (no divisions in the pixel loop) */
    std::vector<TapRun> columns(W);
    for (int iw = 0; iw < W; iw++) columns[iw] = tap_run(iw, pl, sw, KW, OW);
    const int T = threads_for(ex, depthwise_work(g));
    const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
            const int n = (int)(r / H), ih = (int)(r % H);
            const TapRun row = tap_run(ih, g.pad_top, sh, KH, OH);
            const int kh0 = row.k0, kh1 = row.k1;
            const float* dyn = dy + (int64_t)n * OH * OW * C;
            float* dxrow = dx + r * W * C;
            auto pixel = [&](int iw, int c_begin) {
                const TapRun col = columns[iw];
                const int kw0 = col.k0, kw1 = col.k1, oh0 = row.o0, ow0 = col.o0;
                float* dxp = dxrow + (int64_t)iw * C;
                int c = c_begin;
                for (; c + 4 * kWide <= C; c += 4 * kWide)
                    dw_dx_block<kWide, 4>(dyn, OW, C, sh, sw, oh0, ow0, kh0, kh1, kw0, kw1, w, KW,
                                          dxp, c);
                for (; c + 2 * kWide <= C; c += 2 * kWide)
                    dw_dx_block<kWide, 2>(dyn, OW, C, sh, sw, oh0, ow0, kh0, kh1, kw0, kw1, w, KW,
                                          dxp, c);
                for (; c + kWide <= C; c += kWide)
                    dw_dx_block<kWide, 1>(dyn, OW, C, sh, sw, oh0, ow0, kh0, kh1, kw0, kw1, w, KW,
                                          dxp, c);
                for (; c + 8 <= C; c += 8)
                    dw_dx_block<8, 1>(dyn, OW, C, sh, sw, oh0, ow0, kh0, kh1, kw0, kw1, w, KW,
                                      dxp, c);
                for (; c < C; c++)
                    dw_dx_block<8, 0>(dyn, OW, C, sh, sw, oh0, ow0, kh0, kh1, kw0, kw1, w, KW,
                                      dxp, c);
            };
            int iw = 0;
            if (strips && kh1 > kh0) {
                const int nrows = (kh1 - kh0 + sh - 1) / sh; /* kh0, kh0 + sh, ... < kh1 */
                const int oh_first = row.o0; /* one output row up per tap row */
                for (; iw < iw_lo; iw++) pixel(iw, 0);
                iw = for_strips(strips, iw_lo, iw_hi, [&](StripKernel k, int i, int count) {
                    /* dy pixel of tap kw = KW-1 for input i, i.e. the window's first column */
                    const float* in = dyn + ((int64_t)oh_first * OW + i + pl - (KW - 1)) * C;
                    const float* wt = w + ((int64_t)kh0 * KW + KW - 1) * C;
                    for (int c = 0; c < CS; c += lanes)
                        k(in + c, -(int64_t)OW * C, C, nrows, wt + c, (int64_t)sh * KW * C,
                          -(int64_t)C, nullptr, dxrow + (int64_t)i * C + c);
                    for (int p = 0; CS < C && p < count; p++) pixel(i + p, CS);
                });
            }
            if (!strips && (kh1 - kh0 + sh - 1) / sh * ((KW + sw - 1) / sw) <= 9) {
                /* the taps of pixels [i, i + count * sw) of one residue, which are i's moved on
                 * one dy pixel per pixel: their addresses once, then dw_dx_run */
                const float* dyp[9];
                const float* wp[9];
                auto run = [&](int i, int count) {
                    const TapRun col = columns[i];
                    int t = 0;
                    for (int kh = kh0, oh = row.o0; kh < kh1; kh += sh, oh--)
                        for (int kw = col.k0, ow = col.o0; kw < col.k1; kw += sw, ow--, t++) {
                            dyp[t] = dyn + ((int64_t)oh * OW + ow) * C;
                            wp[t] = w + (int64_t)(kh * KW + kw) * C;
                        }
                    dx_run_kernel(t)(dyp, wp, C, dxrow + (int64_t)i * C, count,
                                     (int64_t)sw * C);
                };
                for (; iw < iw_lo; iw++) run(iw, 1);
                for (int p = 0; p < sw && iw + p < iw_hi; p++)
                    run(iw + p, (iw_hi - (iw + p) + sw - 1) / sw);
                for (iw = std::max(iw, iw_hi); iw < W; iw++) run(iw, 1);
            }
            for (; iw < W; iw++) pixel(iw, 0);
        }
    }
}

namespace {

/* Vector accumulators the joint-tap loop of dw_dw_block may hold: 8-float vectors are one
 * register on the AVX paths (32 of them with AVX-512, 16 with AVX2) and two SSE registers on the
 * portable path (16). */
#if defined(__AVX512F__)
constexpr int kJointAccumulators = 24;
#elif defined(__AVX2__)
constexpr int kJointAccumulators = 12;
#else
constexpr int kJointAccumulators = 6;
#endif

/* The output pixels of a row that reach each of a kernel row's KW taps: ow0[kw] <= ow <
 * ow1[kw]; [lo, hi) is their union and [a, b) their intersection (a >= b when no pixel reaches
 * every tap, e.g. a row narrower than the kernel). The same for every row of a convolution. */
template <int KW>
struct TapSpan {
    int ow0[KW], ow1[KW];
    int lo, hi, a, b;
    TapSpan(int W, int OW, int sw, int iw_pad) {
        lo = OW, hi = 0, a = 0, b = OW;
        for (int kw = 0; kw < KW; kw++) {
            /* pixels ow with 0 <= ow*sw - iw_pad + kw < W */
            const int lo_num = iw_pad - kw, hi_num = W - 1 + iw_pad - kw;
            ow0[kw] = lo_num > 0 ? (lo_num + sw - 1) / sw : 0;
            ow1[kw] = hi_num < 0 ? 0 : std::min(OW, hi_num / sw + 1);
            if (ow0[kw] >= ow1[kw]) { /* a tap outside the row: no pixel reaches every tap */
                a = OW;
                continue;
            }
            lo = std::min(lo, ow0[kw]);
            hi = std::max(hi, ow1[kw]);
            a = std::max(a, ow0[kw]);
            b = std::min(b, ow1[kw]);
        }
    }
    /* pixel(ow, check) for every pixel of [lo, hi) in ascending order; check is false where
     * every tap is inside the row */
    template <class Pixel>
    __attribute__((always_inline)) void each(Pixel&& pixel) const {
        if (a >= b) {
            for (int ow = lo; ow < hi; ow++) pixel(ow, true);
        } else {
            int ow = lo;
            for (; ow < a; ow++) pixel(ow, true);
            for (; ow < b; ow++) pixel(ow, false);
            for (; ow < hi; ow++) pixel(ow, true);
        }
    }
};

/* The KW taps of one kernel row over one output row, in one pass over the row's pixels:
 * acc[kw] += dy[ow] * x[ow*sw - iw_pad + kw] for every pixel whose input is inside the row.
 * The KW x NV sums are independent chains (one chain per tap left the loop waiting on its
 * multiply-add latency); each tap adds its pixels in ascending order. */
template <int KW, int L, int NV>
inline void dw_dw_taps_add(typename Vec<L>::type (&acc)[KW][NV], const float* dyrow,
                           const float* xr, int C, int sw, int iw_pad, const TapSpan<KW>& s) {
    typedef typename Vec<L>::type V;
    auto pixel = [&](int ow, bool check) {
        const float* dp = dyrow + (int64_t)ow * C;
        V d[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) d[v] = vload<L>(dp + L * v);
        /* offset of tap 0's input; a pointer is formed only for the taps inside the row */
        const int64_t xo = ((int64_t)ow * sw - iw_pad) * C;
#pragma GCC unroll 8
        for (int kw = 0; kw < KW; kw++) {
            if (check && (ow < s.ow0[kw] || ow >= s.ow1[kw])) continue;
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[kw][v] += d[v] * vload<L>(xr + (xo + (int64_t)kw * C + L * v));
        }
    };
    s.each(pixel);
}

/* Row kh of the taps of dw_dw_block: one output row's KW taps summed in registers
 * (dw_dw_taps_add), then added into the part's double partial p. */
template <int KW, int L, int NV>
inline void dw_dw_taps_row(const float* dyrow, const float* xr, int C, int W, int OW, int sw,
                           int iw_pad, double* p) {
    typedef typename Vec<L>::type V;
    const TapSpan<KW> s(W, OW, sw, iw_pad);
    V acc[KW][NV];
    for (int kw = 0; kw < KW; kw++)
        for (int v = 0; v < NV; v++) acc[kw][v] = V{};
    dw_dw_taps_add<KW, L, NV>(acc, dyrow, xr, C, sw, iw_pad, s);
    for (int kw = 0; kw < KW; kw++)
        for (int v = 0; v < NV; v++) add_to_double<L>(p + (int64_t)kw * C + L * v, acc[kw][v]);
}

#if defined(__AVX512F__)
/* A 3x3 kernel's nine taps over one output row whose three input rows are all inside the
 * image, in one pass over the row's pixels, 16-float vectors: each pixel's dy is loaded once
 * for all nine taps, and the 9 x NV sums are independent chains. (dw_dw_block's per-kernel-row
 * passes in 8-float vectors kept 3 x 2 chains for 16 channels: half the vector width, each dy
 * loaded three times.) Each tap adds its pixels in ascending order, as there, so the sums are
 * the same bits. */
template <int NV>
inline void dw_dw_rows3(const float* dyrow, const float* xr0, int64_t x_row, int C, int W, int OW,
                        int sw, int iw_pad, double* prow) {
    typedef typename Vec<16>::type V;
    const TapSpan<3> s(W, OW, sw, iw_pad);
    V acc[3][3][NV];
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; kh++)
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; kw++)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[kh][kw][v] = V{};
    auto pixel = [&](int ow, bool check) {
        const float* dp = dyrow + (int64_t)ow * C;
        V d[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) d[v] = vload<16>(dp + 16 * v);
        const int64_t xo = ((int64_t)ow * sw - iw_pad) * C;
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; kw++) {
            if (check && (ow < s.ow0[kw] || ow >= s.ow1[kw])) continue;
#pragma GCC unroll 3
            for (int kh = 0; kh < 3; kh++)
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++)
                    acc[kh][kw][v] +=
                        d[v] * vload<16>(xr0 + (kh * x_row + xo + (int64_t)kw * C + 16 * v));
        }
    };
    s.each(pixel);
    for (int kh = 0; kh < 3; kh++)
        for (int kw = 0; kw < 3; kw++)
            for (int v = 0; v < NV; v++)
                add_to_double<16>(prow + (int64_t)(kh * 3 + kw) * C + 16 * v, acc[kh][kw][v]);
}

/* Whether output row r of a stride-1 3x3 convolution with padding 1 that keeps the map's size
 * has all three kernel rows inside the image (x rows oh - 1 .. oh + 1 for dw, the same dy rows
 * for dx). */
inline bool rows3_inside(const ConvGeom& g, int64_t r) {
    const int oh = (int)(r % g.H);
    return oh >= 1 && oh + 1 < g.H;
}

/* dw_backward_row3's pixel with taps kw in [KW0, KW1) (columns ow - 1 + kw): dx from zero,
 * then dw's terms; dp and xp point at column ow of the three dy and x rows, and move one pixel
 * on. */
template <int KW0, int KW1>
__attribute__((always_inline)) inline void dw_backward_pixel3(
    const float* (&dp)[3], const float* (&xp)[3], float*& out,
    const typename Vec<16>::type (&wk)[3][3], typename Vec<16>::type (&acc)[3][3]) {
    typedef typename Vec<16>::type V;
    V s = V{};
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; kh++)
#pragma GCC unroll 3
        for (int kw = KW0; kw < KW1; kw++) s += vload<16>(dp[kh] + (kw - 1) * 16) * wk[kh][kw];
    vstore<16>(out, s);
    const V d = vload<16>(dp[1]);
#pragma GCC unroll 3
    for (int kw = KW0; kw < KW1; kw++)
#pragma GCC unroll 3
        for (int kh = 0; kh < 3; kh++) acc[kh][kw] += d * vload<16>(xp[kh] + (kw - 1) * 16);
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; kh++) {
        dp[kh] += 16;
        xp[kh] += 16;
    }
    out += 16;
}

/* One output row of the fused stride-1 3x3 backward (depthwise_backward) on 16 channels with
 * padding 1 whose kernel rows are all inside (rows3_inside), in one pass over the row's pixels
 * for dx and dw together: the nine flipped weights and the nine dw sums stay in registers,
 * and each pixel's dy (the centre of its dx window) multiplies its nine x taps while it is
 * loaded. dx, dy and x are each streamed once per row, where ForwardRows and dw_dw_row took
 * the same rows in two passes. Each dx pixel sums its taps from zero, kernel row by kernel row
 * and then along the row (dw_strip_cols' order, and dw_forward_block's at the row's two end
 * pixels, which have two columns each), and each dw tap sums the row's pixels in ascending
 * order before adding into the part's double partial (dw_dw_rows3's): the same bits as the two
 * passes. wf is Transposed::flipped; the row has at least 3 pixels. Aligned to 64 bytes: with
 * the function 32 bytes off that, the same code took 8x224x224x16 in 1.04-1.15x the time. */
__attribute__((aligned(64))) inline void dw_backward_row3(const ConvGeom& g, const float* x,
                                                          const float* dy, const float* wf,
                                                          int64_t r, float* dx, double* pw) {
    typedef typename Vec<16>::type V;
    const int H = g.H, W = g.W;
    const int64_t rs = (int64_t)W * 16;
    const int n = (int)(r / H), oh = (int)(r % H);
    const float* x0 = x + ((int64_t)n * H + oh - 1) * rs; /* rows oh - 1 .. oh + 1, column 0 */
    const float* d0 = dy + ((int64_t)n * H + oh - 1) * rs;
    V wk[3][3], acc[3][3];
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; kh++)
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; kw++) {
            wk[kh][kw] = vload<16>(wf + (kh * 3 + kw) * 16);
            acc[kh][kw] = V{};
        }
    /* the three rows of dy and of x, and dx, at column ow */
    const float* dp[3] = {d0, d0 + rs, d0 + 2 * rs};
    const float* xp[3] = {x0, x0 + rs, x0 + 2 * rs};
    float* out = dx + r * rs;
    dw_backward_pixel3<1, 3>(dp, xp, out, wk, acc);
    for (int ow = 1; ow + 1 < W; ow++) dw_backward_pixel3<0, 3>(dp, xp, out, wk, acc);
    dw_backward_pixel3<0, 2>(dp, xp, out, wk, acc);
    /* into double through memory: add_to_double takes the sums' addresses, and the compiler
     * then kept three of them in memory through the loop above */
    alignas(64) float sums[9][16];
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; kh++)
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; kw++) vstore<16>(sums[kh * 3 + kw], acc[kh][kw]);
    for (int t = 0; t < 9; t++)
        for (int j = 0; j < 16; j++) pw[t * 16 + j] += (double)sums[t][j];
}
#endif

/* For one output row and one channel block: for every tap, sum over the row's pixels of
 * dy * x in registers, then add into the part's double partial; optionally the row's sum of
 * dy for db. Rows of 3 or 5 taps whose sums fit the registers run as one pass
 * (dw_dw_taps_row). */
template <int L, int NV>
inline void dw_dw_block(const float* dyrow, const float* x, int64_t x_img, int ih0, int iw_pad,
                        const ConvGeom& g, int kh0, int kh1, double* pw, double* pb, int c) {
    const int C = g.Cin, W = g.W, OW = g.OW, KW = g.KW, sw = g.stride_w;
    constexpr int B = NV == 0 ? 1 : L * NV; /* channels in the block */
    for (int kh = kh0; kh < kh1; kh++) {
        const float* xr = x + x_img + (int64_t)(ih0 + kh) * W * C + c;
        double* prow = pw + (int64_t)kh * KW * C + c;
        if constexpr (NV > 0 && 3 * NV <= kJointAccumulators) {
            if (KW == 3) {
                dw_dw_taps_row<3, L, NV>(dyrow + c, xr, C, W, OW, sw, iw_pad, prow);
                continue;
            }
        }
        if constexpr (NV > 0 && 5 * NV <= kJointAccumulators) {
            if (KW == 5) {
                dw_dw_taps_row<5, L, NV>(dyrow + c, xr, C, W, OW, sw, iw_pad, prow);
                continue;
            }
        }
        for (int kw = 0; kw < KW; kw++) {
            /* pixels ow with 0 <= ow*sw - iw_pad + kw < W */
            const int lo_num = iw_pad - kw, hi_num = W - 1 + iw_pad - kw;
            const int ow0 = lo_num > 0 ? (lo_num + sw - 1) / sw : 0;
            const int ow1 = hi_num < 0 ? 0 : std::min(OW, hi_num / sw + 1);
            double* p = prow + (int64_t)kw * C;
            if constexpr (NV == 0) {
                float acc = 0.0f;
                for (int ow = ow0; ow < ow1; ow++)
                    acc += dyrow[(int64_t)ow * C + c] * xr[((int64_t)ow * sw - iw_pad + kw) * C];
                p[0] += acc;
            } else {
                typedef typename Vec<L>::type V;
                V acc[NV];
                for (int v = 0; v < NV; v++) acc[v] = V{};
                for (int ow = ow0; ow < ow1; ow++) {
                    const float* dp = dyrow + (int64_t)ow * C + c;
                    const float* xp = xr + ((int64_t)ow * sw - iw_pad + kw) * C;
#pragma GCC unroll 8
                    for (int v = 0; v < NV; v++)
                        acc[v] += vload<L>(dp + L * v) * vload<L>(xp + L * v);
                }
                for (int v = 0; v < NV; v++) add_to_double<L>(p + L * v, acc[v]);
            }
        }
    }
    if (pb) {
        float acc[B] = {};
        for (int ow = 0; ow < OW; ow++)
            for (int j = 0; j < B; j++) acc[j] += dyrow[(int64_t)ow * C + c + j];
        for (int j = 0; j < B; j++) pb[c + j] += acc[j];
    }
}

/* The channel-parallel weight gradient (depthwise_backward_dw on maps of many channels): each
 * block of channels is one work unit that sums over every output row, so there are no
 * per-part partial buffers and this path's result does not depend on the thread count (which
 * path runs does: dw_by_channels). Rows are taken
 * kChannelTerms pixels at a time; within such a chunk every tap of a kernel row sums in
 * registers (dw_dw_taps_add), then the chunk's sums go to double. On small maps the per-row
 * path spent about as long moving each row's few products into double as computing them. */
constexpr int kChannelTerms = 256;

/* Channels per work unit, in vectors of kChannelLanes: KW x NV accumulators (5 for 5x5 in one
 * AVX-512 register each, 10 in two AVX ones) fit the registers; the portable path's 8-float
 * vectors take two SSE registers each, so it has 8 channels per unit. */
#if defined(__AVX512F__)
constexpr int kChannelLanes = 16, kChannelNV = 1;
#elif defined(__AVX2__)
constexpr int kChannelLanes = 8, kChannelNV = 2;
#else
constexpr int kChannelLanes = 8, kChannelNV = 1;
#endif
constexpr int kChannelUnit = kChannelLanes * kChannelNV;

/* dw (and db) of channels [c, c + L*NV): every tap's sum over all N*OH output rows. */
template <int K, int L, int NV>
void dw_dw_channels(const ConvGeom& g, const TapSpan<K>& span, const float* x, const float* dy,
                    int c, float* dw, float* db) {
    typedef typename Vec<L>::type V;
    const int C = g.Cin, H = g.H, W = g.W, OH = g.OH, OW = g.OW, sw = g.stride_w;
    const int64_t rows = (int64_t)g.N * OH;
    const int64_t chunk = std::max<int64_t>(1, kChannelTerms / std::max(OW, 1));
    double sum[K * K][L * NV] = {};
    double bsum[L * NV] = {};
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t r1 = std::min(rows, r0 + chunk);
        for (int kh = 0; kh < K; kh++) {
            V acc[K][NV];
            for (int kw = 0; kw < K; kw++)
                for (int v = 0; v < NV; v++) acc[kw][v] = V{};
            for (int64_t r = r0; r < r1; r++) {
                const int n = (int)(r / OH), oh = (int)(r % OH);
                const int ih = oh * g.stride_h - g.pad_top + kh;
                if (ih < 0 || ih >= H) continue;
                const float* xr = x + (((int64_t)n * H + ih) * W) * C + c;
                /* the next row's lines of these channels, dy and x, in the pass that reads them
                 * first (8 images, 2 threads, cold: 3x3 over 56x56x144 and 5x5 over 7x7x1152
                 * and, stride 2, 56x56x144 in 0.80-0.86x the time, the others 0.94-1.04x) */
                if (kh == 0 && r + 1 < r1)
                    for (int j = 0; j < OW; j++)
                        for (int l = 0; l < L * NV; l += 16) {
                            prefetch_at(dy, ((r + 1) * OW + j) * C + c + l);
                            prefetch_at(xr, (int64_t)g.stride_h * W * C + (int64_t)j * sw * C + l);
                        }
                dw_dw_taps_add<K, L, NV>(acc, dy + r * OW * C + c, xr, C, sw, g.pad_left, span);
            }
            for (int kw = 0; kw < K; kw++)
                for (int v = 0; v < NV; v++)
                    for (int j = 0; j < L; j++) sum[kh * K + kw][L * v + j] += acc[kw][v][j];
        }
        if (db) {
            V acc[NV];
            for (int v = 0; v < NV; v++) acc[v] = V{};
            for (int64_t r = r0; r < r1; r++)
                for (int ow = 0; ow < OW; ow++)
                    for (int v = 0; v < NV; v++)
                        acc[v] += vload<L>(dy + (r * OW + ow) * C + c + L * v);
            for (int v = 0; v < NV; v++)
                for (int j = 0; j < L; j++) bsum[L * v + j] += acc[v][j];
        }
    }
    for (int t = 0; t < K * K; t++)
        for (int j = 0; j < L * NV; j++) dw[(int64_t)t * C + c + j] = (float)sum[t][j];
    if (db)
        for (int j = 0; j < L * NV; j++) db[c + j] = (float)bsum[j];
}

/* Output row r's terms of the per-row weight gradient, added into a part's double partials pw
 * (and pb for db). */
void dw_dw_row(const ConvGeom& g, const float* x, const float* dy, int64_t r, double* pw,
               double* pb) {
    const int C = g.Cin, H = g.H, W = g.W, OH = g.OH, OW = g.OW, KH = g.KH;
    const int n = (int)(r / OH), oh = (int)(r % OH);
    const int ih0 = oh * g.stride_h - g.pad_top;
    int kh0, kh1;
    tap_range(ih0, KH, H, kh0, kh1);
    const float* dyrow = dy + r * OW * C;
    const int64_t x_img = (int64_t)n * H * W * C;
    int c = 0;
#if defined(__AVX512F__)
    /* all three input rows inside the image, and no db (dw_dw_block sums it with the taps) */
    if (g.KH == 3 && g.KW == 3 && kh0 == 0 && kh1 == 3 && !pb) {
        const float* xr0 = x + x_img + (int64_t)ih0 * W * C;
        for (; c + 32 <= C; c += 32)
            dw_dw_rows3<2>(dyrow + c, xr0 + c, (int64_t)W * C, C, W, OW, g.stride_w, g.pad_left,
                           pw + c);
        for (; c + 16 <= C; c += 16)
            dw_dw_rows3<1>(dyrow + c, xr0 + c, (int64_t)W * C, C, W, OW, g.stride_w, g.pad_left,
                           pw + c);
    }
#endif
    /* 8-float vectors here: on 16 or 32 channels, 16-float ones gave each joint tap row half as
     * many independent sums (3 or 6) and ran 1.6-2.2x slower */
    for (; c + 32 <= C; c += 32)
        dw_dw_block<8, 4>(dyrow, x, x_img, ih0, g.pad_left, g, kh0, kh1, pw, pb, c);
    for (; c + 16 <= C; c += 16)
        dw_dw_block<8, 2>(dyrow, x, x_img, ih0, g.pad_left, g, kh0, kh1, pw, pb, c);
    for (; c + 8 <= C; c += 8)
        dw_dw_block<8, 1>(dyrow, x, x_img, ih0, g.pad_left, g, kh0, kh1, pw, pb, c);
    for (; c < C; c++)
        dw_dw_block<8, 0>(dyrow, x, x_img, ih0, g.pad_left, g, kh0, kh1, pw, pb, c);
}

/* The per-row weight gradient's reduction: the output rows cut into parts (kPartialsPerThread
 * per thread), each summing its rows into its own double partial of the taps (and db) through
 * rows_fn(r_begin, r_end, pw, pb), the parts then added in order into dw and db. */
template <class RowsFn>
void dw_by_parts(int T, const ConvGeom& g, float* dw, float* db, RowsFn&& rows_fn) {
    const int C = g.Cin;
    const int64_t taps = (int64_t)g.KH * g.KW * C;
    const int64_t per_part = taps + (db ? C : 0);
    const int64_t rows = (int64_t)g.N * g.OH;
    const int64_t parts = part_count(rows, T, kPartialsPerThread);
    std::vector<double> partial((size_t)(parts * per_part), 0.0);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        double* pw = partial.data() + part * per_part;
        rows_fn(part_begin(rows, parts, part), part_begin(rows, parts, part + 1), pw,
                db ? pw + taps : nullptr);
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

/* Whether depthwise_backward_dw runs per block of channels: square 3x3 or 5x5 kernels over
 * at least 128 channels in multiples of 8, on several threads with at least 4 blocks each.
 * (Measured on 2 threads of an AVX-512 EPYC, 8 images, against the per-row path: 0.53-0.88x
 * the time from 144 channels up, 1.05-2x on 32-96 channels; on one thread 0.66-1.34x.) */
bool dw_by_channels(const ConvGeom& g, int threads) {
    if (g.KH != g.KW || (g.KW != 3 && g.KW != 5) || g.Cin % 8 != 0 || g.Cin < 128) return false;
    return threads >= 2 && g.Cin / kChannelUnit >= 4 * threads;
}

/* Units of NV vectors of kChannelLanes channels; the last one may be narrower (its channels in
 * vectors of kChannelLanes, then of 8). */
template <int K, int NV>
void dw_channel_units(int T, const ConvGeom& g, const TapSpan<K>& span, const float* x,
                      const float* dy, float* dw, float* db) {
    constexpr int U = kChannelLanes * NV;
    const int units = (g.Cin + U - 1) / U;
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int u = 0; u < units; u++) {
        int c = u * U;
        if (c + U <= g.Cin) {
            dw_dw_channels<K, kChannelLanes, NV>(g, span, x, dy, c, dw, db);
            continue;
        }
        for (; c + kChannelLanes <= g.Cin; c += kChannelLanes)
            dw_dw_channels<K, kChannelLanes, 1>(g, span, x, dy, c, dw, db);
        for (; c < g.Cin; c += 8) dw_dw_channels<K, 8, 1>(g, span, x, dy, c, dw, db);
    }
}

/* On AVX-512, units of four or two vectors (64 or 32 channels) where there are at least 2 per
 * thread: each pixel's visit reads four or two cache lines of x and of dy instead of one, and
 * there are as many times more independent sums per kernel row (up to 5 x 4 registers). The
 * weight gradient over 8x14x14x672 5x5 s1 ran in 0.57x the time, 8x7x7x1152 5x5 s1 0.47x,
 * 8x7x7x1152 3x3 s1 0.53x (2 threads, cold cache, best of 30, 2026-12-05). With 2 units per
 * thread rather than 4 (fewer, so less even shares): 8x56x56x144 3x3 s1 0.81x, 8x28x28x240 5x5
 * s1 0.82x, 3x3 s2 0.72x, 8x56x56x144 5x5 s2 about the same (32 channels); 8x14x14x480 3x3 s1
 * about the same and 5x5 s1 0.92x (64 channels). Each channel sums the same terms in the same
 * order in any unit. */
template <int K>
void depthwise_backward_dw_channels(int T, const ConvGeom& g, const float* x, const float* dy,
                                    float* dw, float* db) {
    const TapSpan<K> span(g.W, g.OW, g.stride_w, g.pad_left);
#if defined(__AVX512F__)
    if (g.Cin / (4 * kChannelUnit) >= 2 * T) {
        dw_channel_units<K, 4 * kChannelNV>(T, g, span, x, dy, dw, db);
        return;
    }
    if (g.Cin / (2 * kChannelUnit) >= 2 * T) {
        dw_channel_units<K, 2 * kChannelNV>(T, g, span, x, dy, dw, db);
        return;
    }
#endif
    dw_channel_units<K, kChannelNV>(T, g, span, x, dy, dw, db);
}

}  // namespace

void depthwise_backward_dw(const Exec& ex, const ConvGeom& g, const float* x, const float* dy,
                           float* dw, float* db) {
    const int KW = g.KW;
    const int T = threads_for(ex, depthwise_work(g));
    if (dw && dw_by_channels(g, T)) {
        if (KW == 3)
            depthwise_backward_dw_channels<3>(T, g, x, dy, dw, db);
        else
            depthwise_backward_dw_channels<5>(T, g, x, dy, dw, db);
        return;
    }
    dw_by_parts(T, g, dw, db, [&](int64_t r_begin, int64_t r_end, double* pw, double* pb) {
        for (int64_t r = r_begin; r < r_end; r++) dw_dw_row(g, x, dy, r, pw, pb);
    });
}

/* dx and the per-row weight gradient in one sweep over the rows when the convolution has stride
 * 1 and keeps the map's size: each part (depthwise_backward_dw's parts) takes its rows a few at
 * a time, writing those rows of dx (the forward on dy, kernel flipped) and then adding the same
 * rows' terms of dw, so the dy rows that dx has just read are still in cache when dw reads them
 * again. dw sums the same terms in the same order as depthwise_backward_dw, dx is computed row
 * by row as depthwise_backward_dx computes it: both are the same bits as the two passes. */
void depthwise_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                        const float* dy, float* dx, float* dw, float* db) {
    const int T = threads_for(ex, depthwise_work(g));
    const bool fuse = dx && dw && g.stride_h == 1 && g.stride_w == 1 && g.OH == g.H &&
                      g.OW == g.W && !dw_by_channels(g, T);
    if (!fuse) {
        if (dx) depthwise_backward_dx(ex, g, w, dy, dx);
        if (dw) depthwise_backward_dw(ex, g, x, dy, dw, db);
        return;
    }
    const Transposed t(g, w);
    const ForwardRows dx_rows(t.geom, dy, t.flipped.data(), nullptr, ConvEpilogue{}, dx);
#if defined(__AVX512F__)
    /* 3x3 over 16 channels (one vector) with padding 1 and without db: the rows whose kernel
     * rows are inside in one pass each (dw_backward_row3), the image's first and last rows as
     * below, row by row so that dw adds the rows in order. (On 8x224x224x16, cold, 2 threads:
     * 0.55-0.77x the time of the rows taken four at a time; 8x112x112x32 ran as fast either
     * way, so it stays below.) */
    if (g.KH == 3 && g.KW == 3 && g.pad_top == 1 && g.pad_left == 1 && g.W >= 3 &&
        g.Cin == 16 && !db) {
        dw_by_parts(T, g, dw, db, [&](int64_t r_begin, int64_t r_end, double* pw, double*) {
            for (int64_t r = r_begin; r < r_end; r++) {
                if (rows3_inside(g, r)) {
                    dw_backward_row3(g, x, dy, t.flipped.data(), r, dx, pw);
                } else {
                    dx_rows.row(r);
                    dw_dw_row(g, x, dy, r, pw, nullptr);
                }
            }
        });
        return;
    }
#endif
    constexpr int64_t kRowsAtATime = 4;
    dw_by_parts(T, g, dw, db, [&](int64_t r_begin, int64_t r_end, double* pw, double* pb) {
        for (int64_t r0 = r_begin; r0 < r_end; r0 += kRowsAtATime) {
            const int64_t r1 = std::min(r_end, r0 + kRowsAtATime);
            for (int64_t r = r0; r < r1; r++) dx_rows.row(r);
            for (int64_t r = r0; r < r1; r++) dw_dw_row(g, x, dy, r, pw, pb);
        }
    });
}

}  // namespace es::cpu::ES_CPU_ISA
