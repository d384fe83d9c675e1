/* registry.cpp — the handle table, accounting and thread-local last error. */
#include "registry.h"

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "error.h"

namespace es {

namespace {

struct Entry {
    std::unique_ptr<Context> context;
    std::unique_ptr<Tensor> tensor;
};

std::mutex table_mutex;
std::unordered_map<es_handle, Entry>& table() {
    static auto* t = new std::unordered_map<es_handle, Entry>();  // never destroyed: safe at exit
    return *t;
}
std::atomic<es_handle> next_id{1};
std::atomic<int64_t> bytes_alive{0};

thread_local std::string last_error;

es_handle insert(Entry e) {
    es_handle id = next_id.fetch_add(1);
    std::lock_guard<std::mutex> lock(table_mutex);
    table().emplace(id, std::move(e));
    return id;
}

[[noreturn]] void missing(es_handle h, const char* what) {
    if (h == 0) throw Error(ES_ERR_NULL_HANDLE, std::string(what) + " is a null handle");
    throw Error(ES_ERR_USE_AFTER_FREE,
                std::string(what) + " (handle " + std::to_string(h) +
                    ") was destroyed or never existed (use after free?)");
}

}  // namespace

void set_last_error(const std::string& msg) { last_error = msg; }
const char* last_error_cstr() { return last_error.c_str(); }

Context::~Context() {
    if (backend_k && backend_k->context_destroy && backend_state) backend_k->context_destroy(backend_state);
}

Storage::~Storage() {
    k->release(exec, data);
    account_storage(-bytes);
    memory->add(-bytes);
}

es_handle register_context(std::unique_ptr<Context> c) {
    Entry e;
    e.context = std::move(c);
    return insert(std::move(e));
}

es_handle register_tensor(std::unique_ptr<Tensor> t) {
    Entry e;
    e.tensor = std::move(t);
    return insert(std::move(e));
}

std::unique_ptr<Context> unregister_context(es_handle h) {
    std::lock_guard<std::mutex> lock(table_mutex);
    auto it = table().find(h);
    if (it == table().end() || !it->second.context) missing(h, "context");
    auto c = std::move(it->second.context);
    table().erase(it);
    return c;
}

std::unique_ptr<Tensor> unregister_tensor(es_handle h) {
    std::lock_guard<std::mutex> lock(table_mutex);
    auto it = table().find(h);
    if (it == table().end() || !it->second.tensor) missing(h, "tensor");
    auto t = std::move(it->second.tensor);
    table().erase(it);
    return t;
}

Context* context(es_handle h, const char* what) {
    std::lock_guard<std::mutex> lock(table_mutex);
    auto it = table().find(h);
    if (it == table().end() || !it->second.context) missing(h, what);
    return it->second.context.get();
}

Tensor* tensor(es_handle h, const char* what) {
    std::lock_guard<std::mutex> lock(table_mutex);
    auto it = table().find(h);
    if (it == table().end() || !it->second.tensor) missing(h, what);
    return it->second.tensor.get();
}

Tensor* optional_tensor(es_handle h, const char* what) { return h == 0 ? nullptr : tensor(h, what); }

void account_storage(int64_t delta) { bytes_alive.fetch_add(delta); }
int64_t live_bytes() { return bytes_alive.load(); }
int64_t live_handles() {
    std::lock_guard<std::mutex> lock(table_mutex);
    return (int64_t)table().size();
}

std::string shape_str(const Tensor* t) {
    std::string s = "[";
    for (int i = 0; i < t->ndim; i++) {
        if (i) s += ",";
        s += std::to_string(t->shape[i]);
    }
    return s + "]";
}

}  // namespace es
