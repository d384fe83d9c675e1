/* seg_loss.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void seg_loss(const Exec&, const LossGeom&, const LossWeights&, const float* logits,
              const float* target, float* terms, float* dlogits) {
    throw Error(ES_ERR_INTERNAL, "seg_loss is not implemented yet");
}

}  // namespace es::cpu
