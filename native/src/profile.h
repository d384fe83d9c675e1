/*
 * profile.h — per-context kernel profiling (es_context_profile).
 *
 * While a context profiles, its ops run through a second KernelTable whose entries wrap the
 * backend's: each kernel call waits for the work queued before it, runs, waits for itself, and
 * adds its wall time and its Work to a row keyed by the kernel's name and its geometry (e.g.
 * "depthwise 3x3/s2 [8,112,112,96]->[8,56,56,96]"; "[n]" for a kernel that takes a length).
 * The waits make a profiled run slower than a normal one (no overlap of host and device work);
 * the shares are what it is for. Storage always keeps the backend's own table, so tensors
 * outlive a profile.
 */
#ifndef EFFISEG_PROFILE_H
#define EFFISEG_PROFILE_H

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kernels.h"

namespace es {

/* A kernel call's floating-point operations and compulsory memory traffic in bytes (profile.cpp
 * says how each kernel's are counted). */
struct Work {
    double flops = 0, bytes = 0;
};

struct Profiler {
    struct Row {
        int64_t calls = 0;
        double seconds = 0;
        double flops = 0, bytes = 0;   /* totals over the calls */
        std::vector<double> each_call; /* every call's seconds, for the median */
    };

    explicit Profiler(const KernelTable* backend);
    const KernelTable* backend; /* the table the wrappers call */
    KernelTable table;          /* the wrappers */
    std::mutex mu;
    std::map<std::pair<std::string, std::string>, Row> rows; /* (kernel, geometry) -> totals */

    void record(const char* kernel, std::string geometry, Work work, double seconds);
    /* [{"kernel":…, "geometry":…, "calls":…, "ms":…, "ms_median_call":…, "flop":…, "bytes":…},
     * …], slowest total first; flop and bytes are totals over the calls (Work), ms_median_call
     * the median of the calls' times (a preempted or stalled call moves the total, not this) */
    std::string json();
};

}  // namespace es

#endif
