/*
 * fake_cudnn.cpp (CUDA emulator, tests only) — the legacy convolution API subset cuda/conv2d_cudnn.cu
 * calls, declared by NVIDIA's cudnn.h and implemented here by its documented semantics, so
 * conv2d_cudnn.cu's descriptor setup, padded buffers, weight transposes and algorithm handling are
 * checked against the CPU backend:
 *  - 4-d tensor descriptors (NCHW or NHWC, packed) and filter descriptors (NCHW = KCRS,
 *    NHWC = KRSC), 2-d convolution descriptors (symmetric padding, strides, dilation,
 *    CUDNN_CONVOLUTION flips the filter, CUDNN_CROSS_CORRELATION does not), group count;
 *  - the output size rule 1 + (in + 2 pad - ((k - 1) dilation + 1)) / stride;
 *  - forward, backward data and backward filter as direct loops over every (output position,
 *    filter tap) pair, summed in double, then y = alpha * result + beta * y (beta == 0: y is
 *    output only). Shapes that do not fit together are CUDNN_STATUS_BAD_PARAM, as in cuDNN.
 *  - The *_v7 heuristics return a short fixed ranked list per pass, written to exercise the
 *    choice in conv2d_cudnn.cu's pick(): an entry with CUDNN_DEFAULT_MATH ranked above the FMA
 *    ones, non-deterministic entries ranked above deterministic ones for the backward passes,
 *    and (forward) an FFT entry that reports success in the ranking but that the convolution
 *    call then refuses with CUDNN_STATUS_NOT_SUPPORTED, as real cuDNN does for geometries
 *    its FFT kernels cannot do — so conv2d_cudnn.cu's strike-off-and-retry path runs too. Every
 *    algorithm computes the same direct loops. Workspace sizes are small but nonzero; the
 *    call checks it got at least that much device memory and scribbles NaN over it.
 * Data outside device memory fails with CUDNN_STATUS_EXECUTION_FAILED (a GPU would fault);
 * cudnnGetLastErrorString gives the reason.
 */
#include <cudnn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "emu_internal.h"

struct cudnnContext {
    cudaStream_t stream = nullptr;
};

struct cudnnTensorStruct {
    bool set = false;
    int n = 0, c = 0, h = 0, w = 0;
    int64_t sn = 0, sc = 0, sh = 0, sw = 0; /* strides in elements */
};

struct cudnnFilterStruct {
    bool set = false;
    int k = 0, c = 0, r = 0, s = 0;
    int64_t sk = 0, sc = 0, sr = 0, ss = 0;
};

struct cudnnConvolutionStruct {
    bool set = false;
    int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1;
    cudnnConvolutionMode_t mode = CUDNN_CONVOLUTION;
    int groups = 1;
    cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace {

thread_local std::string last_message;

cudnnStatus_t fail(cudnnStatus_t status, const std::string& why) {
    last_message = "CUDA emulator (fake cuDNN): " + why;
    return status;
}

/* Output extent of one dimension, or -1 if the dilated filter does not fit. */
int out_dim(int in, int pad, int k, int dil, int stride) {
    const int span = (k - 1) * dil + 1;
    return in + 2 * pad >= span ? 1 + (in + 2 * pad - span) / stride : -1;
}

/* The checks every convolution call makes: descriptors set, channels and groups consistent,
 * y the output shape of x, w and conv. */
cudnnStatus_t check_shapes(const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                           const cudnnConvolutionStruct* conv, const cudnnTensorStruct* y) {
    if (!x || !w || !conv || !y || !x->set || !w->set || !conv->set || !y->set)
        return fail(CUDNN_STATUS_BAD_PARAM, "a descriptor is null or was never set");
    if (x->c != w->c * conv->groups || w->k % conv->groups != 0)
        return fail(CUDNN_STATUS_BAD_PARAM, "x has " + std::to_string(x->c) + " channels, the filter " +
                                                std::to_string(w->c) + " per group of " +
                                                std::to_string(conv->groups) + " and " +
                                                std::to_string(w->k) + " outputs");
    const int oh = out_dim(x->h, conv->pad_h, w->r, conv->dil_h, conv->u);
    const int ow = out_dim(x->w, conv->pad_w, w->s, conv->dil_w, conv->v);
    if (y->n != x->n || y->c != w->k || y->h != oh || y->w != ow)
        return fail(CUDNN_STATUS_BAD_PARAM,
                    "y is [" + std::to_string(y->n) + "," + std::to_string(y->c) + "," +
                        std::to_string(y->h) + "," + std::to_string(y->w) + "] (NCHW), the convolution gives [" +
                        std::to_string(x->n) + "," + std::to_string(w->k) + "," + std::to_string(oh) +
                        "," + std::to_string(ow) + "]");
    return CUDNN_STATUS_SUCCESS;
}

int64_t tensor_elems(const cudnnTensorStruct* t) {
    return (int64_t)(t->n - 1) * t->sn + (int64_t)(t->c - 1) * t->sc + (int64_t)(t->h - 1) * t->sh +
           (int64_t)(t->w - 1) * t->sw + 1;
}

int64_t filter_elems(const cudnnFilterStruct* f) { return (int64_t)f->k * f->c * f->r * f->s; }

bool device_floats(const void* p, int64_t n) {
    return es_emu::is_device_range(p, (size_t)n * sizeof(float));
}

/* Calls tap(x_index, w_index, y_index) for every product the convolution sums. */
template <class Tap>
void for_each_tap(const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                  const cudnnConvolutionStruct* conv, const cudnnTensorStruct* y, Tap tap) {
    const int k_per_group = w->k / conv->groups;
    for (int n = 0; n < y->n; n++)
        for (int k = 0; k < y->c; k++) {
            const int group = k / k_per_group;
            for (int oh = 0; oh < y->h; oh++)
                for (int ow = 0; ow < y->w; ow++) {
                    const int64_t yi = n * y->sn + k * y->sc + oh * y->sh + ow * y->sw;
                    for (int r = 0; r < w->r; r++) {
                        const int ih = oh * conv->u - conv->pad_h + r * conv->dil_h;
                        if (ih < 0 || ih >= x->h) continue;
                        const int fr = conv->mode == CUDNN_CONVOLUTION ? w->r - 1 - r : r;
                        for (int s = 0; s < w->s; s++) {
                            const int iw = ow * conv->v - conv->pad_w + s * conv->dil_w;
                            if (iw < 0 || iw >= x->w) continue;
                            const int fs = conv->mode == CUDNN_CONVOLUTION ? w->s - 1 - s : s;
                            for (int c = 0; c < w->c; c++) {
                                const int64_t xi = n * x->sn + (int64_t)(group * w->c + c) * x->sc +
                                                   ih * x->sh + iw * x->sw;
                                const int64_t wi = k * w->sk + c * w->sc + fr * w->sr + fs * w->ss;
                                tap(xi, wi, yi);
                            }
                        }
                    }
                }
        }
}

/* out[i] = alpha * acc[i] + beta * out[i] for every element (beta == 0: out is not read). */
void blend(float* out, const std::vector<double>& acc, const void* alpha, const void* beta) {
    const double a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
    for (size_t i = 0; i < acc.size(); i++)
        out[i] = (float)(a * acc[i] + (b == 0.0 ? 0.0 : b * (double)out[i]));
}

/* Workspace each algorithm asks for: small, nonzero for all but the first. */
size_t workspace_for(int algo) { return algo == 0 ? 0 : (size_t)algo * 4096; }

cudnnStatus_t check_workspace(int algo, void* ws, size_t bytes) {
    const size_t need = workspace_for(algo);
    if (bytes < need) return fail(CUDNN_STATUS_BAD_PARAM, "workspace of " + std::to_string(bytes) +
                                                                " bytes, algorithm needs " + std::to_string(need));
    if (need > 0) {
        if (!es_emu::is_device_range(ws, need))
            return fail(CUDNN_STATUS_EXECUTION_FAILED, "the workspace is not device memory");
        std::memset(ws, 0xFF, need);
    }
    return CUDNN_STATUS_SUCCESS;
}

template <class Perf, class Algo>
void entry(Perf* perf, int& count, int requested, Algo algo, cudnnMathType_t math,
           cudnnDeterminism_t det) {
    if (count >= requested) return;
    Perf& p = perf[count++];
    p = Perf{};
    p.algo = algo;
    p.status = CUDNN_STATUS_SUCCESS;
    p.time = -1.0f; /* heuristics, not measured */
    p.memory = workspace_for((int)algo);
    p.determinism = det;
    p.mathType = math;
}

}  // namespace

/* ---- handles, versions, errors ---------------------------------------------------------- */

size_t cudnnGetVersion() { return CUDNN_VERSION; }

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
    *handle = new cudnnContext();
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
    delete handle;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
    if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "null handle");
    if (!es_emu::is_live_stream(stream)) return fail(CUDNN_STATUS_BAD_PARAM, "not a live stream");
    handle->stream = stream;
    return CUDNN_STATUS_SUCCESS;
}

const char* cudnnGetErrorString(cudnnStatus_t status) {
    switch (status) {
        case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
        case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
        case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
        case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
        default: return "CUDNN_STATUS_UNKNOWN (not produced by the emulator)";
    }
}

void cudnnGetLastErrorString(char* message, size_t max_size) {
    if (max_size == 0) return;
    std::snprintf(message, max_size, "%s", last_message.c_str());
    last_message.clear();
}

/* ---- descriptors ------------------------------------------------------------------------- */

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
    *d = new cudnnTensorStruct();
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                         cudnnDataType_t type, int n, int c, int h, int w) {
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
        return fail(CUDNN_STATUS_BAD_PARAM, "tensor dimensions must be positive");
    if (type != CUDNN_DATA_FLOAT) return fail(CUDNN_STATUS_NOT_SUPPORTED, "only CUDNN_DATA_FLOAT is emulated");
    if (format == CUDNN_TENSOR_NCHW)
        *d = {true, n, c, h, w, (int64_t)c * h * w, (int64_t)h * w, w, 1};
    else if (format == CUDNN_TENSOR_NHWC)
        *d = {true, n, c, h, w, (int64_t)h * w * c, 1, (int64_t)w * c, c};
    else
        return fail(CUDNN_STATUS_NOT_SUPPORTED, "only NCHW and NHWC tensors are emulated");
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
    *d = new cudnnFilterStruct();
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
    if (k <= 0 || c <= 0 || h <= 0 || w <= 0)
        return fail(CUDNN_STATUS_BAD_PARAM, "filter dimensions must be positive");
    if (type != CUDNN_DATA_FLOAT) return fail(CUDNN_STATUS_NOT_SUPPORTED, "only CUDNN_DATA_FLOAT is emulated");
    if (format == CUDNN_TENSOR_NCHW) /* KCRS */
        *d = {true, k, c, h, w, (int64_t)c * h * w, (int64_t)h * w, w, 1};
    else if (format == CUDNN_TENSOR_NHWC) /* KRSC */
        *d = {true, k, c, h, w, (int64_t)h * w * c, 1, (int64_t)w * c, c};
    else
        return fail(CUDNN_STATUS_NOT_SUPPORTED, "only NCHW and NHWC filters are emulated");
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
    *d = new cudnnConvolutionStruct();
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w,
                                              int u, int v, int dil_h, int dil_w,
                                              cudnnConvolutionMode_t mode, cudnnDataType_t compute) {
    if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dil_h <= 0 || dil_w <= 0 ||
        (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION))
        return fail(CUDNN_STATUS_BAD_PARAM, "bad padding, stride, dilation or mode");
    if (compute != CUDNN_DATA_FLOAT) return fail(CUDNN_STATUS_NOT_SUPPORTED, "only FLOAT compute is emulated");
    d->set = true;
    d->pad_h = pad_h, d->pad_w = pad_w, d->u = u, d->v = v, d->dil_h = dil_h, d->dil_w = dil_w;
    d->mode = mode;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups) {
    if (groups <= 0) return fail(CUDNN_STATUS_BAD_PARAM, "group count must be positive");
    d->groups = groups;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
    d->math = math;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t conv,
                                                    const cudnnTensorDescriptor_t x,
                                                    const cudnnFilterDescriptor_t w, int* n, int* c,
                                                    int* h, int* wd) {
    if (!conv->set || !x->set || !w->set) return fail(CUDNN_STATUS_BAD_PARAM, "a descriptor was never set");
    if (x->c != w->c * conv->groups) return fail(CUDNN_STATUS_BAD_PARAM, "channels do not match the filter");
    const int oh = out_dim(x->h, conv->pad_h, w->r, conv->dil_h, conv->u);
    const int ow = out_dim(x->w, conv->pad_w, w->s, conv->dil_w, conv->v);
    if (oh <= 0 || ow <= 0) return fail(CUDNN_STATUS_BAD_PARAM, "the filter is larger than the padded input");
    *n = x->n, *c = w->k, *h = oh, *wd = ow;
    return CUDNN_STATUS_SUCCESS;
}

/* ---- algorithm heuristics and workspace ----------------------------------------------------- */

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                     const cudnnFilterDescriptor_t w,
                                                     const cudnnConvolutionDescriptor_t conv,
                                                     const cudnnTensorDescriptor_t y, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
    if (const cudnnStatus_t st = check_shapes(x, w, conv, y); st != CUDNN_STATUS_SUCCESS) return st;
    int n = 0;
    entry(perf, n, requested, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_DEFAULT_MATH, CUDNN_DETERMINISTIC);
    entry(perf, n, requested, CUDNN_CONVOLUTION_FWD_ALGO_FFT, CUDNN_FMA_MATH, CUDNN_DETERMINISTIC);
    entry(perf, n, requested, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_FMA_MATH, CUDNN_DETERMINISTIC);
    *returned = n;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, const cudnnFilterDescriptor_t w,
                                                          const cudnnTensorDescriptor_t dy,
                                                          const cudnnConvolutionDescriptor_t conv,
                                                          const cudnnTensorDescriptor_t dx, const int requested,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
    if (const cudnnStatus_t st = check_shapes(dx, w, conv, dy); st != CUDNN_STATUS_SUCCESS) return st;
    int n = 0;
    entry(perf, n, requested, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_FMA_MATH, CUDNN_NON_DETERMINISTIC);
    entry(perf, n, requested, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_DEFAULT_MATH, CUDNN_DETERMINISTIC);
    entry(perf, n, requested, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_FMA_MATH, CUDNN_DETERMINISTIC);
    *returned = n;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                            const cudnnTensorDescriptor_t dy,
                                                            const cudnnConvolutionDescriptor_t conv,
                                                            const cudnnFilterDescriptor_t dw, const int requested,
                                                            int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
    if (const cudnnStatus_t st = check_shapes(x, dw, conv, dy); st != CUDNN_STATUS_SUCCESS) return st;
    int n = 0;
    entry(perf, n, requested, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_FMA_MATH, CUDNN_NON_DETERMINISTIC);
    entry(perf, n, requested, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_DEFAULT_MATH, CUDNN_DETERMINISTIC);
    entry(perf, n, requested, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_FMA_MATH, CUDNN_DETERMINISTIC);
    *returned = n;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t w,
                                                      const cudnnConvolutionDescriptor_t conv,
                                                      const cudnnTensorDescriptor_t y,
                                                      cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
    if (const cudnnStatus_t st = check_shapes(x, w, conv, y); st != CUDNN_STATUS_SUCCESS) return st;
    *bytes = workspace_for(algo);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t, const cudnnFilterDescriptor_t w,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t conv,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
    if (const cudnnStatus_t st = check_shapes(dx, w, conv, dy); st != CUDNN_STATUS_SUCCESS) return st;
    *bytes = workspace_for(algo);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                             const cudnnTensorDescriptor_t dy,
                                                             const cudnnConvolutionDescriptor_t conv,
                                                             const cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
    if (const cudnnStatus_t st = check_shapes(x, dw, conv, dy); st != CUDNN_STATUS_SUCCESS) return st;
    *bytes = workspace_for(algo);
    return CUDNN_STATUS_SUCCESS;
}

/* ---- the convolutions --------------------------------------------------------------------- */

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xd,
                                      const void* x, const cudnnFilterDescriptor_t wd, const void* w,
                                      const cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t algo,
                                      void* ws, size_t ws_bytes, const void* beta,
                                      const cudnnTensorDescriptor_t yd, void* y) {
    if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "null handle");
    if (const cudnnStatus_t st = check_shapes(xd, wd, conv, yd); st != CUDNN_STATUS_SUCCESS) return st;
    if (algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT)
        return fail(CUDNN_STATUS_NOT_SUPPORTED, "FFT refused (by design, see fake_cudnn.cpp)");
    if (const cudnnStatus_t st = check_workspace(algo, ws, ws_bytes); st != CUDNN_STATUS_SUCCESS) return st;
    if (!device_floats(x, tensor_elems(xd)) || !device_floats(w, filter_elems(wd)) ||
        !device_floats(y, tensor_elems(yd)))
        return fail(CUDNN_STATUS_EXECUTION_FAILED, "x, w or y is not device memory of its descriptor's size");
    const float* xf = static_cast<const float*>(x);
    const float* wf = static_cast<const float*>(w);
    std::vector<double> acc(tensor_elems(yd), 0.0);
    for_each_tap(xd, wd, conv, yd, [&](int64_t xi, int64_t wi, int64_t yi) {
        acc[yi] += (double)xf[xi] * (double)wf[wi];
    });
    blend(static_cast<float*>(y), acc, alpha, beta);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha, const cudnnFilterDescriptor_t wd,
                                           const void* w, const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdDataAlgo_t algo,
                                           void* ws, size_t ws_bytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxd, void* dx) {
    if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "null handle");
    if (const cudnnStatus_t st = check_shapes(dxd, wd, conv, dyd); st != CUDNN_STATUS_SUCCESS) return st;
    if (const cudnnStatus_t st = check_workspace(algo, ws, ws_bytes); st != CUDNN_STATUS_SUCCESS) return st;
    if (!device_floats(dy, tensor_elems(dyd)) || !device_floats(w, filter_elems(wd)) ||
        !device_floats(dx, tensor_elems(dxd)))
        return fail(CUDNN_STATUS_EXECUTION_FAILED, "dy, w or dx is not device memory of its descriptor's size");
    const float* dyf = static_cast<const float*>(dy);
    const float* wf = static_cast<const float*>(w);
    std::vector<double> acc(tensor_elems(dxd), 0.0);
    for_each_tap(dxd, wd, conv, dyd, [&](int64_t xi, int64_t wi, int64_t yi) {
        acc[xi] += (double)dyf[yi] * (double)wf[wi];
    });
    blend(static_cast<float*>(dx), acc, alpha, beta);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xd,
                                             const void* x, const cudnnTensorDescriptor_t dyd, const void* dy,
                                             const cudnnConvolutionDescriptor_t conv,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t ws_bytes,
                                             const void* beta, const cudnnFilterDescriptor_t dwd, void* dw) {
    if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "null handle");
    if (const cudnnStatus_t st = check_shapes(xd, dwd, conv, dyd); st != CUDNN_STATUS_SUCCESS) return st;
    if (const cudnnStatus_t st = check_workspace(algo, ws, ws_bytes); st != CUDNN_STATUS_SUCCESS) return st;
    if (!device_floats(x, tensor_elems(xd)) || !device_floats(dy, tensor_elems(dyd)) ||
        !device_floats(dw, filter_elems(dwd)))
        return fail(CUDNN_STATUS_EXECUTION_FAILED, "x, dy or dw is not device memory of its descriptor's size");
    const float* xf = static_cast<const float*>(x);
    const float* dyf = static_cast<const float*>(dy);
    std::vector<double> acc(filter_elems(dwd), 0.0);
    for_each_tap(xd, dwd, conv, dyd, [&](int64_t xi, int64_t wi, int64_t yi) {
        acc[wi] += (double)dyf[yi] * (double)xf[xi];
    });
    blend(static_cast<float*>(dw), acc, alpha, beta);
    return CUDNN_STATUS_SUCCESS;
}
