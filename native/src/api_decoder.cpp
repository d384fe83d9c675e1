/* api_decoder.cpp — C ABI for nearest upsampling, channel copies, the fused segmentation
 * loss and the AdamW step: shape checks, then the backend kernel. */
#include "api_util.h"

using namespace es;

namespace {

UpsampleGeom upsample_geometry(const Tensor* small, const char* sname, const Tensor* big, const char* bname) {
    check_rank(small, 4, sname);
    check_rank(big, 4, bname);
    require(small->dim(0) == big->dim(0) && small->dim(3) == big->dim(3), ES_ERR_SHAPE, [&] {
        return std::string(sname) + " " + shape_str(small) + " and " + bname + " " + shape_str(big) +
            " must agree in N and C";
    });
    UpsampleGeom g{};
    g.N = to_int(small->dim(0), "N");
    g.h = to_int(small->dim(1), "h");
    g.w = to_int(small->dim(2), "w");
    g.H = to_int(big->dim(1), "H");
    g.W = to_int(big->dim(2), "W");
    g.C = to_int(small->dim(3), "C");
    return g;
}

}  // namespace

extern "C" {

es_status es_upsample_nearest_forward(es_handle ctx_h, es_handle x_h, es_handle y_h, int accumulate) {
    return guard("es_upsample_nearest_forward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = placed(ctx, x_h, "x"), *y = placed(ctx, y_h, "y");
        UpsampleGeom g = upsample_geometry(x, "x", y, "y");
        require(y->storage != x->storage, ES_ERR_INVALID_ARGUMENT, "y must not share storage with x");
        ctx->k->upsample_nearest_forward(ctx->exec(), g, x->data(), y->data(), accumulate != 0);
    });
}

es_status es_upsample_nearest_backward(es_handle ctx_h, es_handle dy_h, es_handle dx_h) {
    return guard("es_upsample_nearest_backward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *dy = placed(ctx, dy_h, "dy"), *dx = placed(ctx, dx_h, "dx");
        UpsampleGeom g = upsample_geometry(dx, "dx", dy, "dy");
        require(dy->storage != dx->storage, ES_ERR_INVALID_ARGUMENT, "dx must not share storage with dy");
        ctx->k->upsample_nearest_backward(ctx->exec(), g, dy->data(), dx->data());
    });
}

es_status es_channel_copy(es_handle ctx_h, es_handle x_h, int x_offset, es_handle y_h, int y_offset, int count,
                          int accumulate) {
    return guard("es_channel_copy", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = placed(ctx, x_h, "x"), *y = placed(ctx, y_h, "y");
        require(x->ndim >= 1 && x->ndim == y->ndim, ES_ERR_SHAPE, [&] {
            return "x " + shape_str(x) + " and y " + shape_str(y) + " must have the same rank";
        });
        for (int i = 0; i + 1 < x->ndim; i++)
            require(x->dim(i) == y->dim(i), ES_ERR_SHAPE, [&] {
                return "x " + shape_str(x) + " and y " + shape_str(y) +
                    " must agree in all but the channel dimension";
            });
        ChannelCopyGeom g{};
        g.Cx = to_int(x->dim(x->ndim - 1), "Cx");
        g.Cy = to_int(y->dim(y->ndim - 1), "Cy");
        g.rows = x->numel / g.Cx;
        g.x_offset = x_offset;
        g.y_offset = y_offset;
        g.count = count;
        require(count > 0 && x_offset >= 0 && y_offset >= 0 && x_offset + count <= g.Cx &&
                    y_offset + count <= g.Cy,
                ES_ERR_SHAPE, [&] {
            return "channels [" + std::to_string(x_offset) + "," + std::to_string(x_offset + count) +
                ") of x " + shape_str(x) + " to [" + std::to_string(y_offset) + "," +
                std::to_string(y_offset + count) + ") of y " + shape_str(y) + " are out of range";
        });
        require(y->storage != x->storage, ES_ERR_INVALID_ARGUMENT, "y must not share storage with x");
        ctx->k->channel_copy(ctx->exec(), g, x->data(), y->data(), accumulate != 0);
    });
}

es_status es_seg_loss(es_handle ctx_h, es_handle logits_h, es_handle target_h, es_handle terms_h,
                      es_handle dlogits_h, float w_dice, float w_bce, float w_npd, int npd_distance) {
    return guard("es_seg_loss", [&] {
        Context* ctx = context(ctx_h);
        Tensor *logits = tensor(logits_h, "logits"), *target = tensor(target_h, "target"),
               *terms = tensor(terms_h, "terms");
        Tensor* dlogits = optional_tensor(dlogits_h, "dlogits");
        for (auto [t, n] : {std::pair{logits, "logits"}, {target, "target"}, {terms, "terms"}, {dlogits, "dlogits"}})
            check_placement(ctx, t, n);
        check_rank(logits, 4, "logits");
        require(logits->dim(3) == 1, ES_ERR_SHAPE, [&] {
            return "logits must be [N,H,W,1], got " + shape_str(logits);
        });
        check_same_shape(logits, "logits", target, "target");
        check_shape(terms, {4}, "terms");
        if (dlogits) check_same_shape(logits, "logits", dlogits, "dlogits");
        require(w_dice >= 0 && w_bce >= 0 && w_npd >= 0, ES_ERR_INVALID_ARGUMENT, "loss weights must be >= 0");
        require(npd_distance >= 1, ES_ERR_INVALID_ARGUMENT, [&] {
            return "npd_distance must be >= 1, got " + std::to_string(npd_distance);
        });
        require(w_npd == 0 || (logits->dim(1) > npd_distance && logits->dim(2) > npd_distance), ES_ERR_SHAPE, [&] {
            return "near-pixel-diff at distance " + std::to_string(npd_distance) +
                " needs H and W larger than it, got " + shape_str(logits);
        });
        LossGeom g{to_int(logits->dim(0), "N"), to_int(logits->dim(1), "H"), to_int(logits->dim(2), "W")};
        LossWeights lw{w_dice, w_bce, w_npd, npd_distance};
        ctx->k->seg_loss(ctx->exec(), g, lw, logits->data(), target->data(), terms->data(),
                         dlogits ? dlogits->data() : nullptr);
    });
}

es_status es_adamw_step(es_handle ctx_h, es_handle p_h, es_handle g_h, es_handle m_h, es_handle v_h, float lr,
                        float beta1, float beta2, float eps, float weight_decay, int64_t step) {
    return guard("es_adamw_step", [&] {
        Context* ctx = context(ctx_h);
        Tensor *p = tensor(p_h, "params"), *g = tensor(g_h, "grads"), *m = tensor(m_h, "exp_avg"),
               *v = tensor(v_h, "exp_avg_sq");
        for (auto [t, n] : {std::pair{p, "params"}, {g, "grads"}, {m, "exp_avg"}, {v, "exp_avg_sq"}})
            check_placement(ctx, t, n);
        for (auto [t, n] : {std::pair{g, "grads"}, {m, "exp_avg"}, {v, "exp_avg_sq"}})
            require(t->numel == p->numel, ES_ERR_SHAPE, [&] {
                return std::string(n) + " " + shape_str(t) +
                    " must have as many elements as params " + shape_str(p);
            });
        require(step >= 1, ES_ERR_INVALID_ARGUMENT, [&] {
            return "step counts from 1, got " + std::to_string(step);
        });
        require(lr >= 0 && eps > 0 && weight_decay >= 0, ES_ERR_INVALID_ARGUMENT,
                "lr and weight_decay must be >= 0 and eps > 0");
        require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, ES_ERR_INVALID_ARGUMENT,
                "betas must be in [0, 1)");
        AdamW a{lr, beta1, beta2, eps, weight_decay, step};
        ctx->k->adamw_step(ctx->exec(), a, p->data(), g->data(), m->data(), v->data(), p->numel);
    });
}

}  // extern "C"
