/*
 * backend.cpp — the CPU backend's kernel table: the instruction-set path this CPU runs.
 *
 * Every other file of native/cpu/ is compiled once per path (CMakeLists.txt), into the
 * namespace es::cpu::<path>: portable (the architecture's baseline: SSE2 on x86-64), avx2
 * (x86-64-v3: AVX2, FMA, BMI2) and avx512 (x86-64-v4: AVX-512 F/BW/CD/DQ/VL). This file is
 * compiled for the baseline and is the only place that chooses: on first use it asks CPUID
 * for the machine's x86-64 level and takes the fastest path the CPU can run, so nothing built
 * for AVX runs unless the CPU has it — no static initialiser either (scripts/check-isa-code.sh
 * checks the build for both). Environment:
 *   EFFISEG_CPU_ISA=portable|avx2|avx512  run that path (tests, benchmarks); one the CPU cannot
 *                                         run leaves the CPU backend unavailable, saying why.
 *   EFFISEG_CPUID_LEVEL=1|3|4              tests: act as if CPUID reported at most x86-64-vN
 *                                         (it can only lower the real level).
 */
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "kernels.h"

extern "C" char* openblas_get_corename(void); /* OpenBLAS's cblas.h; libeffiseg links OpenBLAS */

namespace es {

namespace cpu {
/* kernel_table.cpp, once per path */
namespace portable { KernelTable kernel_table(); }
#if EFFISEG_CPU_HAS_AVX2
namespace avx2 { KernelTable kernel_table(); }
#endif
#if EFFISEG_CPU_HAS_AVX512
namespace avx512 { KernelTable kernel_table(); }
#endif

namespace {

struct IsaPath {
    const char* name;
    int level; /* the x86-64 micro-architecture level it needs (1 = baseline) */
    const char* needs;
    KernelTable (*table)();
};

/* Slowest first. */
constexpr IsaPath kPaths[] = {
    {"portable", 1, "nothing beyond the baseline", portable::kernel_table},
#if EFFISEG_CPU_HAS_AVX2
    {"avx2", 3, "an x86-64-v3 CPU (AVX2, FMA, BMI2)", avx2::kernel_table},
#endif
#if EFFISEG_CPU_HAS_AVX512
    {"avx512", 4, "an x86-64-v4 CPU (AVX-512 F, BW, CD, DQ, VL)", avx512::kernel_table},
#endif
};

/* The x86-64 level CPUID reports (the OS's support for the vector state included), at most
 * EFFISEG_CPUID_LEVEL. */
int cpu_level() {
    int level = 1;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v3")) level = 3;
    if (__builtin_cpu_supports("x86-64-v4")) level = 4;
#endif
    if (const char* cap = std::getenv("EFFISEG_CPUID_LEVEL"); cap && cap[0]) {
        const int limit = std::atoi(cap);
        if (limit >= 1 && limit < level) level = limit;
    }
    return level;
}

struct Choice {
    const IsaPath* path = nullptr; /* null: EFFISEG_CPU_ISA names a path this CPU cannot run */
    std::string runnable;          /* "portable, avx2" */
    std::string reason;
};

Choice choose() {
    Choice c;
    const int level = cpu_level();
    const IsaPath* best = &kPaths[0];
    for (const IsaPath& p : kPaths) {
        if (p.level > level) continue;
        c.runnable += (c.runnable.empty() ? "" : ", ") + std::string(p.name);
        best = &p;
    }
    const char* forced = std::getenv("EFFISEG_CPU_ISA");
    if (!forced || !forced[0]) {
        c.path = best;
        return c;
    }
    std::string names;
    for (const IsaPath& p : kPaths) {
        names += (names.empty() ? "" : ", ") + std::string(p.name);
        if (std::strcmp(p.name, forced) != 0) continue;
        if (p.level <= level)
            c.path = &p;
        else
            c.reason = std::string("EFFISEG_CPU_ISA=") + forced + " needs " + p.needs +
                       "; this CPU runs " + c.runnable;
        return c;
    }
    c.reason = std::string("EFFISEG_CPU_ISA=") + forced + " is not one of this build's paths (" +
               names + ")";
    return c;
}

const Choice& choice() {
    static const Choice c = choose();
    return c;
}

int device_count() { return 1; }

/* "AMD EPYC 9B14, 2 cores, OpenBLAS Haswell sgemm, avx2 kernels (this CPU runs portable, avx2)":
 * OpenBLAS picks its own kernels by CPUID unless OPENBLAS_CORETYPE names them, and they run
 * every GEMM path (conv2d_gemm.cpp), so they belong to what a timing or a result ran on. */
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
    const Choice& c = choice();
    const char* blas = openblas_get_corename();
    std::snprintf(buf, (size_t)size, "%s, %d cores, OpenBLAS %s sgemm, %s kernels (this CPU runs %s)",
                  model.c_str(), omp_get_num_procs(), blas ? blas : "unknown",
                  c.path ? c.path->name : "no", c.runnable.c_str());
}

}  // namespace
}  // namespace cpu

const KernelTable* cpu_kernels(std::string& reason) {
    static const KernelTable table = [] {
        const cpu::Choice& c = cpu::choice();
        KernelTable t = c.path ? c.path->table() : KernelTable{};
        t.name = "cpu";
        t.device_count = cpu::device_count;
        t.describe_device = cpu::describe_device;
        return t;
    }();
    reason = cpu::choice().reason;
    return cpu::choice().path ? &table : nullptr;
}

}  // namespace es
