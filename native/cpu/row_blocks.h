/*
 * row_blocks.h — NHWC tensors as rows of C channels, cut into fixed blocks of rows: the
 * parallel loops and the per-channel sums of batchnorm.cpp and pool.cpp.
 *
 * Block size is a function of C alone (about kBlockElems elements, whole 64-row chunks), never
 * of the thread count, and per-channel sums are kept per block and added in block order. So
 * results are bit-identical whatever the thread count, and blocks can be handed out
 * dynamically: a thread that the OS preempts on a busy machine delays the op by one block,
 * not by its whole static share.
 *
 * Within a block, rows are added 64 at a time into float accumulators (vectorised over the
 * contiguous channels) and each 64-row chunk into the block's double accumulators, so the
 * rounding error does not grow with the row count.
 */
#ifndef EFFISEG_CPU_ROW_BLOCKS_H
#define EFFISEG_CPU_ROW_BLOCKS_H

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels.h"

namespace es::cpu::ES_CPU_ISA {

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

/* f(u) for u in [0, count), in parallel (dynamically handed out) if more than one. */
template <class F>
void for_each_unit(const Exec& ex, int64_t count, F&& f) {
#pragma omp parallel for num_threads(ex.threads) schedule(dynamic, 1) if (count > 1)
    for (int64_t u = 0; u < count; u++) f(u);
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

/* For rows [begin, end): row_fn(r, acc) adds row r into the K float arrays acc[0..K) of C
 * channels; every kChunkRows rows they are added into dst[k] (double) and cleared. */
template <int K, class RowFn>
void sum_rows(int C, int64_t begin, int64_t end, double* const* dst, RowFn&& row_fn) {
    std::vector<float> buffer((size_t)K * C, 0.0f);
    float* acc[K];
    for (int k = 0; k < K; k++) acc[k] = buffer.data() + (size_t)k * C;
    for (int64_t r0 = begin; r0 < end; r0 += kChunkRows) {
        const int64_t r1 = std::min(r0 + kChunkRows, end);
        for (int64_t r = r0; r < r1; r++) row_fn(r, acc);
        for (int k = 0; k < K; k++) {
            double* d = dst[k];
            float* a = acc[k];
#pragma omp simd
            for (int c = 0; c < C; c++) {
                d[c] += a[c];
                a[c] = 0.0f;
            }
        }
    }
}

}  // namespace es::cpu::ES_CPU_ISA

#endif
