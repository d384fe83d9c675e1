/* conv2d.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void conv2d_forward(const Exec&, const ConvGeom&, const float* x, const float* w, const float* b,
                    float* y) {
    throw Error(ES_ERR_INTERNAL, "conv2d_forward is not implemented yet");
}

void conv2d_backward(const Exec&, const ConvGeom&, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
    throw Error(ES_ERR_INTERNAL, "conv2d_backward is not implemented yet");
}

}  // namespace es::cpu
