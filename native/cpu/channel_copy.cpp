/* channel_copy.cpp — PLACEHOLDER until the kernels land: every function reports "not implemented". */
#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu {

void channel_copy(const Exec&, const ChannelCopyGeom&, const float* x, float* y, int accumulate) {
    throw Error(ES_ERR_INTERNAL, "channel_copy is not implemented yet");
}

}  // namespace es::cpu
