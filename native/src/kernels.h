/*
 * kernels.h — the kernel table every backend implements (CPU in native/cpu/, CUDA in cuda/).
 *
 * The C ABI layer (native/src/api_*.cpp) resolves handles, checks shapes and fills the
 * geometry structs below; a kernel receives raw pointers of its backend's memory and can
 * trust its arguments. Kernels report failure by throwing es::Error (native/src/error.h);
 * the ABI layer turns that into a status code and message.
 *
 * Naming follows llm.c: forward and backward side by side, gradients are d<thing>.
 * Backward kernels overwrite their outputs; a null output pointer means "not wanted".
 */
#ifndef EFFISEG_KERNELS_H
#define EFFISEG_KERNELS_H

#include <cmath>
#include <cstdint>
#include <string>

namespace es {

/* What a kernel may know about where it runs. */
struct Exec {
    int threads;   /* CPU: OpenMP/BLAS threads to use */
    int device;    /* CUDA: device ordinal */
    void* backend_state; /* backend-private per-context state (CUDA: stream, cuDNN/cuBLAS handles) */
    void* profiler = nullptr; /* the core's es::Profiler while the context profiles (profile.h) */
};

/* NHWC convolution with weights [KH,KW,Cin/groups,Cout]. */
struct ConvGeom {
    int N, H, W, Cin;
    int OH, OW, Cout;
    int KH, KW;
    int stride_h, stride_w;
    int pad_top, pad_left; /* bottom/right padding is implied by OH/OW */
    int groups;
};

/* What a convolution's forward does to its output before it is written (inference: batch norm
 * folded into the weights and bias, then the activation, a batch norm that follows the activation
 * as a per-channel affine, the residual add), each part optional:
 *   y = act(conv(x, w) + b) * scale + shift + residual. */
struct ConvEpilogue {
    int activation = 0;              /* es_activation */
    const float* scale = nullptr;    /* [Cout], null: 1 */
    const float* shift = nullptr;    /* [Cout], null: 0 */
    const float* residual = nullptr; /* [N,OH,OW,Cout], null: 0 */
    bool any() const { return activation != 0 || scale || shift || residual; }
};

/* NHWC tensor viewed as rows of C channels: rows = N*H*W. */
struct BnGeom {
    int64_t rows;
    int C;
};

struct PoolGeom {
    int N;
    int64_t HW;
    int C;
};

struct UpsampleGeom {
    int N, h, w, H, W, C;
};

struct ChannelCopyGeom {
    int64_t rows; /* N*H*W */
    int Cx, x_offset, Cy, y_offset, count;
};

struct LossGeom {
    int N, H, W;
};

struct LossWeights {
    float dice, bce, npd;
    int npd_distance;
};

struct AdamW {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t step;
};

/* The per-step scalars of an AdamW step (step >= 1), computed in double from the float
 * arguments and rounded to float where PyTorch rounds them (native/cpu/adamw.cpp); one
 * definition for both backends, so their updates can agree bit for bit. Call it from code
 * compiled without FP contraction (adamw.cpp turns it off; the CUDA host code has no FMA). */
struct AdamWScalars {
    float decay;        /* 1 - lr*wd (1 when wd == 0: the identity, as PyTorch's skip) */
    float lerp_coeff;   /* w or w - 1, w = 1 - beta1 */
    bool lerp_from_old; /* torch's lerp: base is m when |w| < 0.5, else g */
    float beta2, one_minus_beta2, neg_step_size, bc2_sqrt, eps;
};

inline AdamWScalars adamw_scalars(const AdamW& o) {
    const double lr = o.lr, beta1 = o.beta1, beta2 = o.beta2;
    const double bc1 = 1.0 - std::pow(beta1, (double)o.step);
    const double bc2 = 1.0 - std::pow(beta2, (double)o.step);
    AdamWScalars k;
    k.decay = (float)(1.0 - lr * (double)o.weight_decay);
    const float w = (float)(1.0 - beta1);
    k.lerp_from_old = std::fabs(w) < 0.5f;
    k.lerp_coeff = k.lerp_from_old ? w : w - 1.0f;
    k.beta2 = o.beta2;
    k.one_minus_beta2 = (float)(1.0 - beta2);
    k.neg_step_size = (float)(-(lr / bc1));
    k.bc2_sqrt = (float)std::sqrt(bc2);
    k.eps = o.eps;
    return k;
}

struct KernelTable {
    const char* name;

    /* the devices this backend sees, and a line about one of them (name, memory, versions) */
    int (*device_count)();
    void (*describe_device)(int device, char* buf, int size);

    /* per-context state (CUDA: stream, cuDNN/cuBLAS handles); null hooks mean "none" */
    void* (*context_create)(int device, int threads);
    void (*context_destroy)(void* backend_state);
    /* waits until all work queued on the context is done (null: synchronous backend) */
    void (*synchronize)(const Exec&);
    /* the allocator's accounting, {live, peak live, reserved, peak reserved} in bytes, scratch
     * and cache included (null: the core's count of the context's tensor storage serves) */
    void (*memory_stats)(const Exec&, int64_t stats[4]);
    void (*reset_peak_memory)(const Exec&);
    /* the floating-point peak (FLOP/s) and memory bandwidth (bytes/s) this backend measures on
     * this machine with the context's threads (null: not measured, es_context_measure_peaks
     * says so) */
    void (*measure_peaks)(const Exec&, double* flops_per_s, double* bytes_per_s);

    /* memory: alloc returns zero-filled storage or throws es::Error(ES_ERR_OUT_OF_MEMORY) */
    void* (*alloc)(const Exec&, int64_t bytes);
    void (*release)(const Exec&, void* ptr);
    void (*upload)(const Exec&, float* dst, const float* host_src, int64_t n);
    void (*download)(const Exec&, float* host_dst, const float* src, int64_t n);
    void (*fill)(const Exec&, float* dst, float value, int64_t n);
    void (*copy)(const Exec&, float* dst, const float* src, int64_t n);

    /* elementwise */
    void (*add)(const Exec&, const float* a, const float* b, float* y, int64_t n);
    void (*axpby)(const Exec&, float alpha, const float* x, float beta, float* y, int64_t n);

    void (*conv2d_forward)(const Exec&, const ConvGeom&, const float* x, const float* w,
                           const float* b, const ConvEpilogue&, float* y);
    void (*conv2d_backward)(const Exec&, const ConvGeom&, const float* x, const float* w,
                            const float* dy, float* dx, float* dw, float* db);

    /* training: mean/var from x, updates running stats, writes save_mean/save_invstd.
     * eval: uses running stats; save_* (may be null) receive them for backward. */
    void (*batchnorm_forward)(const Exec&, const BnGeom&, const float* x, const float* gamma,
                              const float* beta, float* running_mean, float* running_var,
                              float* y, float* save_mean, float* save_invstd, int training,
                              float momentum, float eps, int activation);
    void (*batchnorm_backward)(const Exec&, const BnGeom&, const float* x, const float* gamma,
                               const float* beta, const float* dy, const float* save_mean,
                               const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                               int training, int activation);

    void (*activation_forward)(const Exec&, int activation, const float* x, float* y, int64_t n);
    void (*activation_backward)(const Exec&, int activation, const float* x, const float* dy,
                                float* dx, int64_t n);

    void (*global_avg_pool_forward)(const Exec&, const PoolGeom&, const float* x, float* y);
    void (*global_avg_pool_backward)(const Exec&, const PoolGeom&, const float* dy, float* dx);
    void (*channel_scale_forward)(const Exec&, const PoolGeom&, const float* x, const float* s,
                                  float* y);
    void (*channel_scale_backward)(const Exec&, const PoolGeom&, const float* x, const float* s,
                                   const float* dy, float* dx, float* ds);

    /* per-sample keep mask: sample n kept iff es::drop_path_uniform(seed, n) >= rate */
    void (*drop_path_forward)(const Exec&, int N, int64_t per_sample, const float* x, float* y,
                              float rate, uint64_t seed);
    void (*drop_path_backward)(const Exec&, int N, int64_t per_sample, const float* dy, float* dx,
                               float rate, uint64_t seed);

    void (*upsample_nearest_forward)(const Exec&, const UpsampleGeom&, const float* x, float* y,
                                     int accumulate);
    void (*upsample_nearest_backward)(const Exec&, const UpsampleGeom&, const float* dy,
                                      float* dx);
    void (*channel_copy)(const Exec&, const ChannelCopyGeom&, const float* x, float* y,
                         int accumulate);

    /* terms[4] (backend memory) = {total, dice, bce, npd}; dlogits may be null */
    void (*seg_loss)(const Exec&, const LossGeom&, const LossWeights&, const float* logits,
                     const float* target, float* terms, float* dlogits);

    void (*adamw_step)(const Exec&, const AdamW&, float* params, const float* grads,
                       float* exp_avg, float* exp_avg_sq, int64_t n);
};

/* The CPU backend (native/cpu/backend.cpp): the table of the instruction-set path this CPU
 * runs, or null with `reason` saying why not (EFFISEG_CPU_ISA names a path it cannot run). */
const KernelTable* cpu_kernels(std::string& reason);

/* A uniform number in [0, 1) from (seed, sample): splitmix64, identical on every backend. */
inline float drop_path_uniform(uint64_t seed, uint64_t sample) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (sample + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

}  // namespace es

#endif
