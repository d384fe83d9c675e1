/*
 * fake_cublas.cpp (CUDA emulator, tests only) — the cuBLAS calls cuda/ makes, declared by
 * NVIDIA's cublas_v2.h and implemented here by their documented semantics: handles bound to
 * a stream, the default (host) pointer mode, and SGEMM as a plain column-major triple loop,
 * C = alpha * op(A) * op(B) + beta * C, summed in double. Argument checks follow the cuBLAS
 * documentation (CUBLAS_STATUS_INVALID_VALUE for negative sizes and too small leading
 * dimensions); operands outside device memory fail with CUBLAS_STATUS_EXECUTION_FAILED and
 * a message on stderr, where a GPU would fault.
 */
#include <cublas_v2.h>

#include <algorithm>
#include <cstdio>

#include "emu_internal.h"

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
    *handle = new cublasContext();
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!es_emu::is_live_stream(stream)) return CUBLAS_STATUS_INVALID_VALUE;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode; /* every mode computes in FP32/double here */
    return CUBLAS_STATUS_SUCCESS;
}

/* The version of the headers this was built against, as the real library reports its own. */
cublasStatus_t cublasGetProperty(libraryPropertyType type, int* value) {
    switch (type) {
        case MAJOR_VERSION: *value = CUBLAS_VER_MAJOR; return CUBLAS_STATUS_SUCCESS;
        case MINOR_VERSION: *value = CUBLAS_VER_MINOR; return CUBLAS_STATUS_SUCCESS;
        case PATCH_LEVEL: *value = CUBLAS_VER_PATCH; return CUBLAS_STATUS_SUCCESS;
        default: return CUBLAS_STATUS_INVALID_VALUE;
    }
}

const char* cublasGetStatusName(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        default: return "CUBLAS_STATUS_UNKNOWN (not produced by the emulator)";
    }
}

const char* cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "success";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
        case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute (emulator: see stderr)";
        default: return "unknown error";
    }
}

namespace {

/* Whether the column-major rows x cols matrix at p with leading dimension ld is device memory. */
bool device_matrix(const float* p, int64_t rows, int64_t cols, int64_t ld) {
    if (rows == 0 || cols == 0) return true;
    return es_emu::is_device_range(p, (size_t)((cols - 1) * ld + rows) * sizeof(float));
}

}  // namespace

cublasStatus_t cublasSgemm_v2_64(cublasHandle_t handle, cublasOperation_t transa,
                                 cublasOperation_t transb, int64_t m, int64_t n, int64_t k,
                                 const float* alpha, const float* A, int64_t lda, const float* B,
                                 int64_t ldb, const float* beta, float* C, int64_t ldc) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
    if ((ta && transa != CUBLAS_OP_T && transa != CUBLAS_OP_C) ||
        (tb && transb != CUBLAS_OP_T && transb != CUBLAS_OP_C))
        return CUBLAS_STATUS_INVALID_VALUE;
    /* A is m x k (k x m stored if transposed), B is k x n (n x k), C is m x n */
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    if (m < 0 || n < 0 || k < 0 || lda < std::max<int64_t>(1, a_rows) ||
        ldb < std::max<int64_t>(1, b_rows) || ldc < std::max<int64_t>(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    const bool reads_ab = k > 0 && *alpha != 0.0f;
    if ((reads_ab && (!device_matrix(A, a_rows, a_cols, lda) || !device_matrix(B, b_rows, b_cols, ldb))) ||
        !device_matrix(C, m, n, ldc)) {
        std::fprintf(stderr, "CUDA emulator: cublasSgemm_64 (m %lld, n %lld, k %lld, lda %lld, ldb %lld, "
                     "ldc %lld): an operand is not device memory of that extent\n",
                     (long long)m, (long long)n, (long long)k, (long long)lda, (long long)ldb,
                     (long long)ldc);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    const double a = *alpha, b = *beta;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            double sum = 0.0;
            if (reads_ab)
                for (int64_t p = 0; p < k; p++) {
                    const float av = ta ? A[i * lda + p] : A[p * lda + i];
                    const float bv = tb ? B[p * ldb + j] : B[j * ldb + p];
                    sum += (double)av * (double)bv;
                }
            float& c = C[j * ldc + i];
            /* beta == 0: C is output only (it may hold NaN), as documented */
            c = (float)(a * sum + (b == 0.0 ? 0.0 : b * (double)c));
        }
    return CUBLAS_STATUS_SUCCESS;
}
