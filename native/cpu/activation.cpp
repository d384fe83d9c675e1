/* activation.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void activation_forward(const Exec&, int activation, const float* x, float* y, int64_t n) {
    throw Error(ES_ERR_INTERNAL, "activation_forward is not implemented yet");
}

void activation_backward(const Exec&, int activation, const float* x, const float* dy, float* dx,
                         int64_t n) {
    throw Error(ES_ERR_INTERNAL, "activation_backward is not implemented yet");
}

}  // namespace es::cpu
