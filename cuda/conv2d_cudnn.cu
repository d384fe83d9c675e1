/*
 * conv2d_cudnn.cu — the cuDNN path of conv2d.cu: what the CPU backend runs as direct loops or
 * im2col + GEMM (native/cpu/conv2d_direct.cpp, conv2d_gemm.cpp).
 *
 * everything else (dense 3x3 stem, grouped, strided 1x1): cuDNN's legacy convolution API
 * with NHWC descriptors. cuDNN wants filters as [Cout,KH,KW,Cin/g] ("NHWC" filter
 * format), so w is transposed into scratch (and dw back). cuDNN pads symmetrically; our
 * padding may be asymmetric (TensorFlow SAME puts the odd row at the bottom/right). If
 * cuDNN's output size with padding (pad_top, pad_left) on both sides equals OH x OW, the
 * windows are identical and x is used as is; otherwise x is copied into a zero-padded
 * buffer [N, (OH-1)*sh+KH, (OW-1)*sw+KW, Cin] (rows/columns it never reads are dropped)
 * and cuDNN runs unpadded; backward-data then writes into such a buffer and a crop
 * kernel copies the interior to dx (zero where x was never read).
 * Algorithms: cudnnGetConvolution*Algorithm_v7 heuristics (no benchmarking, no host
 * sync), cached per geometry in the context; plain FP32 (CUDNN_FMA_MATH) preferred and
 * tensor-op math never taken (see pick()), deterministic algorithms preferred for the
 * backward passes. Workspace comes from the caching allocator. EFFISEG_CUDA_VERBOSE=1
 * prints each choice.
 */
#include <cstdio>
#include <cstdlib>
#include <string>

#include "conv2d_common.cuh"

namespace es::cuda {

namespace {

std::string geometry_str(const ConvGeom& g) {
    auto s = [](int v) { return std::to_string(v); };
    return "x [" + s(g.N) + "," + s(g.H) + "," + s(g.W) + "," + s(g.Cin) + "], w [" + s(g.KH) +
           "," + s(g.KW) + "," + s(g.Cin / g.groups) + "," + s(g.Cout) + "], stride " +
           s(g.stride_h) + "x" + s(g.stride_w) + ", pad top/left " + s(g.pad_top) + "/" +
           s(g.pad_left) + ", groups " + s(g.groups) + ", y [" + s(g.N) + "," + s(g.OH) + "," +
           s(g.OW) + "," + s(g.Cout) + "]";
}

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

}  // namespace

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

}  // namespace es::cuda
