/*
 * cuda_runtime.h (CUDA emulator, tests only) — shadows the toolkit's header for the emulated
 * CUDA backend (tests/native/cuda_emu/README.md): the sources in cuda/ compiled as host C++ by g++.
 *
 * The toolkit's own header comes first (#include_next), so every type, enum value and
 * runtime API declaration is NVIDIA's; emu_runtime.cpp defines the functions cuda/ calls.
 * Under a host compiler the toolkit already turns __global__, __device__ and __host__ into
 * nothing. This file adds what only nvcc provides: __shared__ with block-wide storage, the
 * thread/block indices, __syncthreads, the device intrinsics cuda/ uses, and the launch
 * that rewrite_launches.py substitutes for KERNEL<<<CONFIG>>>(ARGS).
 */
#ifndef EFFISEG_CUDA_EMU_RUNTIME_H
#define EFFISEG_CUDA_EMU_RUNTIME_H

#include_next <cuda_runtime.h>

#include <cstddef>
#include <tuple>
#include <type_traits>

/* One block runs at a time (emu_runtime.cpp), so a function-local static is exactly the
 * storage the block's threads share. */
#undef __shared__
#define __shared__ static

/* The emulated thread's coordinates, switched by the scheduler (emu_runtime.cpp). */
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

/* Suspends the calling thread until every thread of its block has arrived; a thread that
 * returns while others wait fails the launch (CUDA leaves that undefined). */
void __syncthreads();

/* Round-to-nearest single operations, never contracted: the emulator is compiled with
 * -ffp-contract=off, so each of these rounds once, as the intrinsic does. */
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }

/* CUDA's device min/max (here on one type, the only use in cuda/). */
template <class T>
constexpr T min(T a, T b) { return b < a ? b : a; }
template <class T>
constexpr T max(T a, T b) { return a < b ? b : a; }

namespace es_emu {

/* The <<<grid, block, shared bytes, stream>>> of a launch. */
struct LaunchConfig {
    dim3 grid, block;
    size_t dynamic_shared_bytes;
    cudaStream_t stream;
    LaunchConfig(dim3 g, dim3 b, size_t shared = 0, cudaStream_t s = nullptr)
        : grid(g), block(b), dynamic_shared_bytes(shared), stream(s) {}
};

/* Whether p is null or points into (or one past) a live cudaMalloc block. */
bool is_device_pointer(const void* p);

/* Runs thread(ctx) once per thread of the grid, block after block (emu_runtime.cpp). Checks
 * the configuration and the stream first; the result is what cudaGetLastError reports. */
void run_grid(const char* kernel, const LaunchConfig& cfg, const char* bad_argument,
              void (*thread)(void*), void* ctx);

/* KERNEL<<<cfg>>>(args...) as rewritten by rewrite_launches.py: the arguments are evaluated
 * once, here, and each emulated thread calls the kernel with its own copies. A pointer
 * argument that is not device memory fails the launch (a GPU would fault on it). */
template <class Kernel, class... Args>
void launch(const char* name, const LaunchConfig& cfg, Kernel kernel, Args... args) {
    const char* bad_argument = nullptr;
    auto check = [&](const auto& arg) {
        if constexpr (std::is_pointer_v<std::decay_t<decltype(arg)>>)
            if (!bad_argument && !is_device_pointer(arg)) bad_argument = "a host pointer argument";
    };
    (check(args), ...);
    struct Ctx {
        Kernel* kernel;
        std::tuple<Args...>* args;
    };
    std::tuple<Args...> saved(args...);
    Ctx ctx{&kernel, &saved};
    run_grid(name, cfg, bad_argument,
             [](void* p) {
                 Ctx* c = static_cast<Ctx*>(p);
                 std::apply(*c->kernel, *c->args);
             },
             &ctx);
}

}  // namespace es_emu

#endif
