/*
 * cuda_kernels.h — the CUDA kernels, one file per layer family in cuda/, with the same file
 * names as native/cpu/ and the signatures of es::KernelTable (native/src/kernels.h), so the
 * two backends can be read side by side. backend.cu assembles the table.
 *
 * Every launcher trusts its arguments (the C ABI layer checked them), enqueues its work on
 * the context's stream (state.h) and checks the launch; none waits for the GPU except
 * download (a tensor read). Status: compiled and linked, not yet run on a GPU (docs/cuda.md).
 */
#ifndef EFFISEG_CUDA_KERNELS_H
#define EFFISEG_CUDA_KERNELS_H

#include "kernels.h"

namespace es::cuda {

/* memory.cu: the caching allocator's hooks and the elementwise ops */
void* alloc(const Exec&, int64_t bytes);
void release(const Exec&, void* ptr);
void upload(const Exec&, float* dst, const float* src, int64_t n);
void download(const Exec&, float* dst, const float* src, int64_t n);
void fill(const Exec&, float* dst, float value, int64_t n);
void copy(const Exec&, float* dst, const float* src, int64_t n);
void add(const Exec&, const float* a, const float* b, float* y, int64_t n);
void axpby(const Exec&, float alpha, const float* x, float beta, float* y, int64_t n);

/* conv2d.cu */
void conv2d_forward(const Exec&, const ConvGeom&, const float* x, const float* w, const float* b,
                    float* y);
void conv2d_backward(const Exec&, const ConvGeom&, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);

/* batchnorm.cu */
void batchnorm_forward(const Exec&, const BnGeom&, const float* x, const float* gamma,
                       const float* beta, float* running_mean, float* running_var, float* y,
                       float* save_mean, float* save_invstd, int training, float momentum,
                       float eps, int activation);
void batchnorm_backward(const Exec&, const BnGeom&, const float* x, const float* gamma,
                        const float* beta, const float* dy, const float* save_mean,
                        const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                        int training, int activation);

/* activation.cu */
void activation_forward(const Exec&, int activation, const float* x, float* y, int64_t n);
void activation_backward(const Exec&, int activation, const float* x, const float* dy, float* dx,
                         int64_t n);

/* pool.cu: global average pooling and the squeeze-excite channel gate */
void global_avg_pool_forward(const Exec&, const PoolGeom&, const float* x, float* y);
void global_avg_pool_backward(const Exec&, const PoolGeom&, const float* dy, float* dx);
void channel_scale_forward(const Exec&, const PoolGeom&, const float* x, const float* s, float* y);
void channel_scale_backward(const Exec&, const PoolGeom&, const float* x, const float* s,
                            const float* dy, float* dx, float* ds);

/* drop_path.cu */
void drop_path_forward(const Exec&, int N, int64_t per_sample, const float* x, float* y,
                       float rate, uint64_t seed);
void drop_path_backward(const Exec&, int N, int64_t per_sample, const float* dy, float* dx,
                        float rate, uint64_t seed);

/* upsample.cu */
void upsample_nearest_forward(const Exec&, const UpsampleGeom&, const float* x, float* y,
                              int accumulate);
void upsample_nearest_backward(const Exec&, const UpsampleGeom&, const float* dy, float* dx);

/* channel_copy.cu */
void channel_copy(const Exec&, const ChannelCopyGeom&, const float* x, float* y, int accumulate);

/* seg_loss.cu */
void seg_loss(const Exec&, const LossGeom&, const LossWeights&, const float* logits,
              const float* target, float* terms, float* dlogits);

/* adamw.cu */
void adamw_step(const Exec&, const AdamW&, float* params, const float* grads, float* exp_avg,
                float* exp_avg_sq, int64_t n);

}  // namespace es::cuda

#endif
