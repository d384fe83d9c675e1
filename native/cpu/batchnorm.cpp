/* batchnorm.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void batchnorm_forward(const Exec&, const BnGeom&, const float* x, const float* gamma,
                       const float* beta, float* running_mean, float* running_var, float* y,
                       float* save_mean, float* save_invstd, int training, float momentum,
                       float eps, int activation) {
    throw Error(ES_ERR_INTERNAL, "batchnorm_forward is not implemented yet");
}

void batchnorm_backward(const Exec&, const BnGeom&, const float* x, const float* gamma,
                        const float* beta, const float* dy, const float* save_mean,
                        const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                        int training, int activation) {
    throw Error(ES_ERR_INTERNAL, "batchnorm_backward is not implemented yet");
}

}  // namespace es::cpu
