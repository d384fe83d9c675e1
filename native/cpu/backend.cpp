/* backend.cpp — assembles the CPU kernel table from the per-family files. */
#include "cpu_kernels.h"

namespace es {

namespace cpu {
namespace {
KernelTable make_table() {
    KernelTable filled{};
    filled.name = "cpu";
#include "kernel_table_fill.inc"
    return filled;
}
}  // namespace
}  // namespace cpu

const KernelTable& cpu_kernels() {
    static const KernelTable table = cpu::make_table();
    return table;
}

}  // namespace es
