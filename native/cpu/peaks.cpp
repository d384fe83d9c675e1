/*
 * peaks.cpp — what this machine can do at most on this kernel path, measured: the
 * floating-point peak (an FMA loop: independent chains of multiply-adds in registers, as wide as
 * the path's vectors) and the memory bandwidth (a STREAM triad a[i] = b[i] + s*c[i] over arrays
 * far larger than the caches), each with the context's threads, best of a few repeats. The
 * profile's GFLOP/s and GB/s are reported as shares of these (es_context_measure_peaks).
 */
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* The widest vector this path's instructions hold: 16 floats with AVX-512, 8 with AVX, else 4. */
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float vec __attribute__((vector_size(kLanes * sizeof(float))));

/* Enough independent chains to cover the FMA latency on two pipes (4-5 cycles x 2). */
constexpr int kChains = 12;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/* 2 * kLanes * kChains * iterations flops; the result is stored so none of it is dead. */
__attribute__((noinline)) void fma_chains(int64_t iterations, float* sink) {
    vec acc[kChains], a, b;
    for (int i = 0; i < kLanes; i++) {
        a[i] = 0.999999f;
        b[i] = 1e-7f * (float)(i + 1);
    }
    for (int c = 0; c < kChains; c++) acc[c] = a * (float)(c + 1);
    for (int64_t it = 0; it < iterations; it++) {
#pragma GCC unroll 16
        for (int c = 0; c < kChains; c++) acc[c] = acc[c] * a + b;
    }
    vec sum = acc[0];
    for (int c = 1; c < kChains; c++) sum += acc[c];
    std::memcpy(sink, &sum, sizeof sum);
}

}  // namespace

void measure_peaks(const Exec& ex, double* flops_per_s, double* bytes_per_s) {
    const int T = std::max(1, ex.threads);
    constexpr int kRepeats = 5;
    /* compute: 12 x 8M vector multiply-adds per thread, some 20-50 ms per repeat */
    const int64_t iterations = int64_t(1) << 23;
    std::vector<float> sink((size_t)T * kLanes);
    double best = 0;
    for (int r = 0; r < kRepeats; r++) {
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(T)
        fma_chains(iterations, sink.data() + (size_t)omp_get_thread_num() * kLanes);
        const double flops = 2.0 * kLanes * kChains * (double)iterations * T;
        best = std::max(best, flops / seconds_since(t0));
    }
    *flops_per_s = best;

    /* memory: three arrays of 32 MiB each, first touched by the threads that use them */
    const int64_t n = int64_t(8) << 20;
    std::vector<float> a((size_t)n), b((size_t)n), c((size_t)n);
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        a[i] = 0.0f;
        b[i] = 1.0f;
        c[i] = 2.0f;
    }
    const float s = 0.5f;
    best = 0;
    for (int r = 0; r < kRepeats; r++) {
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(T) schedule(static)
        for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        best = std::max(best, 3.0 * sizeof(float) * (double)n / seconds_since(t0));
    }
    *bytes_per_s = best;
}

}  // namespace es::cpu::ES_CPU_ISA
