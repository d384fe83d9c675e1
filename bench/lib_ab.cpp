/*
 * lib_ab.cpp — two builds of libeffiseg (the previous engine and this one) in one process,
 * timing the same depthwise convolution through each in turn: the A/B for CPU kernel changes
 * that whole-step runs cannot resolve on a machine whose speed drifts by more than the change.
 *
 *   build: part of the CMake build (target effiseg_lib_ab, in <build>/bin)
 *   run:   effiseg_lib_ab LIB_A LIB_B OP [K STRIDE SIZE CHANNELS] [--images N] [--threads T]
 *                         [--pairs P] [--warm]
 *          OP: fwd, dx, dw or bwd (dx and dw in one call, as the training step asks);
 *          without a geometry, every depthwise layer of EffiSegNet-B0 at 224x224.
 *          Defaults: 8 images, 2 threads, 31 pairs, cold (a 256 MiB buffer touched before
 *          each call).
 *
 * Each library is dlopen()ed under its own path (RTLD_LOCAL), gets its own CPU context and
 * its own copies of the same inputs; each pair calls A and B once, in alternating order. It
 * prints both median times and the median of the pairs' B/A ratios with its interquartile
 * range. Padding is TF's SAME (EfficientNet's), weights and inputs fixed pseudo-random values.
 * Exits 1 on a failed call, 2 on bad arguments.
 */
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "effiseg/effiseg.h"

namespace {

struct Geometry {
    int K, stride, size, channels, calls_per_step;
};

/* EffiSegNet-B0's depthwise layers at 224x224 and how often each runs in a training step. */
const Geometry kB0[] = {
    {3, 1, 224, 16, 2}, {3, 1, 112, 32, 1}, {3, 2, 112, 96, 1},  {3, 1, 56, 144, 1},
    {5, 2, 56, 144, 1}, {5, 1, 28, 240, 1}, {3, 2, 28, 240, 1},  {3, 1, 14, 480, 2},
    {5, 1, 14, 480, 1}, {5, 1, 14, 672, 2}, {5, 2, 14, 672, 1},  {5, 1, 7, 1152, 3},
    {3, 1, 7, 1152, 1},
};

/* The C ABI entry points this harness calls, looked up in one library. */
struct Lib {
    decltype(&es_last_error) last_error;
    decltype(&es_context_create) context_create;
    decltype(&es_context_destroy) context_destroy;
    decltype(&es_context_synchronize) synchronize;
    decltype(&es_tensor_create) tensor_create;
    decltype(&es_tensor_destroy) tensor_destroy;
    decltype(&es_tensor_write) tensor_write;
    decltype(&es_conv2d_forward) conv2d_forward;
    decltype(&es_conv2d_backward) conv2d_backward;

    template <class F>
    static void bind(void* h, const char* name, F& f) {
        f = reinterpret_cast<F>(dlsym(h, name));
        if (!f) throw std::runtime_error(std::string("no symbol ") + name);
    }
    explicit Lib(const char* path) {
        void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        bind(h, "es_last_error", last_error);
        bind(h, "es_context_create", context_create);
        bind(h, "es_context_destroy", context_destroy);
        bind(h, "es_context_synchronize", synchronize);
        bind(h, "es_tensor_create", tensor_create);
        bind(h, "es_tensor_destroy", tensor_destroy);
        bind(h, "es_tensor_write", tensor_write);
        bind(h, "es_conv2d_forward", conv2d_forward);
        bind(h, "es_conv2d_backward", conv2d_backward);
    }
    void check(es_status st, const char* what) const {
        if (st != ES_OK) throw std::runtime_error(std::string(what) + ": " + last_error());
    }
};

/* One library's context and tensors for one geometry. */
struct Setup {
    const Lib& lib;
    es_handle ctx = 0, x = 0, w = 0, y = 0, dy = 0, dx = 0, dw = 0; /* 0: none */
    int stride, pt, pb, pl, pr, C;

    es_handle tensor(std::vector<int64_t> shape, const std::vector<float>& data) {
        es_handle t;
        lib.check(lib.tensor_create(ctx, (int)shape.size(), shape.data(), 0, &t), "tensor");
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        if (!data.empty()) lib.check(lib.tensor_write(t, 0, data.data(), n), "write");
        return t;
    }
    Setup(const Lib& l, const Geometry& g, int images, int threads, const std::vector<float>& in)
        : lib(l), stride(g.stride), C(g.channels) {
        const int H = g.size, K = g.K, S = g.stride, OH = (H + S - 1) / S;
        const int pad = std::max((OH - 1) * S + K - H, 0); /* SAME */
        pt = pl = pad / 2;
        pb = pr = pad - pad / 2;
        lib.check(lib.context_create(ES_BACKEND_CPU, 0, threads, &ctx), "context");
        const std::vector<float> none;
        x = tensor({images, H, H, C}, in);
        dx = tensor({images, H, H, C}, none);
        y = tensor({images, OH, OH, C}, none);
        dy = tensor({images, OH, OH, C}, in);
        w = tensor({K, K, 1, C}, in);
        dw = tensor({K, K, 1, C}, none);
    }
    ~Setup() {
        for (es_handle t : {x, w, y, dy, dx, dw}) lib.tensor_destroy(t);
        lib.context_destroy(ctx);
    }
    void run(const std::string& op) {
        const int s = stride;
        if (op == "fwd")
            lib.check(lib.conv2d_forward(ctx, x, w, 0, y, s, s, pt, pb, pl, pr, C), "fwd");
        else
            lib.check(lib.conv2d_backward(ctx, x, w, dy, op == "dw" ? 0 : dx, op == "dx" ? 0 : dw,
                                          0, s, s, pt, pb, pl, pr, C),
                      "bwd");
        lib.check(lib.synchronize(ctx), "synchronize");
    }
};

double median(std::vector<double> v, double q = 0.5) {
    std::sort(v.begin(), v.end());
    return v[(size_t)(q * (double)(v.size() - 1) + 0.5)];
}

int usage() {
    std::fprintf(stderr,
                 "usage: effiseg_lib_ab LIB_A LIB_B fwd|dx|dw|bwd [K STRIDE SIZE CHANNELS] "
                 "[--images N] [--threads T] [--pairs P] [--warm]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> pos;
    int images = 8, threads = 2, pairs = 31;
    bool warm = false;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        auto value = [&]() { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
        if (a == "--images") images = value();
        else if (a == "--threads") threads = value();
        else if (a == "--pairs") pairs = value();
        else if (a == "--warm") warm = true;
        else pos.push_back(a);
    }
    if ((pos.size() != 3 && pos.size() != 7) || images < 1 || threads < 1 || pairs < 1)
        return usage();
    const std::string op = pos[2];
    if (op != "fwd" && op != "dx" && op != "dw" && op != "bwd") return usage();
    std::vector<Geometry> geoms(std::begin(kB0), std::end(kB0));
    if (pos.size() == 7) {
        const Geometry g{std::atoi(pos[3].c_str()), std::atoi(pos[4].c_str()),
                         std::atoi(pos[5].c_str()), std::atoi(pos[6].c_str()), 1};
        if (g.K < 1 || g.stride < 1 || g.size < 1 || g.channels < 1) return usage();
        geoms = {g};
    }
    try {
        const Lib a(pos[0].c_str()), b(pos[1].c_str());
        std::vector<char> flush(std::size_t(256) << 20, 1);
        double total_a = 0, total_b = 0;
        for (const Geometry& g : geoms) {
            const int64_t n = (int64_t)images * g.size * g.size * g.channels;
            std::vector<float> in((size_t)n);
            for (int64_t i = 0; i < n; i++)
                in[(size_t)i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
            Setup sa(a, g, images, threads, in), sb(b, g, images, threads, in);
            sa.run(op); /* first calls: allocations and thread start-up, untimed */
            sb.run(op);
            std::vector<double> ta, tb, ratio;
            for (int p = 0; p < pairs; p++) {
                for (int k = 0; k < 2; k++) {
                    const bool first_a = (p % 2 == 0) == (k == 0);
                    Setup& s = first_a ? sa : sb;
                    if (!warm)
                        for (std::size_t i = 0; i < flush.size(); i += 64) flush[i]++;
                    const auto t0 = std::chrono::steady_clock::now();
                    s.run(op);
                    const double ms = std::chrono::duration<double, std::milli>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count();
                    (first_a ? ta : tb).push_back(ms);
                }
                ratio.push_back(tb.back() / ta.back());
            }
            const double ma = median(ta), mb = median(tb), mr = median(ratio);
            total_a += g.calls_per_step * ma;
            total_b += g.calls_per_step * ma * mr;
            std::printf("%s %dx%d s%d %dx%dx%d: A %.3f ms, B %.3f ms, B/A %.3f [%.3f..%.3f]\n",
                        op.c_str(), g.K, g.K, g.stride, g.size, g.size, g.channels, ma, mb, mr,
                        median(ratio, 0.25), median(ratio, 0.75));
        }
        if (geoms.size() > 1)
            std::printf("%s, B0 training step's calls: A %.2f ms, B %.2f ms (A's times by the "
                        "ratios)\n",
                        op.c_str(), total_a, total_b);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "effiseg_lib_ab: %s\n", e.what());
        return 1;
    }
    return 0;
}
