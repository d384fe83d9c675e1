/*
 * emu_runtime.cpp (CUDA emulator, tests only) — the CUDA runtime API subset cuda/ calls, and
 * the execution of kernels on the host. See README.md for what this proves and what not.
 *
 * Device: one emulated device of compute capability 9.0 (EFFISEG_CUDA_EMU_COMPUTE=7.5 etc.
 * makes it another, for the probe's tests) that loads the build's code by the CUDA runtime's
 * rule (cudaFuncGetAttributes below), and whose memory is host memory. cudaMalloc returns
 * 256-byte aligned blocks filled with 0xFF bytes (NaN as floats), so a kernel reading memory
 * nobody wrote shows up as NaN in the comparison with the CPU; the blocks are remembered, so
 * copies, memsets, kernel pointer arguments and the fake libraries can check that they really
 * got device memory. Streams exist as handles and are checked; all work runs synchronously,
 * at the call, in issue order (which is one valid schedule of a single stream).
 *
 * Kernels: the grid's blocks run one after another (under one process-wide lock, so a
 * function-local static serves as __shared__), and the threads of a block run in thread
 * order on fibers (own stacks; x86-64 stack switching below). A fiber runs threads one after
 * another until one calls __syncthreads; that thread is parked and the next thread gets a
 * new fiber. When no thread is left to start, the parked threads are resumed in thread order,
 * each until its next barrier or its end, and so on. Kernels without barriers therefore cost
 * two stack switches per block. If some threads of a block have returned while others wait
 * at a barrier (a divergent __syncthreads, undefined in CUDA), the launch fails with
 * cudaErrorLaunchFailure and a message on stderr.
 */
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "emu_internal.h"

#if !defined(__x86_64__)
#error "the CUDA emulator switches stacks with x86-64 code"
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

/* Stream handles: the runtime API only ever passes pointers to this type around. */
struct CUstream_st {
    unsigned flags;
};

namespace es_emu {

namespace {

/* ---- errors ------------------------------------------------------------------------------ */

/* cudaGetLastError's value, per host thread as in CUDA. */
thread_local cudaError_t last_error = cudaSuccess;

cudaError_t record(cudaError_t err) {
    if (err != cudaSuccess) last_error = err;
    return err;
}

/* ---- memory ------------------------------------------------------------------------------ */

std::mutex memory_mu;
std::map<const char*, size_t> blocks; /* base -> bytes, live cudaMalloc blocks */
std::set<cudaStream_t> streams;       /* created, not destroyed */

/* The live block containing p, or blocks.end(). */
std::map<const char*, size_t>::const_iterator block_of(const char* p) {
    auto it = blocks.upper_bound(p);
    if (it == blocks.begin()) return blocks.end();
    --it;
    return p <= it->first + it->second ? it : blocks.end();
}

constexpr size_t kEmulatedMemory = size_t(16) << 30;

/* ---- fibers ------------------------------------------------------------------------------
 * es_emu_switch saves the callee-saved registers, MXCSR and the x87 control word on the
 * current stack, stores the stack pointer in *save, loads `load` as the stack pointer and
 * restores the same from there. A new fiber's stack is prepared so that the first switch to
 * it "returns" into es_emu_fiber_start, which calls fiber_main(r12 = the Fiber). */
extern "C" void es_emu_switch(void** save, void* load);
extern "C" void es_emu_fiber_start();
asm(R"(
    .text
    .p2align 4
    .type es_emu_switch, @function
es_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    stmxcsr 8(%rsp)
    fnstcw (%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr 8(%rsp)
    fldcw (%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size es_emu_switch, .-es_emu_switch

    .p2align 4
    .type es_emu_fiber_start, @function
es_emu_fiber_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size es_emu_fiber_start, .-es_emu_fiber_start
)");

constexpr size_t kStackBytes = size_t(256) << 10, kGuardBytes = 4096;

struct Fiber {
    void* sp = nullptr;       /* saved stack pointer while suspended */
    char* memory = nullptr;   /* guard page, then the stack */
    unsigned thread = 0;      /* linear index, in its block, of the thread it runs */
};

/* The block being run and the scheduler's side of the switches. */
struct BlockRun {
    void (*thread)(void*) = nullptr;
    void* ctx = nullptr;
    unsigned threads = 0;     /* in the block */
    unsigned next = 0;        /* first thread not started */
    unsigned finished = 0;    /* threads that returned */
    void* scheduler_sp = nullptr;
    Fiber* current = nullptr; /* the fiber running now, null on the scheduler's stack */
    bool parked = false;      /* why the last fiber switched back: a barrier, or no thread left */
};

BlockRun run;
std::mutex device_mu; /* one kernel (one block) at a time, process-wide */

/* EFFISEG_CUDA_EMU_SCHEDULE=reverse starts a block's threads last first (and resumes them at
 * barriers in that order): a second valid schedule, under which a race between barriers that
 * thread order happens to hide gives other results. */
const bool reverse_schedule = [] {
    const char* v = std::getenv("EFFISEG_CUDA_EMU_SCHEDULE");
    return v && std::strcmp(v, "reverse") == 0;
}();

void set_thread(unsigned t) {
    threadIdx.x = t % blockDim.x;
    threadIdx.y = t / blockDim.x % blockDim.y;
    threadIdx.z = t / (blockDim.x * blockDim.y);
}

/* Runs threads until none is left to start; parks at a barrier (__syncthreads). */
[[noreturn]] void fiber_main(Fiber* self) {
    for (;;) {
        while (run.next < run.threads) {
            const unsigned started = run.next++;
            self->thread = reverse_schedule ? run.threads - 1 - started : started;
            set_thread(self->thread);
            run.thread(run.ctx);
            run.finished++;
        }
        run.parked = false;
        es_emu_switch(&self->sp, run.scheduler_sp); /* resumed later for another block */
    }
}

/* (Re)starts f at the top of fiber_main on its own stack. */
void reset_fiber(Fiber& f) {
    if (!f.memory) {
        void* m = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            std::perror("CUDA emulator: mmap of a fiber stack");
            std::abort();
        }
        mprotect(m, kGuardBytes, PROT_NONE); /* overflow faults instead of corrupting */
        f.memory = static_cast<char*>(m);
    }
    auto* top = reinterpret_cast<uint64_t*>(f.memory + kGuardBytes + kStackBytes); /* 16-aligned */
    uint64_t* sp = top - 9;
    sp[0] = 0x037F;                                            /* x87 control word (default) */
    sp[1] = 0x1F80;                                            /* MXCSR (default) */
    sp[2] = sp[3] = 0;                                         /* r15, r14 */
    sp[4] = reinterpret_cast<uint64_t>(&fiber_main);           /* r13: what to call */
    sp[5] = reinterpret_cast<uint64_t>(&f);                    /* r12: its argument */
    sp[6] = sp[7] = 0;                                         /* rbx, rbp */
    sp[8] = reinterpret_cast<uint64_t>(&es_emu_fiber_start);   /* "return" address */
    f.sp = sp;                                                 /* after ret, rsp = top */
}

std::vector<std::unique_ptr<Fiber>> fibers; /* grows to the largest block seen */

/* Switches to f until it parks or runs out of threads; returns whether it parked. */
bool resume(Fiber* f) {
    run.current = f;
    es_emu_switch(&run.scheduler_sp, f->sp);
    run.current = nullptr;
    return run.parked;
}

/* Runs one block; false (and why) on a divergent barrier. */
bool run_block(std::string& why) {
    run.next = run.finished = 0;
    std::vector<Fiber*> idle, parked, waiting;
    for (auto& f : fibers) idle.push_back(f.get());
    for (;;) {
        while (run.next < run.threads) {
            if (idle.empty()) {
                fibers.push_back(std::make_unique<Fiber>());
                reset_fiber(*fibers.back());
                idle.push_back(fibers.back().get());
            }
            Fiber* f = idle.back();
            idle.pop_back();
            (resume(f) ? parked : idle).push_back(f);
        }
        if (parked.empty()) return true;
        if (run.finished > 0) {
            why = std::to_string(run.finished) + " thread(s) returned while " +
                  std::to_string(parked.size()) + " wait at __syncthreads (thread " +
                  std::to_string(parked.front()->thread) + " first)";
            for (Fiber* f : parked) reset_fiber(*f); /* abandon the waiting threads */
            return false;
        }
        waiting.swap(parked);
        parked.clear();
        for (Fiber* f : waiting) (resume(f) ? parked : idle).push_back(f);
        waiting.clear();
    }
}

}  // namespace

bool is_device_pointer(const void* p) {
    if (!p) return true;
    std::lock_guard<std::mutex> lock(memory_mu);
    return block_of(static_cast<const char*>(p)) != blocks.end();
}

bool is_device_range(const void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(memory_mu);
    const char* c = static_cast<const char*>(p);
    auto it = block_of(c);
    return it != blocks.end() && c + bytes <= it->first + it->second;
}

bool is_live_stream(cudaStream_t s) {
    std::lock_guard<std::mutex> lock(memory_mu);
    return s == nullptr || streams.count(s) > 0;
}

void run_grid(const char* kernel, const LaunchConfig& cfg, const char* bad_argument,
              void (*thread)(void*), void* ctx) {
    const dim3 g = cfg.grid, b = cfg.block;
    const unsigned long long threads = (unsigned long long)b.x * b.y * b.z;
    cudaError_t err = cudaSuccess;
    if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 0x7FFFFFFFu || g.y > 65535 || g.z > 65535 ||
        threads == 0 || threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64)
        err = cudaErrorInvalidConfiguration;
    else if (cfg.dynamic_shared_bytes != 0) /* cuda/ uses none; not emulated */
        err = cudaErrorNotSupported;
    else if (!is_live_stream(cfg.stream))
        err = cudaErrorInvalidResourceHandle;
    else if (bad_argument)
        err = cudaErrorInvalidDevicePointer;
    if (err != cudaSuccess) {
        std::fprintf(stderr, "CUDA emulator: launch of %s <<<(%u,%u,%u), (%u,%u,%u)>>> refused: %s%s%s\n",
                     kernel, g.x, g.y, g.z, b.x, b.y, b.z, cudaGetErrorName(err),
                     bad_argument ? ", " : "", bad_argument ? bad_argument : "");
        record(err);
        return;
    }
    std::lock_guard<std::mutex> lock(device_mu);
    gridDim = g;
    blockDim = b;
    run.thread = thread;
    run.ctx = ctx;
    run.threads = (unsigned)threads;
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                blockIdx = {x, y, z};
                std::string why;
                if (!run_block(why)) {
                    std::fprintf(stderr, "CUDA emulator: %s, block (%u,%u,%u): %s\n", kernel, x, y,
                                 z, why.c_str());
                    record(cudaErrorLaunchFailure);
                    return;
                }
            }
}

}  // namespace es_emu

using es_emu::record;

void __syncthreads() {
    es_emu::Fiber* self = es_emu::run.current;
    if (!self) {
        std::fprintf(stderr, "CUDA emulator: __syncthreads outside a kernel\n");
        std::abort();
    }
    es_emu::run.parked = true;
    es_emu::es_emu_switch(&self->sp, es_emu::run.scheduler_sp);
    es_emu::set_thread(self->thread);
}

/* ---- the runtime API -------------------------------------------------------------------- */

cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    return record(device == 0 ? cudaSuccess : cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return cudaSuccess;
}

namespace es_emu {
namespace {

/* EFFISEG_CUDA_EMU_COMPUTE=MAJOR.MINOR (default 9.0) as major * 10 + minor; 0 if malformed. */
const int compute_capability = [] {
    const char* v = std::getenv("EFFISEG_CUDA_EMU_COMPUTE");
    if (!v || !v[0]) return 90;
    int major = 0, minor = 0;
    char end = 0;
    if (std::sscanf(v, "%d.%d%c", &major, &minor, &end) == 2 && major > 0 && major < 100 &&
        minor >= 0 && minor < 10)
        return major * 10 + minor;
    std::fprintf(stderr, "CUDA emulator: EFFISEG_CUDA_EMU_COMPUTE='%s' is not MAJOR.MINOR (e.g. 8.6)\n", v);
    return 0;
}();

}  // namespace
}  // namespace es_emu

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
    if (device != 0) return record(cudaErrorInvalidDevice);
    if (es_emu::compute_capability == 0) return record(cudaErrorInvalidValue);
    *prop = cudaDeviceProp{};
    std::snprintf(prop->name, sizeof prop->name, "CUDA emulator (host C++, tests only; not a GPU)");
    prop->totalGlobalMem = es_emu::kEmulatedMemory;
    prop->sharedMemPerBlock = 48 << 10;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 0x7FFFFFFF;
    prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
    prop->major = es_emu::compute_capability / 10;
    prop->minor = es_emu::compute_capability % 10;
    prop->multiProcessorCount = 1;
    return cudaSuccess;
}

/* Which of the build's code (EFFISEG_CUDA_CODE, "sm_75 ... compute_120", from CMakeLists.txt)
 * the device loads, by the CUDA runtime's rule: SASS sm_XY runs on compute capability X.Z for
 * Z >= Y (same major), the newest such first; failing that, the newest PTX compute_XY with
 * XY <= the device's is JIT-compiled for it; failing that, there is no kernel image. */
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* func) {
    if (!func) return record(cudaErrorInvalidDeviceFunction);
    if (es_emu::compute_capability == 0) return record(cudaErrorInvalidValue);
    const int device = es_emu::compute_capability;
    int sass = 0, ptx = 0;
    const std::string code = EFFISEG_CUDA_CODE;
    for (size_t at = 0; at < code.size();) {
        size_t end = code.find(' ', at);
        if (end == std::string::npos) end = code.size();
        const std::string token = code.substr(at, end - at);
        at = end + 1;
        int arch = 0;
        if (std::sscanf(token.c_str(), "sm_%d", &arch) == 1) {
            if (arch / 10 == device / 10 && arch % 10 <= device % 10 && arch > sass) sass = arch;
        } else if (std::sscanf(token.c_str(), "compute_%d", &arch) == 1) {
            if (arch <= device && arch > ptx) ptx = arch;
        }
    }
    if (!sass && !ptx) return record(cudaErrorNoKernelImageForDevice);
    *attr = cudaFuncAttributes{};
    attr->maxThreadsPerBlock = 1024;
    attr->binaryVersion = sass ? sass : device;
    attr->ptxVersion = sass ? sass : ptx;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
    *version = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
    *version = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaGetLastError() {
    const cudaError_t err = es_emu::last_error;
    es_emu::last_error = cudaSuccess;
    return err;
}

const char* cudaGetErrorName(cudaError_t err) {
    switch (err) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
        case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
        case cudaErrorNotSupported: return "cudaErrorNotSupported";
        default: return "cudaErrorUnknown (not produced by the emulator)";
    }
}

const char* cudaGetErrorString(cudaError_t err) {
    switch (err) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidDevicePointer: return "invalid device pointer";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorLaunchFailure: return "unspecified launch failure (emulator: see stderr)";
        case cudaErrorNotSupported: return "operation not supported (by the emulator)";
        default: return "unrecognized error code";
    }
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
    *ptr = nullptr;
    const size_t rounded = (bytes + 255) / 256 * 256;
    void* p = std::aligned_alloc(256, rounded > 0 ? rounded : 256);
    if (!p) return record(cudaErrorMemoryAllocation);
    std::memset(p, 0xFF, rounded); /* NaN: reads of memory nobody wrote stand out */
    std::lock_guard<std::mutex> lock(es_emu::memory_mu);
    es_emu::blocks.emplace(static_cast<const char*>(p), bytes);
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
    if (!ptr) return cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(es_emu::memory_mu);
        auto it = es_emu::blocks.find(static_cast<const char*>(ptr));
        if (it == es_emu::blocks.end()) return record(cudaErrorInvalidValue);
        es_emu::blocks.erase(it);
    }
    std::free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
    if (!es_emu::is_live_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (!dst_device && !src_device) return record(cudaErrorInvalidMemcpyDirection);
    if (bytes == 0) return cudaSuccess;
    if ((dst_device && !es_emu::is_device_range(dst, bytes)) ||
        (src_device && !es_emu::is_device_range(src, bytes)) ||
        (!dst_device && es_emu::is_device_pointer(dst) && dst) ||
        (!src_device && es_emu::is_device_pointer(src) && src))
        return record(cudaErrorInvalidValue);
    std::memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
    if (!es_emu::is_live_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    if (bytes == 0) return cudaSuccess;
    if (!es_emu::is_device_range(dst, bytes)) return record(cudaErrorInvalidValue);
    std::memset(dst, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
    *stream = new CUstream_st{flags};
    std::lock_guard<std::mutex> lock(es_emu::memory_mu);
    es_emu::streams.insert(*stream);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    {
        std::lock_guard<std::mutex> lock(es_emu::memory_mu);
        if (!stream || es_emu::streams.erase(stream) == 0)
            return record(cudaErrorInvalidResourceHandle);
    }
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    /* every call ran to completion when it was made */
    return record(es_emu::is_live_stream(stream) ? cudaSuccess : cudaErrorInvalidResourceHandle);
}
