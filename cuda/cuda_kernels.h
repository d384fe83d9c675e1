/*
 * cuda_kernels.h — the CUDA kernels, one file per layer family in cuda/, with the same file
 * names as native/cpu/ and the signatures of es::KernelTable (native/src/kernels.h), so the
 * two backends can be read side by side. backend.cu assembles the table.
 *
 * Every launcher trusts its arguments (the C ABI layer checked them), enqueues its work on
 * the context's stream (state.h) and checks the launch; none waits for the GPU except
 * download (a tensor read). Status: compiled and linked, not yet run on a GPU (docs/cuda.md).
 */
#ifndef EFFISEG_CUDA_KERNELS_H
#define EFFISEG_CUDA_KERNELS_H

#include "kernels.h"

namespace es::cuda {
#include "kernel_functions.inc"

/* CUDA only (memory.cu): the allocator's accounting for es_context_memory */
void memory_stats(const Exec&, int64_t stats[4]);
void reset_peak_memory(const Exec&);
}  // namespace es::cuda

#endif
