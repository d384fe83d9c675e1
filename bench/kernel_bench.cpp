/*
 * kernel_bench.cpp — times the CUDA backend's kernels through the C ABI, after validating
 * each result against the CPU backend (the oracle) on the same inputs.
 *
 *   build: part of the CMake build (target effiseg_kernel_bench, in <build>/bin)
 *   run:   effiseg_kernel_bench [--peak-gbps G] [--peak-tflops T] [--quick] [--self-test]
 *          (scripts/gpu-check.sh runs it with the card's datasheet peaks; --self-test puts a
 *          second CPU context where the CUDA one would be, to check the harness without a GPU)
 *
 * Per case it prints: the largest error against the CPU (and PASS/FAIL: a failing case is
 * not timed), the median time per call, the achieved bandwidth (compulsory bytes: each
 * input read once, each output written once, divided by the time) and FLOP rate, each also
 * as a fraction of the peaks given, and for the depthwise/pointwise convolutions the ratio
 * to cuDNN's own implementation of the same op (EFFISEG_CUDA_CONV=cudnn): cuDNN's time over
 * ours, so above 1 means ours is faster; for the depthwise passes also the simple kernels'
 * time over ours (EFFISEG_CUDA_CONV=simple: what the float4 kernels and the register-tiled
 * filter gradient gain).
 * Timing: R calls back to back, then one 1-element read (which waits for the stream); the
 * median of 5 such batches divided by R. Per-call times therefore include the ABI's launch
 * overhead (~microseconds) and tensors smaller than the L2 cache (50 MB on an H100) may
 * stay in it between calls: the B4 380x380 batch-8 shapes are the ones larger than L2.
 * A call that fails marks its case ERROR and the run goes on. Exits 1 if any case fails or
 * errs, 2 if the CUDA backend is unavailable, 3 if setting up the contexts fails.
 */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "effiseg/effiseg.h"

namespace {

/* A failing call fails its case (caught in main), not the whole run. */
void check(es_status st, const char* what) {
    if (st != ES_OK) throw std::runtime_error(std::string(what) + " failed: " + es_last_error());
}
#define CHECK(call) check((call), #call)

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

/* One benchmark case: tensors [0, n_inputs) are inputs, the rest outputs (all compared). */
struct Case {
    std::string name;
    std::vector<Shape> shapes;
    int n_inputs;
    std::function<void(es_handle ctx, const std::vector<es_handle>&)> op;
    double bytes, flops;
    double abs_tol = 1e-4, rel_tol = 1e-4;
    bool vs_cudnn = false;  /* also time with EFFISEG_CUDA_CONV=cudnn */
    bool vs_simple = false; /* also time with EFFISEG_CUDA_CONV=simple (the simple depthwise kernels) */
    std::vector<int> kinds; /* per tensor: 0 uniform (-1, 1), 1 binary {0,1}, 2 uniform (0.5, 1.5) */

    Case(std::string name_, std::vector<Shape> shapes_, int n_inputs_,
         std::function<void(es_handle, const std::vector<es_handle>&)> op_, double bytes_,
         double flops_)
        : name(std::move(name_)), shapes(std::move(shapes_)), n_inputs(n_inputs_),
          op(std::move(op_)), bytes(bytes_), flops(flops_) {}
};

struct Tensors {
    std::vector<es_handle> t;
    ~Tensors() {
        for (es_handle h : t) es_tensor_destroy(h);
    }
};

using Data = std::vector<std::vector<float>>;

/* Inputs (and initial outputs) of a case; splitmix64, fast enough for the 40M-element B4 maps. */
Data make_data(const Case& c, uint64_t seed) {
    uint64_t state = seed;
    auto next = [&state] {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    };
    Data data;
    for (size_t i = 0; i < c.shapes.size(); i++) {
        std::vector<float> v((size_t)numel(c.shapes[i]));
        const int kind = i < c.kinds.size() ? c.kinds[i] : 0;
        for (float& x : v) {
            const uint64_t r = next();
            const float u = (float)(r >> 40) * (1.0f / 16777216.0f); /* [0, 1) */
            x = kind == 1 ? (float)(r & 1) : kind == 2 ? 0.5f + u : 2.0f * u - 1.0f;
        }
        data.push_back(std::move(v));
    }
    return data;
}

void upload(es_handle ctx, const Case& c, const Data& data, Tensors& out) {
    for (size_t i = 0; i < c.shapes.size(); i++) {
        es_handle h;
        CHECK(es_tensor_create(ctx, (int)c.shapes[i].size(), c.shapes[i].data(), ES_FLOAT32, &h));
        out.t.push_back(h);
        CHECK(es_tensor_write(h, 0, data[i].data(), (int64_t)data[i].size()));
    }
}

std::vector<float> read(es_handle h, int64_t n) {
    std::vector<float> v((size_t)n);
    CHECK(es_tensor_read(h, 0, v.data(), n));
    return v;
}

/* EFFISEG_CUDA_CONV for the next calls: nullptr (our choice), "cudnn" or "simple" */
void set_conv_path(const char* path) {
    if (path) setenv("EFFISEG_CUDA_CONV", path, 1);
    else unsetenv("EFFISEG_CUDA_CONV");
}

/* Worst |cuda - cpu| - (abs + rel*|cpu|) over the outputs; <= 0 passes. Also the max abs error. */
bool validate(es_handle cpu, es_handle gpu, const Case& c, const Data& data, double* max_err) {
    Tensors a, b;
    upload(cpu, c, data, a);
    upload(gpu, c, data, b);
    c.op(cpu, a.t);
    c.op(gpu, b.t);
    bool ok = true;
    *max_err = 0;
    for (size_t i = (size_t)c.n_inputs; i < c.shapes.size(); i++) {
        const int64_t n = numel(c.shapes[i]);
        const auto want = read(a.t[i], n), got = read(b.t[i], n);
        for (int64_t j = 0; j < n; j++) {
            const double err = std::fabs((double)got[j] - want[j]);
            if (!(err <= c.abs_tol + c.rel_tol * std::fabs((double)want[j]))) ok = false;
            if (!(err <= *max_err)) *max_err = err; /* NaN-propagating */
        }
    }
    return ok;
}

double time_per_call(es_handle gpu, const Case& c, const Data& data) {
    Tensors t;
    upload(gpu, c, data, t);
    float sink;
    const es_handle last = t.t.back();
    auto batch = [&](int reps) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; r++) c.op(gpu, t.t);
        CHECK(es_tensor_read(last, 0, &sink, 1));
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    batch(3); /* warm-up: algorithm choice, allocator cache */
    const double one = batch(1);
    if (one > 0.2) return one; /* pathologically slow (say, an untuned cuDNN path): one call */
    const int reps = (int)std::clamp(0.05 / std::max(one, 1e-6), 3.0, 500.0);
    std::vector<double> times;
    for (int i = 0; i < 5; i++) times.push_back(batch(reps) / reps);
    std::sort(times.begin(), times.end());
    return times[2];
}

/* ---- the cases ------------------------------------------------------------------------- */

struct ConvShape {
    const char* model;
    int N, H, W, C, K, stride;
};

/* TensorFlow SAME padding (extra at the bottom/right), as EfficientNet uses. */
void same_pad(int in, int k, int s, int* before, int* after, int* out) {
    *out = (in + s - 1) / s;
    const int total = std::max((*out - 1) * s + k - in, 0);
    *before = total / 2;
    *after = total - *before;
}

std::vector<Case> depthwise_cases(bool quick) {
    std::vector<ConvShape> shapes = {
        {"B0 224", 8, 112, 112, 32, 3, 1}, {"B0 224", 8, 112, 112, 96, 3, 2},
        {"B0 224", 8, 56, 56, 144, 5, 2},  {"B0 224", 8, 14, 14, 480, 3, 1},
        {"B4 380", 8, 190, 190, 48, 3, 1}, {"B4 380", 8, 190, 190, 144, 3, 2},
        {"B4 380", 8, 95, 95, 192, 5, 2},  {"B4 380", 8, 24, 24, 960, 5, 1}};
    if (quick) shapes.resize(2);
    std::vector<Case> cases;
    for (const ConvShape& s : shapes) {
        int pt, pb, pl, pr, OH, OW;
        same_pad(s.H, s.K, s.stride, &pt, &pb, &OH);
        same_pad(s.W, s.K, s.stride, &pl, &pr, &OW);
        const Shape x{s.N, s.H, s.W, s.C}, w{s.K, s.K, 1, s.C}, y{s.N, OH, OW, s.C};
        const double xb = 4.0 * numel(x), wb = 4.0 * numel(w), yb = 4.0 * numel(y);
        const double fl = 2.0 * numel(y) * s.K * s.K;
        const std::string tag = std::string(s.model) + " dw" + std::to_string(s.K) + "x" +
                                std::to_string(s.K) + "/s" + std::to_string(s.stride) + " [" +
                                std::to_string(s.N) + "," + std::to_string(s.H) + "," +
                                std::to_string(s.W) + "," + std::to_string(s.C) + "]";
        const int st = s.stride, C = s.C;
        Case f{tag + " fwd", {x, w, y}, 2,
               [=](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_conv2d_forward(ctx, t[0], t[1], 0, t[2], st, st, pt, pb, pl, pr, C));
               },
               xb + wb + yb, fl};
        f.vs_cudnn = f.vs_simple = true;
        Case d{tag + " bwd-data", {x, w, y, x}, 3,
               [=](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_conv2d_backward(ctx, t[0], t[1], t[2], t[3], 0, 0, st, st, pt, pb, pl, pr, C));
               },
               yb + wb + xb, fl};
        d.vs_cudnn = d.vs_simple = true;
        Case g{tag + " bwd-filter", {x, w, y, w}, 3,
               [=](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_conv2d_backward(ctx, t[0], t[1], t[2], 0, t[3], 0, st, st, pt, pb, pl, pr, C));
               },
               xb + yb + wb, fl};
        g.vs_cudnn = g.vs_simple = true;
        g.abs_tol = 1e-2; /* sums of ~1e5 products of N(0,1) values */
        g.rel_tol = 1e-4;
        cases.push_back(f);
        cases.push_back(d);
        cases.push_back(g);
    }
    return cases;
}

std::vector<Case> other_cases(bool quick) {
    std::vector<Case> cases;
    const int64_t N = 8;
    {  /* pointwise expansion, B0 stage 3: [8,56,56,24] -> 144 */
        const Shape x{N, 56, 56, 24}, w{1, 1, 24, 144}, y{N, 56, 56, 144};
        Case c{"pointwise 24->144 [8,56,56] fwd (cuBLAS)", {x, w, y}, 2,
               [](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_conv2d_forward(ctx, t[0], t[1], 0, t[2], 1, 1, 0, 0, 0, 0, 1));
               },
               4.0 * (numel(x) + numel(w) + numel(y)), 2.0 * numel(y) * 24};
        c.vs_cudnn = true;
        c.abs_tol = 1e-3;
        cases.push_back(c);
    }
    {  /* stem: 3x3/s2 dense, 3 -> 32 at 224 (cuDNN, padded buffer: even input) */
        const Shape x{N, 224, 224, 3}, w{3, 3, 3, 32}, y{N, 112, 112, 32};
        Case c{"stem conv3x3/s2 3->32 [8,224,224] fwd (cuDNN)", {x, w, y}, 2,
               [](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_conv2d_forward(ctx, t[0], t[1], 0, t[2], 2, 2, 0, 1, 0, 1, 1));
               },
               4.0 * (numel(x) + numel(w) + numel(y)), 2.0 * numel(y) * 27};
        c.abs_tol = 1e-3;
        cases.push_back(c);
    }
    const Shape bn{N, 112, 112, 32}, ch{32};
    {
        Case c{"batchnorm+swish training fwd [8,112,112,32]", {bn, ch, ch, ch, ch, bn, ch, ch}, 5,
               [](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_batchnorm_forward(ctx, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], 1,
                                              0.01f, 1e-3f, ES_ACT_SWISH));
               },
               4.0 * 3 * numel(bn), 0};
        c.kinds = {0, 2, 0, 0, 2};
        c.abs_tol = 1e-4;
        cases.push_back(c);
    }
    {
        Case c{"batchnorm+swish training bwd [8,112,112,32]", {bn, ch, ch, bn, ch, ch, bn, ch, ch}, 6,
               [](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_batchnorm_backward(ctx, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8],
                                               1, ES_ACT_SWISH));
               },
               4.0 * 5 * numel(bn), 0};
        c.kinds = {0, 2, 0, 0, 0, 2};
        c.abs_tol = 1e-3;
        cases.push_back(c);
    }
    {
        const Shape l{N, 224, 224, 1};
        Case c{"seg loss (dice+bce+npd) with grad [8,224,224]", {l, l, {4}, l}, 2,
               [](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_seg_loss(ctx, t[0], t[1], t[2], t[3], 1.0f, 1.0f, 0.5f, 1));
               },
               4.0 * 4 * numel(l), 0};
        c.kinds = {0, 1};
        c.abs_tol = 1e-6;
        c.rel_tol = 1e-3;
        cases.push_back(c);
    }
    {
        const int64_t P = quick ? 1 << 20 : 4'007'548 + 149'312; /* EffiSegNet-B0's parameters */
        const Shape p{P};
        Case c{"adamw step over " + std::to_string(P) + " parameters", {p, p, p, p}, 0,
               [](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_adamw_step(ctx, t[0], t[1], t[2], t[3], 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, 1));
               },
               4.0 * 7 * P, 0};
        c.kinds = {0, 0, 0, 2}; /* exp_avg_sq > 0 */
        c.abs_tol = 1e-6;
        c.rel_tol = 1e-5;
        cases.push_back(c);
    }
    {
        const Shape s{N, 7, 7, 64}, b{N, 224, 224, 64};
        Case c{"upsample nearest 7->224 accumulate [8,*,*,64]", {s, b}, 1,
               [](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_upsample_nearest_forward(ctx, t[0], t[1], 1));
               },
               4.0 * (numel(s) + 2 * numel(b)), 0};
        c.abs_tol = 1e-4; /* accumulating: timing reps grow y, validation runs once */
        cases.push_back(c);
    }
    {
        const Shape x{N, 56, 56, 144}, g{N, 1, 1, 144};
        Case c{"squeeze-excite channel scale fwd [8,56,56,144]", {x, g, x}, 2,
               [](es_handle ctx, const std::vector<es_handle>& t) {
                   CHECK(es_channel_scale_forward(ctx, t[0], t[1], t[2]));
               },
               4.0 * 2 * numel(x), 0};
        cases.push_back(c);
    }
    return cases;
}

}  // namespace

int run(double peak_gbps, double peak_tflops, bool quick, bool self_test);

int main(int argc, char** argv) {
    double peak_gbps = 0, peak_tflops = 0;
    bool quick = false, self_test = false;
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--peak-gbps") && i + 1 < argc) peak_gbps = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--peak-tflops") && i + 1 < argc) peak_tflops = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--quick")) quick = true;
        else if (!std::strcmp(argv[i], "--self-test")) self_test = true;
        else {
            std::fprintf(stderr, "usage: %s [--peak-gbps G] [--peak-tflops T] [--quick] [--self-test]\n", argv[0]);
            return 64;
        }
    }
    try {
        return run(peak_gbps, peak_tflops, quick, self_test);
    } catch (const std::exception& e) {
        std::printf("%s\n", e.what());
        return 3;
    }
}

int run(double peak_gbps, double peak_tflops, bool quick, bool self_test) {
    int available = 0;
    const char* reason = nullptr;
    CHECK(es_backend_available(ES_BACKEND_CUDA, &available, &reason));
    if (!available && !self_test) {
        std::printf("CUDA backend unavailable: %s\n", reason);
        return 2;
    }
    es_handle cpu, gpu;
    CHECK(es_context_create(ES_BACKEND_CPU, 0, 0, &cpu));
    CHECK(es_context_create(self_test ? ES_BACKEND_CPU : ES_BACKEND_CUDA, 0, self_test ? 0 : 1, &gpu));
    if (self_test) std::printf("self-test: the backend under test is a second CPU context\n");

    std::vector<Case> cases = depthwise_cases(quick);
    for (Case& c : other_cases(quick)) cases.push_back(c);

    std::printf("%-58s %6s %10s %9s %10s %8s %8s %8s %10s %11s\n", "case", "check", "max err", "ms",
                "GB/s", "%BW", "GFLOP/s", "%FLOP", "cuDNN/ours", "simple/ours");
    int failures = 0;
    for (const Case& c : cases) {
        set_conv_path(nullptr);
        const Data data = make_data(c, 42);
        double err = 0;
        bool ok = false;
        try {
            ok = validate(cpu, gpu, c, data, &err);
        } catch (const std::exception& e) {
            std::printf("%-58s %6s %s\n", c.name.c_str(), "ERROR", e.what());
            failures++;
            continue;
        }
        if (!ok) failures++;
        double t = 0, t_cudnn = 0, t_simple = 0;
        /* the same op along another path, validated first; 0 where it fails */
        auto peer = [&](const char* path, const char* who) {
            set_conv_path(path);
            double err_peer = 0;
            double tp = 0;
            if (validate(cpu, gpu, c, data, &err_peer)) tp = time_per_call(gpu, c, data);
            else std::printf("  (%s result for %s fails validation: max err %.3g)\n", who, c.name.c_str(), err_peer);
            set_conv_path(nullptr);
            return tp;
        };
        if (ok) try {
            t = time_per_call(gpu, c, data);
            if (c.vs_cudnn) t_cudnn = peer("cudnn", "cuDNN's");
            if (c.vs_simple) t_simple = peer("simple", "the simple kernels'");
        } catch (const std::exception& e) {
            std::printf("  (timing %s failed: %s)\n", c.name.c_str(), e.what());
            set_conv_path(nullptr);
        }
        const double gbps = ok ? c.bytes / t / 1e9 : 0, gflops = ok ? c.flops / t / 1e9 : 0;
        char ratio[32] = "-", ratio_simple[32] = "-";
        if (t_cudnn > 0) std::snprintf(ratio, sizeof ratio, "%.2f", t_cudnn / t);
        if (t_simple > 0) std::snprintf(ratio_simple, sizeof ratio_simple, "%.2f", t_simple / t);
        char bw_frac[16] = "-", fl_frac[16] = "-";
        if (ok && peak_gbps > 0) std::snprintf(bw_frac, sizeof bw_frac, "%.0f%%", 100 * gbps / peak_gbps);
        if (ok && peak_tflops > 0 && c.flops > 0)
            std::snprintf(fl_frac, sizeof fl_frac, "%.1f%%", 100 * gflops / (peak_tflops * 1e3));
        char gflops_s[32] = "-";
        if (ok && c.flops > 0) std::snprintf(gflops_s, sizeof gflops_s, "%.1f", gflops);
        std::printf("%-58s %6s %10.3g %9.4f %10.1f %8s %8s %8s %10s %11s\n", c.name.c_str(),
                    ok ? "PASS" : "FAIL", err, t * 1e3, gbps, bw_frac, gflops_s, fl_frac, ratio,
                    ratio_simple);
        std::fflush(stdout);
    }
    CHECK(es_context_destroy(gpu));
    CHECK(es_context_destroy(cpu));
    std::printf("%d of %zu cases failed or erred\n", failures, cases.size());
    return failures ? 1 : 0;
}
