/*
 * channel_copy.cu — y[r, y_offset + i] (+)= x[r, x_offset + i] for i < count over the
 * rows = N*H*W pixels of two NHWC tensors (concat, slice and their gradients). x and y do
 * not overlap (checked by the ABI layer).
 */
#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

__global__ void channel_copy_kernel(const float* x, int Cx, float* y, int Cy, int count,
                                    int64_t n, int accumulate) {
    ES_GRID_STRIDE(i, n) {
        const int64_t r = i / count;
        const int c = (int)(i % count);
        const float v = x[r * Cx + c];
        float* yp = y + r * Cy + c;
        *yp = accumulate ? *yp + v : v;
    }
}

}  // namespace

void channel_copy(const Exec& ex, const ChannelCopyGeom& g, const float* x, float* y,
                  int accumulate) {
    if (g.count <= 0 || g.rows <= 0) return;
    State& s = state(ex);
    const int64_t n = g.rows * g.count;
    channel_copy_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(
        x + g.x_offset, g.Cx, y + g.y_offset, g.Cy, g.count, n, accumulate);
    check_launch("channel_copy_kernel");
}

}  // namespace es::cuda
