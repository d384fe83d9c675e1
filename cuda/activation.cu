/* activation.cu — elementwise activations, forward and backward (activation_math.cuh). */
#include "activation_math.cuh"
#include "cuda_kernels.h"

namespace es::cuda {

namespace {

template <int A>
__global__ void activation_forward_kernel(const float* x, float* y, int64_t n) {
    ES_GRID_STRIDE(i, n) y[i] = act::apply<A>(x[i]);
}

template <int A>
__global__ void activation_backward_kernel(const float* x, const float* dy, float* dx, int64_t n) {
    ES_GRID_STRIDE(i, n) dx[i] = act::grad<A>(x[i], dy[i]);
}

}  // namespace

void activation_forward(const Exec& ex, int activation, const float* x, float* y, int64_t n) {
    State& s = state(ex);
    act::dispatch(activation, [&](auto a) {
        activation_forward_kernel<decltype(a)::value><<<grid_for(n), kThreads, 0, s.stream>>>(x, y, n);
    });
    check_launch("activation_forward_kernel");
}

void activation_backward(const Exec& ex, int activation, const float* x, const float* dy, float* dx,
                         int64_t n) {
    State& s = state(ex);
    act::dispatch(activation, [&](auto a) {
        activation_backward_kernel<decltype(a)::value><<<grid_for(n), kThreads, 0, s.stream>>>(x, dy, dx, n);
    });
    check_launch("activation_backward_kernel");
}

}  // namespace es::cuda
