/*
 * conv2d_pointwise.cpp — the backward pass of pointwise convolutions (1x1, stride 1, no
 * padding, no groups) with a small weight matrix, as direct loops instead of sgemm:
 *   dx[r, :] = w · dy[r, :]          (w is [Cin, Cout])
 *   dw       = sum over rows r of x[r, :]ᵀ dy[r, :]
 * and their forward pass the same way (y[r, :] = x[r, :] · w + b, then the epilogue, per block;
 * with one output channel, each row's dot product in vectors summed across their lanes).
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
 * The row products themselves are conv2d_rows.h's. A gated convolution (input x * s) makes each
 * block's product in scratch (gated_rows) before the same loops, and its backward sums the
 * gate's gradient per block as dx is written (GateGrad); a batch norm's unfinished dx is made
 * into each block's dy the same way (bn_dy_rows); a second block of input channels
 * (conv2d_forward_blocks) continues each row's sums in registers (rows_times' second
 * operand), and in backward (conv2d_backward_bn with x2) takes the same block of dy rows with
 * its own rows of w.
 */
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "conv2d_common.h"
#include "conv2d_rows.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

constexpr int64_t kRowsPerBlock = 512;

/* One output channel, CIN input channels (a compile-time multiple of 8, or -1: cin at run time):
 * dx[r, :] = dy[r] w, part += dy[r] x[r, :]. With a compile-time width the sums stay in
 * registers over the block (a run-time width kept them in memory, a store-to-load chain per
 * row); either way each channel adds the rows in ascending order. */
template <int CIN>
void block_backward_cout1(int cin, const float* x, const float* w, const float* dy, int64_t r0,
                          int64_t r1, float* dx, float* part) {
    const int n = CIN > 0 ? CIN : cin;
    float acc[CIN > 0 ? CIN : 1];
    float* sums = CIN > 0 ? acc : part;
    if (part) std::fill(sums, sums + n, 0.0f);
    for (int64_t r = r0; r < r1; r++) {
        const float d = dy[r];
        const float* xr = x + r * n;
        if (dx) {
            float* dxr = dx + r * n;
#pragma omp simd
            for (int c = 0; c < n; c++) dxr[c] = d * w[c];
        }
        if (part) {
#pragma omp simd
            for (int c = 0; c < n; c++) sums[c] += d * xr[c];
        }
    }
    if (CIN > 0 && part) std::copy(acc, acc + n, part);
}

/* One block of rows: dx (if wanted) and this block's partial dw (if wanted). */
void block_backward(const ConvGeom& g, const float* x, const float* w, const float* wt,
                    const float* dy, int64_t r0, int64_t r1, float* dx, float* part) {
    const int Cin = g.Cin, Cout = g.Cout;
    if (Cout == 1) {
        switch (Cin) {
            case 8: return block_backward_cout1<8>(Cin, x, w, dy, r0, r1, dx, part);
            case 16: return block_backward_cout1<16>(Cin, x, w, dy, r0, r1, dx, part);
            case 24: return block_backward_cout1<24>(Cin, x, w, dy, r0, r1, dx, part);
            case 32: return block_backward_cout1<32>(Cin, x, w, dy, r0, r1, dx, part);
            case 48: return block_backward_cout1<48>(Cin, x, w, dy, r0, r1, dx, part);
            case 64: return block_backward_cout1<64>(Cin, x, w, dy, r0, r1, dx, part);
            default: return block_backward_cout1<-1>(Cin, x, w, dy, r0, r1, dx, part);
        }
    }
    if (dx) rows_times<false>(dy, Cout, wt, Cin, r0, r1, dx);
    if (part) dw_rows<false>(x, Cin, dy, Cout, r0, r1, part);
}

/* The lanes of v summed in a fixed tree (halves added until four lanes are left). */
template <int L>
inline float lane_sum(typename Vec<L>::type v) {
    if constexpr (L == 4) {
        return (v[0] + v[2]) + (v[1] + v[3]);
    } else {
        typedef typename Vec<L / 2>::type H;
        H lo, hi;
        std::memcpy(&lo, &v, sizeof lo);
        std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
        return lane_sum<L / 2>(lo + hi);
    }
}

/* One output channel: y[r] = x[r, :] · w (+ x2[r, :] · w2), each row's dot product in vectors of
 * L lanes (both blocks' channels multiples of L), summed across the lanes at the end of the
 * row. sgemm treated the one column as a matrix (packing x, edge tiles): 8x224x224 over 16 + 16
 * channels ran at a third of the memory's bandwidth. */
template <int L>
void rows_dot(const float* x, int C1, const float* w, const float* x2, int C2, const float* w2,
              float bias, int64_t rows, float* y) {
    typedef typename Vec<L>::type V;
    for (int64_t r = 0; r < rows; r++) {
        const float* xr = x + r * C1;
        V acc = vload<L>(xr) * vload<L>(w);
        for (int c = L; c < C1; c += L) acc += vload<L>(xr + c) * vload<L>(w + c);
        if (x2) {
            const float* x2r = x2 + r * C2;
            for (int c = 0; c < C2; c += L) acc += vload<L>(x2r + c) * vload<L>(w2 + c);
        }
        y[r] = lane_sum<L>(acc) + bias;
    }
}

}  // namespace

bool pointwise_direct_fits(const ConvGeom& g, int C2) {
    auto block_fits = [&](int cin) { return cin % 8 == 0 && cin % kDwGroup == 0; };
    return is_pointwise(g) && g.groups == 1 && block_fits(g.Cin) && (C2 == 0 || block_fits(C2)) &&
           (g.Cout % 8 == 0 || g.Cout == 1) &&
           (int64_t)(g.Cin + C2) * g.Cout <= kPointwiseDirectMaxWeights;
}

void pointwise_backward_direct(const Exec& ex, const ConvGeom& g, const float* x,
                               const float* gate, const float* w, const float* dy,
                               const BnDy* bn, float* dx, float* dw, float* ds,
                               const Blocks2& second) {
    const int Cin = g.Cin, Cout = g.Cout, C2 = second.C2;
    const int64_t M = (int64_t)g.N * g.H * g.W;
    const int64_t blocks = (M + kRowsPerBlock - 1) / kRowsPerBlock;
    const int64_t wsize = (int64_t)(Cin + C2) * Cout, w1size = (int64_t)Cin * Cout;
    const std::vector<float> wt = transposed_taps(w, 1, Cin, Cout); /* [Cout][Cin] */
    /* the second block: its geometry and its rows of w, transposed */
    ConvGeom g2 = g;
    g2.Cin = C2;
    const std::vector<float> wt2 =
        second.x2 ? transposed_taps(w + w1size, 1, C2, Cout) : std::vector<float>{};
    /* every block writes all of its partial (no zeroing) */
    const std::unique_ptr<float[]> partial(dw ? new float[(size_t)(blocks * wsize)] : nullptr);
    const int64_t hw = (int64_t)g.H * g.W;
    std::optional<GateGrad> gate_grad;
    if (ds) gate_grad.emplace(M, hw, Cin, kRowsPerBlock);
    const int T = threads_for(ex, (double)M * wsize * ((dx ? 1 : 0) + (dw ? 1 : 0)));
    for_each_unit(T, blocks, [&](int64_t b) {
        const int64_t r0 = b * kRowsPerBlock, r1 = std::min(M, r0 + kRowsPerBlock);
        /* rows counted from r0; dx does not read x, so the gated product is made for dw only */
        const float* xb = gate && dw ? gated_rows(x, gate, Cin, hw, r0, r1) : x + r0 * Cin;
        const float* dyb = bn ? bn_dy_rows(*bn, Cout, r0, r1) : dy + r0 * Cout;
        block_backward(g, xb, w, wt.data(), dyb, 0, r1 - r0, dx ? dx + r0 * Cin : nullptr,
                       dw ? partial.get() + b * wsize : nullptr);
        if (second.x2) /* the same dy rows, while in cache */
            block_backward(g2, second.x2 + r0 * C2, w + w1size, wt2.data(), dyb, 0, r1 - r0,
                           second.dx2 ? second.dx2 + r0 * C2 : nullptr,
                           dw ? partial.get() + b * wsize + w1size : nullptr);
        if (ds) gate_grad->add(b, r0, r1, dx + r0 * Cin, x);
    });
    if (dw) sum_block_partials(ex, partial.get(), blocks, wsize, dw);
    if (ds) gate_grad->combine(ds);
}

void pointwise_forward_direct(const Exec& ex, const ConvGeom& g, const float* x, const float* gate,
                              const float* w, const float* b, const ConvEpilogue& e, float* y,
                              const float* x2, int C2) {
    const int Cin = g.Cin, Cout = g.Cout;
    const int64_t M = (int64_t)g.N * g.H * g.W;
    const int64_t blocks = (M + kRowsPerBlock - 1) / kRowsPerBlock;
    /* one output channel: a few multiply-adds per value read, so sized by the streaming */
    const double work = Cout == 1 ? streaming_work((double)M * (Cin + C2 + 1))
                                  : (double)M * (Cin + C2) * Cout;
    const int T = threads_for(ex, work);
    for_each_unit(T, blocks, [&](int64_t blk) {
        const int64_t r0 = blk * kRowsPerBlock, r1 = std::min(M, r0 + kRowsPerBlock);
        const float* xb = gate ? gated_rows(x, gate, Cin, (int64_t)g.H * g.W, r0, r1) : x + r0 * Cin;
        if (Cout == 1) {
            const float* x2b = x2 ? x2 + r0 * C2 : nullptr;
            const float* w2 = w + Cin;
            const float bias = b ? b[0] : 0.0f;
#if defined(__AVX512F__)
            if (Cin % 16 == 0 && C2 % 16 == 0)
                rows_dot<16>(xb, Cin, w, x2b, C2, w2, bias, r1 - r0, y + r0);
            else
#endif
                rows_dot<8>(xb, Cin, w, x2b, C2, w2, bias, r1 - r0, y + r0);
            if (e.any())
                conv_epilogue(e, y + r0, e.residual ? e.residual + r0 : nullptr, r1 - r0, 1);
            return;
        }
        /* y[r, :] = x[r, :] · w, w is [Cin][Cout]; a second block continues each sum */
        if (x2)
            rows_times<false, true>(xb, Cin, w, Cout, 0, r1 - r0, y + r0 * Cout,
                                    RowsOperand2{x2 + r0 * C2, C2, w + (int64_t)Cin * Cout});
        else
            rows_times<false>(xb, Cin, w, Cout, 0, r1 - r0, y + r0 * Cout);
        for (int64_t r = r0; b && r < r1; r++) {
            float* yr = y + r * Cout;
#pragma omp simd
            for (int co = 0; co < Cout; co++) yr[co] += b[co];
        }
        if (e.any())
            conv_epilogue(e, y + r0 * Cout, e.residual ? e.residual + r0 * Cout : nullptr, r1 - r0,
                          Cout);
    });
}

}  // namespace es::cpu::ES_CPU_ISA
