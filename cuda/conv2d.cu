/*
 * conv2d.cu — NHWC 2-D convolution with weights [KH,KW,Cin/groups,Cout], forward and
 * backward, on three paths (choose_path):
 *
 *  - pointwise (1x1, stride 1, no padding, groups 1): a row-major GEMM
 *    y[M,Cout] = x[M,Cin] * w[Cin,Cout] with M = N*H*W. cuBLAS is column-major, where the
 *    same memory holds the transposes, so it computes y^T = w^T x^T: cublasSgemm(N, N,
 *    m=Cout, n=M, k=Cin, A=w (ld Cout), B=x (ld Cin), C=y (ld Cout)); likewise
 *    dx^T = w dy^T -> (T, N, Cin, M, Cout) and dw^T = dy^T x -> (N, T, Cout, Cin, M).
 *  - depthwise (groups == Cin == Cout): hand-written kernels. Forward and backward-data are
 *    gathers, one thread per output element (channel fastest: coalesced); backward-filter
 *    sums dy * x over the N*OH*OW positions per (kh, kw, c) with the deterministic column
 *    sums of common.cuh. Simple and correct first; not yet tuned (docs/cuda.md).
 *  - everything else (dense 3x3 stem, grouped, strided 1x1): cuDNN's legacy convolution API
 *    with NHWC descriptors. cuDNN wants filters as [Cout,KH,KW,Cin/g] ("NHWC" filter
 *    format), so w is transposed into scratch (and dw back). cuDNN pads symmetrically; our
 *    padding may be asymmetric (TensorFlow SAME puts the odd row at the bottom/right). If
 *    cuDNN's output size with padding (pad_top, pad_left) on both sides equals OH x OW, the
 *    windows are identical and x is used as is; otherwise x is copied into a zero-padded
 *    buffer [N, (OH-1)*sh+KH, (OW-1)*sw+KW, Cin] (rows/columns it never reads are dropped)
 *    and cuDNN runs unpadded; backward-data then writes into such a buffer and a crop
 *    kernel copies the interior to dx (zero where x was never read).
 *    Algorithms: cudnnGetConvolution*Algorithm_v7 heuristics (no benchmarking, no host
 *    sync), cached per geometry in the context; plain FP32 (CUDNN_FMA_MATH) preferred and
 *    tensor-op math never taken (see pick()), deterministic algorithms preferred for the
 *    backward passes. Workspace comes from the caching allocator. EFFISEG_CUDA_VERBOSE=1
 *    prints each choice.
 * EFFISEG_CUDA_CONV=cudnn sends every convolution through cuDNN (benchmarks, cross-checks);
 * EFFISEG_CUDA_CONV=simple keeps depthwise on the scalar kernels (benchmarks).
 * The bias (forward) is a separate add; db is a column sum of dy on every path.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

enum class Path { Pointwise, Depthwise, Cudnn };

/* EFFISEG_CUDA_CONV, read on every call (a getenv is cheap next to a launch) so a benchmark
 * can switch it: "cudnn" sends every convolution through cuDNN, "simple" keeps the depthwise
 * convolutions on the one-element-per-thread kernels (no vectorised ones). */
bool conv_env_is(const char* value) {
    const char* v = std::getenv("EFFISEG_CUDA_CONV");
    return v && std::strcmp(v, value) == 0;
}
bool force_cudnn() { return conv_env_is("cudnn"); }

Path choose_path(const ConvGeom& g) {
    if (force_cudnn()) return Path::Cudnn;
    if (g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
        g.pad_left == 0 && g.groups == 1 && g.OH == g.H && g.OW == g.W)
        return Path::Pointwise;
    if (g.groups == g.Cin && g.groups == g.Cout) return Path::Depthwise;
    return Path::Cudnn;
}

std::string geometry_str(const ConvGeom& g) {
    auto s = [](int v) { return std::to_string(v); };
    return "x [" + s(g.N) + "," + s(g.H) + "," + s(g.W) + "," + s(g.Cin) + "], w [" + s(g.KH) +
           "," + s(g.KW) + "," + s(g.Cin / g.groups) + "," + s(g.Cout) + "], stride " +
           s(g.stride_h) + "x" + s(g.stride_w) + ", pad top/left " + s(g.pad_top) + "/" +
           s(g.pad_left) + ", groups " + s(g.groups) + ", y [" + s(g.N) + "," + s(g.OH) + "," +
           s(g.OW) + "," + s(g.Cout) + "]";
}

/* ---- shared small kernels ---------------------------------------------------------------- */

__global__ void bias_add_kernel(float* y, const float* b, int64_t n, int C) {
    ES_GRID_STRIDE(i, n) y[i] += b[i % C];
}

void add_bias(State& s, float* y, const float* b, int64_t rows, int C) {
    const int64_t n = rows * C;
    bias_add_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(y, b, n, C);
    check_launch("bias_add_kernel");
}

/* ---- pointwise: cuBLAS ------------------------------------------------------------------ */

void pointwise_forward(State& s, const ConvGeom& g, const float* x, const float* w, float* y) {
    const int64_t M = (int64_t)g.N * g.H * g.W;
    const float one = 1.0f, zero = 0.0f;
    check(cublasSgemm_64(s.cublas, CUBLAS_OP_N, CUBLAS_OP_N, g.Cout, M, g.Cin, &one, w, g.Cout, x,
                         g.Cin, &zero, y, g.Cout),
          "cublasSgemm (pointwise forward)");
}

void pointwise_backward(State& s, const ConvGeom& g, const float* x, const float* w,
                        const float* dy, float* dx, float* dw) {
    const int64_t M = (int64_t)g.N * g.H * g.W;
    const float one = 1.0f, zero = 0.0f;
    if (dx)
        check(cublasSgemm_64(s.cublas, CUBLAS_OP_T, CUBLAS_OP_N, g.Cin, M, g.Cout, &one, w, g.Cout,
                             dy, g.Cout, &zero, dx, g.Cin),
              "cublasSgemm (pointwise backward data)");
    if (dw)
        check(cublasSgemm_64(s.cublas, CUBLAS_OP_N, CUBLAS_OP_T, g.Cout, g.Cin, M, &one, dy, g.Cout,
                             x, g.Cin, &zero, dw, g.Cout),
              "cublasSgemm (pointwise backward filter)");
}

/* ---- depthwise: hand-written ------------------------------------------------------------ */

__global__ void depthwise_forward_kernel(ConvGeom g, const float* x, const float* w,
                                         const float* b, float* y) {
    const int C = g.Cout;
    const int64_t n_out = (int64_t)g.N * g.OH * g.OW * C;
    ES_GRID_STRIDE(i, n_out) {
        const int c = (int)(i % C);
        const int64_t pix = i / C;
        const int ow = (int)(pix % g.OW);
        const int oh = (int)((pix / g.OW) % g.OH);
        const int64_t n = pix / ((int64_t)g.OW * g.OH);
        float acc = 0.0f;
        for (int kh = 0; kh < g.KH; kh++) {
            const int ih = oh * g.stride_h - g.pad_top + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                const int iw = ow * g.stride_w - g.pad_left + kw;
                if (iw < 0 || iw >= g.W) continue;
                acc += x[((n * g.H + ih) * g.W + iw) * C + c] * w[(kh * g.KW + kw) * C + c];
            }
        }
        y[i] = b ? acc + b[c] : acc;
    }
}

__global__ void depthwise_backward_data_kernel(ConvGeom g, const float* w, const float* dy,
                                               float* dx) {
    const int C = g.Cin;
    const int64_t n_in = (int64_t)g.N * g.H * g.W * C;
    ES_GRID_STRIDE(i, n_in) {
        const int c = (int)(i % C);
        const int64_t pix = i / C;
        const int iw = (int)(pix % g.W);
        const int ih = (int)((pix / g.W) % g.H);
        const int64_t n = pix / ((int64_t)g.W * g.H);
        float acc = 0.0f;
        for (int kh = 0; kh < g.KH; kh++) {
            const int th = ih + g.pad_top - kh; /* = oh * stride_h */
            if (th < 0 || th % g.stride_h != 0) continue;
            const int oh = th / g.stride_h;
            if (oh >= g.OH) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                const int tw = iw + g.pad_left - kw;
                if (tw < 0 || tw % g.stride_w != 0) continue;
                const int ow = tw / g.stride_w;
                if (ow >= g.OW) continue;
                acc += dy[((n * g.OH + oh) * g.OW + ow) * C + c] * w[(kh * g.KW + kw) * C + c];
            }
        }
        dx[i] = acc;
    }
}

/* Vectorised forward and backward-data (C % 4 == 0, 16-byte aligned tensors): one thread per
 * (pixel, 4 channels), float4 loads and stores, and 32-bit index arithmetic from a 2-D grid,
 * blockIdx.y = image row (n, oh) or (n, ih), x over (column, channel quad). Per channel the
 * products are added in the same (kh, kw) order as the scalar kernels above. */

__device__ __forceinline__ void fma4(float4& acc, const float4 a, const float4 b) {
    acc.x += a.x * b.x;
    acc.y += a.y * b.y;
    acc.z += a.z * b.z;
    acc.w += a.w * b.w;
}

__global__ void depthwise_forward_vec4_kernel(ConvGeom g, const float4* x, const float4* w,
                                              const float4* b, float4* y) {
    const int C4 = g.Cout / 4;
    const int i = blockIdx.x * blockDim.x + threadIdx.x; /* over OW * C4 */
    if (i >= g.OW * C4) return;
    const int c4 = i % C4, ow = i / C4;
    const int n = blockIdx.y / g.OH, oh = blockIdx.y % g.OH;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int kh = 0; kh < g.KH; kh++) {
        const int ih = oh * g.stride_h - g.pad_top + kh;
        if (ih < 0 || ih >= g.H) continue;
        const float4* row = x + ((int64_t)n * g.H + ih) * g.W * C4 + c4;
        for (int kw = 0; kw < g.KW; kw++) {
            const int iw = ow * g.stride_w - g.pad_left + kw;
            if (iw < 0 || iw >= g.W) continue;
            fma4(acc, row[(int64_t)iw * C4], w[(kh * g.KW + kw) * C4 + c4]);
        }
    }
    if (b) {
        const float4 bv = b[c4];
        acc.x += bv.x;
        acc.y += bv.y;
        acc.z += bv.z;
        acc.w += bv.w;
    }
    y[((int64_t)blockIdx.y * g.OW + ow) * C4 + c4] = acc;
}

__global__ void depthwise_backward_data_vec4_kernel(ConvGeom g, const float4* w, const float4* dy,
                                                    float4* dx) {
    const int C4 = g.Cin / 4;
    const int i = blockIdx.x * blockDim.x + threadIdx.x; /* over W * C4 */
    if (i >= g.W * C4) return;
    const int c4 = i % C4, iw = i / C4;
    const int n = blockIdx.y / g.H, ih = blockIdx.y % g.H;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int kh = 0; kh < g.KH; kh++) {
        const int th = ih + g.pad_top - kh; /* = oh * stride_h */
        if (th < 0 || th % g.stride_h != 0) continue;
        const int oh = th / g.stride_h;
        if (oh >= g.OH) continue;
        const float4* row = dy + ((int64_t)n * g.OH + oh) * g.OW * C4 + c4;
        for (int kw = 0; kw < g.KW; kw++) {
            const int tw = iw + g.pad_left - kw;
            if (tw < 0 || tw % g.stride_w != 0) continue;
            const int ow = tw / g.stride_w;
            if (ow >= g.OW) continue;
            fma4(acc, row[(int64_t)ow * C4], w[(kh * g.KW + kw) * C4 + c4]);
        }
    }
    dx[((int64_t)blockIdx.y * g.W + iw) * C4 + c4] = acc;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

/* Whether the vectorised kernels apply: 4-channel quads, aligned tensors (null ones count as
 * aligned), image rows within gridDim.y, and no EFFISEG_CUDA_CONV=simple. */
bool use_vec4(const ConvGeom& g, int rows, std::initializer_list<const void*> tensors) {
    if (g.Cin % 4 != 0 || rows > 65535 || conv_env_is("simple")) return false;
    for (const void* t : tensors)
        if (!aligned16(t)) return false;
    return true;
}

/* dw[kh,kw,c] = sum over (n,oh,ow) of dy[n,oh,ow,c] * x[n, oh*sh-pt+kh, ow*sw-pl+kw, c]:
 * rows = output positions, columns = (kh*KW + kw)*C + c. */
struct DepthwiseFilterGrad {
    ConvGeom g;
    const float *x, *dy;
    __device__ void operator()(int, int64_t row, int col, double* acc) const {
        const int C = g.Cin;
        const int c = col % C, k = col / C;
        const int kh = k / g.KW, kw = k % g.KW;
        const int ow = (int)(row % g.OW);
        const int oh = (int)((row / g.OW) % g.OH);
        const int64_t n = row / ((int64_t)g.OW * g.OH);
        const int ih = oh * g.stride_h - g.pad_top + kh;
        const int iw = ow * g.stride_w - g.pad_left + kw;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return;
        acc[0] += (double)dy[row * C + c] * (double)x[((n * g.H + ih) * g.W + iw) * C + c];
    }
};

void depthwise_forward(State& s, const ConvGeom& g, const float* x, const float* w, const float* b,
                       float* y) {
    if (use_vec4(g, g.N * g.OH, {x, w, b, y})) {
        const dim3 grid(grid_for((int64_t)g.OW * (g.Cout / 4)), (unsigned)(g.N * g.OH));
        depthwise_forward_vec4_kernel<<<grid, kThreads, 0, s.stream>>>(
            g, reinterpret_cast<const float4*>(x), reinterpret_cast<const float4*>(w),
            reinterpret_cast<const float4*>(b), reinterpret_cast<float4*>(y));
        check_launch("depthwise_forward_vec4_kernel");
        return;
    }
    const int64_t n_out = (int64_t)g.N * g.OH * g.OW * g.Cout;
    depthwise_forward_kernel<<<grid_for(n_out), kThreads, 0, s.stream>>>(g, x, w, b, y);
    check_launch("depthwise_forward_kernel");
}

void depthwise_backward(State& s, const ConvGeom& g, const float* x, const float* w,
                        const float* dy, float* dx, float* dw) {
    if (dx && use_vec4(g, g.N * g.H, {w, dy, dx})) {
        const dim3 grid(grid_for((int64_t)g.W * (g.Cin / 4)), (unsigned)(g.N * g.H));
        depthwise_backward_data_vec4_kernel<<<grid, kThreads, 0, s.stream>>>(
            g, reinterpret_cast<const float4*>(w), reinterpret_cast<const float4*>(dy),
            reinterpret_cast<float4*>(dx));
        check_launch("depthwise_backward_data_vec4_kernel");
    } else if (dx) {
        const int64_t n_in = (int64_t)g.N * g.H * g.W * g.Cin;
        depthwise_backward_data_kernel<<<grid_for(n_in), kThreads, 0, s.stream>>>(g, w, dy, dx);
        check_launch("depthwise_backward_data_kernel");
    }
    if (dw) {
        const int64_t rows = (int64_t)g.N * g.OH * g.OW;
        const int cols = g.KH * g.KW * g.Cin;
        const ColumnSplit split = column_split(rows, cols, 1);
        Scratch partial(s, (int64_t)split.parts * cols * (int64_t)sizeof(double));
        column_partials<1>(s, "depthwise backward filter", DepthwiseFilterGrad{g, x, dy}, 1, rows,
                           cols, split, partial.as<double>());
        finalize_column_sums(s, "depthwise backward filter (finalize)", partial.as<double>(), 1,
                             split.parts, cols, 1.0, dw);
    }
}

/* ---- everything else: cuDNN -------------------------------------------------------------- */

/* [KH,KW,Cg,Cout] <-> [Cout,KH,KW,Cg] */
__global__ void hwio_to_ohwi_kernel(const float* src, float* dst, int KH, int KW, int Cg, int Cout) {
    const int64_t n = (int64_t)KH * KW * Cg * Cout;
    ES_GRID_STRIDE(i, n) { /* i indexes dst */
        const int cg = (int)(i % Cg);
        const int64_t r = i / Cg;
        const int kw = (int)(r % KW), kh = (int)((r / KW) % KH), co = (int)(r / ((int64_t)KW * KH));
        dst[i] = src[(((int64_t)kh * KW + kw) * Cg + cg) * Cout + co];
    }
}

__global__ void ohwi_to_hwio_kernel(const float* src, float* dst, int KH, int KW, int Cg, int Cout) {
    const int64_t n = (int64_t)KH * KW * Cg * Cout;
    ES_GRID_STRIDE(i, n) { /* i indexes dst */
        const int co = (int)(i % Cout);
        const int64_t r = i / Cout;
        const int cg = (int)(r % Cg), kw = (int)((r / Cg) % KW), kh = (int)(r / ((int64_t)Cg * KW));
        dst[i] = src[(((int64_t)co * KH + kh) * KW + kw) * Cg + cg];
    }
}

/* xp [N,Hp,Wp,C] = x shifted by (pt, pl), zero outside */
__global__ void pad_kernel(const float* x, float* xp, int N, int H, int W, int C, int Hp, int Wp,
                           int pt, int pl) {
    const int64_t n = (int64_t)N * Hp * Wp * C;
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % C);
        const int64_t pix = i / C;
        const int j = (int)(pix % Wp), r = (int)((pix / Wp) % Hp);
        const int64_t b = pix / ((int64_t)Wp * Hp);
        const int ih = r - pt, iw = j - pl;
        xp[i] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[((b * H + ih) * W + iw) * C + c] : 0.0f;
    }
}

/* dx [N,H,W,C] = interior of dxp [N,Hp,Wp,C]; zero where x was never read */
__global__ void crop_kernel(const float* dxp, float* dx, int N, int H, int W, int C, int Hp,
                            int Wp, int pt, int pl) {
    const int64_t n = (int64_t)N * H * W * C;
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % C);
        const int64_t pix = i / C;
        const int iw = (int)(pix % W), ih = (int)((pix / W) % H);
        const int64_t b = pix / ((int64_t)W * H);
        const int r = ih + pt, j = iw + pl;
        dx[i] = (r < Hp && j < Wp) ? dxp[((b * Hp + r) * Wp + j) * C + c] : 0.0f;
    }
}

/* How cuDNN sees the problem: the (possibly padded) input and symmetric padding. */
struct CudnnPlan {
    bool padded; /* x must go through a zero-padded buffer */
    int Hx, Wx;  /* input extent given to cuDNN */
    int pad_h, pad_w;
};

CudnnPlan plan_for(const ConvGeom& g) {
    const auto out = [](int in, int pad, int k, int stride) {
        return in + 2 * pad >= k ? (in + 2 * pad - k) / stride + 1 : -1;
    };
    if (out(g.H, g.pad_top, g.KH, g.stride_h) == g.OH && out(g.W, g.pad_left, g.KW, g.stride_w) == g.OW)
        return {false, g.H, g.W, g.pad_top, g.pad_left};
    return {true, (g.OH - 1) * g.stride_h + g.KH, (g.OW - 1) * g.stride_w + g.KW, 0, 0};
}

/* The descriptors of one call, destroyed with it. */
struct Descriptors {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;

    Descriptors(const ConvGeom& g, const CudnnPlan& p) {
        check(cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor");
        check(cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor");
        check(cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor");
        check(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
        check(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g.N, g.Cin, p.Hx, p.Wx),
              "cudnnSetTensor4dDescriptor (x)");
        check(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, g.N, g.Cout, g.OH, g.OW),
              "cudnnSetTensor4dDescriptor (y)");
        check(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, g.Cout,
                                         g.Cin / g.groups, g.KH, g.KW),
              "cudnnSetFilter4dDescriptor");
        check(cudnnSetConvolution2dDescriptor(conv, p.pad_h, p.pad_w, g.stride_h, g.stride_w, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              "cudnnSetConvolution2dDescriptor");
        check(cudnnSetConvolutionGroupCount(conv, g.groups), "cudnnSetConvolutionGroupCount");
        check(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
        int n, c, h, wd;
        check(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &c, &h, &wd),
              "cudnnGetConvolution2dForwardOutputDim");
        if (n != g.N || c != g.Cout || h != g.OH || wd != g.OW)
            fail(ES_ERR_INTERNAL, "cuDNN computes output [" + std::to_string(n) + "," +
                                      std::to_string(h) + "," + std::to_string(wd) + "," +
                                      std::to_string(c) + "] for " + geometry_str(g));
    }
    ~Descriptors() {
        if (conv) cudnnDestroyConvolutionDescriptor(conv);
        if (w) cudnnDestroyFilterDescriptor(w);
        if (y) cudnnDestroyTensorDescriptor(y);
        if (x) cudnnDestroyTensorDescriptor(x);
    }
    Descriptors(const Descriptors&) = delete;
    Descriptors& operator=(const Descriptors&) = delete;
};

constexpr size_t kMaxWorkspace = size_t(1) << 30;

/* The first usable entry of cuDNN's ranked list (succeeded, workspace under the cap), in this
 * order of preference: deterministic (if wanted) before not, then CUDNN_FMA_MATH (plain FP32)
 * before CUDNN_DEFAULT_MATH (which on Ampere and later may use TF32 tensor cores: parity with
 * the CPU would then hold to ~1e-3 only; the GPU tests will show whether it is ever chosen).
 * Tensor-op math types are never taken. */
uint32_t rejection_bit(int algo, int math) { return 1u << (2 * algo + (math != CUDNN_FMA_MATH)); }

template <class Perf>
const Perf* pick(const Perf* perf, int count, bool want_deterministic, uint32_t rejected) {
    for (int det = want_deterministic ? 1 : 0; det >= 0; det--)
        for (cudnnMathType_t math : {CUDNN_FMA_MATH, CUDNN_DEFAULT_MATH})
            for (int i = 0; i < count; i++) {
                const Perf& p = perf[i];
                if (p.status != CUDNN_STATUS_SUCCESS || p.mathType != math || p.memory > kMaxWorkspace)
                    continue;
                if (det && p.determinism != CUDNN_DETERMINISTIC) continue;
                if (rejected & rejection_bit(p.algo, p.mathType)) continue;
                return &p;
            }
    return nullptr;
}

bool verbose() {
    const char* v = std::getenv("EFFISEG_CUDA_VERBOSE");
    return v && v[0] == '1';
}

ConvKey key_of(const ConvGeom& g, const CudnnPlan& p) {
    return {g.N, p.Hx, p.Wx, g.Cin, g.Cout, g.KH, g.KW, g.stride_h, g.stride_w, p.pad_h, p.pad_w,
            g.groups, g.OH, g.OW};
}

enum class Pass { Forward, BackwardData, BackwardFilter };

const char* pass_name(Pass pass) {
    return pass == Pass::Forward ? "forward" : pass == Pass::BackwardData ? "backward-data" : "backward-filter";
}

/* Chooses (once per geometry and pass) and returns {algo, math type}. */
std::pair<int, cudnnMathType_t> algorithm(State& s, const ConvGeom& g, const CudnnPlan& p,
                                          const Descriptors& d, Pass pass) {
    std::lock_guard<std::mutex> lock(s.conv_mu);
    ConvAlgos& a = s.conv_algos[key_of(g, p)];
    const uint32_t rejected = a.rejected[(int)pass];
    int* algo = pass == Pass::Forward ? &a.fwd : pass == Pass::BackwardData ? &a.bwd_data : &a.bwd_filter;
    int* math = pass == Pass::Forward ? &a.fwd_math
                : pass == Pass::BackwardData ? &a.bwd_data_math : &a.bwd_filter_math;
    if (*algo < 0) {
        /* The heuristics depend on the descriptor's math type, and an earlier pass of this
         * call may have left another one there (backward sets the data pass's choice before
         * the filter pass): query with FMA every time, so the choice is the same whichever
         * passes ran first. */
        check(cudnnSetConvolutionMathType(d.conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
        int returned = 0;
        if (pass == Pass::Forward) {
            cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
            check(cudnnGetConvolutionForwardAlgorithm_v7(s.cudnn, d.x, d.w, d.conv, d.y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf),
                  "cudnnGetConvolutionForwardAlgorithm_v7");
            if (auto* best = pick(perf, returned, false, rejected)) *algo = best->algo, *math = best->mathType;
        } else if (pass == Pass::BackwardData) {
            cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
            check(cudnnGetConvolutionBackwardDataAlgorithm_v7(s.cudnn, d.w, d.y, d.conv, d.x,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                              &returned, perf),
                  "cudnnGetConvolutionBackwardDataAlgorithm_v7");
            if (auto* best = pick(perf, returned, true, rejected)) *algo = best->algo, *math = best->mathType;
        } else {
            cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
            check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(s.cudnn, d.x, d.y, d.conv, d.w,
                                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                                &returned, perf),
                  "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
            if (auto* best = pick(perf, returned, true, rejected)) *algo = best->algo, *math = best->mathType;
        }
        if (*algo >= 0 && verbose())
            std::fprintf(stderr, "effiseg cuda: %s: %s algorithm %d, math type %d\n",
                         geometry_str(g).c_str(), pass_name(pass), *algo, *math);
        if (*algo < 0)
            fail(ES_ERR_INTERNAL, std::string("cuDNN offers no FP32 ") + pass_name(pass) +
                                      " algorithm for " + geometry_str(g) +
                                      (rejected ? " (the ones it ranked refused to run)" : ""));
    }
    return {*algo, (cudnnMathType_t)*math};
}

/* A heuristics entry may report success and the call still refuse the geometry
 * (CUDNN_STATUS_NOT_SUPPORTED). Then that pair is struck off for the geometry and the pass and
 * the caller runs again with the next choice; true if it should. Any other status is an error. */
bool retry_without(State& s, const ConvGeom& g, const CudnnPlan& p, Pass pass, int algo,
                   cudnnMathType_t math, cudnnStatus_t status, const char* call) {
    if (status == CUDNN_STATUS_SUCCESS) return false;
    if (status != CUDNN_STATUS_NOT_SUPPORTED) check(status, call);
    std::lock_guard<std::mutex> lock(s.conv_mu);
    ConvAlgos& a = s.conv_algos[key_of(g, p)];
    a.rejected[(int)pass] |= rejection_bit(algo, math);
    (pass == Pass::Forward ? a.fwd : pass == Pass::BackwardData ? a.bwd_data : a.bwd_filter) = -1;
    if (verbose())
        std::fprintf(stderr, "effiseg cuda: %s: %s algorithm %d, math type %d: %s, trying the next\n",
                     geometry_str(g).c_str(), pass_name(pass), algo, (int)math,
                     cudnnGetErrorString(status));
    return true;
}

/* One cuDNN pass: the geometry's algorithm and math type, its workspace (size(algo, &bytes)),
 * then run(algo, workspace, bytes); the next choice if cuDNN refuses that one. */
template <class Size, class Run>
void run_pass(State& s, const ConvGeom& g, const CudnnPlan& p, const Descriptors& d, Pass pass,
              const char* call, Size size, Run run) {
    for (;;) {
        const auto [algo, math] = algorithm(s, g, p, d, pass);
        check(cudnnSetConvolutionMathType(d.conv, math), "cudnnSetConvolutionMathType");
        size_t ws_bytes = 0;
        check(size(algo, &ws_bytes), (std::string(call) + " workspace size").c_str());
        Scratch ws(s, (int64_t)ws_bytes);
        if (!retry_without(s, g, p, pass, algo, math, run(algo, ws.as<void>(), ws_bytes), call)) return;
    }
}

void cudnn_forward(State& s, const ConvGeom& g, const float* x, const float* w, float* y) {
    const CudnnPlan p = plan_for(g);
    const Descriptors d(g, p);
    const int Cg = g.Cin / g.groups;
    const int64_t wn = (int64_t)g.KH * g.KW * Cg * g.Cout;
    Scratch wt(s, wn * (int64_t)sizeof(float));
    hwio_to_ohwi_kernel<<<grid_for(wn), kThreads, 0, s.stream>>>(w, wt.as<float>(), g.KH, g.KW, Cg, g.Cout);
    check_launch("hwio_to_ohwi_kernel");
    const int64_t xpn = p.padded ? (int64_t)g.N * p.Hx * p.Wx * g.Cin : 0;
    Scratch xp(s, xpn * (int64_t)sizeof(float));
    if (p.padded) {
        pad_kernel<<<grid_for(xpn), kThreads, 0, s.stream>>>(x, xp.as<float>(), g.N, g.H, g.W, g.Cin,
                                                             p.Hx, p.Wx, g.pad_top, g.pad_left);
        check_launch("pad_kernel");
    }
    const float one = 1.0f, zero = 0.0f;
    run_pass(s, g, p, d, Pass::Forward, "cudnnConvolutionForward",
             [&](int algo, size_t* bytes) {
                 return cudnnGetConvolutionForwardWorkspaceSize(s.cudnn, d.x, d.w, d.conv, d.y,
                                                                (cudnnConvolutionFwdAlgo_t)algo, bytes);
             },
             [&](int algo, void* ws, size_t bytes) {
                 return cudnnConvolutionForward(s.cudnn, &one, d.x, p.padded ? xp.as<float>() : x, d.w,
                                                wt.as<float>(), d.conv, (cudnnConvolutionFwdAlgo_t)algo, ws,
                                                bytes, &zero, d.y, y);
             });
}

void cudnn_backward(State& s, const ConvGeom& g, const float* x, const float* w, const float* dy,
                    float* dx, float* dw) {
    const CudnnPlan p = plan_for(g);
    const Descriptors d(g, p);
    const int Cg = g.Cin / g.groups;
    const int64_t wn = (int64_t)g.KH * g.KW * Cg * g.Cout;
    const int64_t xpn = p.padded ? (int64_t)g.N * p.Hx * p.Wx * g.Cin : 0;
    const float one = 1.0f, zero = 0.0f;
    if (dx) {
        Scratch wt(s, wn * (int64_t)sizeof(float));
        hwio_to_ohwi_kernel<<<grid_for(wn), kThreads, 0, s.stream>>>(w, wt.as<float>(), g.KH, g.KW, Cg, g.Cout);
        check_launch("hwio_to_ohwi_kernel");
        Scratch dxp(s, xpn * (int64_t)sizeof(float));
        run_pass(s, g, p, d, Pass::BackwardData, "cudnnConvolutionBackwardData",
                 [&](int algo, size_t* bytes) {
                     return cudnnGetConvolutionBackwardDataWorkspaceSize(
                         s.cudnn, d.w, d.y, d.conv, d.x, (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
                 },
                 [&](int algo, void* ws, size_t bytes) {
                     return cudnnConvolutionBackwardData(s.cudnn, &one, d.w, wt.as<float>(), d.y, dy, d.conv,
                                                         (cudnnConvolutionBwdDataAlgo_t)algo, ws, bytes, &zero,
                                                         d.x, p.padded ? dxp.as<float>() : dx);
                 });
        if (p.padded) {
            const int64_t xn = (int64_t)g.N * g.H * g.W * g.Cin;
            crop_kernel<<<grid_for(xn), kThreads, 0, s.stream>>>(dxp.as<float>(), dx, g.N, g.H, g.W,
                                                                 g.Cin, p.Hx, p.Wx, g.pad_top, g.pad_left);
            check_launch("crop_kernel");
        }
    }
    if (dw) {
        Scratch xp(s, xpn * (int64_t)sizeof(float));
        if (p.padded) {
            pad_kernel<<<grid_for(xpn), kThreads, 0, s.stream>>>(x, xp.as<float>(), g.N, g.H, g.W,
                                                                 g.Cin, p.Hx, p.Wx, g.pad_top, g.pad_left);
            check_launch("pad_kernel");
        }
        Scratch dwt(s, wn * (int64_t)sizeof(float));
        run_pass(s, g, p, d, Pass::BackwardFilter, "cudnnConvolutionBackwardFilter",
                 [&](int algo, size_t* bytes) {
                     return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                         s.cudnn, d.x, d.y, d.conv, d.w, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
                 },
                 [&](int algo, void* ws, size_t bytes) {
                     return cudnnConvolutionBackwardFilter(s.cudnn, &one, d.x, p.padded ? xp.as<float>() : x,
                                                           d.y, dy, d.conv, (cudnnConvolutionBwdFilterAlgo_t)algo,
                                                           ws, bytes, &zero, d.w, dwt.as<float>());
                 });
        ohwi_to_hwio_kernel<<<grid_for(wn), kThreads, 0, s.stream>>>(dwt.as<float>(), dw, g.KH, g.KW, Cg,
                                                                     g.Cout);
        check_launch("ohwi_to_hwio_kernel");
    }
}

}  // namespace

void conv2d_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                    const float* b, float* y) {
    State& s = state(ex);
    switch (choose_path(g)) {
        case Path::Pointwise:
            pointwise_forward(s, g, x, w, y);
            if (b) add_bias(s, y, b, (int64_t)g.N * g.OH * g.OW, g.Cout);
            break;
        case Path::Depthwise:
            depthwise_forward(s, g, x, w, b, y); /* bias fused */
            break;
        case Path::Cudnn:
            cudnn_forward(s, g, x, w, y);
            if (b) add_bias(s, y, b, (int64_t)g.N * g.OH * g.OW, g.Cout);
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

}  // namespace es::cuda
