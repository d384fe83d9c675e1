/*
 * cpu_path_smoke.cpp — runs every CPU kernel once, on small tensors, through the C ABI, and
 * prints the kernel path the CPU backend chose and one checksum per op.
 *
 *   build: part of the CMake build (target effiseg_cpu_path_smoke, in <build>/bin), compiled
 *          for the baseline like the core
 *   run:   effiseg_cpu_path_smoke
 *
 * CpuPathTest runs it under qemu-x86_64 with CPU models that lack AVX (and that have AVX2):
 * the emulator raises SIGILL on any instruction the model lacks, so a clean run proves that
 * loading the library, choosing the path and every kernel run on such a CPU, and the checksums
 * are compared with a native run's. Output lines: "device <description>", then "<op> <sum>".
 * Exits 1 naming the call that failed.
 */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "effiseg/effiseg.h"

namespace {

es_handle ctx;

void check(es_status st, const char* what) {
    if (st == ES_OK) return;
    std::fprintf(stderr, "cpu_path_smoke: %s failed: %s\n", what, es_last_error());
    std::exit(1);
}
#define CHECK(call) check((call), #call)

/* A tensor with deterministic values in [-1, 1). */
es_handle tensor(std::vector<int64_t> shape, unsigned seed) {
    es_handle t;
    CHECK(es_tensor_create(ctx, (int)shape.size(), shape.data(), ES_FLOAT32, &t));
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v((size_t)n);
    unsigned s = seed * 2654435761u + 1;
    for (float& f : v) {
        s = s * 1664525u + 1013904223u;
        f = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
    CHECK(es_tensor_write(t, 0, v.data(), n));
    return t;
}

/* Sum of |x| and sum of x*i, so that a misplaced element changes it. */
void report(const char* op, es_handle t) {
    int ndim;
    int64_t shape[ES_MAX_DIMS], n = 1;
    CHECK(es_tensor_shape(t, &ndim, shape));
    for (int i = 0; i < ndim; i++) n *= shape[i];
    std::vector<float> v((size_t)n);
    CHECK(es_tensor_read(t, 0, v.data(), n));
    double a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) {
        a += std::fabs(v[i]);
        b += v[i] * (double)(i % 1000);
    }
    std::printf("%s %.9g %.9g\n", op, a, b);
}

/* forward and backward of one convolution geometry (SAME-like symmetric padding) */
void conv(const char* name, int n, int h, int w, int cin, int cout, int k, int stride, int groups) {
    const int pad = k / 2, oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    es_handle x = tensor({n, h, w, cin}, 1), wt = tensor({k, k, cin / groups, cout}, 2),
              b = tensor({cout}, 3), y = tensor({n, oh, ow, cout}, 4), dy = tensor({n, oh, ow, cout}, 5),
              dx = tensor({n, h, w, cin}, 6), dw = tensor({k, k, cin / groups, cout}, 7),
              db = tensor({cout}, 8);
    CHECK(es_conv2d_forward(ctx, x, wt, b, y, stride, stride, pad, pad, pad, pad, groups));
    CHECK(es_conv2d_backward(ctx, x, wt, dy, dx, dw, db, stride, stride, pad, pad, pad, pad, groups));
    char what[96];
    const char* part[] = {"y", "dx", "dw", "db"};
    es_handle out[] = {y, dx, dw, db};
    for (int i = 0; i < 4; i++) {
        std::snprintf(what, sizeof what, "conv2d_%s_%s", name, part[i]);
        report(what, out[i]);
    }
    for (es_handle t : {x, wt, b, y, dy, dx, dw, db}) CHECK(es_tensor_destroy(t));
}

}  // namespace

int main() {
    CHECK(es_context_create(ES_BACKEND_CPU, 0, 2, &ctx));
    char device[512];
    CHECK(es_backend_describe_device(ES_BACKEND_CPU, 0, device, sizeof device));
    std::printf("device %s\n", device);

    conv("depthwise3x3", 2, 9, 11, 40, 40, 3, 1, 40);
    conv("depthwise5x5s2", 2, 21, 23, 24, 24, 5, 2, 24);
    conv("pointwise", 2, 7, 9, 24, 40, 1, 1, 1);
    conv("dense3x3", 2, 8, 10, 16, 12, 3, 1, 1);
    conv("winograd3x3", 1, 29, 30, 16, 24, 3, 1, 1); /* >= 28x28: Winograd forward and dx */
    conv("stem", 2, 16, 16, 3, 32, 3, 2, 1);
    conv("grouped", 1, 6, 6, 8, 8, 3, 1, 2);

    const int64_t N = 2, H = 6, W = 7, C = 20;
    es_handle x = tensor({N, H, W, C}, 11), y = tensor({N, H, W, C}, 12), dy = tensor({N, H, W, C}, 13),
              dx = tensor({N, H, W, C}, 14);
    es_handle gamma = tensor({C}, 15), beta = tensor({C}, 16), mean = tensor({C}, 17),
              var = tensor({C}, 18), smean = tensor({C}, 19), sinv = tensor({C}, 20),
              dgamma = tensor({C}, 21), dbeta = tensor({C}, 22);
    CHECK(es_tensor_fill(ctx, var, 1.0f));
    CHECK(es_batchnorm_forward(ctx, x, gamma, beta, mean, var, y, smean, sinv, 1, 0.1f, 1e-3f, ES_ACT_SWISH));
    CHECK(es_batchnorm_backward(ctx, x, gamma, beta, dy, smean, sinv, dx, dgamma, dbeta, 1, ES_ACT_SWISH));
    report("batchnorm_y", y);
    report("batchnorm_dx", dx);
    report("batchnorm_dgamma", dgamma);
    for (int act : {ES_ACT_RELU, ES_ACT_SWISH, ES_ACT_SIGMOID}) {
        CHECK(es_activation_forward(ctx, act, x, y));
        CHECK(es_activation_backward(ctx, act, x, dy, dx));
        char what[48];
        std::snprintf(what, sizeof what, "activation%d_y", act);
        report(what, y);
        std::snprintf(what, sizeof what, "activation%d_dx", act);
        report(what, dx);
    }
    es_handle pooled = tensor({N, 1, 1, C}, 23), ds = tensor({N, 1, 1, C}, 24);
    CHECK(es_global_avg_pool_forward(ctx, x, pooled));
    report("pool_y", pooled);
    CHECK(es_global_avg_pool_backward(ctx, pooled, dx));
    report("pool_dx", dx);
    CHECK(es_channel_scale_forward(ctx, x, pooled, y));
    CHECK(es_channel_scale_backward(ctx, x, pooled, dy, dx, ds));
    report("channel_scale_y", y);
    report("channel_scale_ds", ds);
    CHECK(es_drop_path_forward(ctx, x, y, 0.5f, 7, 1));
    report("drop_path_y", y);
    CHECK(es_add(ctx, x, dy, y));
    CHECK(es_axpby(ctx, 0.5f, x, 2.0f, y));
    report("add_axpby", y);

    es_handle up = tensor({N, 12, 14, C}, 25);
    CHECK(es_upsample_nearest_forward(ctx, x, up, 1));
    report("upsample_y", up);
    CHECK(es_upsample_nearest_backward(ctx, up, dx));
    report("upsample_dx", dx);
    es_handle wide = tensor({N, H, W, 2 * C}, 26);
    CHECK(es_channel_copy(ctx, x, 0, wide, C, C, 1));
    report("channel_copy", wide);

    es_handle logits = tensor({N, 16, 16, 1}, 27), target = tensor({N, 16, 16, 1}, 28),
              terms = tensor({4}, 29), dlogits = tensor({N, 16, 16, 1}, 30);
    std::vector<float> t((size_t)(N * 256));
    for (size_t i = 0; i < t.size(); i++) t[i] = (float)((i * 7) % 3 == 0);
    CHECK(es_tensor_write(target, 0, t.data(), (int64_t)t.size()));
    CHECK(es_seg_loss(ctx, logits, target, terms, dlogits, 1.0f, 1.0f, 0.5f, 1));
    report("seg_loss_terms", terms);
    report("seg_loss_dlogits", dlogits);

    const int64_t P = 1003;
    es_handle p = tensor({P}, 31), g = tensor({P}, 32), m = tensor({P}, 33), v = tensor({P}, 34);
    CHECK(es_tensor_fill(ctx, m, 0.0f));
    CHECK(es_tensor_fill(ctx, v, 0.0f));
    for (int step = 1; step <= 3; step++)
        CHECK(es_adamw_step(ctx, p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, step));
    report("adamw_params", p);
    CHECK(es_context_destroy(ctx));
    return 0;
}
