/*
 * cpu_kernels.h — the CPU reference kernels, one file per layer family in native/cpu/
 * (cuda/ has the same file names). Each family's forward and backward sit side by side.
 * Signatures are those of es::KernelTable (native/src/kernels.h); kernel_table.cpp assembles
 * the table.
 *
 * Every file that includes this is compiled once per instruction-set path (CMakeLists.txt),
 * with ES_CPU_ISA naming the path (portable, avx2, avx512) and its namespace; backend.cpp picks
 * the path at run time.
 */
#ifndef EFFISEG_CPU_KERNELS_H
#define EFFISEG_CPU_KERNELS_H

#ifndef ES_CPU_ISA
#error "native/cpu/ kernels are compiled once per instruction-set path: CMake defines ES_CPU_ISA"
#endif

#include "kernels.h"

namespace es::cpu::ES_CPU_ISA {
#include "kernel_functions.inc"

/* CPU only (peaks.cpp): KernelTable::measure_peaks */
void measure_peaks(const Exec&, double* flops_per_s, double* bytes_per_s);
}  // namespace es::cpu::ES_CPU_ISA

#endif
