/* emu_internal.h (CUDA emulator, tests only) — what the fake cuBLAS and cuDNN share with the
 * emulated runtime (emu_runtime.cpp). */
#ifndef EFFISEG_CUDA_EMU_INTERNAL_H
#define EFFISEG_CUDA_EMU_INTERNAL_H

#include <cuda_runtime.h>

#include <cstddef>

namespace es_emu {

/* Whether [p, p + bytes) lies inside one live cudaMalloc block. */
bool is_device_range(const void* p, size_t bytes);
/* Whether s is the default stream or a created, not yet destroyed, one. */
bool is_live_stream(cudaStream_t s);

}  // namespace es_emu

#endif
