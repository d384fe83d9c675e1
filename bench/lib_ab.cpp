/*
 * lib_ab.cpp — two builds of libeffiseg (the previous engine and this one) in one process,
 * timing the same op through each in turn: the A/B for CPU kernel changes that whole-step runs
 * cannot resolve on a machine whose speed drifts by more than the change.
 *
 *   build: part of the CMake build (target effiseg_lib_ab, in <build>/bin)
 *   run:   effiseg_lib_ab LIB_A LIB_B OP [GEOMETRY...] [--images N] [--threads T] [--pairs P]
 *                         [--warm]
 *          LIB_A, LIB_B: paths of the two builds' libeffiseg.so, with a '/' (./old.so); the
 *          old commit's built from its own worktree with cmake -DEFFISEG_OUTPUT_DIR=<dir>.
 *          OP and its geometry:
 *            fwd, dx, dw, bwd K STRIDE SIZE CHANNELS   depthwise convolution (bwd: dx and dw
 *                                                     in one call, as the training step asks)
 *            bn-pooled SIZE CHANNELS                  training batch norm + swish that also
 *                                                     pools for squeeze-excite
 *                                                     (es_batchnorm_forward_pooled)
 *            pw-bn CIN COUT SIZE GATED                pointwise backward with the batch norm's
 *                                                     deferred dx as dy (es_conv2d_backward_bn;
 *                                                     dx, dw, and with GATED=1 a squeeze-excite
 *                                                     gate and its ds)
 *          Without a geometry, every such layer of EffiSegNet-B0 at 224x224, and the training
 *          step's total. Defaults: 8 images, 2 threads, 31 pairs, cold (a 256 MiB buffer touched
 *          before each call).
 *
 * Each library is dlopen()ed under its own path (RTLD_LOCAL), gets its own CPU context and
 * its own copies of the same inputs; each pair calls A and B once, in alternating order. It
 * prints both median times and the median of the pairs' B/A ratios with its interquartile
 * range. Depthwise padding is TF's SAME (EfficientNet's); weights and inputs are fixed
 * pseudo-random values. Exits 1 on a failed call, 2 on bad arguments.
 */
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "effiseg/effiseg.h"

namespace {

/* One layer: its op's geometry (the op's own reading of a..d) and how often a training step
 * runs it. */
struct Geometry {
    int a, b, c, d, calls_per_step;
};

/* EffiSegNet-B0's layers at 224x224, per op family. Depthwise: K, stride, input size,
 * channels. */
const Geometry kDepthwiseB0[] = {
    {3, 1, 224, 16, 2}, {3, 1, 112, 32, 1}, {3, 2, 112, 96, 1},  {3, 1, 56, 144, 1},
    {5, 2, 56, 144, 1}, {5, 1, 28, 240, 1}, {3, 2, 28, 240, 1},  {3, 1, 14, 480, 2},
    {5, 1, 14, 480, 1}, {5, 1, 14, 672, 2}, {5, 2, 14, 672, 1},  {5, 1, 7, 1152, 3},
    {3, 1, 7, 1152, 1},
};
/* The batch norms after each MBConv block's depthwise convolution: size, channels. */
const Geometry kPooledB0[] = {
    {112, 32, 0, 0, 1}, {56, 96, 0, 0, 1}, {56, 144, 0, 0, 1}, {28, 144, 0, 0, 1},
    {28, 240, 0, 0, 1}, {14, 240, 0, 0, 1}, {14, 480, 0, 0, 3}, {14, 672, 0, 0, 2},
    {7, 672, 0, 0, 1},  {7, 1152, 0, 0, 4},
};
/* The expand (not gated) and project (gated) convolutions: Cin, Cout, size, gated. */
const Geometry kPointwiseB0[] = {
    {32, 16, 112, 1, 1},  {16, 96, 112, 0, 1},  {96, 24, 56, 1, 1},   {24, 144, 56, 0, 2},
    {144, 24, 56, 1, 1},  {144, 40, 28, 1, 1},  {40, 240, 28, 0, 2},  {240, 40, 28, 1, 1},
    {240, 80, 14, 1, 1},  {80, 480, 14, 0, 3},  {480, 80, 14, 1, 2},  {480, 112, 14, 1, 1},
    {112, 672, 14, 0, 3}, {672, 112, 14, 1, 2}, {672, 192, 7, 1, 1},  {192, 1152, 7, 0, 4},
    {1152, 192, 7, 1, 3}, {1152, 320, 7, 1, 1},
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
    decltype(&es_batchnorm_forward_pooled) batchnorm_forward_pooled;
    decltype(&es_conv2d_backward_bn) conv2d_backward_bn;

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
        bind(h, "es_batchnorm_forward_pooled", batchnorm_forward_pooled);
        bind(h, "es_conv2d_backward_bn", conv2d_backward_bn);
    }
    void check(es_status st, const char* what) const {
        if (st != ES_OK) throw std::runtime_error(std::string(what) + ": " + last_error());
    }
};

/* Fixed pseudo-random values in [-1, 1) times scale, plus offset. */
std::vector<float> values(int64_t n, float scale = 1.0f, float offset = 0.0f) {
    std::vector<float> v((size_t)n);
    for (int64_t i = 0; i < n; i++)
        v[(size_t)i] = ((float)((i * 7919) % 1000) / 500.0f - 1.0f) * scale + offset;
    return v;
}

/* One library's context and tensors for one layer; run() makes the op's call and waits. */
class Setup {
public:
    Setup(const Lib& l, int threads) : lib(l) {
        lib.check(lib.context_create(ES_BACKEND_CPU, 0, threads, &ctx), "context");
    }
    virtual ~Setup() {
        for (es_handle t : tensors) lib.tensor_destroy(t);
        lib.context_destroy(ctx);
    }
    void run() {
        call();
        lib.check(lib.synchronize(ctx), "synchronize");
    }

protected:
    virtual void call() = 0;
    /* a tensor of shape, filled with values(count, scale, offset) (left zero with scale 0) */
    es_handle tensor(std::vector<int64_t> shape, float scale = 1.0f, float offset = 0.0f) {
        es_handle t;
        lib.check(lib.tensor_create(ctx, (int)shape.size(), shape.data(), 0, &t), "tensor");
        tensors.push_back(t);
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        if (scale != 0.0f || offset != 0.0f)
            lib.check(lib.tensor_write(t, 0, values(n, scale, offset).data(), n), "write");
        return t;
    }
    const Lib& lib;
    es_handle ctx = 0;

private:
    std::vector<es_handle> tensors;
};

/* Depthwise K x K, TF SAME padding: op fwd, dx, dw or bwd. */
class Depthwise : public Setup {
public:
    Depthwise(const Lib& l, int threads, const std::string& op, const Geometry& g, int images)
        : Setup(l, threads), op(op), stride(g.b), C(g.d) {
        const int K = g.a, H = g.c, S = g.b, OH = (H + S - 1) / S;
        const int pad = std::max((OH - 1) * S + K - H, 0);
        pt = pl = pad / 2;
        pb = pr = pad - pad / 2;
        x = tensor({images, H, H, C});
        dx = tensor({images, H, H, C}, 0);
        y = tensor({images, OH, OH, C}, 0);
        dy = tensor({images, OH, OH, C});
        w = tensor({K, K, 1, C});
        dw = tensor({K, K, 1, C}, 0);
    }

private:
    void call() override {
        const int s = stride;
        if (op == "fwd")
            lib.check(lib.conv2d_forward(ctx, x, w, 0, y, s, s, pt, pb, pl, pr, C), "fwd");
        else
            lib.check(lib.conv2d_backward(ctx, x, w, dy, op == "dw" ? 0 : dx, op == "dx" ? 0 : dw,
                                          0, s, s, pt, pb, pl, pr, C),
                      "bwd");
    }
    std::string op;
    int stride, C, pt, pb, pl, pr;
    es_handle x, w, y, dy, dx, dw;
};

/* Training batch norm with swish and the squeeze-excite pooling: size, channels. */
class PooledBatchNorm : public Setup {
public:
    PooledBatchNorm(const Lib& l, int threads, const Geometry& g, int images)
        : Setup(l, threads) {
        const int H = g.a, C = g.b;
        x = tensor({images, H, H, C});
        y = tensor({images, H, H, C}, 0);
        gamma = tensor({C}, 0.5f, 1.0f);
        beta = tensor({C}, 0.1f);
        running_mean = tensor({C}, 0);
        running_var = tensor({C}, 0, 1.0f);
        save_mean = tensor({C}, 0);
        save_invstd = tensor({C}, 0);
        pooled = tensor({images, 1, 1, C}, 0);
    }

private:
    void call() override {
        lib.check(lib.batchnorm_forward_pooled(ctx, x, gamma, beta, running_mean, running_var, y,
                                               save_mean, save_invstd, 1, 0.01f, 1e-3f,
                                               ES_ACT_SWISH, pooled),
                  "bn-pooled");
    }
    es_handle x, y, gamma, beta, running_mean, running_var, save_mean, save_invstd, pooled;
};

/* Pointwise Cin -> Cout backward whose dy is a batch norm's deferred dx: Cin, Cout, size,
 * gated. */
class PointwiseBn : public Setup {
public:
    PointwiseBn(const Lib& l, int threads, const Geometry& g, int images) : Setup(l, threads) {
        const int Cin = g.a, Cout = g.b, H = g.c;
        x = tensor({images, H, H, Cin});
        s = g.d ? tensor({images, 1, 1, Cin}, 0.5f) : 0;
        w = tensor({1, 1, Cin, Cout}, 0.1f);
        gr = tensor({images, H, H, Cout});
        bn_x = tensor({images, H, H, Cout});
        mean = tensor({Cout}, 0.1f);
        coef = tensor({3, Cout}, 0.3f);
        dx = tensor({images, H, H, Cin}, 0);
        dw = tensor({1, 1, Cin, Cout}, 0);
        ds = g.d ? tensor({images, 1, 1, Cin}, 0) : 0;
    }

private:
    void call() override {
        lib.check(lib.conv2d_backward_bn(ctx, x, s, w, gr, bn_x, mean, coef, 0, dx, dw, ds),
                  "pw-bn");
    }
    es_handle x, s, w, gr, bn_x, mean, coef, dx, dw, ds;
};

std::unique_ptr<Setup> make(const Lib& lib, const std::string& op, const Geometry& g,
                            int images, int threads) {
    if (op == "bn-pooled") return std::make_unique<PooledBatchNorm>(lib, threads, g, images);
    if (op == "pw-bn") return std::make_unique<PointwiseBn>(lib, threads, g, images);
    return std::make_unique<Depthwise>(lib, threads, op, g, images);
}

std::string describe(const std::string& op, const Geometry& g) {
    char buf[96];
    if (op == "bn-pooled")
        std::snprintf(buf, sizeof buf, "%dx%dx%d", g.a, g.a, g.b);
    else if (op == "pw-bn")
        std::snprintf(buf, sizeof buf, "%dx%d %d->%d%s", g.c, g.c, g.a, g.b,
                      g.d ? " gated" : "");
    else
        std::snprintf(buf, sizeof buf, "%dx%d s%d %dx%dx%d", g.a, g.a, g.b, g.c, g.c, g.d);
    return buf;
}

double median(std::vector<double> v, double q = 0.5) {
    std::sort(v.begin(), v.end());
    return v[(size_t)(q * (double)(v.size() - 1) + 0.5)];
}

int usage() {
    std::fprintf(stderr,
                 "usage: effiseg_lib_ab LIB_A LIB_B OP [GEOMETRY...] [--images N] [--threads T] "
                 "[--pairs P] [--warm]\n"
                 "  fwd|dx|dw|bwd [K STRIDE SIZE CHANNELS]   depthwise convolution\n"
                 "  bn-pooled [SIZE CHANNELS]                batch norm + swish + pooling\n"
                 "  pw-bn [CIN COUT SIZE GATED]              pointwise backward, deferred BN\n");
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
    if (pos.size() < 3 || images < 1 || threads < 1 || pairs < 1) return usage();
    const std::string op = pos[2];
    std::vector<Geometry> geoms;
    size_t fields;
    if (op == "fwd" || op == "dx" || op == "dw" || op == "bwd") {
        geoms.assign(std::begin(kDepthwiseB0), std::end(kDepthwiseB0));
        fields = 4;
    } else if (op == "bn-pooled") {
        geoms.assign(std::begin(kPooledB0), std::end(kPooledB0));
        fields = 2;
    } else if (op == "pw-bn") {
        geoms.assign(std::begin(kPointwiseB0), std::end(kPointwiseB0));
        fields = 4;
    } else {
        return usage();
    }
    if (pos.size() == 3 + fields) {
        int f[4] = {0, 0, 0, 0};
        for (size_t k = 0; k < fields; k++) f[k] = std::atoi(pos[3 + k].c_str());
        const Geometry g{f[0], f[1], f[2], f[3], 1};
        /* every field positive, but GATED (pw-bn's fourth) 0 or 1 */
        for (size_t k = 0; k < fields; k++)
            if (op == "pw-bn" && k == 3 ? (f[k] != 0 && f[k] != 1) : f[k] < 1) return usage();
        geoms = {g};
    } else if (pos.size() != 3) {
        return usage();
    }
    try {
        const Lib a(pos[0].c_str()), b(pos[1].c_str());
        std::vector<char> flush(std::size_t(256) << 20, 1);
        double total_a = 0, total_b = 0;
        for (const Geometry& g : geoms) {
            std::unique_ptr<Setup> sa = make(a, op, g, images, threads);
            std::unique_ptr<Setup> sb = make(b, op, g, images, threads);
            sa->run(); /* first calls: allocations and thread start-up, untimed */
            sb->run();
            std::vector<double> ta, tb, ratio;
            for (int p = 0; p < pairs; p++) {
                for (int k = 0; k < 2; k++) {
                    const bool first_a = (p % 2 == 0) == (k == 0);
                    Setup& s = first_a ? *sa : *sb;
                    if (!warm)
                        for (std::size_t i = 0; i < flush.size(); i += 64) flush[i]++;
                    const auto t0 = std::chrono::steady_clock::now();
                    s.run();
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
            std::printf("%s %s: A %.3f ms, B %.3f ms, B/A %.3f [%.3f..%.3f]\n", op.c_str(),
                        describe(op, g).c_str(), ma, mb, mr, median(ratio, 0.25),
                        median(ratio, 0.75));
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
