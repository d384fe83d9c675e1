/* profile.cpp — the profiling kernel table (profile.h). */
#include "profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <type_traits>
#include <vector>

#include "effiseg/effiseg.h"

namespace es {

namespace {

std::string dims(std::initializer_list<int64_t> d) {
    std::string s = "[";
    for (int64_t v : d) s += (s.size() > 1 ? "," : "") + std::to_string(v);
    return s + "]";
}

/* What a kernel call is about, from its geometry argument (empty for the others). */
std::string describe(const ConvGeom& g) {
    std::string kind = g.KH == 1 && g.KW == 1 && g.groups == 1 ? "pointwise"
                       : g.groups == g.Cin && g.Cout == g.Cin ? "depthwise"
                       : g.groups == 1                        ? "dense"
                                                              : "grouped/" + std::to_string(g.groups);
    return kind + " " + std::to_string(g.KH) + "x" + std::to_string(g.KW) + "/s" +
           std::to_string(g.stride_h) + " " + dims({g.N, g.H, g.W, g.Cin}) + "->" +
           dims({g.N, g.OH, g.OW, g.Cout});
}
std::string describe(const BnGeom& g) { return dims({g.rows, g.C}); }
std::string describe(const PoolGeom& g) { return dims({g.N, g.HW, g.C}); }
std::string describe(const UpsampleGeom& g) {
    return dims({g.N, g.h, g.w, g.C}) + "->" + dims({g.N, g.H, g.W, g.C});
}
std::string describe(const ChannelCopyGeom& g) { return dims({g.rows, g.count}); }
std::string describe(const LossGeom& g) { return dims({g.N, g.H, g.W}); }
template <class T>
std::string describe(const T&) {
    return "";
}

template <class... A>
std::string describe_first(const A&... a) {
    std::string out;
    ((out.empty() ? (void)(out = describe(a)) : (void)0), ...);
    return out;
}

/* A kernel call's row label: the first geometry argument's description, or for the kernels that
 * take a length instead, the length ("[n]"; drop_path [N, per sample], activations with their
 * function, alloc in bytes), so that calls of different sizes get rows of their own (one row
 * for every axpby of a step, from a few hundred values to 8x224x224x16, had a median call that
 * stood for none of them). */
template <auto Member>
struct Label {
    template <class... A>
    static std::string of(const A&... a) {
        return describe_first(a...);
    }
};
template <class T>
int64_t length_of(const T& v) {
    if constexpr (std::is_integral_v<T>) return (int64_t)v;
    return 0;
}
/* "[n]", n the last argument: the length of alloc, upload, download, fill, copy, add, axpby and
 * adamw_step */
struct ByLength {
    template <class... A>
    static std::string of(const A&... a) {
        int64_t n = 0;
        ((n = length_of(a)), ...);
        return dims({n});
    }
};
template <> struct Label<&KernelTable::alloc> : ByLength {};
template <> struct Label<&KernelTable::upload> : ByLength {};
template <> struct Label<&KernelTable::download> : ByLength {};
template <> struct Label<&KernelTable::fill> : ByLength {};
template <> struct Label<&KernelTable::copy> : ByLength {};
template <> struct Label<&KernelTable::add> : ByLength {};
template <> struct Label<&KernelTable::axpby> : ByLength {};
template <> struct Label<&KernelTable::adamw_step> : ByLength {};

const char* activation_name(int activation) {
    switch (activation) {
        case ES_ACT_NONE: return "none";
        case ES_ACT_RELU: return "relu";
        case ES_ACT_SWISH: return "swish";
        case ES_ACT_SIGMOID: return "sigmoid";
        default: return "activation?";
    }
}
/* the activation function and "[n]" */
struct ByActivationAndLength {
    template <class... A>
    static std::string of(int activation, const A&... a) {
        return std::string(activation_name(activation)) + " " + ByLength::of(a...);
    }
};
template <> struct Label<&KernelTable::activation_forward> : ByActivationAndLength {};
template <> struct Label<&KernelTable::activation_backward> : ByActivationAndLength {};

/* "[N, per sample]" */
struct BySamples {
    template <class... A>
    static std::string of(int N, int64_t per_sample, const A&...) {
        return dims({N, per_sample});
    }
};
template <> struct Label<&KernelTable::drop_path_forward> : BySamples {};
template <> struct Label<&KernelTable::drop_path_backward> : BySamples {};

/* The work of one kernel call, for the report's GFLOP/s and GB/s: floating-point operations (a
 * multiply-add counts 2; only the convolutions, the rest is memory-bound and counts 0) and the
 * compulsory memory traffic (each input read once, each output written once, in bytes): a
 * lower bound of what the kernel moves, so GB/s is a lower bound of the bandwidth it reached. */
template <auto Member>
struct Cost {
    template <class... A>
    static Work of(const A&...) {
        return {};
    }
};

constexpr double kF = sizeof(float);

double conv_macs(const ConvGeom& g) {
    return (double)g.N * g.OH * g.OW * g.Cout * g.KH * g.KW * (g.Cin / g.groups);
}
double conv_x(const ConvGeom& g) { return (double)g.N * g.H * g.W * g.Cin; }
double conv_y(const ConvGeom& g) { return (double)g.N * g.OH * g.OW * g.Cout; }
double conv_w(const ConvGeom& g) { return (double)g.KH * g.KW * (g.Cin / g.groups) * g.Cout; }

template <>
struct Cost<&KernelTable::conv2d_forward> {
    static Work of(const ConvGeom& g, const float*, const float*, const float* b,
                   const ConvEpilogue& e, float*) {
        const double vectors = (b ? 1 : 0) + (e.scale ? 1 : 0) + (e.shift ? 1 : 0);
        return {2 * conv_macs(g), kF * (conv_x(g) + conv_w(g) + conv_y(g) * (e.residual ? 2 : 1) +
                                        vectors * g.Cout)};
    }
};
template <>
struct Cost<&KernelTable::conv2d_backward> {
    static Work of(const ConvGeom& g, const float*, const float*, const float*, const float* dx,
                   const float* dw, const float* db) {
        const double flops = (dx ? 2 * conv_macs(g) : 0) + (dw ? 2 * conv_macs(g) : 0);
        const double read = conv_y(g) + (dw ? conv_x(g) : 0) + (dx ? conv_w(g) : 0);
        const double written = (dx ? conv_x(g) : 0) + (dw ? conv_w(g) : 0) + (db ? g.Cout : 0);
        return {flops, kF * (read + written)};
    }
};
/* The gated ones: the convolution's work on x * s, plus reading s ([N, Cin]) and writing ds. */
template <>
struct Cost<&KernelTable::conv2d_forward_gated> {
    static Work of(const ConvGeom& g, const float* x, const float*, const float* w,
                   const float* b, const ConvEpilogue& e, float* y) {
        Work k = Cost<&KernelTable::conv2d_forward>::of(g, x, w, b, e, y);
        k.bytes += kF * (double)g.N * g.Cin;
        return k;
    }
};
template <>
struct Cost<&KernelTable::conv2d_backward_gated> {
    static Work of(const ConvGeom& g, const float* x, const float*, const float* w,
                   const float* dy, const float* dx, const float* dw, const float* db,
                   const float* ds) {
        Work k = Cost<&KernelTable::conv2d_backward>::of(g, x, w, dy, dx, dw, db);
        if (dw || ds) k.bytes += kF * (double)g.N * g.Cin * (ds ? 2 : 1); /* s, ds */
        if (ds && !dw) k.bytes += kF * conv_x(g);                         /* x */
        return k;
    }
};
/* The second block's work and bytes on top of the first's. */
template <>
struct Cost<&KernelTable::conv2d_forward_blocks> {
    static Work of(const ConvGeom& g, const float* x, const float*, int C2, const float* w,
                   const float* b, const ConvEpilogue& e, float* y) {
        ConvGeom all = g;
        all.Cin = g.Cin + C2;
        return Cost<&KernelTable::conv2d_forward>::of(all, x, w, b, e, y);
    }
};
/* With the batch norm's unfinished dx: gr and the batch norm's x read instead of dy; a second
 * block of input channels counts as more input channels. */
template <>
struct Cost<&KernelTable::conv2d_backward_bn> {
    static Work of(const ConvGeom& g, const float* x, const float* s, const float*, int C2,
                   const float* w, const BnDy& bn, const float* dx, const float*,
                   const float* dw, const float* ds) {
        ConvGeom all = g;
        all.Cin = g.Cin + C2;
        Work k = s ? Cost<&KernelTable::conv2d_backward_gated>::of(g, x, s, w, bn.gr, dx, dw,
                                                                    nullptr, ds)
                   : Cost<&KernelTable::conv2d_backward>::of(all, x, w, bn.gr, dx, dw, nullptr);
        k.bytes += kF * conv_y(g); /* the batch norm's x, besides gr */
        return k;
    }
};
template <>
struct Cost<&KernelTable::batchnorm_forward> {
    template <class... A>
    static Work of(const BnGeom& g, const A&...) {
        return {0, kF * 2 * (double)g.rows * g.C};
    }
};
template <>
struct Cost<&KernelTable::batchnorm_backward> {
    template <class... A>
    static Work of(const BnGeom& g, const A&...) {
        return {0, kF * 3 * (double)g.rows * g.C};
    }
};
template <>
struct Cost<&KernelTable::batchnorm_backward_deferred> {
    template <class... A>
    static Work of(const BnGeom& g, const float*, const float*, const float*, const float* dy,
                   const float*, const float*, const float* gr, const A&...) {
        return {0, kF * (gr == dy ? 2 : 3) * (double)g.rows * g.C};
    }
};
template <>
struct Cost<&KernelTable::activation_forward> {
    static Work of(int, const float*, float*, int64_t n) { return {0, kF * 2 * (double)n}; }
};
template <>
struct Cost<&KernelTable::activation_backward> {
    static Work of(int, const float*, const float*, float*, int64_t n) {
        return {0, kF * 3 * (double)n};
    }
};
template <>
struct Cost<&KernelTable::global_avg_pool_forward> {
    static Work of(const PoolGeom& g, const float*, float*) {
        return {0, kF * ((double)g.N * g.HW * g.C + (double)g.N * g.C)};
    }
};
template <>
struct Cost<&KernelTable::global_avg_pool_backward> {
    static Work of(const PoolGeom& g, const float*, float*) {
        return {0, kF * ((double)g.N * g.HW * g.C + (double)g.N * g.C)};
    }
};
template <>
struct Cost<&KernelTable::channel_scale_forward> {
    static Work of(const PoolGeom& g, const float*, const float*, float*) {
        return {0, kF * (2 * (double)g.N * g.HW * g.C + (double)g.N * g.C)};
    }
};
template <>
struct Cost<&KernelTable::channel_scale_backward> {
    static Work of(const PoolGeom& g, const float*, const float*, const float*, float* dx, float*) {
        return {0, kF * ((dx ? 3 : 2) * (double)g.N * g.HW * g.C + 2 * (double)g.N * g.C)};
    }
};
template <>
struct Cost<&KernelTable::channel_scale_add> {
    static Work of(const PoolGeom& g, const float*, const float*, const float*, float, float*) {
        return {0, kF * (2 * (double)g.N * g.HW * g.C + 2 * (double)g.N * g.C)};
    }
};
template <>
struct Cost<&KernelTable::upsample_nearest_forward> {
    static Work of(const UpsampleGeom& g, const float*, float*, int accumulate) {
        return {0, kF * ((double)g.N * g.h * g.w * g.C + (accumulate ? 2 : 1) * (double)g.N * g.H * g.W * g.C)};
    }
};
template <>
struct Cost<&KernelTable::upsample_nearest_backward> {
    static Work of(const UpsampleGeom& g, const float*, float*) {
        return {0, kF * ((double)g.N * g.h * g.w * g.C + (double)g.N * g.H * g.W * g.C)};
    }
};
template <>
struct Cost<&KernelTable::channel_copy> {
    static Work of(const ChannelCopyGeom& g, const float*, float*, int accumulate) {
        return {0, kF * (accumulate ? 3 : 2) * (double)g.rows * g.count};
    }
};
template <>
struct Cost<&KernelTable::seg_loss> {
    static Work of(const LossGeom& g, const LossWeights&, const float*, const float*, float*,
                   float* dlogits) {
        return {0, kF * (dlogits ? 3 : 2) * (double)g.N * g.H * g.W};
    }
};
template <>
struct Cost<&KernelTable::adamw_step> {
    static Work of(const AdamW&, float*, const float*, float*, float*, int64_t n) {
        return {0, kF * 7 * (double)n};
    }
};
template <>
struct Cost<&KernelTable::add> {
    static Work of(const float*, const float*, float*, int64_t n) { return {0, kF * 3 * (double)n}; }
};
template <>
struct Cost<&KernelTable::axpby> {
    static Work of(float, const float*, float, float*, int64_t n) { return {0, kF * 3 * (double)n}; }
};
template <>
struct Cost<&KernelTable::copy> {
    static Work of(float*, const float*, int64_t n) { return {0, kF * 2 * (double)n}; }
};
template <>
struct Cost<&KernelTable::fill> {
    static Work of(float*, float, int64_t n) { return {0, kF * (double)n}; }
};
template <>
struct Cost<&KernelTable::drop_path_forward> {
    static Work of(int N, int64_t per_sample, const float*, float*, float, uint64_t) {
        return {0, kF * 2 * (double)N * per_sample};
    }
};
template <>
struct Cost<&KernelTable::drop_path_backward> {
    static Work of(int N, int64_t per_sample, const float*, float*, float, uint64_t) {
        return {0, kF * 2 * (double)N * per_sample};
    }
};

/* Seconds on the profile's clock: wall time (steady), or with EFFISEG_PROFILE_CLOCK=cpu the
 * process's CPU time (all threads together), which other processes on a loaded machine do not
 * inflate; run with OMP_WAIT_POLICY=passive then, or idle OpenMP threads' spinning counts too. */
double profile_clock() {
    static const bool cpu = [] {
        const char* v = std::getenv("EFFISEG_PROFILE_CLOCK");
        return v && std::strcmp(v, "cpu") == 0;
    }();
    if (cpu) {
        timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/* Wrapper of one KernelTable entry: Member is the entry, Name gives its name. */
template <class F>
struct Wrap;
template <class R, class... A>
struct Wrap<R (*)(const Exec&, A...)> {
    template <R (*KernelTable::*Member)(const Exec&, A...), class Name>
    static R call(const Exec& ex, A... a) {
        auto* p = static_cast<Profiler*>(ex.profiler);
        const KernelTable* k = p->backend;
        if (k->synchronize) k->synchronize(ex); /* earlier work is not ours */
        const double t0 = profile_clock();
        struct Stop { /* records also when the kernel throws */
            Profiler* p;
            const KernelTable* k;
            const Exec& ex;
            double t0;
            std::string geometry;
            Work work;
            ~Stop() {
                try {
                    if (k->synchronize) k->synchronize(ex);
                } catch (...) { /* the kernel's own error is the one to report */
                }
                p->record(Name::value(), geometry, work, profile_clock() - t0);
            }
        } stop{p, k, ex, t0, Label<Member>::of(a...), Cost<Member>::of(a...)};
        return (k->*Member)(ex, a...);
    }
};

}  // namespace

Profiler::Profiler(const KernelTable* b) : backend(b), table(*b) {
#define ES_KERNEL(ret, n, params)                                                \
    {                                                                            \
        struct Name {                                                            \
            static const char* value() { return #n; }                            \
        };                                                                       \
        table.n = &Wrap<decltype(KernelTable::n)>::template call<&KernelTable::n, Name>; \
    }
#include "kernel_list.inc"
#undef ES_KERNEL
}

void Profiler::record(const char* kernel, std::string geometry, Work work, double seconds) {
    std::lock_guard<std::mutex> lock(mu);
    Row& r = rows[{kernel, std::move(geometry)}];
    r.calls++;
    r.seconds += seconds;
    r.each_call.push_back(seconds);
    r.flops += work.flops;
    r.bytes += work.bytes;
}

std::string Profiler::json() {
    std::vector<std::pair<std::pair<std::string, std::string>, Row>> sorted;
    {
        std::lock_guard<std::mutex> lock(mu);
        sorted.assign(rows.begin(), rows.end());
    }
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    std::string out = "[";
    for (auto& [key, row] : sorted) {
        /* the median call: the middle one, or the mean of the middle two */
        std::vector<double>& t = row.each_call;
        const size_t mid = t.size() / 2;
        std::nth_element(t.begin(), t.begin() + mid, t.end());
        double median = t[mid];
        if (t.size() % 2 == 0)
            median = 0.5 * (median + *std::max_element(t.begin(), t.begin() + mid));
        char ms[160];
        std::snprintf(ms, sizeof ms, "%.6f,\"ms_median_call\":%.6f,\"flop\":%.0f,\"bytes\":%.0f",
                      row.seconds * 1e3, median * 1e3, row.flops, row.bytes);
        /* names and geometries are [a-z0-9_ /x\[\],>-]: nothing to escape */
        out += (out.size() > 1 ? ",\n" : "") + std::string("{\"kernel\":\"") + key.first +
               "\",\"geometry\":\"" + key.second + "\",\"calls\":" + std::to_string(row.calls) +
               ",\"ms\":" + ms + "}";
    }
    return out + "]";
}

}  // namespace es
