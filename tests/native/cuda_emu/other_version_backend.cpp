/*
 * other_version_backend.cpp — libeffiseg_cuda_other_version.so, for CudaProbeTest only: a CUDA
 * backend library as another effiseg version would build it, whose kernel table is laid out from
 * another kernel list. Its probe succeeds; the core must refuse its table (backends.cpp) instead
 * of calling through slots that mean something else.
 */
#include "kernels.h"

extern "C" __attribute__((visibility("default"))) const es::KernelTable* es_cuda_probe(char*, int) {
    static es::KernelTable table = [] {
        es::KernelTable t{};
        t.layout = "void* alloc(const Exec&, int64_t bytes);"; /* a kernel list of another version */
        t.name = "cuda";
        return t;
    }();
    return &table;
}
