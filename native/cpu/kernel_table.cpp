/*
 * kernel_table.cpp — this instruction-set path's kernel table. Like every file of native/cpu/
 * but backend.cpp, it is compiled once per path (ES_CPU_ISA); backend.cpp calls the one the CPU
 * runs, and only then.
 */
#include "cpu_kernels.h"

namespace es::cpu::ES_CPU_ISA {

KernelTable kernel_table() {
    KernelTable filled{};
#include "kernel_table_fill.inc"
    filled.measure_peaks = measure_peaks;
    return filled;
}

}  // namespace es::cpu::ES_CPU_ISA
