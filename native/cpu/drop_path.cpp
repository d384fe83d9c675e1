/* drop_path.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void drop_path_forward(const Exec&, int N, int64_t per_sample, const float* x, float* y,
                       float rate, uint64_t seed) {
    throw Error(ES_ERR_INTERNAL, "drop_path_forward is not implemented yet");
}

void drop_path_backward(const Exec&, int N, int64_t per_sample, const float* dy, float* dx,
                        float rate, uint64_t seed) {
    throw Error(ES_ERR_INTERNAL, "drop_path_backward is not implemented yet");
}

}  // namespace es::cpu
