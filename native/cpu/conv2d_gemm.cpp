/*
 * conv2d_gemm.cpp — the GEMM path of conv2d.cpp: pointwise convolutions (1x1, stride 1, no
 * padding) as sgemm on the activations as they lie, [rows, Cin] x [Cin, Cout], in chunks of
 * rows, no copies; everything else that is neither depthwise nor short dense (dense KxK,
 * strided 1x1, grouped) as im2col of tiles of whole output rows (about kColTileBytes each),
 * then sgemm. Backward uses the same tiles: dw += colᵀ·dy, dcol = dy·Wᵀ and col2im, running
 * tiles of even and odd index in two rounds so that tiles that share input rows never run at
 * the same time.
 *
 * One thread pool only: OpenBLAS runs single-threaded and each OpenMP thread calls sgemm on
 * its own tile or chunk. Letting OpenBLAS run its own pthreads next to OpenMP's made these
 * paths 5-10x slower whenever the two cores were also busy with anything else (both pools
 * spin-wait for each other), and OpenBLAS cannot split dw's long reduction over pixels across
 * threads anyway.
 *
 * The pointwise chunks take the gated product x * s, a batch norm's unfinished dx as dy, or a
 * second block of input channels (a second sgemm into the same output; in backward, a second
 * pair of sgemms on the same dy rows) the same way as the direct path's blocks
 * (conv2d_pointwise.cpp), a chunk at a time.
 *
 * Scratch memory (im2col tiles) lives in a per-thread buffer that grows to the largest tile
 * requested (about kColTileBytes) and is reused, so hot loops do not page-fault fresh blocks.
 */
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "conv2d_common.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* OpenBLAS keeps one process-wide thread count; only change it when it differs. */
void set_blas_threads(int threads) {
    static std::atomic<int> current{-1};
    if (current.load(std::memory_order_relaxed) != threads) {
        openblas_set_num_threads(threads);
        current.store(threads, std::memory_order_relaxed);
    }
}

/* One thread pool only: OpenBLAS runs single-threaded, and each OpenMP thread calls it on its
 * own tile. (OpenBLAS's own threads next to OpenMP's spin against each other on a small
 * machine, and it cannot split a long reduction such as dw = colᵀ·dy across threads.) */

/* Target size of one thread's im2col tile: a few hundred KB to a few MB stays near L2. */
constexpr int64_t kColTileBytes = int64_t(2) << 20;
/* Fewer GEMM rows than this make OpenBLAS repack the weights for too little work. */
constexpr int64_t kMinGemmRows = 256;

/* Rows per piece when `items` rows are cut for `threads` threads: about `budget` rows, with
 * several threads at most a quarter of a thread's share (to balance the load), at least
 * kMinGemmRows pixels (`pixels_per_row` each) as long as that stays within 4x the budget and
 * leaves no thread without work, at least `floor_rows`; then evened out over a number of
 * pieces that is a multiple of the thread count (7 pieces of 8x14x14 on 2 threads left one
 * thread a piece of idle time, 12 % of the op). */
int64_t piece_rows(int64_t items, int64_t pixels_per_row, int64_t budget, int threads,
                   int64_t floor_rows) {
    budget = std::max<int64_t>(1, budget);
    int64_t rows = budget;
    if (threads > 1) rows = std::min(rows, (items + 4 * threads - 1) / (4 * threads));
    const int64_t min_rows = (kMinGemmRows + pixels_per_row - 1) / pixels_per_row;
    rows = std::max(rows, std::min(min_rows, 4 * budget));
    rows = std::min(rows, (items + threads - 1) / threads);
    rows = std::min(std::max(rows, floor_rows), items);
    int64_t pieces = (items + rows - 1) / rows;
    if (threads > 1) pieces = std::min(items, (pieces + threads - 1) / threads * threads);
    return std::max(floor_rows, (items + pieces - 1) / pieces);
}

struct GemmShape {
    int Cin_g, Cout_g; /* channels per group */
    int K;             /* KH*KW*Cin_g: the reduction length of the forward GEMM */
    int64_t rows_per_tile; /* output rows (n, oh), counted across images, per tile */
    int64_t tiles;
};

/* Tiles are runs of whole output rows, counted across images (r = n*OH + oh), so that small
 * images still give GEMMs of a few hundred rows. Each holds at least KH rows (so in col2im
 * only neighbouring tiles touch the same input rows) and about kColTileBytes of im2col. */
GemmShape gemm_shape(const ConvGeom& g, int threads) {
    GemmShape s;
    s.Cin_g = g.Cin / g.groups;
    s.Cout_g = g.Cout / g.groups;
    s.K = g.KH * g.KW * s.Cin_g;
    const int64_t out_rows = (int64_t)g.N * g.OH;
    const int64_t row_bytes = (int64_t)g.OW * s.K * (int64_t)sizeof(float);
    s.rows_per_tile = piece_rows(out_rows, g.OW, kColTileBytes / row_bytes, threads,
                                 std::min<int64_t>(g.KH, out_rows));
    s.tiles = (out_rows + s.rows_per_tile - 1) / s.rows_per_tile;
    return s;
}

/* Multiply-adds of the forward GEMM (and of each of the two backward ones). */
double gemm_work(const ConvGeom& g) {
    return (double)g.N * g.OH * g.OW * g.KH * g.KW * (g.Cin / g.groups) * g.Cout;
}

/* Output rows [r0, r1), r = n*OH + oh. */
struct Tile {
    int64_t r0, r1;
    int64_t pixels(const ConvGeom& g) const { return (r1 - r0) * g.OW; }
    int64_t first_pixel(const ConvGeom& g) const { return r0 * g.OW; }
};

Tile tile_at(const ConvGeom& g, const GemmShape& s, int64_t t) {
    const int64_t r0 = t * s.rows_per_tile;
    return {r0, std::min((int64_t)g.N * g.OH, r0 + s.rows_per_tile)};
}

/* col[p, (kh*KW + kw)*Cin_g + ci] = x[n, ih, iw, group*Cin_g + ci] (0 in the padding) for the
 * tile's output pixels p. */
void im2col(const ConvGeom& g, const GemmShape& s, const float* x, int group, const Tile& t,
            float* col) {
    const int Cg = s.Cin_g, KW = g.KW;
    /* without groups, the KW taps of a kernel row are one contiguous run of x */
    const bool runs = g.groups == 1;
    float* dst = col;
    for (int64_t r = t.r0; r < t.r1; r++) {
        const int n = (int)(r / g.OH), ih0 = (int)(r % g.OH) * g.stride_h - g.pad_top;
        for (int ow = 0; ow < g.OW; ow++) {
            const int iw0 = ow * g.stride_w - g.pad_left;
            const bool cols_ok = iw0 >= 0 && iw0 + KW <= g.W;
            for (int kh = 0; kh < g.KH; kh++) {
                const int ih = ih0 + kh;
                const bool row_ok = ih >= 0 && ih < g.H;
                const int64_t xrow = ((int64_t)n * g.H + ih) * g.W * g.Cin + (int64_t)group * Cg;
                if (runs && row_ok && cols_ok) {
                    const float* src = x + xrow + (int64_t)iw0 * g.Cin;
                    for (int i = 0; i < KW * Cg; i++) dst[i] = src[i];
                    dst += KW * Cg;
                    continue;
                }
                for (int kw = 0; kw < KW; kw++, dst += Cg) {
                    const int iw = iw0 + kw;
                    if (row_ok && iw >= 0 && iw < g.W) {
                        const float* src = x + xrow + (int64_t)iw * g.Cin;
                        for (int ci = 0; ci < Cg; ci++) dst[ci] = src[ci];
                    } else {
                        for (int ci = 0; ci < Cg; ci++) dst[ci] = 0.0f;
                    }
                }
            }
        }
    }
}

/* The adjoint of im2col: dx[n, ih, iw, group*Cin_g + ci] += dcol entries of the tile. */
void col2im_add(const ConvGeom& g, const GemmShape& s, const float* dcol, int group,
                const Tile& t, float* dx) {
    const int Cg = s.Cin_g, KW = g.KW;
    const bool runs = g.groups == 1;
    const float* src = dcol;
    for (int64_t r = t.r0; r < t.r1; r++) {
        const int n = (int)(r / g.OH), ih0 = (int)(r % g.OH) * g.stride_h - g.pad_top;
        for (int ow = 0; ow < g.OW; ow++) {
            const int iw0 = ow * g.stride_w - g.pad_left;
            const bool cols_ok = iw0 >= 0 && iw0 + KW <= g.W;
            for (int kh = 0; kh < g.KH; kh++) {
                const int ih = ih0 + kh;
                const bool row_ok = ih >= 0 && ih < g.H;
                const int64_t xrow = ((int64_t)n * g.H + ih) * g.W * g.Cin + (int64_t)group * Cg;
                if (runs && row_ok && cols_ok) {
                    float* d = dx + xrow + (int64_t)iw0 * g.Cin;
#pragma omp simd
                    for (int i = 0; i < KW * Cg; i++) d[i] += src[i];
                    src += KW * Cg;
                    continue;
                }
                for (int kw = 0; kw < KW; kw++, src += Cg) {
                    const int iw = iw0 + kw;
                    if (!row_ok || iw < 0 || iw >= g.W) continue;
                    float* d = dx + xrow + (int64_t)iw * g.Cin;
#pragma omp simd
                    for (int ci = 0; ci < Cg; ci++) d[ci] += src[ci];
                }
            }
        }
    }
}

/* dst[i] = sum over parts of partial[part][i], in part order. */
void reduce_partials(const Exec& ex, const float* partial, int64_t parts, int64_t n, float* dst) {
#pragma omp parallel for num_threads(threads_for(ex, (double)n * parts)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float sum = partial[i];
        for (int64_t part = 1; part < parts; part++) sum += partial[part * n + i];
        dst[i] = sum;
    }
}

/* Parts of `chunks` for T threads taking them dynamically: kPartialsPerThread per thread, or
 * one, whichever divides the chunks evenly (6 chunks in 4 parts of 1, 2, 1 and 2 chunks went
 * 4 to one thread, 2 to the other); part_count's otherwise. */
int64_t even_parts(int64_t chunks, int T) {
    for (const int64_t parts : {(int64_t)T * kPartialsPerThread, (int64_t)T})
        if (parts > 1 && chunks >= parts && chunks % parts == 0) return parts;
    return part_count(chunks, T, kPartialsPerThread);
}

/* Pointwise: the activations are already the GEMM operand, taken in chunks of rows of about
 * kColTileBytes of x and y. */
int64_t pointwise_chunk_rows(const ConvGeom& g, int threads) {
    const int64_t M = (int64_t)g.N * g.OH * g.OW;
    const int64_t bytes_per_row = (int64_t)(g.Cin + g.Cout) * sizeof(float);
    return piece_rows(M, 1, kColTileBytes / bytes_per_row, threads, 1);
}

/* Small maps (the encoder's 7x7 to 28x28 stages): dy (made whole first when it is a batch
 * norm's unfinished dx) and the gated input fit in cache, so dx is cut by rows and dw by
 * columns: every thread's dw sgemm reduces over all M rows into its own columns of dw, with no
 * partial dw per part to zero, write and add (on 8x7x7 192->1152 the partials' sgemm ran at
 * 240 GFLOP/s against dx's 344). Up to this many bytes of dy and gated input. */
constexpr int64_t kWholeDyBytes = int64_t(8) << 20;

/* Fewer dw columns per thread than this made the column pieces skinny sgemms that lost to the
 * row parts (8x14x14 480->80 gated: 1.10-1.29x the time; 672->112 1.01-1.05x). */
constexpr int kMinColumnsPerThread = 96;

bool pointwise_by_columns(const ConvGeom& g, int T, int64_t M, bool gated) {
    const int64_t floats = M * ((int64_t)g.Cout + (gated ? g.Cin : 0));
    return T > 1 && g.groups == 1 && g.Cout >= kMinColumnsPerThread * T && M >= 32 * T &&
           floats * (int64_t)sizeof(float) <= kWholeDyBytes;
}

void pointwise_backward_by_columns(int T, const ConvGeom& g, const float* x, const float* gate,
                                   const float* w, const float* dy, const BnDy* bn, float* dx,
                                   float* dw, float* ds, const Blocks2& second) {
    const int C2 = second.C2;
    const int64_t M = (int64_t)g.N * g.H * g.W, hw = (int64_t)g.H * g.W;
    const int64_t w1size = (int64_t)g.Cin * g.Cout;
    const int64_t rows = (M + T - 1) / T; /* dx: T pieces of rows */
    const int64_t pieces = (M + rows - 1) / rows;
    const int cols = ((g.Cout + T - 1) / T + 7) / 8 * 8; /* dw: T pieces of 8-column groups */
    const int64_t col_pieces = (g.Cout + cols - 1) / cols;
    std::unique_ptr<float[]> dy_whole(bn ? new float[(size_t)(M * g.Cout)] : nullptr);
    std::unique_ptr<float[]> x_whole(gate && dw ? new float[(size_t)(M * g.Cin)] : nullptr);
    const float* dyf = bn ? dy_whole.get() : dy;
    const float* xg = x_whole ? x_whole.get() : x;
    std::optional<GateGrad> gate_grad;
    if (ds) gate_grad.emplace(M, hw, g.Cin, rows); /* a block per piece of rows */
    const int64_t dx_tasks = dx ? pieces : 0, tasks = dx_tasks + (dw ? col_pieces : 0);
#pragma omp parallel num_threads(T)
    {
        if (bn || x_whole) {
#pragma omp for schedule(static)
            for (int64_t p = 0; p < pieces; p++) {
                const int64_t r0 = p * rows, r1 = std::min(M, r0 + rows);
                if (bn) bn_dy_rows_into(*bn, g.Cout, r0, r1, dy_whole.get() + r0 * g.Cout);
                if (x_whole)
                    gated_rows_into(x, gate, g.Cin, hw, r0, r1, x_whole.get() + r0 * g.Cin);
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; task++) {
            if (task < dx_tasks) { /* rows [r0, r1) of dx = dy · wᵀ (and dx2) */
                const int64_t r0 = task * rows;
                const int Mp = (int)(std::min(M, r0 + rows) - r0);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Mp, g.Cin, g.Cout, 1.0f,
                            dyf + r0 * g.Cout, g.Cout, w, g.Cout, 0.0f, dx + r0 * g.Cin, g.Cin);
                if (second.dx2)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Mp, C2, g.Cout, 1.0f,
                                dyf + r0 * g.Cout, g.Cout, w + w1size, g.Cout, 0.0f,
                                second.dx2 + r0 * C2, C2);
                if (ds) gate_grad->add(task, r0, r0 + Mp, dx + r0 * g.Cin, x);
            } else { /* columns [c0, c0 + Nc) of dw = xᵀ · dy over all rows (and the x2 rows) */
                const int c0 = (int)((task - dx_tasks) * cols);
                const int Nc = std::min(cols, g.Cout - c0);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.Cin, Nc, (int)M, 1.0f, xg,
                            g.Cin, dyf + c0, g.Cout, 0.0f, dw + c0, g.Cout);
                if (second.x2)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C2, Nc, (int)M, 1.0f,
                                second.x2, C2, dyf + c0, g.Cout, 0.0f, dw + w1size + c0, g.Cout);
            }
        }
    }
    if (ds) gate_grad->combine(ds);
}

}  // namespace

void gemm_forward_pointwise(const Exec& ex, const ConvGeom& g, const float* x, const float* gate,
                            const float* w, const float* b, const ConvEpilogue& e, float* y,
                            const float* x2, int C2) {
    const float beta = b ? 1.0f : 0.0f;
    set_blas_threads(1);
    /* rows are independent (no reduction across chunks): any split gives the same y. Threads
     * and chunks are sized for both blocks' channels (all). */
    const int64_t M = (int64_t)g.N * g.OH * g.OW;
    ConvGeom all = g;
    all.Cin = g.Cin + C2;
    const int T =
        threads_for(ex, std::max(gemm_work(all), streaming_work((double)M * (all.Cin + g.Cout))));
    const GemmShape s = gemm_shape(g, T);
    const int64_t rows = pointwise_chunk_rows(all, T);
    const int64_t chunks = (M + rows - 1) / rows;
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t r0 = c * rows;
        const int Mc = (int)std::min(rows, M - r0);
        float* yc = y + r0 * g.Cout;
        /* the chunk's rows of the operand (gated: x * s, made here; groups is then 1) */
        const float* xc = gate ? gated_rows(x, gate, g.Cin, (int64_t)g.H * g.W, r0, r0 + Mc)
                               : x + r0 * g.Cin;
        for (int64_t r = 0; b && r < Mc; r++)
            std::memcpy(yc + r * g.Cout, b, (size_t)g.Cout * sizeof(float));
        for (int grp = 0; grp < g.groups; grp++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Mc, s.Cout_g, s.Cin_g, 1.0f,
                        xc + (int64_t)grp * s.Cin_g, g.Cin, w + (int64_t)grp * s.Cout_g, g.Cout,
                        beta, yc + (int64_t)grp * s.Cout_g, g.Cout);
        if (x2) /* the second block of input channels (no groups) adds its product */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Mc, g.Cout, C2, 1.0f,
                        x2 + r0 * C2, C2, w + (int64_t)g.Cin * g.Cout, g.Cout, 1.0f, yc, g.Cout);
        if (e.any())
            conv_epilogue(e, yc, e.residual ? e.residual + r0 * g.Cout : nullptr, Mc, g.Cout);
    }
}

void gemm_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                  const float* b, const ConvEpilogue& e, float* y) {
    if (is_pointwise(g)) {
        gemm_forward_pointwise(ex, g, x, nullptr, w, b, e, y);
        return;
    }
    const float beta = b ? 1.0f : 0.0f;
    set_blas_threads(1);
    const int T = threads_for(ex, gemm_work(g));
    const GemmShape s = gemm_shape(g, T);
    const int64_t tiles = s.tiles;
    const size_t col_floats = (size_t)s.rows_per_tile * g.OW * s.K;
#pragma omp parallel num_threads(T)
    {
        float* col = scratch(col_floats);
#pragma omp for schedule(dynamic, 1)
        for (int64_t ti = 0; ti < tiles; ti++) {
            const Tile t = tile_at(g, s, ti);
            const int Mt = (int)t.pixels(g);
            float* yt = y + t.first_pixel(g) * g.Cout;
            for (int64_t r = 0; b && r < Mt; r++)
                std::memcpy(yt + r * g.Cout, b, (size_t)g.Cout * sizeof(float));
            for (int grp = 0; grp < g.groups; grp++) {
                im2col(g, s, x, grp, t, col);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Mt, s.Cout_g, s.K, 1.0f,
                            col, s.K, w + (int64_t)grp * s.Cout_g, g.Cout, beta,
                            yt + (int64_t)grp * s.Cout_g, g.Cout);
            }
            if (e.any())
                conv_epilogue(e, yt, e.residual ? e.residual + t.first_pixel(g) * g.Cout : nullptr,
                              Mt, g.Cout);
        }
    }
}

void gemm_backward_pointwise(const Exec& ex, const ConvGeom& g, const float* x,
                             const float* gate, const float* w, const float* dy, const BnDy* bn,
                             float* dx, float* dw, float* ds, const Blocks2& second) {
    /* threads and chunks sized for both blocks' channels (all) */
    const int C2 = second.C2;
    ConvGeom all = g;
    all.Cin = g.Cin + C2;
    const int T = threads_for(ex, gemm_work(all));
    const GemmShape s = gemm_shape(g, T);
    set_blas_threads(1);
    const int64_t M = (int64_t)g.N * g.OH * g.OW;
    if (pointwise_by_columns(g, T, M, gate && dw)) {
        pointwise_backward_by_columns(T, g, x, gate, w, dy, bn, dx, dw, ds, second);
        return;
    }
    const int64_t rows = pointwise_chunk_rows(all, T);
    const int64_t chunks = (M + rows - 1) / rows;
    const int64_t parts = even_parts(chunks, T);
    /* a part's dw: x's rows [s.Cin_g][Cout], then the second block's [C2][Cout] */
    const int64_t w1size = (int64_t)s.Cin_g * g.Cout, wsize = w1size + (int64_t)C2 * g.Cout;
    /* every part has a chunk, whose sgemm (beta 0) writes all of the part's partial: no zeroing */
    const std::unique_ptr<float[]> partial(dw ? new float[(size_t)(parts * wsize)] : nullptr);
    std::optional<GateGrad> gate_grad;
    if (ds) gate_grad.emplace(M, (int64_t)g.H * g.W, g.Cin, rows); /* a block per chunk */
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        const int64_t c0 = part_begin(chunks, parts, part);
        const int64_t c1 = part_begin(chunks, parts, part + 1);
        for (int64_t c = c0; c < c1; c++) {
            const int64_t r0 = c * rows;
            const int Mc = (int)std::min(rows, M - r0);
            /* the chunk's dy (bn: the batch norm's dx, made here; groups is then 1) */
            const float* dy_rows = bn ? bn_dy_rows(*bn, g.Cout, r0, r0 + Mc) : dy + r0 * g.Cout;
            for (int grp = 0; grp < g.groups; grp++) {
                const float* dyc = dy_rows + (int64_t)grp * s.Cout_g;
                if (dx) /* dx = dy · w_gᵀ */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Mc, s.Cin_g, s.Cout_g,
                                1.0f, dyc, g.Cout, w + (int64_t)grp * s.Cout_g, g.Cout, 0.0f,
                                dx + r0 * g.Cin + (int64_t)grp * s.Cin_g, g.Cin);
                if (dw) { /* this part's dw (+)= xᵀ · dy (gated: (x * s)ᵀ · dy; groups is 1) */
                    const float* xc =
                        gate ? gated_rows(x, gate, g.Cin, (int64_t)g.H * g.W, r0, r0 + Mc)
                             : x + r0 * g.Cin;
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.Cin_g, s.Cout_g, Mc,
                                1.0f, xc + (int64_t)grp * s.Cin_g, g.Cin, dyc, g.Cout,
                                c == c0 ? 0.0f : 1.0f,
                                partial.get() + part * wsize + (int64_t)grp * s.Cout_g, g.Cout);
                }
            }
            if (second.x2) { /* no groups: the same dy rows times the second block's weights */
                if (second.dx2)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Mc, C2, g.Cout, 1.0f,
                                dy_rows, g.Cout, w + w1size, g.Cout, 0.0f, second.dx2 + r0 * C2,
                                C2);
                if (dw)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C2, g.Cout, Mc, 1.0f,
                                second.x2 + r0 * C2, C2, dy_rows, g.Cout, c == c0 ? 0.0f : 1.0f,
                                partial.get() + part * wsize + w1size, g.Cout);
            }
            if (ds) gate_grad->add(c, r0, r0 + Mc, dx + r0 * g.Cin, x);
        }
    }
    if (dw) reduce_partials(ex, partial.get(), parts, wsize, dw);
    if (ds) gate_grad->combine(ds);
}

void gemm_backward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                   const float* dy, float* dx, float* dw) {
    if (is_pointwise(g)) {
        gemm_backward_pointwise(ex, g, x, nullptr, w, dy, nullptr, dx, dw, nullptr);
        return;
    }
    const int T = threads_for(ex, gemm_work(g));
    const GemmShape s = gemm_shape(g, T);
    set_blas_threads(1);
    const int64_t tiles = s.tiles;
    const size_t col_floats = (size_t)s.rows_per_tile * g.OW * s.K;
    if (dw) { /* each part of the tiles sums colᵀ · dy into its own partial dw */
        const int64_t wsize = (int64_t)g.KH * g.KW * s.Cin_g * g.Cout;
        const int64_t parts = even_parts(tiles, T);
        /* every part has a tile, whose sgemm (beta 0) writes all of the part's partial */
        const std::unique_ptr<float[]> partial(new float[(size_t)(parts * wsize)]);
#pragma omp parallel num_threads(T)
        {
            float* col = scratch(col_floats);
#pragma omp for schedule(dynamic, 1)
            for (int64_t part = 0; part < parts; part++) {
                const int64_t t0 = part_begin(tiles, parts, part);
                for (int64_t ti = t0; ti < part_begin(tiles, parts, part + 1); ti++) {
                    const Tile t = tile_at(g, s, ti);
                    const float* dyt = dy + t.first_pixel(g) * g.Cout;
                    for (int grp = 0; grp < g.groups; grp++) {
                        im2col(g, s, x, grp, t, col);
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.K, s.Cout_g,
                                    (int)t.pixels(g), 1.0f, col, s.K,
                                    dyt + (int64_t)grp * s.Cout_g, g.Cout, ti == t0 ? 0.0f : 1.0f,
                                    partial.get() + part * wsize + (int64_t)grp * s.Cout_g,
                                    g.Cout);
                    }
                }
            }
        }
        reduce_partials(ex, partial.get(), parts, wsize, dw);
    }
    if (dx) { /* dcol = dy · W_gᵀ per tile, then col2im back to input pixels */
        const int64_t xsize = (int64_t)g.N * g.H * g.W * g.Cin;
#pragma omp parallel num_threads(T)
        {
            float* col = scratch(col_floats);
#pragma omp for schedule(static)
            for (int64_t i = 0; i < xsize; i++) dx[i] = 0.0f;
            /* Tiles of even index first, then odd ones: tiles running at the same time never
             * share input rows (a tile between them spans >= KH output rows, or they lie in
             * different images), and every dx element sums its contributions in the same
             * order whatever the thread count. */
            for (int parity = 0; parity < 2; parity++) {
#pragma omp for schedule(dynamic, 1)
                for (int64_t k = 0; k < (tiles + 1 - parity) / 2; k++) {
                    const int64_t ti = 2 * k + parity;
                    const Tile t = tile_at(g, s, ti);
                    const float* dyt = dy + t.first_pixel(g) * g.Cout;
                    for (int grp = 0; grp < g.groups; grp++) {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t.pixels(g), s.K,
                                    s.Cout_g, 1.0f, dyt + (int64_t)grp * s.Cout_g, g.Cout,
                                    w + (int64_t)grp * s.Cout_g, g.Cout, 0.0f, col, s.K);
                        col2im_add(g, s, col, grp, t, dx);
                    }
                }
            }
        }
    }
}

}  // namespace es::cpu::ES_CPU_ISA
