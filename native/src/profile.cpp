/* profile.cpp — the profiling kernel table (profile.h). */
#include "profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

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
        const auto t0 = std::chrono::steady_clock::now();
        struct Stop { /* records also when the kernel throws */
            Profiler* p;
            const KernelTable* k;
            const Exec& ex;
            std::chrono::steady_clock::time_point t0;
            std::string geometry;
            ~Stop() {
                try {
                    if (k->synchronize) k->synchronize(ex);
                } catch (...) { /* the kernel's own error is the one to report */
                }
                p->record(Name::value(), geometry,
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
        } stop{p, k, ex, t0, describe_first(a...)};
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

void Profiler::record(const char* kernel, std::string geometry, double seconds) {
    std::lock_guard<std::mutex> lock(mu);
    Row& r = rows[{kernel, std::move(geometry)}];
    r.calls++;
    r.seconds += seconds;
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
    for (const auto& [key, row] : sorted) {
        char ms[32];
        std::snprintf(ms, sizeof ms, "%.6f", row.seconds * 1e3);
        /* names and geometries are [a-z0-9_ /x\[\],>-]: nothing to escape */
        out += (out.size() > 1 ? ",\n" : "") + std::string("{\"kernel\":\"") + key.first +
               "\",\"geometry\":\"" + key.second + "\",\"calls\":" + std::to_string(row.calls) +
               ",\"ms\":" + ms + "}";
    }
    return out + "]";
}

}  // namespace es
