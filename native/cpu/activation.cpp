/*
 * activation.cpp — elementwise ReLU, swish (x * sigmoid(x)) and sigmoid, forward and backward.
 * The backward takes the activation's input x (not its output) and computes dx = dy * act'(x).
 * The math lives in activation_math.h, shared with the fused batch norm + activation.
 */
/* The activation math selects between values (clamp, sign); with GCC's default
 * -ftrapping-math it may not compute both arms of a select up front, so the loops would stay
 * scalar. Speculating float arithmetic changes no result. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "activation_math.h"
#include "cpu_kernels.h"

namespace es::cpu {

namespace {
/* Below this many elements a parallel region costs more than it saves. */
constexpr int64_t kParallelMin = 32768;
}  // namespace

void activation_forward(const Exec& ex, int activation, const float* x, float* y, int64_t n) {
    if (activation == ES_ACT_NONE) {
        copy(ex, y, x, n);
        return;
    }
    act::dispatch(activation, [&](auto a) {
        constexpr int A = decltype(a)::value;
        const float* in = x; /* locals, not lambda captures, so the loop vectorises */
        float* out = y;
#pragma omp parallel for simd num_threads(ex.threads) schedule(static) if (n > kParallelMin)
        for (int64_t i = 0; i < n; i++) out[i] = act::apply<A>(in[i]);
    });
}

void activation_backward(const Exec& ex, int activation, const float* x, const float* dy, float* dx,
                         int64_t n) {
    if (activation == ES_ACT_NONE) {
        copy(ex, dx, dy, n);
        return;
    }
    act::dispatch(activation, [&](auto a) {
        constexpr int A = decltype(a)::value;
        const float* in = x;
        const float* din = dy;
        float* dout = dx;
#pragma omp parallel for simd num_threads(ex.threads) schedule(static) if (n > kParallelMin)
        for (int64_t i = 0; i < n; i++) dout[i] = act::grad<A>(in[i], din[i]);
    });
}

}  // namespace es::cpu
