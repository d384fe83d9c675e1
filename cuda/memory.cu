/*
 * memory.cu — device storage for tensors (a caching allocator per context), host<->device
 * copies, fill/copy and the elementwise ops; also the plain deterministic column sum
 * (common.cuh) that several families use.
 *
 * Allocator: cudaMalloc/cudaFree synchronise the device and cost tens of microseconds, so a
 * training step must not call them. Released blocks go to per-context free lists keyed by a
 * size class (512-byte steps up to 1 MiB, then quarter-power-of-two steps: at most 25 %
 * slack) and are handed out again for a request of the same class. Because one context has
 * one stream, a block reused by a later op is ordered after every earlier use of it. When
 * cudaMalloc fails the cache is emptied and the call retried once. Accounting (live, cached,
 * peak, mallocs, cache hits) is per context; EFFISEG_CUDA_VERBOSE=1 prints it when the
 * context is destroyed. Cached blocks are freed on context destroy; at process exit the
 * driver reclaims whatever is left (nothing here calls CUDA from a static destructor, when
 * the runtime may already be gone).
 */
#include <cstdio>
#include <cstdlib>

#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

size_t size_class(int64_t bytes) {
    const size_t b = bytes <= 0 ? 1 : (size_t)bytes;
    const size_t kSmallStep = 512, kSmallLimit = size_t(1) << 20;
    if (b <= kSmallLimit) return (b + kSmallStep - 1) / kSmallStep * kSmallStep;
    size_t pow2 = kSmallLimit;
    while (pow2 * 2 < b) pow2 *= 2; /* pow2 < b <= 2*pow2 */
    const size_t step = pow2 / 4;
    return (b + step - 1) / step * step;
}

std::string mib(int64_t bytes) { return std::to_string(bytes / (1 << 20)) + " MiB"; }

}  // namespace

void* allocate(State& s, int64_t bytes, bool zero) {
    const size_t cls = size_class(bytes);
    void* p = nullptr;
    {
        std::lock_guard<std::mutex> lock(s.alloc.mu);
        Allocator& a = s.alloc;
        auto it = a.free_blocks.find(cls);
        if (it != a.free_blocks.end() && !it->second.empty()) {
            p = it->second.back();
            it->second.pop_back();
            a.cached_bytes -= (int64_t)cls;
            a.cache_hits++;
        } else {
            cudaError_t err = cudaMalloc(&p, cls);
            if (err == cudaErrorMemoryAllocation) {
                (void)cudaGetLastError(); /* not sticky: clear it and retry on an empty cache */
                cudaStreamSynchronize(s.stream);
                for (auto& [size, blocks] : a.free_blocks)
                    for (void* q : blocks) cudaFree(q);
                a.free_blocks.clear();
                a.cached_bytes = 0;
                err = cudaMalloc(&p, cls);
            }
            if (err == cudaErrorMemoryAllocation) {
                (void)cudaGetLastError();
                fail(ES_ERR_OUT_OF_MEMORY, "cudaMalloc of " + std::to_string(bytes) +
                                               " bytes failed on device " +
                                               std::to_string(s.device) + " (this context holds " +
                                               mib(a.live_bytes) + " live)");
            }
            check(err, "cudaMalloc");
            a.device_mallocs++;
        }
        a.live.emplace(p, cls);
        a.live_bytes += (int64_t)cls;
        a.peak_live_bytes = std::max(a.peak_live_bytes, a.live_bytes);
        a.peak_reserved_bytes = std::max(a.peak_reserved_bytes, a.live_bytes + a.cached_bytes);
    }
    if (zero) {
        const cudaError_t err = cudaMemsetAsync(p, 0, cls, s.stream);
        if (err != cudaSuccess) {
            deallocate(s, p);
            check(err, "cudaMemsetAsync");
        }
    }
    return p;
}

void deallocate(State& s, void* ptr) {
    bool destroy = false;
    {
        std::lock_guard<std::mutex> lock(s.alloc.mu);
        Allocator& a = s.alloc;
        auto it = a.live.find(ptr);
        if (it == a.live.end()) return; /* not ours: nothing sensible to do in a release */
        const size_t cls = it->second;
        a.live.erase(it);
        a.live_bytes -= (int64_t)cls;
        if (s.closed) {
            /* the context is gone: its stream was synchronised, nothing can be queued on it */
            cudaFree(ptr);
            destroy = a.live.empty();
        } else {
            a.free_blocks[cls].push_back(ptr);
            a.cached_bytes += (int64_t)cls;
        }
    }
    if (destroy) destroy_state(&s);
}

bool close_allocator(State& s) {
    cudaStreamSynchronize(s.stream);
    std::lock_guard<std::mutex> lock(s.alloc.mu);
    s.closed = true; /* from now on released blocks are freed, not cached */
    for (auto& [size, blocks] : s.alloc.free_blocks)
        for (void* q : blocks) cudaFree(q);
    s.alloc.free_blocks.clear();
    s.alloc.cached_bytes = 0;
    if (const char* v = std::getenv("EFFISEG_CUDA_VERBOSE"); v && v[0] == '1') {
        const Allocator& a = s.alloc;
        std::fprintf(stderr,
                     "effiseg cuda: device %d allocator: peak live %s, peak reserved %s, "
                     "%lld cudaMalloc calls, %lld cache hits, %s still live\n",
                     s.device, mib(a.peak_live_bytes).c_str(), mib(a.peak_reserved_bytes).c_str(),
                     (long long)a.device_mallocs, (long long)a.cache_hits,
                     mib(a.live_bytes).c_str());
    }
    return s.alloc.live.empty();
}

/* ---- memory hooks ---------------------------------------------------------------------- */

void memory_stats(const Exec& ex, int64_t stats[4]) {
    State& s = *static_cast<State*>(ex.backend_state);
    std::lock_guard<std::mutex> lock(s.alloc.mu);
    const Allocator& a = s.alloc;
    stats[0] = a.live_bytes;
    stats[1] = a.peak_live_bytes;
    stats[2] = a.live_bytes + a.cached_bytes;
    stats[3] = a.peak_reserved_bytes;
}

void reset_peak_memory(const Exec& ex) {
    State& s = *static_cast<State*>(ex.backend_state);
    std::lock_guard<std::mutex> lock(s.alloc.mu);
    Allocator& a = s.alloc;
    a.peak_live_bytes = a.live_bytes;
    a.peak_reserved_bytes = a.live_bytes + a.cached_bytes;
}

void* alloc(const Exec& ex, int64_t bytes) { return allocate(state(ex), bytes, true); }

void release(const Exec& ex, void* ptr) {
    if (!ptr) return;
    /* no state(ex): release runs from destructors and must not throw */
    State& s = *static_cast<State*>(ex.backend_state);
    cudaSetDevice(s.device);
    deallocate(s, ptr);
}

void upload(const Exec& ex, float* dst, const float* src, int64_t n) {
    State& s = state(ex);
    /* From pageable host memory the copy has left the caller's buffer when this returns. */
    check(cudaMemcpyAsync(dst, src, (size_t)n * sizeof(float), cudaMemcpyHostToDevice, s.stream),
          "cudaMemcpyAsync (upload)");
}

void download(const Exec& ex, float* dst, const float* src, int64_t n) {
    State& s = state(ex);
    check(cudaMemcpyAsync(dst, src, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost, s.stream),
          "cudaMemcpyAsync (download)");
    check(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize (download)");
}

namespace {

__global__ void fill_kernel(float* dst, float value, int64_t n) {
    ES_GRID_STRIDE(i, n) dst[i] = value;
}

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t n) {
    ES_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

/* beta == 0 ignores y's old value (it may hold NaN), like the CPU backend. */
__global__ void axpby_kernel(float alpha, const float* x, float beta, float* y, int64_t n) {
    ES_GRID_STRIDE(i, n) y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
}

}  // namespace

void fill(const Exec& ex, float* dst, float value, int64_t n) {
    State& s = state(ex);
    fill_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(dst, value, n);
    check_launch("fill_kernel");
}

void copy(const Exec& ex, float* dst, const float* src, int64_t n) {
    if (dst == src || n == 0) return;
    State& s = state(ex);
    const size_t bytes = (size_t)n * sizeof(float);
    const bool overlap = dst < src + n && src < dst + n;
    if (!overlap) {
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s.stream),
              "cudaMemcpyAsync (copy)");
        return;
    }
    /* overlapping views of one storage: memmove semantics through a temporary */
    Scratch tmp(s, (int64_t)bytes);
    check(cudaMemcpyAsync(tmp.as<float>(), src, bytes, cudaMemcpyDeviceToDevice, s.stream),
          "cudaMemcpyAsync (copy)");
    check(cudaMemcpyAsync(dst, tmp.as<float>(), bytes, cudaMemcpyDeviceToDevice, s.stream),
          "cudaMemcpyAsync (copy)");
}

void add(const Exec& ex, const float* a, const float* b, float* y, int64_t n) {
    State& s = state(ex);
    add_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(a, b, y, n);
    check_launch("add_kernel");
}

void axpby(const Exec& ex, float alpha, const float* x, float beta, float* y, int64_t n) {
    State& s = state(ex);
    axpby_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(alpha, x, beta, y, n);
    check_launch("axpby_kernel");
}

/* ---- plain column sums ----------------------------------------------------------------- */

namespace {

struct PlainValue {
    const float* in;
    int64_t rows;
    int cols;
    __device__ void operator()(int seg, int64_t row, int col, double* acc) const {
        acc[0] += (double)in[((int64_t)seg * rows + row) * cols + col];
    }
};

__global__ void finalize_sums_kernel(const double* partial, int segments, int parts, int cols,
                                     double scale, float* out) {
    ES_GRID_STRIDE(i, (int64_t)segments * cols) {
        const int seg = (int)(i / cols), col = (int)(i % cols);
        out[i] = (float)(scale * sum_parts(partial, seg, parts, 1, 0, cols, col));
    }
}

}  // namespace

/* Kernels are launched only from the file that defines them (no relocatable device code). */
void finalize_column_sums(State& s, const char* name, const double* partial, int segments,
                          int parts, int cols, double scale, float* out) {
    finalize_sums_kernel<<<grid_for((int64_t)segments * cols), kThreads, 0, s.stream>>>(
        partial, segments, parts, cols, scale, out);
    check_launch(name);
}

void column_sums(State& s, const char* name, const float* in, int segments, int64_t rows,
                 int cols, double scale, float* out) {
    const ColumnSplit split = column_split(rows, cols, segments);
    Scratch partial(s, (int64_t)segments * split.parts * cols * (int64_t)sizeof(double));
    column_partials<1>(s, name, PlainValue{in, rows, cols}, segments, rows, cols, split,
                       partial.as<double>());
    finalize_column_sums(s, name, partial.as<double>(), segments, split.parts, cols, scale, out);
}

}  // namespace es::cuda
