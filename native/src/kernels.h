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

/* NHWC tensor viewed as rows of C channels: rows = N*H*W. repeats: how many rows of the tensor
 * being normalised each row stands for (es_batchnorm_forward_repeated; only the running
 * variance's unbiased correction, over rows * repeats values, depends on it). */
struct BnGeom {
    int64_t rows;
    int C;
    int64_t repeats = 1;
};

/* A batch norm backward's incoming gradient given as dy * s + alpha * t, s and t [N, C] per
 * image and channel (es_batchnorm_backward_gated: what es_channel_scale_add would have made of
 * dy, formed as it is read); the image of row r is r / rows_per_image. */
struct BnGate {
    const float* s;
    const float* t;
    float alpha;
    int64_t rows_per_image;
};

/* A training-mode batch norm's dx that es_batchnorm_backward_deferred left unfinished, for the
 * convolution before the batch norm to form as its dy: dy = coef[0] * gr + coef[1] * (x - mean)
 * + coef[2] per channel (the backend's own coefficients, [3, C]), times [x > 0] with input_relu
 * (x is then a ReLU's output). gr and x are [rows, C]: the convolution's output pixels. */
struct BnDy {
    const float* gr;
    const float* x;
    const float* mean;
    const float* coef;
    int input_relu;
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

/* Marks the few formulas both backends evaluate, the CUDA one inside a kernel. */
#if defined(__CUDACC__)
#define ES_HOST_DEVICE __host__ __device__
#else
#define ES_HOST_DEVICE
#endif

/* The segmentation loss's formulas from its sums (native/cpu/seg_loss.cpp and cuda/seg_loss.cu
 * each gather the sums in their own fixed order, then call these): one definition, so the two
 * backends cannot disagree on a term or a gradient coefficient. */
constexpr double kLossSmooth = 1e-5; /* MONAI's smooth_nr and smooth_dr */

/* Sample n's Dice loss 1 - (2 I + s) / (P + T + s) from P = sum p, T = sum t, I = sum p t,
 * and d(w_dice * mean Dice)/dp = a t + b for its pixels. */
struct DiceSample {
    double loss;
    float a, b;
};
ES_HOST_DEVICE inline DiceSample seg_loss_dice_sample(double p, double t, double pt, int N,
                                                      const LossWeights& lw) {
    const double denom = p + t + kLossSmooth;
    DiceSample s;
    s.loss = 1.0 - (2.0 * pt + kLossSmooth) / denom;
    s.a = (float)(lw.dice / N * (-2.0 / denom));
    s.b = (float)(lw.dice / N * (2.0 * pt + kLossSmooth) / (denom * denom));
    return s;
}

/* terms = {total, dice, bce, npd} from the sum of the samples' Dice losses, the BCE sum and the
 * four near-pixel-difference sums (D1..D4 at distance d); coef (if not null) gets the per-pixel
 * gradient factors {c_bce, k1, k2, k3, k4}. An npd term with no elements counts as 0. */
ES_HOST_DEVICE inline void seg_loss_terms(int N, int H, int W, const LossWeights& lw,
                                          double dice_sum, double bce_sum,
                                          const double npd_sum[4], float terms[4], float* coef) {
    const int d = lw.npd_distance;
    const double HW = (double)H * W;
    const double dice = dice_sum / N;
    const double bce = bce_sum / ((double)N * HW);
    const double wd = W > d ? W - d : 0, hd = H > d ? H - d : 0;
    const double count[4] = {(double)N * H * wd, (double)N * hd * W, (double)N * hd * wd,
                             (double)N * hd * wd};
    double npd = 0;
    for (int k = 0; k < 4; k++)
        if (count[k] > 0) npd += npd_sum[k] / count[k];
    npd *= N;
    terms[0] = (float)(lw.dice * dice + lw.bce * bce + lw.npd * npd);
    terms[1] = (float)dice;
    terms[2] = (float)bce;
    terms[3] = (float)npd;
    if (!coef) return;
    coef[0] = (float)(lw.bce / ((double)N * HW));
    for (int k = 0; k < 4; k++)
        coef[1 + k] = (lw.npd != 0.0f && count[k] > 0) ? (float)(lw.npd * N * 2.0 / count[k]) : 0.0f;
}

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

/* The structs above reach the backends by reference, so their layout is part of the kernel
 * table's too: a change to any of them (a field added, say) must change ES_GEOMETRY_REVISION,
 * which the layout string below ends with. Their sizes make a change of size fail to compile
 * until it is done (update both). */
#define ES_GEOMETRY_REVISION "geometry 4;"
static_assert(sizeof(void*) != 8 ||
                  (sizeof(Exec) == 24 && sizeof(ConvGeom) == 56 && sizeof(ConvEpilogue) == 32 &&
                   sizeof(BnGeom) == 24 && sizeof(BnGate) == 32 && sizeof(BnDy) == 40 &&
                   sizeof(PoolGeom) == 24 && sizeof(UpsampleGeom) == 24 &&
                   sizeof(ChannelCopyGeom) == 32 && sizeof(LossGeom) == 12 &&
                   sizeof(LossWeights) == 16 && sizeof(AdamW) == 32),
              "a kernel geometry struct changed: change ES_GEOMETRY_REVISION and these sizes");

/* The kernel list as one string, every entry's return type, name and parameters, then the
 * geometry structs' revision: the first member of every KernelTable. A CUDA backend library
 * built from another kernel_list.inc or other structs lays its table or its arguments out
 * differently; the core compares this string and refuses such a library (backends.cpp) rather
 * than calling through the wrong slots. */
#define ES_KERNEL(ret, name, params) #ret " " #name #params ";"
inline constexpr char kKernelTableLayout[] =
#include "kernel_list.inc"
    ES_GEOMETRY_REVISION;
#undef ES_KERNEL

struct KernelTable {
    const char* layout; /* kKernelTableLayout of the build that filled it; first, in every build */
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

    /* the kernels (kernel_list.inc) */
#define ES_KERNEL(ret, name, params) ret(*name) params;
#include "kernel_list.inc"
#undef ES_KERNEL
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
