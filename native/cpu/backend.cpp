/* backend.cpp — assembles the CPU kernel table from the per-family files. */
#include "cpu_kernels.h"

namespace es {

const KernelTable& cpu_kernels() {
    static const KernelTable table = [] {
        KernelTable t{};
        t.name = "cpu";
        t.alloc = cpu::alloc;
        t.release = cpu::release;
        t.upload = cpu::upload;
        t.download = cpu::download;
        t.fill = cpu::fill;
        t.copy = cpu::copy;
        t.add = cpu::add;
        t.axpby = cpu::axpby;
        t.conv2d_forward = cpu::conv2d_forward;
        t.conv2d_backward = cpu::conv2d_backward;
        t.batchnorm_forward = cpu::batchnorm_forward;
        t.batchnorm_backward = cpu::batchnorm_backward;
        t.activation_forward = cpu::activation_forward;
        t.activation_backward = cpu::activation_backward;
        t.global_avg_pool_forward = cpu::global_avg_pool_forward;
        t.global_avg_pool_backward = cpu::global_avg_pool_backward;
        t.channel_scale_forward = cpu::channel_scale_forward;
        t.channel_scale_backward = cpu::channel_scale_backward;
        t.drop_path_forward = cpu::drop_path_forward;
        t.drop_path_backward = cpu::drop_path_backward;
        t.upsample_nearest_forward = cpu::upsample_nearest_forward;
        t.upsample_nearest_backward = cpu::upsample_nearest_backward;
        t.channel_copy = cpu::channel_copy;
        t.seg_loss = cpu::seg_loss;
        t.adamw_step = cpu::adamw_step;
        return t;
    }();
    return table;
}

}  // namespace es
