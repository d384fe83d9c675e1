/*
 * conv2d_winograd.cpp — dense 3x3 convolutions with stride 1 and no groups (EffiSegNet's decoder:
 * a 3x3 from each encoder scale to 32 channels) by Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of
 * output pixels (a tile) comes from the 4x4 input pixels under it as
 *   Y = Aᵀ [ Σ_ci (G w Gᵀ)[ci] ⊙ (Bᵀ d B)[ci] ] A
 * with 16 products per tile, channel pair and tile position where the direct sum has 36. The
 * sum over input channels is, for each of the 16 positions (ξ, ν), a matrix product
 * [tiles][Cin] · [Cin][Cout]: the row products of conv2d_rows.h over one row of tiles at a time,
 * whose transformed inputs and products (16 x tiles x channels each) stay in cache.
 *   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
 *   Aᵀ = [1 1 1 0; 0 1 -1 -1]
 * The transforms' coefficients are 0, ±1 and ±½ (exact in float): they round like a few more
 * additions, and the results agree with the direct sums to about 1e-6 of the largest output
 * (Conv2dOpTest's bounds are 1e-4). Pixels outside the input (padding) and outputs past the edge (a last half tile) are
 * zeros in the tiles.
 *   forward: as above, then bias and the epilogue per output row;
 *   dx:      the same forward on dy with the kernel turned by 180° and its channels swapped
 *            (w'[kh][kw][co][ci] = w[2-kh][2-kw][ci][co], padding 2 - pad): stride 1 makes dx a
 *            convolution of dy;
 * dw stays with the per-tap path (conv2d_taps.cpp): dw = Gᵀ [Σ_tiles (Bᵀ d B) ⊗ (A dY Aᵀ)] G,
 * its sum over tiles one product [Cin][tiles] · [tiles][Cout] per position, ran no faster
 * there (8x112x112 16->32: 4.0-4.3 ms against 4.0-4.2, 8x28x28 40->32 up to 1.3x slower): the
 * products over one row of tiles are too short for dw_rows, and the transforms cost what the
 * multiply-adds saved. On maps under 28 x 28 the forward too is no faster (14 x 14 the same,
 * 7 x 7 2-3x slower), so those stay with the per-tap path as well.
 * Every output element sums in a fixed order whatever the thread count.
 */
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv2d_common.h"
#include "conv2d_rows.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* The smallest output map (each side) this path takes: on smaller maps the rows of tiles are
 * too short for the transforms to pay off (above). */
constexpr int kMinMap = 28;

/* U[16][Cin][Cout] = G w Gᵀ for every channel pair; w is [3][3][Cin][Cout]. */
std::vector<float> transformed_weights(const float* w, int Cin, int Cout) {
    const int64_t pair = (int64_t)Cin * Cout;
    std::vector<float> u((size_t)(16 * pair));
    for (int64_t p = 0; p < pair; p++) {
        float k[3][3], t[4][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) k[i][j] = w[(i * 3 + j) * pair + p];
        for (int j = 0; j < 3; j++) { /* t = G k */
            t[0][j] = k[0][j];
            t[1][j] = 0.5f * (k[0][j] + k[1][j] + k[2][j]);
            t[2][j] = 0.5f * (k[0][j] - k[1][j] + k[2][j]);
            t[3][j] = k[2][j];
        }
        for (int i = 0; i < 4; i++) { /* u = t Gᵀ */
            float* ui = u.data() + (int64_t)i * 4 * pair + p;
            ui[0] = t[i][0];
            ui[pair] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            ui[2 * pair] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            ui[3 * pair] = t[i][2];
        }
    }
    return u;
}

/* One row of tiles of an image: the input rows ih0 .. ih0+3 (null: outside the image, zeros)
 * and the input column of the first tile's first pixel. */
struct TileRow {
    const float* rows[4];
    int iw0;
};

TileRow tile_row(const ConvGeom& g, const float* x, int n, int th) {
    TileRow t;
    const int ih0 = 2 * th - g.pad_top;
    for (int i = 0; i < 4; i++) {
        const int ih = ih0 + i;
        t.rows[i] = ih >= 0 && ih < g.H ? x + ((int64_t)n * g.H + ih) * g.W * g.Cin : nullptr;
    }
    t.iw0 = -g.pad_left;
    return t;
}

/* V[16][TW][C]: Bᵀ d B of every tile of the row, channels innermost; zero holds C zeros. */
void input_transform(const ConvGeom& g, const TileRow& tr, int TW, const float* zero, float* v) {
    const int C = g.Cin;
    const int64_t plane = (int64_t)TW * C;
    for (int tw = 0; tw < TW; tw++) {
        const float* p[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const int iw = tr.iw0 + 2 * tw + j;
                p[i][j] = tr.rows[i] && iw >= 0 && iw < g.W ? tr.rows[i] + (int64_t)iw * C : zero;
            }
        float* out = v + (int64_t)tw * C;
#pragma omp simd
        for (int c = 0; c < C; c++) {
            float t[4][4];
            for (int j = 0; j < 4; j++) { /* t = Bᵀ d, column j */
                t[0][j] = p[0][j][c] - p[2][j][c];
                t[1][j] = p[1][j][c] + p[2][j][c];
                t[2][j] = p[2][j][c] - p[1][j][c];
                t[3][j] = p[1][j][c] - p[3][j][c];
            }
            for (int i = 0; i < 4; i++) { /* v = t B */
                float* o = out + (int64_t)i * 4 * plane + c;
                o[0] = t[i][0] - t[i][2];
                o[plane] = t[i][1] + t[i][2];
                o[2 * plane] = t[i][2] - t[i][1];
                o[3 * plane] = t[i][1] - t[i][3];
            }
        }
    }
}

/* One tile's Aᵀ m A plus the bias, for channels [0, C): the whole 2x2 tile (Full), or only
 * the pixels inside the output (y1 null: no second row; col1 false: no second column). */
template <bool Full>
inline void output_tile(const float* mt, int64_t plane, int C, const float* bias, float* y0,
                        float* y1, bool col1) {
#pragma omp simd
    for (int c = 0; c < C; c++) {
        float s[2][4];
        for (int j = 0; j < 4; j++) { /* s = Aᵀ m, column j */
            const float m0 = mt[(0 * 4 + j) * plane + c], m1 = mt[(1 * 4 + j) * plane + c];
            const float m2 = mt[(2 * 4 + j) * plane + c], m3 = mt[(3 * 4 + j) * plane + c];
            s[0][j] = m0 + m1 + m2;
            s[1][j] = m1 - m2 - m3;
        }
        const float r00 = s[0][0] + s[0][1] + s[0][2] + bias[c];
        const float r01 = s[0][1] - s[0][2] - s[0][3] + bias[c];
        const float r10 = s[1][0] + s[1][1] + s[1][2] + bias[c];
        const float r11 = s[1][1] - s[1][2] - s[1][3] + bias[c];
        y0[c] = r00;
        if (Full) {
            y0[C + c] = r01;
            y1[c] = r10;
            y1[C + c] = r11;
        } else {
            if (col1) y0[C + c] = r01;
            if (y1) y1[c] = r10;
            if (y1 && col1) y1[C + c] = r11;
        }
    }
}

/* Output rows 2 th and 2 th + 1 of image n from M[16][TW][Cout]: Aᵀ m A, plus the bias
 * (Cout values). */
void output_transform(const ConvGeom& g, const float* m, int TW, int n, int th,
                      const float* bias, float* y) {
    const int C = g.Cout, oh = 2 * th;
    const int64_t plane = (int64_t)TW * C;
    const bool row1 = oh + 1 < g.OH;
    for (int tw = 0; tw < TW; tw++) {
        const int ow = 2 * tw;
        const bool col1 = ow + 1 < g.OW;
        float* y0 = y + (((int64_t)n * g.OH + oh) * g.OW + ow) * C;
        float* y1 = row1 ? y0 + (int64_t)g.OW * C : nullptr;
        const float* mt = m + (int64_t)tw * C;
        if (row1 && col1)
            output_tile<true>(mt, plane, C, bias, y0, y1, true);
        else
            output_tile<false>(mt, plane, C, bias, y0, y1, col1);
    }
}

}  // namespace

bool winograd_fits(const ConvGeom& g) {
    return g.OH >= kMinMap && g.OW >= kMinMap && g.KH == 3 && g.KW == 3 && g.stride_h == 1 &&
           g.stride_w == 1 && g.groups == 1 && g.Cin % 8 == 0 && g.Cout % 8 == 0 &&
           g.pad_top >= 0 && g.pad_top <= 2 && g.pad_left >= 0 && g.pad_left <= 2;
}

/* y = conv(x, w) + b then the epilogue; w is [3][3][Cin][Cout]. */
void winograd_forward(const Exec& ex, const ConvGeom& g, const float* x, const float* w,
                      const float* b, const ConvEpilogue& e, float* y) {
    const int Cin = g.Cin, Cout = g.Cout;
    const int TH = (g.OH + 1) / 2, TW = (g.OW + 1) / 2;
    const std::vector<float> u = transformed_weights(w, Cin, Cout);
    const std::vector<float> zero((size_t)std::max(Cin, Cout), 0.0f); /* padding, no bias */
    const int64_t rows = (int64_t)g.N * TH, pair = (int64_t)Cin * Cout;
    const int T = threads_for(ex, (double)rows * TW * 16 * pair);
    const int64_t parts = part_count(rows, T, kPartsPerThread);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t part = 0; part < parts; part++) {
        float* v = scratch((size_t)16 * TW * Cin, 0);
        float* m = scratch((size_t)16 * TW * Cout, 1);
        const int64_t r_end = part_begin(rows, parts, part + 1);
        for (int64_t r = part_begin(rows, parts, part); r < r_end; r++) {
            const int n = (int)(r / TH), th = (int)(r % TH);
            input_transform(g, tile_row(g, x, n, th), TW, zero.data(), v);
            for (int k = 0; k < 16; k++)
                rows_times<false>(v + (int64_t)k * TW * Cin, Cin, u.data() + k * pair, Cout, 0,
                                  TW, m + (int64_t)k * TW * Cout);
            output_transform(g, m, TW, n, th, b ? b : zero.data(), y);
            if (e.any())
                for (int oh = 2 * th; oh < std::min(g.OH, 2 * th + 2); oh++) {
                    const int64_t at = ((int64_t)n * g.OH + oh) * g.OW * Cout;
                    conv_epilogue(e, y + at, e.residual ? e.residual + at : nullptr, g.OW, Cout);
                }
        }
    }
}

void winograd_backward_dx(const Exec& ex, const ConvGeom& g, const float* w, const float* dy,
                          float* dx) {
    /* the forward of dy with w turned by 180 degrees and its channels swapped */
    const int Cin = g.Cin, Cout = g.Cout;
    const int64_t pair = (int64_t)Cin * Cout;
    std::vector<float> wt = transposed_taps(w, 9, Cin, Cout); /* [tap][Cout][Cin] */
    for (int k = 0; k < 4; k++) /* tap (kh, kw) to (2 - kh, 2 - kw): tap k to 8 - k */
        std::swap_ranges(wt.begin() + k * pair, wt.begin() + (k + 1) * pair,
                         wt.begin() + (8 - k) * pair);
    ConvGeom gt = g;
    gt.H = g.OH;
    gt.W = g.OW;
    gt.Cin = Cout;
    gt.OH = g.H;
    gt.OW = g.W;
    gt.Cout = Cin;
    gt.pad_top = 2 - g.pad_top;
    gt.pad_left = 2 - g.pad_left;
    winograd_forward(ex, gt, dy, wt.data(), nullptr, ConvEpilogue{}, dx);
}

}  // namespace es::cpu::ES_CPU_ISA
