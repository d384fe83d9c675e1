/* memory.cpp — CPU storage (64-byte aligned, zero-filled) and the elementwise ops. */
#include <cstdlib>
#include <cstring>

#include "cpu_kernels.h"
#include "error.h"

namespace es::cpu::ES_CPU_ISA {

void* alloc(const Exec&, int64_t bytes) {
    size_t size = (size_t)((bytes + 63) / 64 * 64);
    if (size == 0) size = 64;
    void* p = std::aligned_alloc(64, size);
    if (!p) throw Error(ES_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes");
    std::memset(p, 0, size);
    return p;
}

void release(const Exec&, void* ptr) { std::free(ptr); }

void upload(const Exec&, float* dst, const float* src, int64_t n) {
    std::memcpy(dst, src, (size_t)n * sizeof(float));
}

void download(const Exec&, float* dst, const float* src, int64_t n) {
    std::memcpy(dst, src, (size_t)n * sizeof(float));
}

void fill(const Exec& ex, float* dst, float value, int64_t n) {
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) dst[i] = value;
}

void copy(const Exec&, float* dst, const float* src, int64_t n) {
    if (dst != src) std::memmove(dst, src, (size_t)n * sizeof(float));
}

void add(const Exec& ex, const float* a, const float* b, float* y, int64_t n) {
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void axpby(const Exec& ex, float alpha, const float* x, float beta, float* y, int64_t n) {
    if (beta == 0.0f) {
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i];
    } else {
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i] + beta * y[i];
    }
}

}  // namespace es::cpu::ES_CPU_ISA
