/*
 * error.h — how native code reports failure without crossing the C ABI with an exception.
 *
 * Internal code throws es::Error; every exported function runs its body through
 * es::guard(), which catches everything, stores a thread-local message and returns a
 * status. Messages name the op and the offending shapes.
 */
#ifndef EFFISEG_ERROR_H
#define EFFISEG_ERROR_H

#include <stdexcept>
#include <string>

#include "effiseg/effiseg.h"

namespace es {

struct Error : std::runtime_error {
    es_status status;
    Error(es_status s, const std::string& message) : std::runtime_error(message), status(s) {}
};

/* Remember msg as this thread's last error. */
void set_last_error(const std::string& msg);

/* Runs body(); converts any exception into a status and a message prefixed with op. */
template <class Body>
es_status guard(const char* op, Body&& body) noexcept {
    try {
        body();
        set_last_error("");
        return ES_OK;
    } catch (const Error& e) {
        set_last_error(std::string(op) + ": " + e.what());
        return e.status;
    } catch (const std::bad_alloc&) {
        set_last_error(std::string(op) + ": out of memory");
        return ES_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(std::string(op) + ": internal error: " + e.what());
        return ES_ERR_INTERNAL;
    } catch (...) {
        set_last_error(std::string(op) + ": internal error");
        return ES_ERR_INTERNAL;
    }
}

}  // namespace es

#endif
