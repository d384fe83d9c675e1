/*
 * backends.h — which backends this process can use, and why not.
 *
 * The CPU backend is always present. The CUDA backend is a separate shared library,
 * libeffiseg_cuda.so, looked for next to libeffiseg.so and loaded on first use, so a
 * machine without a GPU, a driver or cuDNN still runs everything on the CPU and gets a
 * sentence explaining what is missing.
 */
#ifndef EFFISEG_BACKENDS_H
#define EFFISEG_BACKENDS_H

#include <string>

#include "kernels.h"

namespace es {

struct BackendProbe {
    const KernelTable* table; /* null when unavailable */
    std::string reason;       /* why unavailable ("" when available) */
};

/* Probes once per backend and caches the answer; throws for unknown backend ids. */
const BackendProbe& probe_backend(int backend);

}  // namespace es

#endif
