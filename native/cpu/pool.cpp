/* pool.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void global_avg_pool_forward(const Exec&, const PoolGeom&, const float* x, float* y) {
    throw Error(ES_ERR_INTERNAL, "global_avg_pool_forward is not implemented yet");
}

void global_avg_pool_backward(const Exec&, const PoolGeom&, const float* dy, float* dx) {
    throw Error(ES_ERR_INTERNAL, "global_avg_pool_backward is not implemented yet");
}

void channel_scale_forward(const Exec&, const PoolGeom&, const float* x, const float* s, float* y) {
    throw Error(ES_ERR_INTERNAL, "channel_scale_forward is not implemented yet");
}

void channel_scale_backward(const Exec&, const PoolGeom&, const float* x, const float* s,
                            const float* dy, float* dx, float* ds) {
    throw Error(ES_ERR_INTERNAL, "channel_scale_backward is not implemented yet");
}

}  // namespace es::cpu
