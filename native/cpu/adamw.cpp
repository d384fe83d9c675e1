/* adamw.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void adamw_step(const Exec&, const AdamW&, float* params, const float* grads, float* exp_avg,
                float* exp_avg_sq, int64_t n) {
    throw Error(ES_ERR_INTERNAL, "adamw_step is not implemented yet");
}

}  // namespace es::cpu
