/*
 * row_blocks.h — NHWC tensors as rows of C channels, cut into fixed blocks of rows: the
 * parallel loops and the per-channel sums of batchnorm.cpp and pool.cpp.
 *
 * Block size is a function of C alone (about kBlockElems elements, whole 64-row chunks), never
 * of the thread count, and per-channel sums are kept per block and added in block order. So
 * results are bit-identical whatever the thread count, and any thread may run any block
 * (for_each_unit: each its own contiguous share, then what is left of the others'), so a thread
 * that the OS preempts on a busy machine delays the op by about one block, not by its share.
 *
 * Within a block, rows are added 64 at a time into float accumulators (vectorised over the
 * contiguous channels, held in registers for a slice of channels at a time, or for passes that
 * write as they sum, in L1 for a whole row; see sum_rows) and each 64-row chunk into the
 * block's double accumulators, so the rounding error does not grow with the row count.
 */
#ifndef EFFISEG_CPU_ROW_BLOCKS_H
#define EFFISEG_CPU_ROW_BLOCKS_H

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels.h"

namespace es::cpu::ES_CPU_ISA {

/* A per-thread scratch buffer, grown on demand and kept for reuse (OpenMP reuses its
 * threads, so this is allocated once per thread, not per call). Two of them (slot 0 and 1),
 * for the two operands a block may need made at once (conv2d_common.h); sum_rows' row-major
 * chunk sums take slot 0, in passes that use no other scratch. */
inline float* scratch(size_t floats, int slot = 0) {
    thread_local std::vector<float> buffers[2];
    std::vector<float>& buffer = buffers[slot];
    if (buffer.size() < floats) {
        buffer.clear();
        buffer.shrink_to_fit();
        buffer.resize(floats);
    }
    return buffer.data();
}

/* The elementwise passes over rows of few channels (C divides kRun: 8, 16, 32) take kRun / C
 * rows at a time as one run of kRun values, with each per-channel coefficient repeated along
 * the run: a loop of a compile-time length instead of a short run-time one per row, whose
 * overhead made 8x224x224x16 12-14 % slower than the same bytes over 64 channels (batch norm's
 * passes; the batch norm dx and the squeeze-excite product that a pointwise conv makes per
 * block, conv2d_common.h). Each value goes through the same operations. */
constexpr int kRun = 64;

inline bool runs_of_rows(int C) { return C < kRun && kRun % C == 0; }

/* out[0 .. kRun) = coef repeated (runs_of_rows(C)). */
inline void tile_run(const float* coef, int C, float* out) {
    for (int i = 0; i < kRun; i++) out[i] = coef[i % C];
}

/* Rows added in float before the partial sum goes to double. */
constexpr int64_t kChunkRows = 64;
/* Elements per block: 128 KiB of floats, enough to amortise handing out a block. */
constexpr int64_t kBlockElems = 32768;

/* [0, rows) in blocks of `per_block` rows (the last one shorter). */
struct RowBlocks {
    int64_t rows;
    int64_t per_block;
    int64_t count() const { return (rows + per_block - 1) / per_block; }
    int64_t begin(int64_t b) const { return b * per_block; }
    int64_t end(int64_t b) const { return std::min(rows, (b + 1) * per_block); }
};

inline RowBlocks row_blocks(int64_t rows, int C) {
    const int64_t wanted = (kBlockElems / std::max(C, 1) + kChunkRows - 1) / kChunkRows * kChunkRows;
    return RowBlocks{rows, std::max(wanted, kChunkRows)};
}

/* f(u) for u in [0, count), in parallel on up to `threads` threads if more than one. Each thread
 * takes the units of its own contiguous share front to back, then what is left of the other
 * threads' shares from their back ends: one stream of addresses per thread, as with a static
 * split, and a thread that the OS preempts delays the op by about one unit, not by its whole
 * share. (Handed out one at a time in turn, the two threads' blocks interleaved, batch norm's
 * forward, pooled forward and backward took 1.09-1.13x, 1.15-1.23x and 1.21-1.27x the time,
 * summed over the network's widths at 8 images, 2 threads.) Which thread runs a unit never
 * changes what it computes. */
template <class F>
void for_each_unit(int threads, int64_t count, F&& f) {
    const int T = (int)std::min<int64_t>(threads, count);
    if (T <= 1 || count > INT32_MAX) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (count > 1)
        for (int64_t u = 0; u < count; u++) f(u);
        return;
    }
    /* share t: units [front, back) packed as front | back << 32, taken by CAS */
    struct alignas(64) Share {
        std::atomic<uint64_t> range;
    };
    std::unique_ptr<Share[]> shares(new Share[T]);
    for (int t = 0; t < T; t++) {
        const uint64_t front = (uint64_t)(count * t / T), back = (uint64_t)(count * (t + 1) / T);
        shares[t].range.store(front | back << 32, std::memory_order_relaxed);
    }
    /* the next unit of share t from its front (own) or back (another thread's), or -1 */
    auto take = [&](int t, bool own) -> int64_t {
        std::atomic<uint64_t>& range = shares[t].range;
        uint64_t r = range.load(std::memory_order_relaxed);
        for (;;) {
            const uint64_t front = r & 0xffffffffu, back = r >> 32;
            if (front >= back) return -1;
            const uint64_t next = own ? (front + 1) | back << 32 : front | (back - 1) << 32;
            if (range.compare_exchange_weak(r, next, std::memory_order_relaxed))
                return (int64_t)(own ? front : back - 1);
        }
    };
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        for (int64_t u; (u = take(t, true)) >= 0;) f(u);
        for (int k = 1; k < T; k++) /* shares whose thread is busy, or that no thread started */
            for (int64_t u; (u = take((t + k) % T, false)) >= 0;) f(u);
    }
}

template <class F>
void for_each_unit(const Exec& ex, int64_t count, F&& f) {
    for_each_unit(ex.threads, count, std::forward<F>(f));
}

/* f(begin, end) for every block of rows. */
template <class F>
void for_each_block(const Exec& ex, const RowBlocks& blocks, F&& f) {
    for_each_unit(ex, blocks.count(), [&](int64_t b) { f(blocks.begin(b), blocks.end(b)); });
}

/* K double accumulators of C channels for each of `units` work units, each padded to whole
 * cache lines so that units running on different threads never share a line. */
class UnitSums {
public:
    UnitSums(int64_t units, int K, int C)
        : K_(K), C_(C), stride_((C + 7) / 8 * 8), data_((size_t)units * K * stride_, 0.0) {}
    double* at(int64_t unit, int k) { return data_.data() + ((size_t)unit * K_ + k) * stride_; }
    /* out[c] = sum over units [u0, u1) of accumulator k, added in unit order. */
    void combine(int64_t u0, int64_t u1, int k, double* out) {
        std::fill(out, out + C_, 0.0);
        for (int64_t u = u0; u < u1; u++) {
            const double* src = at(u, k);
            for (int c = 0; c < C_; c++) out[c] += src[c];
        }
    }

private:
    int K_, C_, stride_;
    std::vector<double> data_;
};

/* The widest channel slice sum_rows keeps in registers: four vectors of the path's width
 * (16, 8 or 4 floats), so K = 2 sums of it take 8 of the 32, 16 or 16 vector registers. */
#if defined(__AVX512F__)
constexpr int kSliceLanes = 64;
#elif defined(__AVX2__)
constexpr int kSliceLanes = 32;
#else
constexpr int kSliceLanes = 16;
#endif

/* For rows [begin, end): per-channel sums of row_fn's values into dst[k] (double), K sums.
 * row_fn(r, c0, width, acc) adds channels [c0, c0 + width) of row r into acc[k][0 .. width),
 * looping `for (int j = 0; j < width; j++)` under `omp simd`; width is a compile-time
 * std::integral_constant for whole slices (kSliceLanes, then at most one each of 3/4, 1/2, 1/4
 * and 1/8 of it: every multiple of 8 channels) and an int for any channels left. The
 * accumulators are a local array, kept in registers over a slice's rows: with a run-time width
 * they went through memory on every row, a store-to-load chain that made the small-C passes
 * (the decoder's 16 and 32 channels over every pixel) latency-bound.
 * Every kChunkRows rows a slice's float sums are added into dst[k] in double. Each channel is
 * summed over rows in ascending order, so the result does not depend on the slicing.
 * ROW_MAJOR: rows wider than one slice are taken front to back, all of a row's slices before
 * the next row, with the chunk's float sums in memory (L1) instead of registers: the same
 * additions in the same order, so the same bits. A slice at a time walks each chunk's rows
 * once per slice; for batch norm's backward first pass, which reads two tensors and writes a
 * third as it sums, that left the whole backward 0-15 % slower than front to back on the
 * network's 96-1152 channels (8 images, 2 threads; 56x56x144 the most, 5 % over all of them).
 * Passes that only read were as fast or faster with the sums in registers, and the pooled
 * normalising pass no faster front to back. */
template <int K, bool ROW_MAJOR = false, class RowFn>
void sum_rows(int C, int64_t begin, int64_t end, double* const* dst, RowFn&& row_fn) {
    constexpr int L = kSliceLanes;
    /* Channels [0, C) as sum_rows' slices: f(c0, width) for each. */
    auto for_slices = [&](auto&& f) {
        int c = 0;
        for (; c + L <= C; c += L) f(c, std::integral_constant<int, L>{});
        auto part = [&](auto width) {
            if (C - c >= (int)width) {
                f(c, width);
                c += (int)width;
            }
        };
        part(std::integral_constant<int, L * 3 / 4>{});
        part(std::integral_constant<int, L / 2>{});
        part(std::integral_constant<int, L / 4>{});
        part(std::integral_constant<int, L / 8>{});
        if (c < C) f(c, C - c);
    };
    if (ROW_MAJOR && C > L) {
        float* const sums = scratch((size_t)K * C); /* once per call, not per row */
        struct Acc {
            float* p[K];
            float* operator[](int k) const { return p[k]; }
        };
        for (int64_t r0 = begin; r0 < end; r0 += kChunkRows) {
            const int64_t r1 = std::min(r0 + kChunkRows, end);
            std::fill(sums, sums + (size_t)K * C, 0.0f);
            for (int64_t r = r0; r < r1; r++)
                for_slices([&](int c0, auto width) {
                    Acc acc;
                    for (int k = 0; k < K; k++) acc.p[k] = sums + (size_t)k * C + c0;
                    row_fn(r, c0, width, acc);
                });
            for (int k = 0; k < K; k++)
                for (int c = 0; c < C; c++) dst[k][c] += sums[(size_t)k * C + c];
        }
        return;
    }
    for (int64_t r0 = begin; r0 < end; r0 += kChunkRows) {
        const int64_t r1 = std::min(r0 + kChunkRows, end);
        for_slices([&](int c0, auto width) {
            float acc[K][kSliceLanes] = {};
            for (int64_t r = r0; r < r1; r++) row_fn(r, c0, width, acc);
            for (int k = 0; k < K; k++)
                for (int j = 0; j < (int)width; j++) dst[k][c0 + j] += acc[k][j];
        });
    }
}

/* sum_over_samples (below) that first calls before_chunk(n, r0, r1) for each chunk of
 * kChunkRows rows [r0, r1) of sample n, then sums that chunk (one sum_rows call per chunk: the
 * same chunks, so the same additions, as one call over the block). */
template <class RowFn, class ChunkFn>
void sum_over_samples(const Exec& ex, int N, int64_t HW, int C, std::vector<double>& out,
                      RowFn&& row_fn, ChunkFn&& before_chunk) {
    const RowBlocks hw = row_blocks(HW, C);
    const int64_t per_sample = hw.count();
    UnitSums sums(N * per_sample, 1, C);
    for_each_unit(ex, N * per_sample, [&](int64_t u) {
        const int n = (int)(u / per_sample);
        const int64_t b = u % per_sample;
        double* dst[1] = {sums.at(u, 0)};
        auto rows = [&](int64_t r, int c0, auto width, auto& acc) {
            row_fn(n, r, c0, width, acc[0]);
        };
        for (int64_t r0 = hw.begin(b); r0 < hw.end(b); r0 += kChunkRows) {
            const int64_t r1 = std::min(r0 + kChunkRows, hw.end(b));
            before_chunk(n, r0, r1);
            sum_rows<1>(C, r0, r1, dst, rows);
        }
    });
    out.assign((size_t)N * C, 0.0);
    for (int n = 0; n < N; n++) sums.combine(n * per_sample, (n + 1) * per_sample, 0, &out[(size_t)n * C]);
}

/* out[n, c] = sum over each sample's HW rows of row_fn's values (global average pooling's sums,
 * also fused into batch norm's normalising pass): per-(sample, block) double sums, blocks of
 * row_blocks(HW, C), work units = samples x blocks (enough to keep every thread busy even at
 * batch 1), combined in order, so the same bits whatever the thread count. row_fn(n, r, c0,
 * width, acc) adds channels [c0, c0 + width) of row r of sample n into acc[0 .. width) (sum_rows'
 * row function with the sample). */
template <class RowFn>
void sum_over_samples(const Exec& ex, int N, int64_t HW, int C, std::vector<double>& out,
                      RowFn&& row_fn) {
    sum_over_samples(ex, N, HW, C, out, std::forward<RowFn>(row_fn), [](int, int64_t, int64_t) {});
}

}  // namespace es::cpu::ES_CPU_ISA

#endif
