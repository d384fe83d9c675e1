/*
 * common.cuh — what every file of the CUDA backend shares: the per-context state (device,
 * stream, cuBLAS/cuDNN handles, caching allocator), error checks that throw es::Error
 * naming the call, scratch memory, grid-stride launch helpers and the deterministic
 * column-sum machinery used by batch norm, pooling, conv gradients and the bias gradient.
 *
 * Conventions: every launcher calls state(ex) first (it makes the context's device current
 * on this thread), enqueues on s.stream, and calls check_launch("kernel name") after each
 * launch. Nothing here synchronises with the host.
 */
#ifndef EFFISEG_CUDA_COMMON_CUH
#define EFFISEG_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "error.h"
#include "kernels.h"

namespace es::cuda {

/* ---- errors -------------------------------------------------------------------------- */

[[noreturn]] void fail(es_status status, const std::string& message);
void check(cudaError_t err, const char* what);
void check(cublasStatus_t err, const char* what);
void check(cudnnStatus_t err, const char* what);
/* After a launch: a bad configuration or an earlier asynchronous fault, named by kernel. */
void check_launch(const char* kernel);

/* ---- per-context state --------------------------------------------------------------- */

/* Device memory cache of one context (memory.cu). Blocks are kept in free lists by size
 * class and handed out again only to work on the same stream, so reuse needs no
 * synchronisation: the stream orders the old reader before the new writer. */
struct Allocator {
    std::mutex mu;
    std::map<size_t, std::vector<void*>> free_blocks; /* size class -> blocks */
    std::unordered_map<void*, size_t> live;           /* block -> size class */
    int64_t live_bytes = 0, cached_bytes = 0;         /* in size classes */
    int64_t peak_live_bytes = 0, peak_reserved_bytes = 0;
    int64_t device_mallocs = 0, cache_hits = 0;
};

/* A cuDNN algorithm choice for one convolution geometry (conv2d_cudnn.cu). */
struct ConvAlgos {
    int fwd = -1, bwd_data = -1, bwd_filter = -1;           /* -1: not chosen yet */
    int fwd_math = 0, bwd_data_math = 0, bwd_filter_math = 0; /* cudnnMathType_t */
    size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
    /* per pass, the (algorithm, math type) pairs that failed with CUDNN_STATUS_NOT_SUPPORTED
     * when run (bit 2*algo + (math != FMA)); pick() skips them */
    uint32_t rejected[3] = {0, 0, 0};
};
using ConvKey = std::array<int, 14>;

struct State {
    int device = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    cudnnHandle_t cudnn = nullptr;
    Allocator alloc;
    /* Set by context_destroy while tensors of the context are still alive (the C ABI lets
     * a tensor outlive its context): the state then lives on until the last block is
     * released, so Storage's pointer to it never dangles. Guarded by alloc.mu. */
    bool closed = false;
    std::mutex conv_mu;
    std::map<ConvKey, ConvAlgos> conv_algos;
};

/* The context's state, with its device made current on the calling thread. */
State& state(const Exec& ex);
/* memory.cu: device memory from the context's cache (zero-filled if asked) and back. */
void* allocate(State& s, int64_t bytes, bool zero);
void deallocate(State& s, void* ptr);
/* memory.cu, for context_destroy: synchronises the stream, marks the state closed, frees
 * every cached block; returns whether no block is live any more (then the state can go). */
bool close_allocator(State& s);
/* backend.cu: frees handles, stream and the state (all blocks must be released). */
void destroy_state(State* s);

/* Temporary device memory for one op, returned to the cache when it goes out of scope.
 * Returning it before the kernels that use it have run is safe: only later work on the
 * same stream can receive the block again. */
class Scratch {
   public:
    Scratch(State& s, int64_t bytes, bool zero = false)
        : s_(s), p_(bytes > 0 ? allocate(s, bytes, zero) : nullptr) {}
    ~Scratch() {
        if (p_) deallocate(s_, p_);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    template <class T>
    T* as() const { return static_cast<T*>(p_); }

   private:
    State& s_;
    void* p_;
};

/* ---- launch helpers ------------------------------------------------------------------ */

constexpr int kThreads = 256;

/* Blocks for a grid-stride loop over n elements (capped; the loop covers the rest). */
inline unsigned grid_for(int64_t n, int threads = kThreads) {
    int64_t blocks = (n + threads - 1) / threads;
    return (unsigned)std::max<int64_t>(1, std::min<int64_t>(blocks, 1 << 20));
}

#define ES_GRID_STRIDE(i, n)                                                    \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (int64_t)gridDim.x * blockDim.x)

/* ---- deterministic column sums --------------------------------------------------------
 * A [segments][rows][cols] problem (cols fastest, like NHWC channels) is summed in two
 * stages: column_partials_kernel writes, per (segment, part, k, col), the sum of K values
 * f(seg, row, col) over one contiguous range of rows (in double, fixed order: thread rows
 * strided by 8, then the 8 thread rows in order); the caller's finalize kernel adds the
 * parts in order with sum_parts. The split depends only on the shape, so results are
 * bit-identical from run to run. Blocks are 32 columns x 8 rows: reads are coalesced over
 * the columns. */

constexpr int kColTile = 32, kRowLanes = 8;

struct ColumnSplit {
    int parts;
    int64_t rows_per_part;
};

/* About 1024 blocks in all, parts of at least 64 rows, at most 1024 parts. */
inline ColumnSplit column_split(int64_t rows, int cols, int segments) {
    const int64_t other = (int64_t)((cols + kColTile - 1) / kColTile) * segments;
    const int64_t want = std::max<int64_t>(1, 1024 / std::max<int64_t>(1, other));
    const int64_t most = std::max<int64_t>(1, rows / 64);
    const int parts = (int)std::min<int64_t>(std::min(want, most), 1024);
    return {parts, (rows + parts - 1) / parts};
}

/* F: struct with  __device__ void operator()(int seg, int64_t row, int col, double* acc)
 * adding its K values into acc[0..K). */
template <int K, class F>
__global__ void column_partials_kernel(F f, int64_t rows, int cols, int parts,
                                       int64_t rows_per_part, double* partial) {
    __shared__ double lanes[K][kRowLanes][kColTile + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int col = blockIdx.x * kColTile + tx;
    const int part = blockIdx.y, seg = blockIdx.z;
    double acc[K];
#pragma unroll
    for (int k = 0; k < K; k++) acc[k] = 0.0;
    if (col < cols) {
        const int64_t r0 = (int64_t)part * rows_per_part;
        const int64_t r1 = min(rows, r0 + rows_per_part);
        for (int64_t r = r0 + ty; r < r1; r += kRowLanes) f(seg, r, col, acc);
    }
#pragma unroll
    for (int k = 0; k < K; k++) lanes[k][ty][tx] = acc[k];
    __syncthreads();
    if (ty == 0 && col < cols) {
#pragma unroll
        for (int k = 0; k < K; k++) {
            double s = 0.0;
            for (int j = 0; j < kRowLanes; j++) s += lanes[k][j][tx];
            partial[(((int64_t)seg * parts + part) * K + k) * cols + col] = s;
        }
    }
}

/* Launches stage 1 into partial [segments][split.parts][K][cols] (doubles). */
template <int K, class F>
void column_partials(State& s, const char* name, const F& f, int segments, int64_t rows,
                     int cols, const ColumnSplit& split, double* partial) {
    dim3 block(kColTile, kRowLanes);
    dim3 grid((unsigned)((cols + kColTile - 1) / kColTile), (unsigned)split.parts,
              (unsigned)segments);
    column_partials_kernel<K><<<grid, block, 0, s.stream>>>(f, rows, cols, split.parts,
                                                          split.rows_per_part, partial);
    check_launch(name);
}

/* Stage 2 helper: the sum over parts (in order) of value k of column col in segment seg. */
__device__ __forceinline__ double sum_parts(const double* partial, int seg, int parts, int K,
                                            int k, int cols, int col) {
    double s = 0.0;
    for (int p = 0; p < parts; p++) s += partial[(((int64_t)seg * parts + p) * K + k) * cols + col];
    return s;
}

/* Stage 2 for plain K = 1 sums: out[seg*cols + col] = scale * (sum of the parts), as float. */
void finalize_column_sums(State& s, const char* name, const double* partial, int segments,
                          int parts, int cols, double scale, float* out);
/* out[seg][col] = scale * sum over rows of in[seg][row][col], deterministic. */
void column_sums(State& s, const char* name, const float* in, int segments, int64_t rows,
                 int cols, double scale, float* out);

}  // namespace es::cuda

#endif
