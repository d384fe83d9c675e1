/*
 * upsample.cu — nearest-neighbour resizing of NHWC maps, x [N,h,w,C] -> y [N,H,W,C], with
 * PyTorch's index rule (see native/cpu/upsample.cpp):
 *   H == h -> src = dst;  H == 2h -> src = dst >> 1;
 *   else   -> src = min((int)floorf((float)dst * ((float)h / H)), h - 1)
 * computed in the same float operations on host and device (IEEE division and multiply; no
 * fast math), so both backends pick the same rows.
 *
 * Forward: one thread per output element, y (+)= x[src]. Backward: one thread per dx
 * element gathers the dy pixels whose source it is. The rule is monotone, so those form a
 * rectangle [first(i), first(i+1)) x [first(j), first(j+1)), found by binary search; the sum
 * runs in double in a fixed order: deterministic, no atomics.
 */
#include "common.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

__host__ __device__ __forceinline__ int nearest_source(int dst, int in_size, int out_size) {
    if (out_size == in_size) return dst;
    if (out_size == 2 * in_size) return dst >> 1;
    const float scale = (float)in_size / (float)out_size;
    const int s = (int)floorf((float)dst * scale);
    return s < in_size - 1 ? s : in_size - 1;
}

/* The first destination whose source is >= i (out_size if none). */
__device__ __forceinline__ int first_destination(int i, int in_size, int out_size) {
    int lo = 0, hi = out_size;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (nearest_source(mid, in_size, out_size) >= i) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

__global__ void upsample_forward_kernel(UpsampleGeom g, const float* x, float* y, int accumulate) {
    const int64_t n = (int64_t)g.N * g.H * g.W * g.C;
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % g.C);
        const int64_t pix = i / g.C;
        const int ow = (int)(pix % g.W);
        const int oh = (int)((pix / g.W) % g.H);
        const int64_t b = pix / ((int64_t)g.W * g.H);
        const int sh = nearest_source(oh, g.h, g.H), sw = nearest_source(ow, g.w, g.W);
        const float v = x[((b * g.h + sh) * g.w + sw) * g.C + c];
        y[i] = accumulate ? y[i] + v : v;
    }
}

__global__ void upsample_backward_kernel(UpsampleGeom g, const float* dy, float* dx) {
    const int64_t n = (int64_t)g.N * g.h * g.w * g.C;
    ES_GRID_STRIDE(i, n) {
        const int c = (int)(i % g.C);
        const int64_t pix = i / g.C;
        const int j = (int)(pix % g.w);
        const int r = (int)((pix / g.w) % g.h);
        const int64_t b = pix / ((int64_t)g.w * g.h);
        const int oh0 = first_destination(r, g.h, g.H), oh1 = first_destination(r + 1, g.h, g.H);
        const int ow0 = first_destination(j, g.w, g.W), ow1 = first_destination(j + 1, g.w, g.W);
        double acc = 0.0;
        for (int oh = oh0; oh < oh1; oh++)
            for (int ow = ow0; ow < ow1; ow++)
                acc += (double)dy[((b * g.H + oh) * g.W + ow) * g.C + c];
        dx[i] = (float)acc;
    }
}

}  // namespace

void upsample_nearest_forward(const Exec& ex, const UpsampleGeom& g, const float* x, float* y,
                              int accumulate) {
    State& s = state(ex);
    const int64_t n = (int64_t)g.N * g.H * g.W * g.C;
    upsample_forward_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(g, x, y, accumulate);
    check_launch("upsample_forward_kernel");
}

void upsample_nearest_backward(const Exec& ex, const UpsampleGeom& g, const float* dy, float* dx) {
    State& s = state(ex);
    const int64_t n = (int64_t)g.N * g.h * g.w * g.C;
    upsample_backward_kernel<<<grid_for(n), kThreads, 0, s.stream>>>(g, dy, dx);
    check_launch("upsample_backward_kernel");
}

}  // namespace es::cuda
