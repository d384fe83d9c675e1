/*
 * conv2d_common.cuh — what the convolution paths of cuda/ share: the EFFISEG_CUDA_CONV switch and
 * the path functions conv2d.cu dispatches to (conv2d_gemm.cu, conv2d_depthwise.cu,
 * conv2d_cudnn.cu), as native/cpu/conv2d_common.h does for the CPU backend.
 */
#ifndef EFFISEG_CUDA_CONV2D_COMMON_CUH
#define EFFISEG_CUDA_CONV2D_COMMON_CUH

#include <cstdlib>
#include <cstring>

#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

/* EFFISEG_CUDA_CONV, read on every call (a getenv is cheap next to a launch) so a benchmark
 * can switch it: "cudnn" sends every convolution through cuDNN, "simple" keeps the depthwise
 * convolutions on the one-element-per-thread kernels (no vectorised ones) and their filter
 * gradient on the generic column sums, one (tap, channel) column per thread. */
inline bool conv_env_is(const char* value) {
    const char* v = std::getenv("EFFISEG_CUDA_CONV");
    return v && std::strcmp(v, value) == 0;
}

/* conv2d_gemm.cu */
void pointwise_forward(State& s, const ConvGeom& g, const float* x, const float* w, float* y);
void pointwise_backward(State& s, const ConvGeom& g, const float* x, const float* w,
                        const float* dy, float* dx, float* dw);

/* conv2d_depthwise.cu (bias fused in forward) */
void depthwise_forward(State& s, const ConvGeom& g, const float* x, const float* w, const float* b,
                       float* y);
void depthwise_backward(State& s, const ConvGeom& g, const float* x, const float* w,
                        const float* dy, float* dx, float* dw);

/* conv2d_cudnn.cu */
void cudnn_forward(State& s, const ConvGeom& g, const float* x, const float* w, float* y);
void cudnn_backward(State& s, const ConvGeom& g, const float* x, const float* w, const float* dy,
                    float* dx, float* dw);

}  // namespace es::cuda

#endif
