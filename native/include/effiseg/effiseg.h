/*
 * effiseg.h — the one C ABI of the effiseg native core (the JavaCPP binding in
 * java/org/effiseg/nativeapi/EffisegNative.java mirrors it line by line).
 *
 * Conventions
 *  - Every function returns an es_status; ES_OK is 0. On failure, es_last_error()
 *    returns a thread-local message naming the op and the offending shapes.
 *    Nothing here calls exit/abort and no C++ exception crosses this boundary.
 *  - Contexts and tensors are opaque 64-bit handles. Ids are never reused, so a
 *    destroyed handle is reported as "use after free" instead of touching memory.
 *    0 is "no tensor" where an argument is optional (bias, a gradient to skip).
 *  - Activations are NHWC (channels last), float32. Convolution weights are
 *    [KH, KW, Cin/groups, Cout] (TensorFlow's HWIO), so a pointwise convolution
 *    is one GEMM: [N*H*W, Cin] x [Cin, Cout].
 *  - Backward functions overwrite their gradient outputs (they never accumulate);
 *    use es_axpby to accumulate where a value feeds several consumers.
 *  - An op runs on the backend of its context; all its tensors must belong to a
 *    context of the same backend and device.
 */
#ifndef EFFISEG_H
#define EFFISEG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ES_API __declspec(dllexport)
#else
#define ES_API __attribute__((visibility("default")))
#endif

typedef uint64_t es_handle;

typedef enum es_status {
    ES_OK = 0,
    ES_ERR_INVALID_ARGUMENT = 1, /* a value out of range, an unknown enum            */
    ES_ERR_SHAPE = 2,            /* shapes that do not fit the op                    */
    ES_ERR_NULL_HANDLE = 3,      /* a required handle or pointer is 0/NULL           */
    ES_ERR_USE_AFTER_FREE = 4,   /* the handle was destroyed (or never existed)      */
    ES_ERR_OUT_OF_MEMORY = 5,
    ES_ERR_BACKEND_UNAVAILABLE = 6,
    ES_ERR_INTERNAL = 7
} es_status;

typedef enum es_backend_kind { ES_BACKEND_CPU = 0, ES_BACKEND_CUDA = 1 } es_backend_kind;

typedef enum es_dtype { ES_FLOAT32 = 0 } es_dtype;

typedef enum es_activation {
    ES_ACT_NONE = 0,
    ES_ACT_RELU = 1,
    ES_ACT_SWISH = 2, /* x * sigmoid(x), a.k.a. SiLU */
    ES_ACT_SIGMOID = 3
} es_activation;

#define ES_MAX_DIMS 8

/* ---- errors, versions, accounting ---------------------------------------- */

/* The message of the last failed call on this thread ("" if none). */
ES_API const char* es_last_error(void);
ES_API const char* es_version(void);
/* Bytes of tensor storage and number of handles (contexts + tensors) alive now. */
ES_API int64_t es_live_bytes(void);
ES_API int64_t es_live_handles(void);
/* Whether a backend can be used in this process; if not, *reason explains why
 * (no driver, no device, libcudnn.so.9 missing, ...). The string is static. */
ES_API es_status es_backend_available(int backend, int* available, const char** reason);
/* How many devices an available backend sees (0 where it is unavailable), and one line about
 * one of them into buf (NUL-terminated, cut at size): CPU "model, N cores"; CUDA "name, compute
 * capability, memory, SMs, driver/runtime/cuDNN/cuBLAS versions". */
ES_API es_status es_backend_devices(int backend, int* count);
ES_API es_status es_backend_describe_device(int backend, int device, char* buf, int size);

/* ---- contexts ------------------------------------------------------------- */

/* threads 0 means "all cores"; a negative count, or more than es_context_max_threads, is
 * refused (ES_ERR_INVALID_ARGUMENT). */
ES_API es_status es_context_create(int backend, int device, int threads, es_handle* out);
/* The most threads a context may use: 4 per processor OpenMP sees. */
ES_API es_status es_context_max_threads(int* out);
ES_API es_status es_context_destroy(es_handle ctx);
ES_API es_status es_context_threads(es_handle ctx, int* threads);
/* Waits until every op queued on ctx has finished (CPU ops are synchronous: returns at once).
 * Reading a tensor waits too; this is for timing. */
ES_API es_status es_context_synchronize(es_handle ctx);
/* stats[4] = {live, peak live, reserved, peak reserved} bytes of the context's memory.
 * CUDA: the context's device allocator, operator scratch (cuDNN workspaces, ...) included;
 * reserved adds the blocks it caches for reuse. CPU: tensor storage; reserved = live.
 * Peaks count from context creation or the last es_context_reset_peak_memory. */
ES_API es_status es_context_memory(es_handle ctx, int64_t* stats);
ES_API es_status es_context_reset_peak_memory(es_handle ctx);
/* enable=1 starts profiling ctx's ops afresh: every kernel call then waits for the work before
 * it and for itself, and its time is added to a row per (kernel, geometry; for the elementwise
 * kernels, their length: "[n]"). enable=0 stops (the rows stay for the report). Slower while on
 * (no host/device overlap): for finding hot spots. */
ES_API es_status es_context_profile(es_handle ctx, int enable);
/* The rows as a JSON array, slowest total first:
 * [{"kernel","geometry","calls","ms","ms_median_call","flop","bytes"}, ...]: ms the calls'
 * total time, ms_median_call the median call's (which a call held up by the OS does not move),
 * flop and bytes totals over the calls: floating-point operations of the convolutions (a
 * multiply-add is 2; 0 for the other kernels) and compulsory memory traffic (inputs read once,
 * outputs written once).
 * Writes at most size bytes (NUL included) to buf; *needed = the full length + 1. */
ES_API es_status es_context_profile_report(es_handle ctx, char* buf, int64_t size, int64_t* needed);
/* Measures the floating-point peak (FLOP/s: an FMA loop as wide as the kernel path's vectors)
 * and the memory bandwidth (bytes/s: a STREAM triad over 96 MiB) with ctx's threads: the
 * denominators of a profile's shares of peak. About a second. CPU backend only
 * (ES_ERR_BACKEND_UNAVAILABLE elsewhere). */
ES_API es_status es_context_measure_peaks(es_handle ctx, double* flops_per_s, double* bytes_per_s);

/* ---- tensors -------------------------------------------------------------- */

/* A new zero-filled tensor owned by ctx. */
ES_API es_status es_tensor_create(es_handle ctx, int ndim, const int64_t* shape, int dtype,
                                  es_handle* out);
/* A view of count(shape) elements of base starting at element offset; the view keeps
 * the storage alive after base is destroyed. */
ES_API es_status es_tensor_view(es_handle base, int64_t offset, int ndim, const int64_t* shape,
                                es_handle* out);
ES_API es_status es_tensor_destroy(es_handle t);
/* ndim and up to ES_MAX_DIMS extents. */
ES_API es_status es_tensor_shape(es_handle t, int* ndim, int64_t* shape);
ES_API es_status es_tensor_write(es_handle t, int64_t offset, const float* src, int64_t count);
ES_API es_status es_tensor_read(es_handle t, int64_t offset, float* dst, int64_t count);
ES_API es_status es_tensor_fill(es_handle ctx, es_handle t, float value);
ES_API es_status es_tensor_copy(es_handle ctx, es_handle src, es_handle dst);

/* ---- elementwise ---------------------------------------------------------- */

/* y = a + b (y may alias a or b) */
ES_API es_status es_add(es_handle ctx, es_handle a, es_handle b, es_handle y);
/* y = alpha * x + beta * y */
ES_API es_status es_axpby(es_handle ctx, float alpha, es_handle x, float beta, es_handle y);

/* ---- 2-D convolution (native/cpu/conv2d.cpp) ------------------------------ */

/* x [N,H,W,Cin], w [KH,KW,Cin/groups,Cout], b [Cout] or 0, y [N,OH,OW,Cout] with
 * OH = (H + pad_top + pad_bottom - KH) / stride_h + 1 (exact), same for OW. */
ES_API es_status es_conv2d_forward(es_handle ctx, es_handle x, es_handle w, es_handle b,
                                   es_handle y, int stride_h, int stride_w, int pad_top,
                                   int pad_bottom, int pad_left, int pad_right, int groups);
/* The same convolution with an epilogue applied before y is written (inference: batch norm folded
 * into w and b, then):  y = act(conv(x, w) + b) * scale + shift + residual.
 * activation: es_activation; scale, shift [Cout] and residual (y's shape, not y's storage) may
 * each be 0 (1, 0, 0). */
ES_API es_status es_conv2d_forward_fused(es_handle ctx, es_handle x, es_handle w, es_handle b,
                                         es_handle y, int stride_h, int stride_w, int pad_top,
                                         int pad_bottom, int pad_left, int pad_right, int groups,
                                         int activation, es_handle scale, es_handle shift,
                                         es_handle residual);
/* dx, dw, db may each be 0 to skip that gradient. */
ES_API es_status es_conv2d_backward(es_handle ctx, es_handle x, es_handle w, es_handle dy,
                                    es_handle dx, es_handle dw, es_handle db, int stride_h,
                                    int stride_w, int pad_top, int pad_bottom, int pad_left,
                                    int pad_right, int groups);

/* A pointwise convolution (1x1, stride 1, no padding, no groups; w [1,1,Cin,Cout]) of the
 * product x * s, s [N,1,1,Cin] per sample and channel, without writing the product out: a
 * squeeze-excite block's gated tensor going into its projection. The forward is
 * es_conv2d_forward_fused of es_channel_scale_forward(x, s) (the same bits); the backward is
 * es_conv2d_backward's for that input, so dx is the gradient with respect to the product x * s
 * (times s it is x's), and ds [N,1,1,Cin] (optional; needs dx) the gradient with respect to s,
 * the sum over each sample's pixels of dx * x, gathered as dx is written. b, scale, shift,
 * residual, dx, dw and db are optional as there. */
ES_API es_status es_conv2d_forward_gated(es_handle ctx, es_handle x, es_handle s, es_handle w,
                                         es_handle b, es_handle y, int activation,
                                         es_handle scale, es_handle shift, es_handle residual);
ES_API es_status es_conv2d_backward_gated(es_handle ctx, es_handle x, es_handle s, es_handle w,
                                          es_handle dy, es_handle dx, es_handle dw, es_handle db,
                                          es_handle ds);
/* es_conv2d_forward_fused of a pointwise convolution (1x1, stride 1, no padding, no groups) whose
 * input is the channel concatenation [x | x2] (x [N,H,W,C1], x2 [N,H,W,C2], w [1,1,C1+C2,Cout]),
 * without writing the concatenation: w's first C1 rows multiply x, the rest x2, and each output
 * sums both before the epilogue. (A Ghost module's output, kept as its two halves.) */
ES_API es_status es_conv2d_forward_blocks(es_handle ctx, es_handle x, es_handle x2, es_handle w,
                                          es_handle b, es_handle y, int activation,
                                          es_handle scale, es_handle shift, es_handle residual);
/* The backward pass of a pointwise convolution (as es_conv2d_backward_gated when s is given, else
 * as es_conv2d_backward; no bias) whose output went into a training-mode batch norm: its dy is
 * that batch norm's dx, which es_batchnorm_backward_deferred left unfinished (gr, coef), formed a
 * block of rows at a time as the convolution reads it instead of written out and read again
 * (the same values).
 * gr and bn_x (the batch norm's input, the convolution's output) [N,H,W,Cout], save_mean [Cout]
 * (the batch norm's), coef [3,Cout]; input_relu: the batch norm's input is a ReLU's output and
 * dy is its dx times [bn_x > 0] (es_batchnorm_backward_after_relu's). dx, dw, ds optional. */
ES_API es_status es_conv2d_backward_bn(es_handle ctx, es_handle x, es_handle s, es_handle w,
                                       es_handle gr, es_handle bn_x, es_handle save_mean,
                                       es_handle coef, int input_relu, es_handle dx, es_handle dw,
                                       es_handle ds);
/* es_conv2d_backward_bn (not gated) of es_conv2d_forward_blocks' convolution: its input in two
 * channel blocks x [N,H,W,C1] and x2 [N,H,W,C2], w [1,1,C1+C2,Cout]. dx and dx2 (both or
 * neither) are the gradients of the two blocks; dw (optional) is w's, x's rows first. Each block
 * is the convolution's backward on its rows of w, with dy formed once per block of rows for
 * both. */
ES_API es_status es_conv2d_backward_bn_blocks(es_handle ctx, es_handle x, es_handle x2,
                                              es_handle w, es_handle gr, es_handle bn_x,
                                              es_handle save_mean, es_handle coef, int input_relu,
                                              es_handle dx, es_handle dx2, es_handle dw);

/* ---- batch norm, optionally fused with an activation after it ------------- */

/* x,y [N,H,W,C]; gamma, beta, running_mean, running_var, save_mean, save_invstd [C].
 * training=1: normalise with batch statistics, update running stats with PyTorch's
 * convention (running = (1-momentum)*running + momentum*batch, unbiased variance),
 * write save_mean/save_invstd. training=0: use running stats; save_mean/save_invstd
 * (optional) receive running_mean and 1/sqrt(running_var+eps) for the backward pass.
 * y = act(gamma * (x - mean) * invstd + beta). y may alias x only if act is NONE. */
ES_API es_status es_batchnorm_forward(es_handle ctx, es_handle x, es_handle gamma, es_handle beta,
                                      es_handle running_mean, es_handle running_var, es_handle y,
                                      es_handle save_mean, es_handle save_invstd, int training,
                                      float momentum, float eps, int activation);
/* es_batchnorm_forward of a larger tensor in which every row of x (a pixel's C channels)
 * appears `repeats` times, normalised before it is repeated: x before a nearest upsampling by
 * an integer factor (2x2: repeats = 4), whose batch norm commutes with it. The batch mean and
 * variance, y and save_* are the larger tensor's (the same as x's); in training the running
 * variance's unbiased correction counts rows * repeats values, as a batch norm of the larger
 * tensor would. The backward pass is es_batchnorm_backward on x with the repeated gradient
 * summed back (the upsampling's adjoint). repeats = 1 is es_batchnorm_forward. */
ES_API es_status es_batchnorm_forward_repeated(es_handle ctx, es_handle x, es_handle gamma,
                                               es_handle beta, es_handle running_mean,
                                               es_handle running_var, es_handle y,
                                               es_handle save_mean, es_handle save_invstd,
                                               int training, float momentum, float eps,
                                               int activation, int64_t repeats);
/* es_batchnorm_forward (x, y [N,H,W,C]) that also writes pooled [N,1,1,C], y's mean over each
 * sample's pixels, as es_global_avg_pool_forward of y would: in the pass that writes y, instead
 * of a pass that reads it again (a squeeze-excite block's pooling of its input). */
ES_API es_status es_batchnorm_forward_pooled(es_handle ctx, es_handle x, es_handle gamma,
                                             es_handle beta, es_handle running_mean,
                                             es_handle running_var, es_handle y,
                                             es_handle save_mean, es_handle save_invstd,
                                             int training, float momentum, float eps,
                                             int activation, es_handle pooled);
/* Gradients of the same op; with training=1 they flow through the batch statistics.
 * dgamma/dbeta may be 0. */
ES_API es_status es_batchnorm_backward(es_handle ctx, es_handle x, es_handle gamma,
                                       es_handle beta, es_handle dy, es_handle save_mean,
                                       es_handle save_invstd, es_handle dx, es_handle dgamma,
                                       es_handle dbeta, int training, int activation);
/* The same for a batch norm whose input x is a ReLU's output: dx is the gradient with respect
 * to the ReLU's input, dx * [x > 0] (x > 0 exactly where the ReLU's input was), in one pass
 * instead of es_batchnorm_backward followed by es_activation_backward(ES_ACT_RELU, x, ...). */
ES_API es_status es_batchnorm_backward_after_relu(es_handle ctx, es_handle x, es_handle gamma,
                                                  es_handle beta, es_handle dy, es_handle save_mean,
                                                  es_handle save_invstd, es_handle dx,
                                                  es_handle dgamma, es_handle dbeta, int training,
                                                  int activation);
/* es_batchnorm_backward whose incoming gradient is dy * s + alpha * t, s and t [N,1,1,C] per
 * sample and channel (x, dy and dx [N,H,W,C]), formed as dy is read instead of written out by
 * es_channel_scale_add first: a squeeze-excite block's input gradient (s = the gate, t = the
 * pooled input's gradient, alpha = 1 / (H*W)) going into the batch norm that made that input. */
ES_API es_status es_batchnorm_backward_gated(es_handle ctx, es_handle x, es_handle gamma,
                                             es_handle beta, es_handle dy, es_handle s,
                                             es_handle t, float alpha, es_handle save_mean,
                                             es_handle save_invstd, es_handle dx,
                                             es_handle dgamma, es_handle dbeta, int training,
                                             int activation);

/* Training-mode es_batchnorm_backward without its last pass, for the pointwise convolution
 * before the batch norm to finish (es_conv2d_backward_bn): writes gr = dy * act'(pre), the
 * gradient with respect to the batch norm's output before its activation ([N,H,W,C] like x; gr
 * may be dy itself, and with activation NONE it is dy), coef [3,C] = (ka, kb, kc) with which
 * dx = ka * gr + kb * (x - save_mean) + kc per channel, and dgamma, dbeta (optional) as
 * es_batchnorm_backward. */
ES_API es_status es_batchnorm_backward_deferred(es_handle ctx, es_handle x, es_handle gamma,
                                                es_handle beta, es_handle dy, es_handle save_mean,
                                                es_handle save_invstd, es_handle gr, es_handle coef,
                                                es_handle dgamma, es_handle dbeta, int activation);

/* ---- activations ---------------------------------------------------------- */

ES_API es_status es_activation_forward(es_handle ctx, int activation, es_handle x, es_handle y);
/* dx = dy * act'(x) */
ES_API es_status es_activation_backward(es_handle ctx, int activation, es_handle x, es_handle dy,
                                        es_handle dx);

/* ---- pooling, squeeze-excite scaling -------------------------------------- */

/* x [N,H,W,C] -> y [N,1,1,C] */
ES_API es_status es_global_avg_pool_forward(es_handle ctx, es_handle x, es_handle y);
ES_API es_status es_global_avg_pool_backward(es_handle ctx, es_handle dy, es_handle dx);
/* y [N,H,W,C] = x [N,H,W,C] * s [N,1,1,C] (the squeeze-excite gate) */
ES_API es_status es_channel_scale_forward(es_handle ctx, es_handle x, es_handle s, es_handle y);
ES_API es_status es_channel_scale_backward(es_handle ctx, es_handle x, es_handle s, es_handle dy,
                                           es_handle dx, es_handle ds);
/* y [N,H,W,C] = x * s + alpha * t, s and t [N,1,1,C]: the squeeze-excite input's gradient in one
 * pass, dy * gate + the pool's gradient (t = d pooled, alpha = 1 / (H*W)), instead of
 * es_channel_scale_backward's dx, es_global_avg_pool_backward and es_axpby. y may alias x. */
ES_API es_status es_channel_scale_add(es_handle ctx, es_handle x, es_handle s, es_handle t,
                                      float alpha, es_handle y);

/* ---- stochastic depth ----------------------------------------------------- */

/* Per-sample drop-connect: sample n is kept iff u(seed, n) >= drop_rate, kept samples
 * are scaled by 1/(1-drop_rate). training=0 or drop_rate=0 is the identity. */
ES_API es_status es_drop_path_forward(es_handle ctx, es_handle x, es_handle y, float drop_rate,
                                      uint64_t seed, int training);
ES_API es_status es_drop_path_backward(es_handle ctx, es_handle dy, es_handle dx, float drop_rate,
                                       uint64_t seed, int training);

/* ---- nearest upsampling, channel copies ----------------------------------- */

/* y [N,H,W,C] (+)= x [N,h,w,C] sampled at src = floor(dst * h / H) (PyTorch "nearest").
 * accumulate=1 adds into y (the decoder's sum of upsampled scales). */
ES_API es_status es_upsample_nearest_forward(es_handle ctx, es_handle x, es_handle y,
                                             int accumulate);
/* dx [N,h,w,C] = sum of dy [N,H,W,C] over the pixels each source pixel fed. */
ES_API es_status es_upsample_nearest_backward(es_handle ctx, es_handle dy, es_handle dx);
/* y[..., y_offset + i] (+)= x[..., x_offset + i] for i < count; x and y share N,H,W.
 * Concat, slice and their gradients are all this copy. */
ES_API es_status es_channel_copy(es_handle ctx, es_handle x, int x_offset, es_handle y,
                                 int y_offset, int count, int accumulate);

/* ---- the segmentation loss ------------------------------------------------ */

/* logits, target [N,H,W,1] (target in {0,1}); terms [4] receives
 * {total, dice, bce, npd} with total = w_dice*dice + w_bce*bce + w_npd*npd.
 * dice: MONAI DiceLoss(sigmoid=True), per sample, smooth_nr = smooth_dr = 1e-5, mean.
 * bce: BCE-with-logits, mean over all pixels.
 * npd: near-pixel-diff at distance npd_distance (N * sum of four mean squared diffs).
 * dlogits [N,H,W,1] (optional) receives d total / d logits. */
ES_API es_status es_seg_loss(es_handle ctx, es_handle logits, es_handle target, es_handle terms,
                             es_handle dlogits, float w_dice, float w_bce, float w_npd,
                             int npd_distance);

/* ---- optimizer ------------------------------------------------------------ */

/* One AdamW step (PyTorch semantics, decoupled weight decay, bias correction) over
 * flat blocks of equal size: params, grads, exp_avg, exp_avg_sq. step counts from 1. */
ES_API es_status es_adamw_step(es_handle ctx, es_handle params, es_handle grads, es_handle exp_avg,
                               es_handle exp_avg_sq, float lr, float beta1, float beta2, float eps,
                               float weight_decay, int64_t step);

#ifdef __cplusplus
}
#endif

#endif /* EFFISEG_H */
