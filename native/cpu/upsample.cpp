/* upsample.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void upsample_nearest_forward(const Exec&, const UpsampleGeom&, const float* x, float* y,
                              int accumulate) {
    throw Error(ES_ERR_INTERNAL, "upsample_nearest_forward is not implemented yet");
}

void upsample_nearest_backward(const Exec&, const UpsampleGeom&, const float* dy, float* dx) {
    throw Error(ES_ERR_INTERNAL, "upsample_nearest_backward is not implemented yet");
}

}  // namespace es::cpu
