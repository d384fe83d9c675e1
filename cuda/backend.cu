/*
 * backend.cu — the CUDA backend's entry point: es_cuda_probe (called by the core's
 * native/src/backends.cpp after it dlopen()s libeffiseg_cuda.so), the per-context state
 * (device, one stream, cuBLAS and cuDNN handles, the caching allocator) and the kernel
 * table assembled from the per-family files.
 *
 * cuDNN and cuBLAS are linked dynamically: on a machine without libcudnn.so.9 the dlopen of
 * this library fails and the core reports the loader's message ("libcudnn.so.9: cannot
 * open shared object file"). Everything else that can be missing — the driver, a device, a
 * cuDNN sub-library, a GPU this build has no code for — is found by the probe, which
 * returns null and a sentence saying what is missing.
 *
 * GPUs: CUDA 13 supports compute capability 7.5 (Turing) and newer; the build has SASS for
 * each of those architectures plus PTX of the newest (EFFISEG_CUDA_ARCHITECTURES in
 * CMakeLists.txt). The kernels use nothing architecture-specific (no warp shuffles, atomics,
 * tensor cores, async copies; static shared memory under 48 KiB), so one source serves all.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.cuh"
#include "cuda_kernels.h"

#ifndef EFFISEG_CUDA_CODE
#error "EFFISEG_CUDA_CODE, the GPU code this build has (e.g. \"sm_90 compute_90\"), comes from CMakeLists.txt"
#endif

namespace es::cuda {

/* ---- errors -------------------------------------------------------------------------- */

void fail(es_status status, const std::string& message) { throw Error(status, message); }

void check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return;
    const es_status status =
        err == cudaErrorMemoryAllocation ? ES_ERR_OUT_OF_MEMORY : ES_ERR_INTERNAL;
    fail(status, std::string(what) + " failed: " + cudaGetErrorName(err) + " (" +
                     cudaGetErrorString(err) + ")");
}

void check(cublasStatus_t err, const char* what) {
    if (err == CUBLAS_STATUS_SUCCESS) return;
    fail(err == CUBLAS_STATUS_ALLOC_FAILED ? ES_ERR_OUT_OF_MEMORY : ES_ERR_INTERNAL,
         std::string(what) + " failed: " + cublasGetStatusName(err) + " (" +
             cublasGetStatusString(err) + ")");
}

void check(cudnnStatus_t err, const char* what) {
    if (err == CUDNN_STATUS_SUCCESS) return;
    char detail[512] = {0};
    cudnnGetLastErrorString(detail, sizeof detail);
    fail(err == CUDNN_STATUS_ALLOC_FAILED ? ES_ERR_OUT_OF_MEMORY : ES_ERR_INTERNAL,
         std::string(what) + " failed: " + cudnnGetErrorString(err) +
             (detail[0] ? std::string(" (") + detail + ")" : std::string()));
}

void check_launch(const char* kernel) {
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        fail(ES_ERR_INTERNAL, std::string("launch of ") + kernel + " failed: " +
                                  cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

/* ---- per-context state --------------------------------------------------------------- */

State& state(const Exec& ex) {
    State* s = static_cast<State*>(ex.backend_state);
    if (!s) fail(ES_ERR_INTERNAL, "CUDA kernel called without a CUDA context state");
    check(cudaSetDevice(s->device), "cudaSetDevice");
    return *s;
}

void destroy_state(State* s) {
    cudaSetDevice(s->device);
    if (s->cudnn) cudnnDestroy(s->cudnn);
    if (s->cublas) cublasDestroy(s->cublas);
    if (s->stream) cudaStreamDestroy(s->stream);
    delete s;
}

namespace {

/* ---- which GPUs this build runs on --------------------------------------------------- */

/* Never launched: reading its attributes makes the runtime pick (or fail to find) the code
 * of this build that the current device can run. */
__global__ void code_check_kernel() {}

std::string card(int device, const cudaDeviceProp& prop) {
    return "GPU " + std::to_string(device) + " (" + prop.name + ", compute capability " +
           std::to_string(prop.major) + "." + std::to_string(prop.minor) + ")";
}

/* Why the current device (number `device`) cannot run this build, or "" if it can; then *code
 * says which of the build's code it runs. */
std::string device_unsupported(int device, const cudaDeviceProp& prop, std::string* code) {
    if (prop.major * 10 + prop.minor < 75)
        return card(device, prop) +
               " is older than CUDA 13 supports: it needs compute capability 7.5 (Turing) or newer";
    cudaFuncAttributes attr{};
    const cudaError_t err =
        cudaFuncGetAttributes(&attr, reinterpret_cast<const void*>(&code_check_kernel));
    if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction) {
        (void)cudaGetLastError();
        return card(device, prop) + " cannot run this build's GPU code (" EFFISEG_CUDA_CODE
               "): add " + std::to_string(prop.major * 10 + prop.minor) +
               " to EFFISEG_CUDA_ARCHITECTURES and rebuild (docs/cuda.md)";
    }
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        return std::string("CUDA is unusable: cudaFuncGetAttributes failed: ") +
               cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    }
    /* the runtime reports the architecture of the code it loaded: one of our SASS, or the
     * device's own when the driver JIT-compiled our PTX */
    const std::string sass = "sm_" + std::to_string(attr.binaryVersion);
    const std::string built = " " EFFISEG_CUDA_CODE " ";
    *code = built.find(" " + sass + " ") != std::string::npos
                ? sass + " code"
                : "compute_" + std::to_string(attr.ptxVersion) + " PTX, JIT-compiled for " + sass;
    return "";
}

void* context_create(int device, int threads) {
    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (device >= count)
        fail(ES_ERR_INVALID_ARGUMENT, "CUDA device " + std::to_string(device) +
                                          " does not exist (this machine has " +
                                          std::to_string(count) + ")");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    check(cudaSetDevice(device), "cudaSetDevice");
    std::string code;
    const std::string unsupported = device_unsupported(device, prop, &code);
    if (!unsupported.empty()) fail(ES_ERR_BACKEND_UNAVAILABLE, unsupported);
    auto* s = new State();
    s->device = device;
    try {
        check(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking), "cudaStreamCreate");
        check(cublasCreate(&s->cublas), "cublasCreate");
        check(cublasSetStream(s->cublas, s->stream), "cublasSetStream");
        /* plain FP32 (no TF32): parity with the CPU oracle first; see docs/cuda.md */
        check(cublasSetMathMode(s->cublas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        check(cudnnCreate(&s->cudnn), "cudnnCreate");
        check(cudnnSetStream(s->cudnn, s->stream), "cudnnSetStream");
    } catch (...) {
        destroy_state(s);
        throw;
    }
    return s;
}

void context_destroy(void* backend_state) {
    State* s = static_cast<State*>(backend_state);
    cudaSetDevice(s->device);
    /* tensors still alive keep the state (and its stream) until their release */
    if (close_allocator(*s)) destroy_state(s);
}

void synchronize(const Exec& ex) {
    State& s = state(ex);
    check(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize");
}

int device_count() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

/* "NVIDIA H100 80GB HBM3, compute 9.0, 79.2 GiB, 132 SMs, driver 13.0, runtime 13.0, cuDNN 92400,
 * cuBLAS 13.1.1, runs sm_90 code" */
void describe_device(int device, char* buf, int size) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
        (void)cudaGetLastError();
        std::snprintf(buf, (size_t)size, "device %d: cudaGetDeviceProperties failed", device);
        return;
    }
    int current = 0;
    std::string code;
    std::string unsupported = "cannot make it the current device";
    if (cudaGetDevice(&current) == cudaSuccess && cudaSetDevice(device) == cudaSuccess) {
        unsupported = device_unsupported(device, prop, &code);
        cudaSetDevice(current);
    }
    (void)cudaGetLastError();
    int driver = 0, runtime = 0, blas_major = 0, blas_minor = 0, blas_patch = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    cublasGetProperty(MAJOR_VERSION, &blas_major);
    cublasGetProperty(MINOR_VERSION, &blas_minor);
    cublasGetProperty(PATCH_LEVEL, &blas_patch);
    std::snprintf(buf, (size_t)size,
                  "%s, compute %d.%d, %.1f GiB, %d SMs, driver %d.%d, runtime %d.%d, cuDNN %zu, cuBLAS %d.%d.%d, %s%s",
                  prop.name, prop.major, prop.minor, prop.totalGlobalMem / 1073741824.0,
                  prop.multiProcessorCount, driver / 1000, driver % 1000 / 10, runtime / 1000,
                  runtime % 1000 / 10, cudnnGetVersion(), blas_major, blas_minor, blas_patch,
                  unsupported.empty() ? "runs " : "unsupported: ",
                  unsupported.empty() ? code.c_str() : unsupported.c_str());
}

const KernelTable& table() {
    static const KernelTable t = [] {
        KernelTable filled{};
        filled.name = "cuda";
        filled.device_count = device_count;
        filled.describe_device = describe_device;
        filled.context_create = context_create;
        filled.context_destroy = context_destroy;
        filled.synchronize = synchronize;
        filled.memory_stats = memory_stats;
        filled.reset_peak_memory = reset_peak_memory;
#include "kernel_table_fill.inc"
        return filled;
    }();
    return t;
}

/* Why the backend cannot run here, or "" if it can. Touches every library the kernels
 * need, so a missing cuDNN sub-library shows up now and not in the middle of training. */
std::string probe_reason() {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err == cudaErrorInsufficientDriver)
        return "no usable NVIDIA driver (cudaGetDeviceCount: cudaErrorInsufficientDriver: "
               "the driver is missing or older than CUDA 13 needs)";
    if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0))
        return "no CUDA device (the driver sees no GPU)";
    if (err != cudaSuccess)
        return std::string("CUDA is unusable: cudaGetDeviceCount failed: ") +
               cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess)
        return "CUDA is unusable: cudaGetDeviceProperties(0) failed";
    if (cudaSetDevice(0) != cudaSuccess) return "CUDA is unusable: cudaSetDevice(0) failed";
    std::string code;
    const std::string unsupported = device_unsupported(0, prop, &code);
    if (!unsupported.empty()) return unsupported;

    const size_t cudnn_version = cudnnGetVersion();
    if (cudnn_version / 10000 != CUDNN_MAJOR)
        return "cuDNN " + std::to_string(cudnn_version) + " was loaded; this build needs major " +
               std::to_string(CUDNN_MAJOR);
    int cublas_major = 0;
    if (cublasGetProperty(MAJOR_VERSION, &cublas_major) != CUBLAS_STATUS_SUCCESS ||
        cublas_major != CUBLAS_VER_MAJOR)
        return "cuBLAS " + std::to_string(cublas_major) + " was loaded; this build needs major " +
               std::to_string(CUBLAS_VER_MAJOR);

    cudnnHandle_t dnn = nullptr;
    cudnnStatus_t st = cudnnCreate(&dnn);
    cudnnConvolutionDescriptor_t conv = nullptr;
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnCreateConvolutionDescriptor(&conv); /* libcudnn_cnn */
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (dnn) cudnnDestroy(dnn);
    if (st != CUDNN_STATUS_SUCCESS) {
        char detail[512] = {0};
        cudnnGetLastErrorString(detail, sizeof detail);
        return std::string("cuDNN cannot start: ") + cudnnGetErrorString(st) +
               (detail[0] ? std::string(" (") + detail + ")" : std::string()) +
               "; are all of cuDNN's libraries (libcudnn_cnn.so.9, libcudnn_ops.so.9, "
               "libcudnn_engines_*.so.9) on the library path?";
    }
    cublasHandle_t blas = nullptr;
    const cublasStatus_t bst = cublasCreate(&blas);
    if (blas) cublasDestroy(blas);
    if (bst != CUBLAS_STATUS_SUCCESS)
        return std::string("cuBLAS cannot start: ") + cublasGetStatusName(bst);
    return "";
}

}  // namespace

}  // namespace es::cuda

/* The one symbol the core looks up (native/src/backends.cpp). Never throws. */
extern "C" __attribute__((visibility("default"))) const es::KernelTable* es_cuda_probe(
    char* reason, int reason_size) {
    /* FP32 means FP32: no TF32 tensor-core math behind our back in cuDNN or cuBLAS (both read
     * this before their first handle; pick() in conv2d_cudnn.cu may fall back to DEFAULT math).
     * A value the user set stays. */
    setenv("NVIDIA_TF32_OVERRIDE", "0", 0);
    std::string why;
    try {
        why = es::cuda::probe_reason();
    } catch (const std::exception& e) {
        why = std::string("CUDA probe failed: ") + e.what();
    } catch (...) {
        why = "CUDA probe failed";
    }
    if (why.empty()) return &es::cuda::table();
    if (reason && reason_size > 0) std::snprintf(reason, (size_t)reason_size, "%s", why.c_str());
    return nullptr;
}
