/*
 * conv2d_depthwise.cu — the depthwise path of conv2d.cu (native/cpu/conv2d_depthwise.cpp's
 * counterpart).
 *
 * depthwise (groups == Cin == Cout): hand-written kernels. Forward and backward-data are
 * gathers, one thread per output element (channel fastest: coalesced). Backward-filter sums
 * dy * x over the N*OH*OW output positions per (kh, kw, c): for 3x3 and 5x5 one thread per
 * channel and range of positions holds every tap's sum in registers (the position's indices
 * and dy are read once for all taps), the block adds its row lanes in a fixed order and a
 * second kernel adds the parts in order (deterministic); other sizes, and
 * EFFISEG_CUDA_CONV=simple, use the generic column sums of common.cuh, one (tap, channel)
 * column per thread.
 */
#include <cstdint>
#include <initializer_list>

#include "conv2d_common.cuh"

namespace es::cuda {

namespace {

__global__ void depthwise_forward_kernel(ConvGeom g, const float* x, const float* w,
                                         const float* b, float* y) {
    const int C = g.Cout;
    const int64_t n_out = (int64_t)g.N * g.OH * g.OW * C;
    ES_GRID_STRIDE(i, n_out) {
        const int c = (int)(i % C);
        const int64_t pix = i / C;
        const int ow = (int)(pix % g.OW);
        const int oh = (int)((pix / g.OW) % g.OH);
        const int64_t n = pix / ((int64_t)g.OW * g.OH);
        float acc = 0.0f;
        for (int kh = 0; kh < g.KH; kh++) {
            const int ih = oh * g.stride_h - g.pad_top + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                const int iw = ow * g.stride_w - g.pad_left + kw;
                if (iw < 0 || iw >= g.W) continue;
                acc += x[((n * g.H + ih) * g.W + iw) * C + c] * w[(kh * g.KW + kw) * C + c];
            }
        }
        y[i] = b ? acc + b[c] : acc;
    }
}

__global__ void depthwise_backward_data_kernel(ConvGeom g, const float* w, const float* dy,
                                               float* dx) {
    const int C = g.Cin;
    const int64_t n_in = (int64_t)g.N * g.H * g.W * C;
    ES_GRID_STRIDE(i, n_in) {
        const int c = (int)(i % C);
        const int64_t pix = i / C;
        const int iw = (int)(pix % g.W);
        const int ih = (int)((pix / g.W) % g.H);
        const int64_t n = pix / ((int64_t)g.W * g.H);
        float acc = 0.0f;
        for (int kh = 0; kh < g.KH; kh++) {
            const int th = ih + g.pad_top - kh; /* = oh * stride_h */
            if (th < 0 || th % g.stride_h != 0) continue;
            const int oh = th / g.stride_h;
            if (oh >= g.OH) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                const int tw = iw + g.pad_left - kw;
                if (tw < 0 || tw % g.stride_w != 0) continue;
                const int ow = tw / g.stride_w;
                if (ow >= g.OW) continue;
                acc += dy[((n * g.OH + oh) * g.OW + ow) * C + c] * w[(kh * g.KW + kw) * C + c];
            }
        }
        dx[i] = acc;
    }
}

/* Vectorised forward and backward-data (C % 4 == 0, 16-byte aligned tensors): one thread per
 * (pixel, 4 channels), float4 loads and stores, and 32-bit index arithmetic from a 2-D grid,
 * blockIdx.y = image row (n, oh) or (n, ih), x over (column, channel quad). Per channel the
 * products are added in the same (kh, kw) order as the scalar kernels above. */

__device__ __forceinline__ void fma4(float4& acc, const float4 a, const float4 b) {
    acc.x += a.x * b.x;
    acc.y += a.y * b.y;
    acc.z += a.z * b.z;
    acc.w += a.w * b.w;
}

__global__ void depthwise_forward_vec4_kernel(ConvGeom g, const float4* x, const float4* w,
                                              const float4* b, float4* y) {
    const int C4 = g.Cout / 4;
    const int i = blockIdx.x * blockDim.x + threadIdx.x; /* over OW * C4 */
    if (i >= g.OW * C4) return;
    const int c4 = i % C4, ow = i / C4;
    const int n = blockIdx.y / g.OH, oh = blockIdx.y % g.OH;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int kh = 0; kh < g.KH; kh++) {
        const int ih = oh * g.stride_h - g.pad_top + kh;
        if (ih < 0 || ih >= g.H) continue;
        const float4* row = x + ((int64_t)n * g.H + ih) * g.W * C4 + c4;
        for (int kw = 0; kw < g.KW; kw++) {
            const int iw = ow * g.stride_w - g.pad_left + kw;
            if (iw < 0 || iw >= g.W) continue;
            fma4(acc, row[(int64_t)iw * C4], w[(kh * g.KW + kw) * C4 + c4]);
        }
    }
    if (b) {
        const float4 bv = b[c4];
        acc.x += bv.x;
        acc.y += bv.y;
        acc.z += bv.z;
        acc.w += bv.w;
    }
    y[((int64_t)blockIdx.y * g.OW + ow) * C4 + c4] = acc;
}

__global__ void depthwise_backward_data_vec4_kernel(ConvGeom g, const float4* w, const float4* dy,
                                                    float4* dx) {
    const int C4 = g.Cin / 4;
    const int i = blockIdx.x * blockDim.x + threadIdx.x; /* over W * C4 */
    if (i >= g.W * C4) return;
    const int c4 = i % C4, iw = i / C4;
    const int n = blockIdx.y / g.H, ih = blockIdx.y % g.H;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int kh = 0; kh < g.KH; kh++) {
        const int th = ih + g.pad_top - kh; /* = oh * stride_h */
        if (th < 0 || th % g.stride_h != 0) continue;
        const int oh = th / g.stride_h;
        if (oh >= g.OH) continue;
        const float4* row = dy + ((int64_t)n * g.OH + oh) * g.OW * C4 + c4;
        for (int kw = 0; kw < g.KW; kw++) {
            const int tw = iw + g.pad_left - kw;
            if (tw < 0 || tw % g.stride_w != 0) continue;
            const int ow = tw / g.stride_w;
            if (ow >= g.OW) continue;
            fma4(acc, row[(int64_t)ow * C4], w[(kh * g.KW + kw) * C4 + c4]);
        }
    }
    dx[((int64_t)blockIdx.y * g.W + iw) * C4 + c4] = acc;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

/* Whether the vectorised kernels apply: 4-channel quads, aligned tensors (null ones count as
 * aligned), image rows within gridDim.y, and no EFFISEG_CUDA_CONV=simple. */
bool use_vec4(const ConvGeom& g, int rows, std::initializer_list<const void*> tensors) {
    if (g.Cin % 4 != 0 || rows > 65535 || conv_env_is("simple")) return false;
    for (const void* t : tensors)
        if (!aligned16(t)) return false;
    return true;
}

/* dw[kh,kw,c] = sum over (n,oh,ow) of dy[n,oh,ow,c] * x[n, oh*sh-pt+kh, ow*sw-pl+kw, c]:
 * rows = output positions, columns = (kh*KW + kw)*C + c. */
struct DepthwiseFilterGrad {
    ConvGeom g;
    const float *x, *dy;
    __device__ void operator()(int, int64_t row, int col, double* acc) const {
        const int C = g.Cin;
        const int c = col % C, k = col / C;
        const int kh = k / g.KW, kw = k % g.KW;
        const int ow = (int)(row % g.OW);
        const int oh = (int)((row / g.OW) % g.OH);
        const int64_t n = row / ((int64_t)g.OW * g.OH);
        const int ih = oh * g.stride_h - g.pad_top + kh;
        const int iw = ow * g.stride_w - g.pad_left + kw;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return;
        acc[0] += (double)dy[row * C + c] * (double)x[((n * g.H + ih) * g.W + iw) * C + c];
    }
};

/* The filter gradient for a KH x KW kernel. Block: kDwTile channels (blockDim.x, consecutive:
 * coalesced reads) x (kThreads / kDwTile) row lanes; blockIdx.x: channel tile, blockIdx.y:
 * part (a contiguous range of output positions). Lane ty sums the positions r0 + ty,
 * r0 + ty + lanes, ... in order, in double; the block then adds its lanes in order per tap
 * and writes partial[part][(kh*KW + kw)*C + c]. */
constexpr int kDwTile = 32;

template <int KH, int KW>
__global__ void depthwise_filter_grad_kernel(ConvGeom g, const float* x, const float* dy,
                                             int64_t rows, int64_t rows_per_part,
                                             double* partial) {
    __shared__ double lanes[kThreads];
    const int tx = threadIdx.x, ty = threadIdx.y, nlanes = blockDim.y;
    const int C = g.Cin;
    const int c = blockIdx.x * blockDim.x + tx;
    const int part = blockIdx.y;
    double acc[KH * KW];
#pragma unroll
    for (int k = 0; k < KH * KW; k++) acc[k] = 0.0;
    if (c < C) {
        const int64_t r0 = (int64_t)part * rows_per_part;
        const int64_t r1 = min(rows, r0 + rows_per_part);
        /* (n, oh, ow) of the first position by division, then stepped: at 9 taps per position
         * the divisions would cost more instructions than the sums */
        int64_t r = r0 + ty;
        int ow = (int)(r % g.OW), oh = (int)((r / g.OW) % g.OH);
        int64_t n = r / ((int64_t)g.OW * g.OH);
        for (; r < r1; r += nlanes) {
            const double d = (double)dy[r * C + c];
            const int ih0 = oh * g.stride_h - g.pad_top, iw0 = ow * g.stride_w - g.pad_left;
            const float* xn = x + n * g.H * g.W * C + c;
#pragma unroll
            for (int kh = 0; kh < KH; kh++) {
                const int ih = ih0 + kh;
                if (ih < 0 || ih >= g.H) continue;
                const float* xr = xn + (int64_t)ih * g.W * C;
#pragma unroll
                for (int kw = 0; kw < KW; kw++) {
                    const int iw = iw0 + kw;
                    if (iw < 0 || iw >= g.W) continue;
                    acc[kh * KW + kw] += d * (double)xr[(int64_t)iw * C];
                }
            }
            for (ow += nlanes; ow >= g.OW; ow -= g.OW)
                if (++oh == g.OH) oh = 0, n++;
        }
    }
    const int lane = ty * blockDim.x + tx;
#pragma unroll
    for (int k = 0; k < KH * KW; k++) {
        lanes[lane] = acc[k];
        __syncthreads();
        if (ty == 0 && c < C) {
            double sum = 0.0;
            for (int j = 0; j < nlanes; j++) sum += lanes[j * blockDim.x + tx];
            partial[(int64_t)part * KH * KW * C + (int64_t)k * C + c] = sum;
        }
        __syncthreads();
    }
}

template <int KH, int KW>
void depthwise_filter_grad(State& s, const ConvGeom& g, const float* x, const float* dy,
                           float* dw) {
    const int64_t rows = (int64_t)g.N * g.OH * g.OW;
    const int C = g.Cin;
    /* Narrow tiles for few channels, so that lanes do not idle; about 1024 blocks in all, parts
     * of at least 64 positions. */
    const int tile = C >= kDwTile ? kDwTile : (C > 8 ? 16 : 8);
    const int64_t tiles = (C + tile - 1) / tile;
    const int64_t want = std::max<int64_t>(1, 1024 / tiles);
    const int parts = (int)std::min<int64_t>({want, std::max<int64_t>(1, rows / 64), 65535});
    const int64_t rows_per_part = (rows + parts - 1) / parts;
    const int cols = KH * KW * C;
    Scratch partial(s, (int64_t)parts * cols * (int64_t)sizeof(double));
    const dim3 block(tile, kThreads / tile), grid((unsigned)tiles, (unsigned)parts);
    depthwise_filter_grad_kernel<KH, KW><<<grid, block, 0, s.stream>>>(
        g, x, dy, rows, rows_per_part, partial.as<double>());
    check_launch("depthwise_filter_grad_kernel");
    finalize_column_sums(s, "depthwise backward filter (finalize)", partial.as<double>(), 1,
                         parts, cols, 1.0, dw);
}

}  // namespace

void depthwise_forward(State& s, const ConvGeom& g, const float* x, const float* w, const float* b,
                       float* y) {
    if (use_vec4(g, g.N * g.OH, {x, w, b, y})) {
        const dim3 grid(grid_for((int64_t)g.OW * (g.Cout / 4)), (unsigned)(g.N * g.OH));
        depthwise_forward_vec4_kernel<<<grid, kThreads, 0, s.stream>>>(
            g, reinterpret_cast<const float4*>(x), reinterpret_cast<const float4*>(w),
            reinterpret_cast<const float4*>(b), reinterpret_cast<float4*>(y));
        check_launch("depthwise_forward_vec4_kernel");
        return;
    }
    const int64_t n_out = (int64_t)g.N * g.OH * g.OW * g.Cout;
    depthwise_forward_kernel<<<grid_for(n_out), kThreads, 0, s.stream>>>(g, x, w, b, y);
    check_launch("depthwise_forward_kernel");
}

void depthwise_backward(State& s, const ConvGeom& g, const float* x, const float* w,
                        const float* dy, float* dx, float* dw) {
    if (dx && use_vec4(g, g.N * g.H, {w, dy, dx})) {
        const dim3 grid(grid_for((int64_t)g.W * (g.Cin / 4)), (unsigned)(g.N * g.H));
        depthwise_backward_data_vec4_kernel<<<grid, kThreads, 0, s.stream>>>(
            g, reinterpret_cast<const float4*>(w), reinterpret_cast<const float4*>(dy),
            reinterpret_cast<float4*>(dx));
        check_launch("depthwise_backward_data_vec4_kernel");
    } else if (dx) {
        const int64_t n_in = (int64_t)g.N * g.H * g.W * g.Cin;
        depthwise_backward_data_kernel<<<grid_for(n_in), kThreads, 0, s.stream>>>(g, w, dy, dx);
        check_launch("depthwise_backward_data_kernel");
    }
    if (dw && !conv_env_is("simple") && g.KH == 3 && g.KW == 3) {
        depthwise_filter_grad<3, 3>(s, g, x, dy, dw);
    } else if (dw && !conv_env_is("simple") && g.KH == 5 && g.KW == 5) {
        depthwise_filter_grad<5, 5>(s, g, x, dy, dw);
    } else if (dw) {
        const int64_t rows = (int64_t)g.N * g.OH * g.OW;
        const int cols = g.KH * g.KW * g.Cin;
        const ColumnSplit split = column_split(rows, cols, 1);
        Scratch partial(s, (int64_t)split.parts * cols * (int64_t)sizeof(double));
        column_partials<1>(s, "depthwise backward filter", DepthwiseFilterGrad{g, x, dy}, 1, rows,
                           cols, split, partial.as<double>());
        finalize_column_sums(s, "depthwise backward filter (finalize)", partial.as<double>(), 1,
                             split.parts, cols, 1.0, dw);
    }
}

}  // namespace es::cuda
