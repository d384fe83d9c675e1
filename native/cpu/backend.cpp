/* backend.cpp — assembles the CPU kernel table from the per-family files. */
#include <omp.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "cpu_kernels.h"

namespace es {

namespace cpu {
namespace {
int device_count() { return 1; }

/* "AMD EPYC 9B14, 2 cores (OpenMP), x86-64-v3 build" from /proc/cpuinfo where it exists */
void describe_device(int, char* buf, int size) {
    std::string model = "unknown processor";
    std::ifstream info("/proc/cpuinfo");
    for (std::string line; std::getline(info, line);) {
        if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
            model = line.substr(line.find(':') + 1);
            model.erase(0, model.find_first_not_of(" \t"));
            break;
        }
    }
    std::snprintf(buf, (size_t)size, "%s, %d cores", model.c_str(), omp_get_num_procs());
}

KernelTable make_table() {
    KernelTable filled{};
    filled.name = "cpu";
    filled.device_count = device_count;
    filled.describe_device = describe_device;
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
