/*
 * cpu_kernels.h — the CPU reference kernels, one file per layer family in native/cpu/
 * (cuda/ has the same file names). Each family's forward and backward sit side by side.
 * Signatures are those of es::KernelTable (native/src/kernels.h); backend.cpp assembles
 * the table.
 */
#ifndef EFFISEG_CPU_KERNELS_H
#define EFFISEG_CPU_KERNELS_H

#include "kernels.h"

namespace es::cpu {
#include "kernel_functions.inc"
}  // namespace es::cpu

#endif
