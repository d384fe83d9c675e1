/*
 * channel_sums.h — per-channel sums over many NHWC rows, accurate and deterministic.
 * Used by batchnorm.cpp (statistics, gradient sums) and pool.cpp (average pooling,
 * squeeze-excite gate gradient).
 *
 * Rows are split into contiguous blocks ("parts"); a part adds its rows 64 at a time into
 * float accumulators (vectorised over the contiguous channels) and each 64-row chunk into
 * double accumulators, so rounding error does not grow with the row count. Parts are then
 * combined in part order. The split depends only on the requested thread count and the
 * shape, never on how many threads OpenMP actually grants: same thread count, same bits.
 */
#ifndef EFFISEG_CPU_CHANNEL_SUMS_H
#define EFFISEG_CPU_CHANNEL_SUMS_H

#include <algorithm>
#include <cstdint>
#include <vector>

namespace es::cpu {

/* Rows added in float before the partial sum goes to double. */
constexpr int64_t kChunkRows = 64;
/* Elements below which another thread is not worth starting. */
constexpr int64_t kMinElemsPerPart = 16384;

/* rows split into `count` contiguous blocks. */
struct RowParts {
    int count;
    int64_t rows;
    int64_t begin(int p) const { return rows * p / count; }
    int64_t end(int p) const { return rows * (p + 1) / count; }
};

/* At most `threads` parts, each with at least kMinElemsPerPart elements (and one row). */
inline RowParts row_parts(int threads, int64_t rows, int64_t row_elems) {
    const int64_t by_work = rows * row_elems / kMinElemsPerPart;
    const int64_t count = std::min<int64_t>({(int64_t)std::max(threads, 1), by_work, rows});
    return RowParts{(int)std::max<int64_t>(count, 1), rows};
}

/* K double accumulators of C channels for each of `units` work units, each padded to whole
 * cache lines so that units running on different threads never share a line. */
class UnitSums {
public:
    UnitSums(int units, int K, int C)
        : K_(K), C_(C), stride_((C + 7) / 8 * 8), data_((size_t)units * K * stride_, 0.0) {}
    double* at(int unit, int k) { return data_.data() + ((size_t)unit * K_ + k) * stride_; }
    /* out[c] = sum over units [u0, u1) of accumulator k, added in unit order. */
    void combine(int u0, int u1, int k, double* out) {
        std::fill(out, out + C_, 0.0);
        for (int u = u0; u < u1; u++) {
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

}  // namespace es::cpu

#endif
