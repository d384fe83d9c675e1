/* backends.cpp — backend discovery; the CUDA backend is dlopen()ed on demand. */
#include "backends.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "error.h"

namespace es {

namespace {

/* The CUDA library exports this; it returns null and fills reason when the driver,
 * a device or cuDNN/cuBLAS is missing. */
using CudaProbeFn = const KernelTable* (*)(char* reason, int reason_size);

std::string own_directory() {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&own_directory), &info) == 0 || !info.dli_fname) return "";
    std::string path = info.dli_fname;
    size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

BackendProbe run_probe(CudaProbeFn probe, const std::string& library) {
    char reason[512] = {0};
    const KernelTable* table = probe(reason, sizeof reason);
    if (!table) return {nullptr, reason[0] ? reason : "CUDA backend unavailable"};
    /* A library without the layout string has the backend's name first ("cuda"): also refused. */
    if (!table->layout || std::strcmp(table->layout, kKernelTableLayout) != 0)
        return {nullptr, library + " was built from another effiseg version (its kernel table does not "
                                   "match this core's): rebuild it from the same sources"};
    return {table, ""};
}

BackendProbe probe_cuda() {
    /* EFFISEG_CUDA_LIBRARY names another library to load instead of the libeffiseg_cuda.so
     * next to this one: a custom build, or the test-only emulator (tests/native/cuda_emu). */
    const char* chosen = std::getenv("EFFISEG_CUDA_LIBRARY");
    if (chosen && chosen[0]) {
        void* lib = dlopen(chosen, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const char* err = dlerror();
            return {nullptr, std::string("cannot load the CUDA backend EFFISEG_CUDA_LIBRARY=") + chosen +
                                 ": " + (err ? err : "unknown dlopen error")};
        }
        auto probe = reinterpret_cast<CudaProbeFn>(dlsym(lib, "es_cuda_probe"));
        if (!probe)
            return {nullptr, std::string("EFFISEG_CUDA_LIBRARY=") + chosen + " has no es_cuda_probe symbol"};
        return run_probe(probe, std::string("EFFISEG_CUDA_LIBRARY=") + chosen);
    }
    std::string path = own_directory() + "libeffiseg_cuda.so";
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char* err = dlerror();
        std::string why = err ? err : "unknown dlopen error";
        if (why.find("No such file") != std::string::npos && why.find("libeffiseg_cuda.so") != std::string::npos)
            return {nullptr, "this build has no CUDA backend (" + path +
                                 " not found; build with nvcc and cuDNN present, see README)"};
        return {nullptr, "cannot load the CUDA backend: " + why};
    }
    auto probe = reinterpret_cast<CudaProbeFn>(dlsym(lib, "es_cuda_probe"));
    if (!probe) return {nullptr, "libeffiseg_cuda.so has no es_cuda_probe symbol (mismatched build)"};
    return run_probe(probe, path);
}

}  // namespace

const BackendProbe& probe_backend(int backend) {
    static std::once_flag cuda_once;
    static const BackendProbe cpu = [] {
        BackendProbe p;
        p.table = cpu_kernels(p.reason);
        return p;
    }();
    static BackendProbe cuda;
    switch (backend) {
        case ES_BACKEND_CPU:
            return cpu;
        case ES_BACKEND_CUDA:
            std::call_once(cuda_once, [] { cuda = probe_cuda(); });
            return cuda;
        default:
            throw Error(ES_ERR_INVALID_ARGUMENT, "unknown backend " + std::to_string(backend));
    }
}

}  // namespace es
