/*
 * conv2d.cu — NHWC 2-D convolution with weights [KH,KW,Cin/groups,Cout], forward and
 * backward. This file chooses the path per call (choose_path); each path has its own file,
 * named like the CPU backend's (native/cpu/conv2d*.cpp) where the two do the same job:
 *  - conv2d_gemm.cu: pointwise (1x1, stride 1, no padding, groups 1) as one cuBLAS GEMM.
 *  - conv2d_depthwise.cu: depthwise (groups == Cin == Cout), hand-written kernels.
 *  - conv2d_cudnn.cu: everything else (dense 3x3 and the stem, grouped, strided 1x1) through
 *    cuDNN; the CPU backend runs these as conv2d_direct.cpp's loops or conv2d_gemm.cpp's
 *    im2col.
 * EFFISEG_CUDA_CONV=cudnn sends every convolution through cuDNN (benchmarks, cross-checks);
 * EFFISEG_CUDA_CONV=simple keeps depthwise on the scalar kernels and the filter gradient on the
 * generic column sums (benchmarks).
 * The bias and the epilogue (kernels.h ConvEpilogue) are one pass after the path's convolution
 * (the depthwise kernels add the bias themselves); db is a column sum of dy on every path.
 */
#include <cstdint>

#include "activation_math.cuh"
#include "conv2d_common.cuh"

namespace es::cuda {

namespace {

enum class Path { Pointwise, Depthwise, Cudnn };

Path choose_path(const ConvGeom& g) {
    if (conv_env_is("cudnn")) return Path::Cudnn;
    if (g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
        g.pad_left == 0 && g.groups == 1 && g.OH == g.H && g.OW == g.W)
        return Path::Pointwise;
    if (g.groups == g.Cin && g.groups == g.Cout) return Path::Depthwise;
    return Path::Cudnn;
}

/* y = act(y + b) * scale + shift + residual (kernels.h ConvEpilogue; b, scale, shift, residual
 * each optional): the bias and the epilogue in one pass over y after the path's convolution. */
template <int A>
__global__ void epilogue_kernel(float* y, const float* b, const float* scale, const float* shift,
                                const float* residual, int64_t n, int C) {
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % C);
        float v = act::apply<A>(b ? y[i] + b[c] : y[i]);
        if (scale) v *= scale[c];
        if (shift) v += shift[c];
        if (residual) v += residual[i];
        y[i] = v;
    }
}

void epilogue(State& s, float* y, const float* b, const ConvEpilogue& e, int64_t rows, int C) {
    if (!b && !e.any()) return;
    const int64_t n = rows * C;
    act::dispatch(e.activation, [&](auto a) {
        constexpr int A = decltype(a)::value;
        epilogue_kernel<A><<<grid_for(n), kThreads, 0, s.stream>>>(y, b, e.scale, e.shift, e.residual, n, C);
    });
    check_launch("epilogue_kernel");
}

}  // namespace

void conv2d_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                    const float* b, const ConvEpilogue& e, float* y) {
    State& s = state(ex);
    const int64_t rows = (int64_t)g.N * g.OH * g.OW;
    switch (choose_path(g)) {
        case Path::Pointwise:
            pointwise_forward(s, g, x, w, y);
            epilogue(s, y, b, e, rows, g.Cout);
            break;
        case Path::Depthwise:
            depthwise_forward(s, g, x, w, b, y); /* bias fused */
            epilogue(s, y, nullptr, e, rows, g.Cout);
            break;
        case Path::Cudnn:
            cudnn_forward(s, g, x, w, y);
            epilogue(s, y, b, e, rows, g.Cout);
            break;
    }
}

void conv2d_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
    State& s = state(ex);
    switch (choose_path(g)) {
        case Path::Pointwise: pointwise_backward(s, g, x, w, dy, dx, dw); break;
        case Path::Depthwise: depthwise_backward(s, g, x, w, dy, dx, dw); break;
        case Path::Cudnn:
            if (dx || dw) cudnn_backward(s, g, x, w, dy, dx, dw);
            break;
    }
    if (db) column_sums(s, "conv2d bias gradient", dy, 1, (int64_t)g.N * g.OH * g.OW, g.Cout, 1.0, db);
}

/* dy = coef0 * gr + coef1 * (x - mean) + coef2, times [x > 0] with input_relu (kernels.h BnDy):
 * the batch norm's dx that batchnorm_backward_deferred left unfinished. */
namespace {
__global__ void bn_dy_kernel(BnDy bn, float* dy, int64_t n, int C) {
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % C);
        const float d = bn.coef[c] * bn.gr[i] + bn.coef[C + c] * (bn.x[i] - bn.mean[c]) +
                        bn.coef[2 * C + c];
        dy[i] = !bn.input_relu || bn.x[i] > 0.0f ? d : 0.0f;
    }
}
}  // namespace

/* The gated convolutions (pointwise, no groups): the product x * s in scratch memory by
 * channel_scale_forward, then the plain convolution on it (the backward only needs it for dw),
 * and ds as channel_scale_backward's (a pass over dx and x after it).
 * The CPU backend makes it a block of rows at a time instead, in cache; here the product is one
 * more pass through device memory. */
void conv2d_forward_gated(const Exec& ex, const ConvGeom& g, const float* x, const float* sc,
                          const float* w, const float* b, const ConvEpilogue& e, float* y) {
    State& s = state(ex);
    const PoolGeom pg{g.N, (int64_t)g.H * g.W, g.Cin};
    Scratch product(s, (int64_t)g.N * pg.HW * g.Cin * (int64_t)sizeof(float));
    channel_scale_forward(ex, pg, x, sc, product.as<float>());
    conv2d_forward(ex, g, product.as<float>(), w, b, e, y);
}

void conv2d_backward_gated(const Exec& ex, const ConvGeom& g, const float* x, const float* sc,
                           const float* w, const float* dy, float* dx, float* dw, float* db,
                           float* ds) {
    State& s = state(ex);
    const PoolGeom pg{g.N, (int64_t)g.H * g.W, g.Cin};
    Scratch product(s, dw ? (int64_t)g.N * pg.HW * g.Cin * (int64_t)sizeof(float) : 0);
    if (dw) channel_scale_forward(ex, pg, x, sc, product.as<float>());
    conv2d_backward(ex, g, dw ? product.as<float>() : x, w, dy, dx, dw, db);
    if (ds) channel_scale_backward(ex, pg, x, sc, dx, nullptr, ds); /* sum of dx * x */
}

/* The two blocks copied side by side into scratch memory (channel_copy), then the plain
 * convolution on the concatenation. */
void conv2d_forward_blocks(const Exec& ex, const ConvGeom& g, const float* x, const float* x2,
                           int C2, const float* w, const float* b, const ConvEpilogue& e,
                           float* y) {
    State& s = state(ex);
    const int64_t rows = (int64_t)g.N * g.H * g.W;
    const int C = g.Cin + C2;
    Scratch both(s, rows * C * (int64_t)sizeof(float));
    channel_copy(ex, ChannelCopyGeom{rows, g.Cin, 0, C, 0, g.Cin}, x, both.as<float>(), 0);
    channel_copy(ex, ChannelCopyGeom{rows, C2, 0, C, g.Cin, C2}, x2, both.as<float>(), 0);
    ConvGeom all = g;
    all.Cin = C;
    conv2d_forward(ex, all, both.as<float>(), w, b, e, y);
}

/* The batch norm's dx into scratch memory (bn_dy_kernel), then the plain or gated backward; a
 * second block of input channels (x2) is a second plain backward on the same dy with its rows of
 * w and dw. */
void conv2d_backward_bn(const Exec& ex, const ConvGeom& g, const float* x, const float* sc,
                        const float* x2, int C2, const float* w, const BnDy& bn, float* dx,
                        float* dx2, float* dw, float* ds) {
    if (!dx && !dw) return;
    State& s = state(ex);
    const int64_t n = (int64_t)g.N * g.OH * g.OW * g.Cout;
    Scratch dy(s, n * (int64_t)sizeof(float));
    bn_dy_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(bn, dy.as<float>(), n, g.Cout);
    check_launch("bn_dy_kernel");
    if (sc)
        conv2d_backward_gated(ex, g, x, sc, w, dy.as<float>(), dx, dw, nullptr, ds);
    else
        conv2d_backward(ex, g, x, w, dy.as<float>(), dx, dw, nullptr);
    if (x2) {
        ConvGeom g2 = g;
        g2.Cin = C2;
        const int64_t w1 = (int64_t)g.Cin * g.Cout;
        conv2d_backward(ex, g2, x2, w + w1, dy.as<float>(), dx2, dw ? dw + w1 : nullptr, nullptr);
    }
}

}  // namespace es::cuda
