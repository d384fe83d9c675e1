/* api_core.cpp — C ABI: errors, accounting, backends, contexts, tensors, elementwise ops. */
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "api_util.h"
#include "backends.h"

using namespace es;

namespace es {
const char* last_error_cstr();
}

namespace {
/* OpenMP starts every thread a parallel region asks for; libgomp crashes (it does not fail)
 * when it cannot, so a context never asks for more than a few per processor. */
int max_threads() { return 4 * omp_get_num_procs(); }
}  // namespace

extern "C" {

const char* es_last_error(void) { return last_error_cstr(); }
const char* es_version(void) { return "0.1.0"; }
int64_t es_live_bytes(void) { return live_bytes(); }
int64_t es_live_handles(void) { return live_handles(); }

es_status es_backend_available(int backend, int* available, const char** reason) {
    return guard("es_backend_available", [&] {
        require(available != nullptr && reason != nullptr, ES_ERR_NULL_HANDLE,
                "available and reason must not be NULL");
        const BackendProbe& probe = probe_backend(backend);
        *available = probe.table != nullptr;
        *reason = probe.reason.c_str();
    });
}

es_status es_backend_devices(int backend, int* count) {
    return guard("es_backend_devices", [&] {
        require(count != nullptr, ES_ERR_NULL_HANDLE, "count must not be NULL");
        const BackendProbe& probe = probe_backend(backend);
        *count = probe.table ? probe.table->device_count() : 0;
    });
}

es_status es_backend_describe_device(int backend, int device, char* buf, int size) {
    return guard("es_backend_describe_device", [&] {
        require(buf != nullptr && size > 0, ES_ERR_NULL_HANDLE, "buf must not be NULL");
        const BackendProbe& probe = probe_backend(backend);
        require(probe.table != nullptr, ES_ERR_BACKEND_UNAVAILABLE, [&] {
            return probe.reason;
        });
        const int n = probe.table->device_count();
        require(device >= 0 && device < n, ES_ERR_INVALID_ARGUMENT, [&] {
            return "device " + std::to_string(device) + " does not exist (" + std::to_string(n) +
                " found)";
        });
        probe.table->describe_device(device, buf, size);
    });
}

es_status es_context_create(int backend, int device, int threads, es_handle* out) {
    return guard("es_context_create", [&] {
        require(out != nullptr, ES_ERR_NULL_HANDLE, "out must not be NULL");
        require(device >= 0, ES_ERR_INVALID_ARGUMENT, [&] {
            return "device must be >= 0, got " + std::to_string(device);
        });
        const BackendProbe& probe = probe_backend(backend);
        require(probe.table != nullptr, ES_ERR_BACKEND_UNAVAILABLE, [&] {
            return probe.reason;
        });
        require(threads >= 0 && threads <= max_threads(), ES_ERR_INVALID_ARGUMENT, [&] {
            return "threads must be 0 (all cores) or 1.." + std::to_string(max_threads()) +
                " (4 per processor), got " + std::to_string(threads);
        });
        if (threads == 0) threads = omp_get_num_procs();
        auto ctx = std::make_unique<Context>();
        ctx->backend = backend;
        ctx->device = device;
        ctx->threads = threads;
        ctx->k = ctx->backend_k = probe.table;
        ctx->backend_state = probe.table->context_create ? probe.table->context_create(device, threads) : nullptr;
        *out = register_context(std::move(ctx));
    });
}

es_status es_context_max_threads(int* out) {
    return guard("es_context_max_threads", [&] {
        require(out != nullptr, ES_ERR_NULL_HANDLE, "out must not be NULL");
        *out = max_threads();
    });
}

es_status es_context_destroy(es_handle ctx) {
    return guard("es_context_destroy", [&] { unregister_context(ctx); });
}

es_status es_context_threads(es_handle h, int* threads) {
    return guard("es_context_threads", [&] {
        require(threads != nullptr, ES_ERR_NULL_HANDLE, "threads must not be NULL");
        *threads = context(h)->threads;
    });
}

es_status es_context_synchronize(es_handle h) {
    return guard("es_context_synchronize", [&] {
        Context* ctx = context(h);
        if (ctx->k->synchronize) ctx->k->synchronize(ctx->exec());
    });
}

es_status es_context_memory(es_handle h, int64_t* stats) {
    return guard("es_context_memory", [&] {
        require(stats != nullptr, ES_ERR_NULL_HANDLE, "stats must not be NULL");
        Context* ctx = context(h);
        if (ctx->k->memory_stats) {
            ctx->k->memory_stats(ctx->exec(), stats);
        } else {
            stats[0] = stats[2] = ctx->memory->live.load();
            stats[1] = stats[3] = ctx->memory->peak.load();
        }
    });
}

es_status es_context_reset_peak_memory(es_handle h) {
    return guard("es_context_reset_peak_memory", [&] {
        Context* ctx = context(h);
        ctx->memory->peak.store(ctx->memory->live.load());
        if (ctx->k->reset_peak_memory) ctx->k->reset_peak_memory(ctx->exec());
    });
}

es_status es_context_profile(es_handle h, int enable) {
    return guard("es_context_profile", [&] {
        Context* ctx = context(h);
        if (enable) {
            ctx->profiler = std::make_unique<Profiler>(ctx->backend_k);
            ctx->k = &ctx->profiler->table;
        } else {
            ctx->k = ctx->backend_k;
        }
    });
}

es_status es_context_profile_report(es_handle h, char* buf, int64_t size, int64_t* needed) {
    return guard("es_context_profile_report", [&] {
        require(needed != nullptr, ES_ERR_NULL_HANDLE, "needed must not be NULL");
        Context* ctx = context(h);
        const std::string json = ctx->profiler ? ctx->profiler->json() : "[]";
        *needed = (int64_t)json.size() + 1;
        if (buf && size > 0) {
            const size_t n = std::min<size_t>(json.size(), (size_t)size - 1);
            std::memcpy(buf, json.data(), n);
            buf[n] = 0;
        }
    });
}

es_status es_context_measure_peaks(es_handle h, double* flops_per_s, double* bytes_per_s) {
    return guard("es_context_measure_peaks", [&] {
        require(flops_per_s != nullptr && bytes_per_s != nullptr, ES_ERR_NULL_HANDLE,
                "flops_per_s and bytes_per_s must not be NULL");
        Context* ctx = context(h);
        require(ctx->backend_k->measure_peaks != nullptr, ES_ERR_BACKEND_UNAVAILABLE, [&] {
            return std::string("the ") + ctx->backend_k->name +
                " backend does not measure its peaks";
        });
        ctx->backend_k->measure_peaks(ctx->exec(), flops_per_s, bytes_per_s);
    });
}

static void check_dims(int ndim, const int64_t* shape, int64_t* numel) {
    require(shape != nullptr || ndim == 0, ES_ERR_NULL_HANDLE, "shape must not be NULL");
    require(ndim >= 0 && ndim <= ES_MAX_DIMS, ES_ERR_SHAPE, [&] {
        return "ndim must be in [0, " + std::to_string(ES_MAX_DIMS) + "], got " +
            std::to_string(ndim);
    });
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        require(shape[i] > 0, ES_ERR_SHAPE, [&] {
            return "dimension " + std::to_string(i) + " must be positive, got " +
                std::to_string(shape[i]);
        });
        require(n <= (INT64_C(1) << 40) / shape[i], ES_ERR_SHAPE, "tensor is too large");
        n *= shape[i];
    }
    *numel = n;
}

es_status es_tensor_create(es_handle ctx_h, int ndim, const int64_t* shape, int dtype, es_handle* out) {
    return guard("es_tensor_create", [&] {
        require(out != nullptr, ES_ERR_NULL_HANDLE, "out must not be NULL");
        Context* ctx = context(ctx_h);
        require(dtype == ES_FLOAT32, ES_ERR_INVALID_ARGUMENT, [&] {
            return "unsupported dtype " + std::to_string(dtype);
        });
        int64_t numel;
        check_dims(ndim, shape, &numel);
        auto storage = std::make_shared<Storage>();
        storage->k = ctx->backend_k; /* not a profiling table: storage may outlive the profile */
        storage->exec = ctx->exec();
        storage->exec.profiler = nullptr;
        storage->bytes = numel * (int64_t)sizeof(float);
        storage->backend = ctx->backend;
        storage->device = ctx->device;
        storage->memory = ctx->memory;
        storage->data = ctx->k->alloc(ctx->exec(), storage->bytes);
        account_storage(storage->bytes);
        storage->memory->add(storage->bytes);
        auto t = std::make_unique<Tensor>();
        t->storage = std::move(storage);
        t->offset = 0;
        t->ndim = ndim;
        std::memcpy(t->shape, shape, sizeof(int64_t) * ndim);
        t->numel = numel;
        *out = register_tensor(std::move(t));
    });
}

es_status es_tensor_view(es_handle base_h, int64_t offset, int ndim, const int64_t* shape, es_handle* out) {
    return guard("es_tensor_view", [&] {
        require(out != nullptr, ES_ERR_NULL_HANDLE, "out must not be NULL");
        Tensor* base = tensor(base_h, "base");
        int64_t numel;
        check_dims(ndim, shape, &numel);
        require(offset >= 0 && offset + numel <= base->numel, ES_ERR_SHAPE, [&] {
            return "view of " + std::to_string(numel) + " elements at offset " +
                std::to_string(offset) + " exceeds base " + shape_str(base);
        });
        auto t = std::make_unique<Tensor>();
        t->storage = base->storage;
        t->offset = base->offset + offset;
        t->ndim = ndim;
        std::memcpy(t->shape, shape, sizeof(int64_t) * ndim);
        t->numel = numel;
        *out = register_tensor(std::move(t));
    });
}

es_status es_tensor_destroy(es_handle t) {
    return guard("es_tensor_destroy", [&] { unregister_tensor(t); });
}

es_status es_tensor_shape(es_handle h, int* ndim, int64_t* shape) {
    return guard("es_tensor_shape", [&] {
        require(ndim != nullptr && shape != nullptr, ES_ERR_NULL_HANDLE, "ndim and shape must not be NULL");
        Tensor* t = tensor(h, "tensor");
        *ndim = t->ndim;
        std::memcpy(shape, t->shape, sizeof(int64_t) * t->ndim);
    });
}

static void check_range(const Tensor* t, int64_t offset, int64_t count) {
    require(offset >= 0 && count >= 0 && offset + count <= t->numel, ES_ERR_SHAPE, [&] {
        return "range [" + std::to_string(offset) + ", " + std::to_string(offset + count) +
            ") is outside tensor " + shape_str(t);
    });
}

es_status es_tensor_write(es_handle h, int64_t offset, const float* src, int64_t count) {
    return guard("es_tensor_write", [&] {
        require(src != nullptr, ES_ERR_NULL_HANDLE, "src must not be NULL");
        Tensor* t = tensor(h, "tensor");
        check_range(t, offset, count);
        t->storage->k->upload(t->storage->exec, t->data() + offset, src, count);
    });
}

es_status es_tensor_read(es_handle h, int64_t offset, float* dst, int64_t count) {
    return guard("es_tensor_read", [&] {
        require(dst != nullptr, ES_ERR_NULL_HANDLE, "dst must not be NULL");
        Tensor* t = tensor(h, "tensor");
        check_range(t, offset, count);
        t->storage->k->download(t->storage->exec, dst, t->data() + offset, count);
    });
}

es_status es_tensor_fill(es_handle ctx_h, es_handle h, float value) {
    return guard("es_tensor_fill", [&] {
        Context* ctx = context(ctx_h);
        Tensor* t = tensor(h, "tensor");
        check_placement(ctx, t, "tensor");
        ctx->k->fill(ctx->exec(), t->data(), value, t->numel);
    });
}

es_status es_tensor_copy(es_handle ctx_h, es_handle src_h, es_handle dst_h) {
    return guard("es_tensor_copy", [&] {
        Context* ctx = context(ctx_h);
        Tensor* src = placed(ctx, src_h, "src");
        Tensor* dst = placed(ctx, dst_h, "dst");
        require(src->numel == dst->numel, ES_ERR_SHAPE, [&] {
            return "src " + shape_str(src) + " and dst " + shape_str(dst) + " differ in size";
        });
        ctx->k->copy(ctx->exec(), dst->data(), src->data(), src->numel);
    });
}

es_status es_add(es_handle ctx_h, es_handle a_h, es_handle b_h, es_handle y_h) {
    return guard("es_add", [&] {
        Context* ctx = context(ctx_h);
        Tensor *a = tensor(a_h, "a"), *b = tensor(b_h, "b"), *y = tensor(y_h, "y");
        for (auto [t, n] : {std::pair{a, "a"}, {b, "b"}, {y, "y"}}) check_placement(ctx, t, n);
        check_same_shape(a, "a", b, "b");
        check_same_shape(a, "a", y, "y");
        ctx->k->add(ctx->exec(), a->data(), b->data(), y->data(), y->numel);
    });
}

es_status es_axpby(es_handle ctx_h, float alpha, es_handle x_h, float beta, es_handle y_h) {
    return guard("es_axpby", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = placed(ctx, x_h, "x"), *y = placed(ctx, y_h, "y");
        check_same_shape(x, "x", y, "y");
        ctx->k->axpby(ctx->exec(), alpha, x->data(), beta, y->data(), y->numel);
    });
}

}  // extern "C"
