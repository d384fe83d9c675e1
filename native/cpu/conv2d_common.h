/*
 * conv2d_common.h — what the convolution paths of native/cpu/ share: the 8-float vector type,
 * how many threads an amount of work gets, how loops are cut into parts, the per-thread scratch
 * buffer, and the path functions that conv2d.cpp dispatches to (one file per path:
 * conv2d_depthwise.cpp, conv2d_direct.cpp, conv2d_pointwise.cpp, conv2d_taps.cpp,
 * conv2d_gemm.cpp).
 */
#ifndef EFFISEG_CPU_CONV2D_COMMON_H
#define EFFISEG_CPU_CONV2D_COMMON_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "row_blocks.h"

namespace es::cpu::ES_CPU_ISA {

/* 8 floats; GCC/Clang lower it to one AVX register, or two SSE registers without AVX. */
typedef float v8 __attribute__((vector_size(32)));

/* Vectors of L floats: 4 and 8 on every path; 16 (one AVX-512 register) on the avx512 path,
 * where the row products run on them (on this path the machine does twice the multiply-adds
 * per cycle on 16-float vectors as on 8-float ones). The portable path's row products run on
 * 4-float vectors, one SSE register: their 8-float blocks need twice the 16 registers there
 * and spilled. Each lane is one output element either way, so the width does not change any
 * result. */
template <int L>
struct Vec;
template <>
struct Vec<4> {
    typedef float type __attribute__((vector_size(16)));
};
template <>
struct Vec<8> {
    typedef v8 type;
};
#if defined(__AVX512F__)
template <>
struct Vec<16> {
    typedef float type __attribute__((vector_size(64)));
};
#endif

template <int L>
inline typename Vec<L>::type vload(const float* p) {
    typename Vec<L>::type v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <int L>
inline void vstore(float* p, typename Vec<L>::type v) {
    std::memcpy(p, &v, sizeof v);
}
/* s in every lane. Written s - 0, which is s for every s (-0 included), so the compiler emits
 * a plain broadcast; 0 + s (not s for s = -0) kept a vector add, and on the portable path
 * (8-float vectors as two SSE registers) the row products built on it ran 4-11x slower. */
template <int L>
inline typename Vec<L>::type vsplat(float s) {
    return s - typename Vec<L>::type{};
}

inline v8 load8(const float* p) { return vload<8>(p); }
inline void store8(float* p, v8 v) { vstore<8>(p, v); }
inline v8 splat(float s) { return vsplat<8>(s); }

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

/* p[0..L) += v, in double (L = 8 or 16). */
template <int L>
inline void add_to_double(double* p, typename Vec<L>::type v) {
    if constexpr (L == 8) {
        add_to_double(p, v);
    } else {
        v8 lo, hi;
        std::memcpy(&lo, &v, sizeof lo);
        std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
        add_to_double(p, lo);
        add_to_double(p + 8, hi);
    }
}

/* Threads for `work` multiply-adds (or element visits): at most ex.threads, and only as many
 * as get kMinWorkPerThread each. Every parallel region costs a fork and a join, and when the
 * cores are also busy with something else (the data loader, other processes) a sleeping
 * worker can take a scheduler time slice (milliseconds) to wake: a small op then runs far
 * faster on the calling thread alone. 4M multiply-adds is 0.1-0.3 ms on one core here. */
constexpr double kMinWorkPerThread = 4.0 * (1 << 20);

inline int threads_for(const Exec& ex, double work) {
    const int most = ex.threads > 0 ? ex.threads : 1;
    return (int)std::max(1.0, std::min<double>(most, std::floor(work / kMinWorkPerThread)));
}

/* The work to give threads_for for an op that streams `floats` floats through memory with only
 * a few multiply-adds each (a pointwise convolution to or from a handful of channels): it is
 * bound by memory, and a second core adds bandwidth long before the op has kMinWorkPerThread
 * multiply-adds per thread (8x224x224 16->1, 25.7 MB read for 6.4M multiply-adds). */
inline double streaming_work(double floats) { return 16.0 * floats; }

/* Work is split into contiguous parts that threads take dynamically, so that a thread the
 * OS has descheduled (data loading, other processes) does not hold the others up at the end
 * of a loop. Loops without reductions use kPartsPerThread parts per thread; reductions keep
 * one partial sum per part (not per thread) and combine them in part order, so their result
 * depends only on the thread count, never on which thread ran what. */
constexpr int kPartsPerThread = 8;
constexpr int kPartialsPerThread = 2;

inline int64_t part_count(int64_t items, int threads, int per_thread) {
    return std::max<int64_t>(1, std::min<int64_t>(items, (int64_t)threads * per_thread));
}

/* Part i of `parts` nearly equal contiguous ranges of [0, items) starts here. */
inline int64_t part_begin(int64_t items, int64_t parts, int64_t i) { return items * i / parts; }

/* A hint to fetch the cache line holding p + floats: it never faults, so it may point past the
 * end of the data (the address is formed as an integer, not as a pointer into the array). */
inline void prefetch_at(const float* p, int64_t floats) {
    __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) +
                                                     (uintptr_t)(floats * (int64_t)sizeof(float))));
}

/* Rows [r0, r1) of x ([rows][C], hw rows per image) times the gate s ([images][C]) of each
 * row's image, x[r, c] * s[r / hw, c] (the product es_channel_scale_forward writes, the same
 * bits), into out (gated_rows: this thread's scratch buffer) as rows [0, r1 - r0): a gated
 * pointwise convolution's operand, made a block at a time while the block is in cache instead
 * of written out whole. */
inline void gated_rows_into(const float* x, const float* s, int C, int64_t hw, int64_t r0,
                            int64_t r1, float* out) {
    /* the rows of one image at a time (one gate); rows of few channels in runs of kRun values
     * with the gate repeated along the run (row_blocks.h) */
    const bool runs = runs_of_rows(C);
    for (int64_t ra = r0; ra < r1;) {
        const int64_t rb = std::min(r1, (ra / hw + 1) * hw);
        const float* sn = s + ra / hw * C;
        int64_t r = ra;
        if (runs) {
            float ts[kRun];
            tile_run(sn, C, ts);
            for (const int per_run = kRun / C; r + per_run <= rb; r += per_run) {
                const float* xr = x + r * C;
                float* o = out + (r - r0) * C;
#pragma omp simd
                for (int j = 0; j < kRun; j++) o[j] = xr[j] * ts[j];
            }
        }
        for (; r < rb; r++) {
            const float* xr = x + r * C;
            float* o = out + (r - r0) * C;
#pragma omp simd
            for (int c = 0; c < C; c++) o[c] = xr[c] * sn[c];
        }
        ra = rb;
    }
}

inline const float* gated_rows(const float* x, const float* s, int C, int64_t hw, int64_t r0,
                               int64_t r1) {
    float* out = scratch((size_t)((r1 - r0) * C));
    gated_rows_into(x, s, C, hw, r0, r1, out);
    return out;
}

/* Rows [r0, r1) of a batch norm's training-mode dx that es_batchnorm_backward_deferred left
 * unfinished (kernels.h BnDy; C channels): the dy of the convolution before the batch norm,
 * into out (bn_dy_rows: this thread's second scratch buffer) as rows [0, r1 - r0). The same
 * expression as the batch norm's own last pass (batchnorm.cpp, finish_dx). */
inline void bn_dy_rows_into(const BnDy& bn, int C, int64_t r0, int64_t r1, float* out) {
    const float *ka = bn.coef, *kb = bn.coef + C, *kc = bn.coef + 2 * C, *m = bn.mean;
    const bool relu = bn.input_relu != 0;
    auto value = [relu](float g, float x, float a, float b, float mean, float c) {
        const float d = a * g + b * (x - mean) + c;
        return !relu || x > 0.0f ? d : 0.0f;
    };
    int64_t r = r0;
    /* rows of few channels in runs of kRun values with the coefficients repeated along the
     * run (row_blocks.h), the same expression for every value */
    if (runs_of_rows(C)) {
        float ta[kRun], tb[kRun], tc[kRun], tm[kRun];
        tile_run(ka, C, ta);
        tile_run(kb, C, tb);
        tile_run(kc, C, tc);
        tile_run(m, C, tm);
        const int per_run = kRun / C;
        for (; r + per_run <= r1; r += per_run) {
            const float* grr = bn.gr + r * C;
            const float* xr = bn.x + r * C;
            float* o = out + (r - r0) * C;
#pragma omp simd
            for (int j = 0; j < kRun; j++) o[j] = value(grr[j], xr[j], ta[j], tb[j], tm[j], tc[j]);
        }
    }
    for (; r < r1; r++) {
        const float* grr = bn.gr + r * C;
        const float* xr = bn.x + r * C;
        float* o = out + (r - r0) * C;
#pragma omp simd
        for (int c = 0; c < C; c++) o[c] = value(grr[c], xr[c], ka[c], kb[c], m[c], kc[c]);
    }
}

inline const float* bn_dy_rows(const BnDy& bn, int C, int64_t r0, int64_t r1) {
    float* out = scratch((size_t)((r1 - r0) * C), 1);
    bn_dy_rows_into(bn, C, r0, r1, out);
    return out;
}

/* The gate's gradient of a gated pointwise convolution, ds[n, c] = sum over image n's rows of
 * dx[r, c] * x[r, c] (dx: the gradient with respect to the product x * s), gathered as each
 * block of rows' dx is written, while it is in cache: one partial per block and image it
 * touches, in double, added in block order (so ds depends on the blocks only, never on which
 * thread ran which). Blocks are runs of block_rows rows (the last may be shorter). */
class GateGrad {
   public:
    GateGrad(int64_t rows, int64_t hw, int C, int64_t block_rows)
        : rows_(rows), hw_(hw), C_(C), block_rows_(block_rows),
          blocks_((rows + block_rows - 1) / block_rows),
          per_block_(std::min<int64_t>(rows / hw, (block_rows + hw - 2) / hw + 1)),
          part_((size_t)(blocks_ * per_block_ * C), 0.0) {}

    /* Block b's rows [r0, r1): d holds their dx (row r at d + (r - r0) * C), x all rows. */
    void add(int64_t b, int64_t r0, int64_t r1, const float* d, const float* x) {
        const int64_t first = r0 / hw_;
        for (int64_t r = r0; r < r1; r++) {
            double* p = part_.data() + (size_t)((b * per_block_ + r / hw_ - first) * C_);
            const float* dr = d + (r - r0) * C_;
            const float* xr = x + r * C_;
#pragma omp simd
            for (int c = 0; c < C_; c++) p[c] += (double)(dr[c] * xr[c]);
        }
    }

    /* ds [images][C] */
    void combine(float* ds) const {
        const int64_t images = rows_ / hw_;
        std::vector<double> sum((size_t)C_);
        for (int64_t n = 0; n < images; n++) {
            std::fill(sum.begin(), sum.end(), 0.0);
            /* the blocks that touch image n, in order */
            const int64_t b0 = n * hw_ / block_rows_, b1 = ((n + 1) * hw_ - 1) / block_rows_;
            for (int64_t b = b0; b <= b1 && b < blocks_; b++) {
                const double* p =
                    part_.data() + (size_t)((b * per_block_ + n - b * block_rows_ / hw_) * C_);
                for (int c = 0; c < C_; c++) sum[c] += p[c];
            }
            for (int c = 0; c < C_; c++) ds[n * C_ + c] = (float)sum[c];
        }
    }

   private:
    int64_t rows_, hw_;
    int C_;
    int64_t block_rows_, blocks_, per_block_;
    std::vector<double> part_;
};

/* Valid range [lo, hi) of kernel offsets k with 0 <= origin + k < extent, within [0, K). */
inline void tap_range(int origin, int K, int extent, int& lo, int& hi) {
    lo = std::max(0, -origin);
    hi = std::min(K, extent - origin);
    if (hi < lo) hi = lo;
}

/* Outputs [lo, hi) along one axis whose K taps all lie inside [0, extent), output o's window
 * starting at o * stride - pad: both within [0, out], empty when the kernel is wider than the
 * input or the padding exceeds it. */
inline void inside_outputs(int extent, int K, int stride, int pad, int out, int& lo, int& hi) {
    lo = std::min(out, (pad + stride - 1) / stride);
    hi = extent - K + pad >= 0 ? std::max(lo, std::min(out, (extent - K + pad) / stride + 1)) : lo;
}

/* ---- the paths ---------------------------------------------------------------------------- */

inline bool is_depthwise(const ConvGeom& g) { return g.groups == g.Cin && g.groups == g.Cout; }

/* 1x1, stride 1, no padding: the activations are the GEMM operand as they lie. */
inline bool is_pointwise(const ConvGeom& g) {
    return g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
           g.pad_left == 0 && g.OH == g.H && g.OW == g.W;
}

/* Dense with a reduction of at most kDirectMaxK values per output (the 3x3x3 stem). */
constexpr int kDirectMaxK = 32;
inline bool is_short_dense(const ConvGeom& g) {
    return g.groups == 1 && g.KH * g.KW * g.Cin <= kDirectMaxK;
}

/* The epilogue (kernels.h) over `pixels` output pixels of C channels from y on, in place; y
 * holds conv + b, residual points at the same pixels (activation.cpp, where the activation math
 * vectorises). Each path calls it on the rows it has just written, while they are in cache. */
void conv_epilogue(const ConvEpilogue& e, float* y, const float* residual, int64_t pixels, int C);

/* conv2d_depthwise.cpp */
void depthwise_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                       const float* b, const ConvEpilogue& e, float* y);
void depthwise_backward_dx(const Exec& ex, const ConvGeom& g, const float* w, const float* dy,
                           float* dx);
void depthwise_backward_dw(const Exec& ex, const ConvGeom& g, const float* x, const float* dy,
                           float* dw, float* db);
/* dx and/or dw (db with dw), fused into one sweep where they can be (stride 1, same size). */
void depthwise_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                        const float* dy, float* dx, float* dw, float* db);

/* conv2d_direct.cpp */
void short_dense_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                         const float* b, const ConvEpilogue& e, float* y);
/* The weight gradient (dx and db are the GEMM path's and column_sums') when short_dense_dw_fits:
 * dense KxK with KW*Cin = 9 (the 3x3x3 stem) and Cout a multiple of 8. */
bool short_dense_dw_fits(const ConvGeom& g);
void short_dense_backward_dw(const Exec& ex, const ConvGeom& g, const float* x, const float* dy,
                             float* dw);

/* conv2d_pointwise.cpp: pointwise convolutions without groups whose weight matrix has at most
 * kPointwiseDirectMaxWeights entries (Cin a multiple of 8, Cout a multiple of 8 or 1) as direct
 * loops, forward and backward; the others take sgemm
 * (conv2d_gemm.cpp). */
constexpr int64_t kPointwiseDirectMaxWeights = 16384;
/* With C2 > 0, for g's input channels and a second block of C2 (conv2d_backward_bn with x2):
 * each block as g, the weights of both within the limit. */
bool pointwise_direct_fits(const ConvGeom& g, int C2 = 0);
/* The second block of input channels of a pointwise backward pass (conv2d_backward_bn with x2):
 * x2 [rows][C2], its rows of w after x's g.Cin, its dx in dx2 (null: no dx), its rows of dw
 * after x's. */
struct Blocks2 {
    const float* x2 = nullptr;
    int C2 = 0;
    float* dx2 = nullptr;
};
/* gate (may be null): s [N, Cin], the convolution's input is x * s (conv2d_forward_gated);
 * x2 (may be null): a second block of C2 input channels after x's (conv2d_forward_blocks; no
 * gate then), w then has g.Cin + C2 rows */
void pointwise_forward_direct(const Exec& ex, const ConvGeom& g, const float* x, const float* gate,
                              const float* w, const float* b, const ConvEpilogue& e, float* y,
                              const float* x2 = nullptr, int C2 = 0);
/* with ds (gate given, needs dx): the gate's gradient (GateGrad); with bn (dy then null): dy
 * is that batch norm's unfinished dx (bn_dy_rows) */
void pointwise_backward_direct(const Exec& ex, const ConvGeom& g, const float* x,
                               const float* gate, const float* w, const float* dy,
                               const BnDy* bn, float* dx, float* dw, float* ds,
                               const Blocks2& second = {});

/* conv2d_taps.cpp: dense, stride 1, no groups, Cin and Cout multiples of 8 and at most
 * kPointwiseDirectMaxWeights weights per tap, as per-tap row products. */
bool taps_fit(const ConvGeom& g);
void taps_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                  const float* b, const ConvEpilogue& e, float* y);
void taps_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                   const float* dy, float* dx, float* dw);

/* conv2d_winograd.cpp: dense 3x3, stride 1, no groups, Cin and Cout multiples of 8, padding
 * 0..2, an output map of at least 28 x 28; the forward and dx (dw: the per-tap path) */
bool winograd_fits(const ConvGeom& g);
void winograd_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                      const float* b, const ConvEpilogue& e, float* y);
void winograd_backward_dx(const Exec& ex, const ConvGeom& g, const float* w, const float* dy,
                          float* dx);

/* conv2d_gemm.cpp */
void gemm_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                  const float* b, const ConvEpilogue& e, float* y);
void gemm_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                   const float* dy, float* dx, float* dw);
/* Pointwise convolutions as sgemm on the activations as they lie (gemm_forward and
 * gemm_backward take these for pointwise geometries); gate as for the direct path (no groups). */
void gemm_forward_pointwise(const Exec& ex, const ConvGeom& g, const float* x, const float* gate,
                            const float* w, const float* b, const ConvEpilogue& e, float* y,
                            const float* x2 = nullptr, int C2 = 0);
void gemm_backward_pointwise(const Exec& ex, const ConvGeom& g, const float* x,
                             const float* gate, const float* w, const float* dy, const BnDy* bn,
                             float* dx, float* dw, float* ds, const Blocks2& second = {});

}  // namespace es::cpu::ES_CPU_ISA

#endif
