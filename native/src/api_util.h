/*
 * api_util.h — argument checks shared by the C ABI functions (native/src/api_*.cpp).
 * Each check throws es::Error with a message naming the tensor and its shape; guard()
 * prefixes the op name.
 */
#ifndef EFFISEG_API_UTIL_H
#define EFFISEG_API_UTIL_H

#include <initializer_list>
#include <string>
#include <type_traits>

#include "error.h"
#include "registry.h"

namespace es {

/* Throws Error(status, message) unless ok. The checks run on every call, so a message that
 * formats shapes or numbers is passed as a callable returning it, built only when the check
 * fails; a string literal is passed as it is. */
inline void require(bool ok, es_status status, const char* message) {
    if (!ok) throw Error(status, message);
}
template <class Message, class = std::enable_if_t<std::is_invocable_v<Message&>>>
inline void require(bool ok, es_status status, Message&& message) {
    if (!ok) throw Error(status, message());
}

/* Tensor t (named what) must live on ctx's backend and device. */
inline void check_placement(const Context* ctx, const Tensor* t, const char* what) {
    if (t && (t->storage->backend != ctx->backend || t->storage->device != ctx->device))
        throw Error(ES_ERR_INVALID_ARGUMENT, std::string(what) +
                                                 " lives on another backend/device than the context");
}

/* The tensor handle h names (what, in messages), which must live on ctx's backend and device. */
inline Tensor* placed(const Context* ctx, es_handle h, const char* what) {
    Tensor* t = tensor(h, what);
    check_placement(ctx, t, what);
    return t;
}

inline void check_rank(const Tensor* t, int ndim, const char* what) {
    if (t->ndim != ndim)
        throw Error(ES_ERR_SHAPE, std::string(what) + " must have " + std::to_string(ndim) +
                                      " dimensions, got " + shape_str(t));
}

/* t must have exactly the given extents. */
inline void check_shape(const Tensor* t, std::initializer_list<int64_t> dims, const char* what) {
    bool ok = t->ndim == (int)dims.size();
    int i = 0;
    for (int64_t d : dims) ok = ok && t->shape[i++] == d;
    if (!ok) {
        std::string want = "[";
        i = 0;
        for (int64_t d : dims) want += (i++ ? "," : "") + std::to_string(d);
        throw Error(ES_ERR_SHAPE, std::string(what) + " must be " + want + "], got " + shape_str(t));
    }
}

inline void check_same_shape(const Tensor* a, const char* an, const Tensor* b, const char* bn) {
    bool ok = a->ndim == b->ndim;
    for (int i = 0; ok && i < a->ndim; i++) ok = a->shape[i] == b->shape[i];
    if (!ok)
        throw Error(ES_ERR_SHAPE, std::string(an) + " " + shape_str(a) + " and " + bn + " " +
                                      shape_str(b) + " must have the same shape");
}

inline void check_activation(int act) {
    require(act >= ES_ACT_NONE && act <= ES_ACT_SIGMOID, ES_ERR_INVALID_ARGUMENT, [&] {
        return "unknown activation " + std::to_string(act);
    });
}

inline int to_int(int64_t v, const char* what) {
    require(v >= 0 && v <= 0x7fffffff, ES_ERR_SHAPE, [&] {
        return std::string(what) + " is too large";
    });
    return (int)v;
}

}  // namespace es

#endif
