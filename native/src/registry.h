/*
 * registry.h — contexts, tensors and the handle table behind the C ABI.
 *
 * Handles are ids into one process-wide table; ids are never reused, so a destroyed
 * handle fails lookup ("use after free") instead of dereferencing freed memory.
 * Storage is reference-counted so views outlive the tensor they were cut from.
 * Allocation accounting (live bytes, live handles) is global and lock-free to read.
 */
#ifndef EFFISEG_REGISTRY_H
#define EFFISEG_REGISTRY_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "effiseg/effiseg.h"
#include "kernels.h"
#include "profile.h"

namespace es {

/* Bytes of tensor storage made by one context, shared by the context and its storages
 * (a tensor may outlive its context). */
struct MemoryCounters {
    std::atomic<int64_t> live{0}, peak{0};
    void add(int64_t delta) {
        const int64_t now = live.fetch_add(delta) + delta;
        int64_t p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
    }
};

struct Context {
    ~Context();
    int backend;
    int device;
    int threads;
    const KernelTable* k;         /* what ops call: the backend's table, or the profiler's */
    const KernelTable* backend_k; /* the backend's own (storage keeps this one) */
    void* backend_state;
    std::shared_ptr<MemoryCounters> memory = std::make_shared<MemoryCounters>();
    std::unique_ptr<Profiler> profiler; /* kept after profiling stops, for its report */
    Exec exec() const { return Exec{threads, device, backend_state, k == backend_k ? nullptr : profiler.get()}; }
};

struct Storage {
    const KernelTable* k;
    Exec exec;
    void* data;
    int64_t bytes;
    int backend, device;
    std::shared_ptr<MemoryCounters> memory;
    ~Storage();
};

struct Tensor {
    std::shared_ptr<Storage> storage;
    int64_t offset; /* in elements */
    int ndim;
    int64_t shape[ES_MAX_DIMS];
    int64_t numel;
    float* data() const { return static_cast<float*>(storage->data) + offset; }
    int64_t dim(int i) const { return shape[i]; }
};

/* Registers an object, returns its new handle. */
es_handle register_context(std::unique_ptr<Context> c);
es_handle register_tensor(std::unique_ptr<Tensor> t);
/* Removes and returns the object; throws for unknown ids or the wrong kind. */
std::unique_ptr<Context> unregister_context(es_handle h);
std::unique_ptr<Tensor> unregister_tensor(es_handle h);
/* Looks up a live object; throws Error(NULL_HANDLE / USE_AFTER_FREE) naming `what`. */
Context* context(es_handle h, const char* what = "context");
Tensor* tensor(es_handle h, const char* what);
/* Like tensor(), but 0 gives nullptr. */
Tensor* optional_tensor(es_handle h, const char* what);

void account_storage(int64_t bytes_delta);
int64_t live_bytes();
int64_t live_handles();

/* "[8,112,112,32]" */
std::string shape_str(const Tensor* t);

}  // namespace es

#endif
