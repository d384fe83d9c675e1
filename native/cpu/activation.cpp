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
#include <algorithm>
#include <type_traits>

#include "activation_math.h"
#include "conv2d_common.h"
#include "cpu_kernels.h"

namespace es::cpu::ES_CPU_ISA {

namespace {

/* Below this many elements a parallel region costs more than it saves. */
constexpr int64_t kParallelMin = 32768;
/* Elements per work item: whole cache lines, enough to amortise the loop overhead. */
constexpr int64_t kBlock = 4096;

/* f(begin, end) over [0, n) in blocks, in parallel when n is large enough. (A combined
 * "parallel for simd" ran scalar-speed code for small n with GCC 12; an inner simd loop per
 * block does not.) */
template <class F>
void for_blocks(const Exec& ex, int64_t n, F&& f) {
    const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for num_threads(ex.threads) schedule(static) if (n > kParallelMin)
    for (int64_t b = 0; b < blocks; b++) f(b * kBlock, std::min(n, (b + 1) * kBlock));
}

}  // namespace

void activation_forward(const Exec& ex, int activation, const float* x, float* y, int64_t n) {
    if (activation == ES_ACT_NONE) {
        copy(ex, y, x, n);
        return;
    }
    act::dispatch(activation, [&](auto a) {
        constexpr int A = decltype(a)::value;
        for_blocks(ex, n, [x, y](int64_t begin, int64_t end) {
#pragma omp simd
            for (int64_t i = begin; i < end; i++) y[i] = act::apply<A>(x[i]);
        });
    });
}

void conv_epilogue(const ConvEpilogue& e, float* y, const float* residual, int64_t pixels, int C) {
    /* One instance per combination, so that no absent operand is read: a select over a null
     * pointer becomes a masked load that AMD CPUs run through a microcode assist, 30-100x
     * slower than the loop itself. */
    auto run = [&](auto a, auto has_scale, auto has_shift, auto has_residual) {
        constexpr int A = decltype(a)::value;
        const float *scale = e.scale, *shift = e.shift;
        for (int64_t p = 0; p < pixels; p++) {
            float* yp = y + p * C;
            const float* rp = residual + p * C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                float v = act::apply<A>(yp[c]);
                if constexpr (decltype(has_scale)::value) v *= scale[c];
                if constexpr (decltype(has_shift)::value) v += shift[c];
                if constexpr (decltype(has_residual)::value) v += rp[c];
                yp[c] = v;
            }
        }
    };
    auto flag = [](bool on, auto&& f) {
        if (on)
            f(std::true_type{});
        else
            f(std::false_type{});
    };
    act::dispatch(e.activation, [&](auto a) {
        flag(e.scale != nullptr, [&](auto s) {
            flag(e.shift != nullptr, [&](auto t) {
                flag(residual != nullptr, [&](auto r) { run(a, s, t, r); });
            });
        });
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
        for_blocks(ex, n, [x, dy, dx](int64_t begin, int64_t end) {
#pragma omp simd
            for (int64_t i = begin; i < end; i++) dx[i] = act::grad<A>(x[i], dy[i]);
        });
    });
}

}  // namespace es::cpu::ES_CPU_ISA
