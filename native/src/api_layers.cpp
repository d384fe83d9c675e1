/* api_layers.cpp — C ABI for batch norm, activations, pooling, squeeze-excite gating and
 * stochastic depth: shape checks, then the backend kernel. */
#include "api_util.h"

using namespace es;

namespace {

/* x [..., C] as rows of C channels; every per-channel tensor must be [C]. */
BnGeom rows_of(const Tensor* x) {
    require(x->ndim >= 1, ES_ERR_SHAPE, [&] {
        return "x must have a channel dimension, got " + shape_str(x);
    });
    BnGeom g{};
    g.C = to_int(x->dim(x->ndim - 1), "C");
    g.rows = x->numel / g.C;
    return g;
}

PoolGeom pool_geometry(const Tensor* x, const Tensor* s, const char* sname) {
    check_rank(x, 4, "x");
    PoolGeom g{};
    g.N = to_int(x->dim(0), "N");
    g.HW = x->dim(1) * x->dim(2);
    g.C = to_int(x->dim(3), "C");
    check_shape(s, {g.N, 1, 1, g.C}, sname);
    return g;
}

}  // namespace

extern "C" {

namespace {

void batchnorm_forward_checked(es_handle ctx_h, es_handle x_h, es_handle gamma_h, es_handle beta_h,
                               es_handle rm_h, es_handle rv_h, es_handle y_h, es_handle sm_h,
                               es_handle si_h, int training, float momentum, float eps,
                               int activation, int64_t repeats, bool pooling = false,
                               es_handle pooled_h = 0) {
    Context* ctx = context(ctx_h);
    Tensor *x = tensor(x_h, "x"), *gamma = tensor(gamma_h, "gamma"), *beta = tensor(beta_h, "beta"),
           *rm = tensor(rm_h, "running_mean"), *rv = tensor(rv_h, "running_var"), *y = tensor(y_h, "y");
    Tensor* sm = training ? tensor(sm_h, "save_mean") : optional_tensor(sm_h, "save_mean");
    Tensor* si = training ? tensor(si_h, "save_invstd") : optional_tensor(si_h, "save_invstd");
    for (auto [t, n] : {std::pair{x, "x"}, {gamma, "gamma"}, {beta, "beta"}, {rm, "running_mean"},
                        {rv, "running_var"}, {y, "y"}, {sm, "save_mean"}, {si, "save_invstd"}})
        check_placement(ctx, t, n);
    check_activation(activation);
    BnGeom g = rows_of(x);
    require(repeats >= 1, ES_ERR_INVALID_ARGUMENT, [&] {
        return "repeats must be at least 1, got " + std::to_string(repeats);
    });
    g.repeats = repeats;
    check_same_shape(x, "x", y, "y");
    for (auto [t, n] : {std::pair{gamma, "gamma"}, {beta, "beta"}, {rm, "running_mean"},
                        {rv, "running_var"}, {sm, "save_mean"}, {si, "save_invstd"}})
        if (t) check_shape(t, {g.C}, n);
    require(eps > 0, ES_ERR_INVALID_ARGUMENT, [&] {
        return "eps must be positive, got " + std::to_string(eps);
    });
    require(momentum >= 0 && momentum <= 1, ES_ERR_INVALID_ARGUMENT, [&] {
        return "momentum must be in [0, 1], got " + std::to_string(momentum);
    });
    require(!training || g.rows > 1, ES_ERR_SHAPE, [&] {
        return "training needs more than one value per channel, got x " + shape_str(x);
    });
    require(activation == ES_ACT_NONE || y->storage != x->storage || y->offset != x->offset, ES_ERR_INVALID_ARGUMENT,
            "y may alias x only without a fused activation");
    Tensor* pooled = nullptr;
    int64_t rows_per_image = 1;
    if (pooling) { /* es_batchnorm_forward_pooled */
        pooled = tensor(pooled_h, "pooled");
        check_placement(ctx, pooled, "pooled");
        const PoolGeom pg = pool_geometry(x, pooled, "pooled");
        rows_per_image = pg.HW; /* tensors have no empty dimensions */
    }
    ctx->k->batchnorm_forward(ctx->exec(), g, x->data(), gamma->data(), beta->data(), rm->data(), rv->data(),
                              y->data(), sm ? sm->data() : nullptr, si ? si->data() : nullptr, training != 0,
                              momentum, eps, activation, pooled ? pooled->data() : nullptr,
                              rows_per_image);
}

}  // namespace

es_status es_batchnorm_forward(es_handle ctx_h, es_handle x_h, es_handle gamma_h, es_handle beta_h,
                               es_handle rm_h, es_handle rv_h, es_handle y_h, es_handle sm_h, es_handle si_h,
                               int training, float momentum, float eps, int activation) {
    return guard("es_batchnorm_forward", [&] {
        batchnorm_forward_checked(ctx_h, x_h, gamma_h, beta_h, rm_h, rv_h, y_h, sm_h, si_h, training,
                                  momentum, eps, activation, 1);
    });
}

es_status es_batchnorm_forward_repeated(es_handle ctx_h, es_handle x_h, es_handle gamma_h,
                                        es_handle beta_h, es_handle rm_h, es_handle rv_h, es_handle y_h,
                                        es_handle sm_h, es_handle si_h, int training, float momentum,
                                        float eps, int activation, int64_t repeats) {
    return guard("es_batchnorm_forward_repeated", [&] {
        batchnorm_forward_checked(ctx_h, x_h, gamma_h, beta_h, rm_h, rv_h, y_h, sm_h, si_h, training,
                                  momentum, eps, activation, repeats);
    });
}

es_status es_batchnorm_forward_pooled(es_handle ctx_h, es_handle x_h, es_handle gamma_h,
                                      es_handle beta_h, es_handle rm_h, es_handle rv_h,
                                      es_handle y_h, es_handle sm_h, es_handle si_h, int training,
                                      float momentum, float eps, int activation,
                                      es_handle pooled_h) {
    return guard("es_batchnorm_forward_pooled", [&] {
        batchnorm_forward_checked(ctx_h, x_h, gamma_h, beta_h, rm_h, rv_h, y_h, sm_h, si_h, training,
                                  momentum, eps, activation, 1, true, pooled_h);
    });
}

namespace {

void batchnorm_backward_checked(es_handle ctx_h, es_handle x_h, es_handle gamma_h, es_handle beta_h,
                                es_handle dy_h, es_handle sm_h, es_handle si_h, es_handle dx_h,
                                es_handle dgamma_h, es_handle dbeta_h, int training, int activation,
                                int input_relu, bool gated = false, es_handle s_h = 0,
                                es_handle t_h = 0, float alpha = 0.0f) {
    Context* ctx = context(ctx_h);
    Tensor *x = tensor(x_h, "x"), *gamma = tensor(gamma_h, "gamma"), *beta = tensor(beta_h, "beta"),
           *dy = tensor(dy_h, "dy"), *sm = tensor(sm_h, "save_mean"), *si = tensor(si_h, "save_invstd"),
           *dx = tensor(dx_h, "dx");
    Tensor *dgamma = optional_tensor(dgamma_h, "dgamma"), *dbeta = optional_tensor(dbeta_h, "dbeta");
    for (auto [t, n] : {std::pair{x, "x"}, {gamma, "gamma"}, {beta, "beta"}, {dy, "dy"}, {sm, "save_mean"},
                        {si, "save_invstd"}, {dx, "dx"}, {dgamma, "dgamma"}, {dbeta, "dbeta"}})
        check_placement(ctx, t, n);
    check_activation(activation);
    BnGeom g = rows_of(x);
    check_same_shape(x, "x", dy, "dy");
    check_same_shape(x, "x", dx, "dx");
    for (auto [t, n] : {std::pair{gamma, "gamma"}, {beta, "beta"}, {sm, "save_mean"}, {si, "save_invstd"},
                        {dgamma, "dgamma"}, {dbeta, "dbeta"}})
        if (t) check_shape(t, {g.C}, n);
    BnGate gate{};
    if (gated) { /* es_batchnorm_backward_gated */
        Tensor *s = tensor(s_h, "s"), *t = tensor(t_h, "t");
        check_placement(ctx, s, "s");
        check_placement(ctx, t, "t");
        const PoolGeom pg = pool_geometry(x, s, "s");
        check_same_shape(s, "s", t, "t");
        gate = BnGate{s->data(), t->data(), alpha, pg.HW};
    }
    ctx->k->batchnorm_backward(ctx->exec(), g, x->data(), gamma->data(), beta->data(), dy->data(), sm->data(),
                               si->data(), dx->data(), dgamma ? dgamma->data() : nullptr,
                               dbeta ? dbeta->data() : nullptr, training != 0, activation,
                               input_relu, gated ? &gate : nullptr);
}

}  // namespace

es_status es_batchnorm_backward(es_handle ctx_h, es_handle x_h, es_handle gamma_h, es_handle beta_h,
                                es_handle dy_h, es_handle sm_h, es_handle si_h, es_handle dx_h,
                                es_handle dgamma_h, es_handle dbeta_h, int training, int activation) {
    return guard("es_batchnorm_backward", [&] {
        batchnorm_backward_checked(ctx_h, x_h, gamma_h, beta_h, dy_h, sm_h, si_h, dx_h, dgamma_h,
                                   dbeta_h, training, activation, 0);
    });
}

es_status es_batchnorm_backward_after_relu(es_handle ctx_h, es_handle x_h, es_handle gamma_h,
                                           es_handle beta_h, es_handle dy_h, es_handle sm_h,
                                           es_handle si_h, es_handle dx_h, es_handle dgamma_h,
                                           es_handle dbeta_h, int training, int activation) {
    return guard("es_batchnorm_backward_after_relu", [&] {
        batchnorm_backward_checked(ctx_h, x_h, gamma_h, beta_h, dy_h, sm_h, si_h, dx_h, dgamma_h,
                                   dbeta_h, training, activation, 1);
    });
}

es_status es_batchnorm_backward_gated(es_handle ctx_h, es_handle x_h, es_handle gamma_h,
                                      es_handle beta_h, es_handle dy_h, es_handle s_h, es_handle t_h,
                                      float alpha, es_handle sm_h, es_handle si_h, es_handle dx_h,
                                      es_handle dgamma_h, es_handle dbeta_h, int training,
                                      int activation) {
    return guard("es_batchnorm_backward_gated", [&] {
        batchnorm_backward_checked(ctx_h, x_h, gamma_h, beta_h, dy_h, sm_h, si_h, dx_h, dgamma_h,
                                   dbeta_h, training, activation, 0, true, s_h, t_h, alpha);
    });
}

es_status es_batchnorm_backward_deferred(es_handle ctx_h, es_handle x_h, es_handle gamma_h,
                                         es_handle beta_h, es_handle dy_h, es_handle sm_h,
                                         es_handle si_h, es_handle gr_h, es_handle coef_h,
                                         es_handle dgamma_h, es_handle dbeta_h, int activation) {
    return guard("es_batchnorm_backward_deferred", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *gamma = tensor(gamma_h, "gamma"),
               *beta = tensor(beta_h, "beta"), *dy = tensor(dy_h, "dy"),
               *sm = tensor(sm_h, "save_mean"), *si = tensor(si_h, "save_invstd"),
               *gr = tensor(gr_h, "gr"), *coef = tensor(coef_h, "coef");
        Tensor *dgamma = optional_tensor(dgamma_h, "dgamma"), *dbeta = optional_tensor(dbeta_h, "dbeta");
        for (auto [t, n] : {std::pair{x, "x"}, {gamma, "gamma"}, {beta, "beta"}, {dy, "dy"},
                            {sm, "save_mean"}, {si, "save_invstd"}, {gr, "gr"}, {coef, "coef"},
                            {dgamma, "dgamma"}, {dbeta, "dbeta"}})
            check_placement(ctx, t, n);
        check_activation(activation);
        const BnGeom g = rows_of(x);
        check_same_shape(x, "x", dy, "dy");
        check_same_shape(x, "x", gr, "gr");
        for (auto [t, n] : {std::pair{gamma, "gamma"}, {beta, "beta"}, {sm, "save_mean"},
                            {si, "save_invstd"}, {dgamma, "dgamma"}, {dbeta, "dbeta"}})
            if (t) check_shape(t, {g.C}, n);
        check_shape(coef, {3, g.C}, "coef");
        require(gr->storage != x->storage && coef->storage != gr->storage &&
                    coef->storage != dy->storage && coef->storage != x->storage,
                ES_ERR_INVALID_ARGUMENT, "gr and coef must not share storage with x (gr may be dy)");
        ctx->k->batchnorm_backward_deferred(ctx->exec(), g, x->data(), gamma->data(), beta->data(),
                                            dy->data(), sm->data(), si->data(), gr->data(),
                                            coef->data(), dgamma ? dgamma->data() : nullptr,
                                            dbeta ? dbeta->data() : nullptr, activation);
    });
}

es_status es_activation_forward(es_handle ctx_h, int activation, es_handle x_h, es_handle y_h) {
    return guard("es_activation_forward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = placed(ctx, x_h, "x"), *y = placed(ctx, y_h, "y");
        check_activation(activation);
        check_same_shape(x, "x", y, "y");
        ctx->k->activation_forward(ctx->exec(), activation, x->data(), y->data(), x->numel);
    });
}

es_status es_activation_backward(es_handle ctx_h, int activation, es_handle x_h, es_handle dy_h, es_handle dx_h) {
    return guard("es_activation_backward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *dy = tensor(dy_h, "dy"), *dx = tensor(dx_h, "dx");
        for (auto [t, n] : {std::pair{x, "x"}, {dy, "dy"}, {dx, "dx"}}) check_placement(ctx, t, n);
        check_activation(activation);
        check_same_shape(x, "x", dy, "dy");
        check_same_shape(x, "x", dx, "dx");
        ctx->k->activation_backward(ctx->exec(), activation, x->data(), dy->data(), dx->data(), x->numel);
    });
}

es_status es_global_avg_pool_forward(es_handle ctx_h, es_handle x_h, es_handle y_h) {
    return guard("es_global_avg_pool_forward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = placed(ctx, x_h, "x"), *y = placed(ctx, y_h, "y");
        PoolGeom g = pool_geometry(x, y, "y");
        ctx->k->global_avg_pool_forward(ctx->exec(), g, x->data(), y->data());
    });
}

es_status es_global_avg_pool_backward(es_handle ctx_h, es_handle dy_h, es_handle dx_h) {
    return guard("es_global_avg_pool_backward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *dy = placed(ctx, dy_h, "dy"), *dx = placed(ctx, dx_h, "dx");
        PoolGeom g = pool_geometry(dx, dy, "dy");
        ctx->k->global_avg_pool_backward(ctx->exec(), g, dy->data(), dx->data());
    });
}

es_status es_channel_scale_forward(es_handle ctx_h, es_handle x_h, es_handle s_h, es_handle y_h) {
    return guard("es_channel_scale_forward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *s = tensor(s_h, "s"), *y = tensor(y_h, "y");
        for (auto [t, n] : {std::pair{x, "x"}, {s, "s"}, {y, "y"}}) check_placement(ctx, t, n);
        PoolGeom g = pool_geometry(x, s, "s");
        check_same_shape(x, "x", y, "y");
        ctx->k->channel_scale_forward(ctx->exec(), g, x->data(), s->data(), y->data());
    });
}

es_status es_channel_scale_backward(es_handle ctx_h, es_handle x_h, es_handle s_h, es_handle dy_h, es_handle dx_h,
                                    es_handle ds_h) {
    return guard("es_channel_scale_backward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *s = tensor(s_h, "s"), *dy = tensor(dy_h, "dy");
        Tensor *dx = optional_tensor(dx_h, "dx"), *ds = optional_tensor(ds_h, "ds");
        for (auto [t, n] : {std::pair{x, "x"}, {s, "s"}, {dy, "dy"}, {dx, "dx"}, {ds, "ds"}})
            check_placement(ctx, t, n);
        PoolGeom g = pool_geometry(x, s, "s");
        check_same_shape(x, "x", dy, "dy");
        if (dx) check_same_shape(x, "x", dx, "dx");
        if (ds) check_same_shape(s, "s", ds, "ds");
        ctx->k->channel_scale_backward(ctx->exec(), g, x->data(), s->data(), dy->data(), dx ? dx->data() : nullptr,
                                       ds ? ds->data() : nullptr);
    });
}

es_status es_channel_scale_add(es_handle ctx_h, es_handle x_h, es_handle s_h, es_handle t_h, float alpha,
                               es_handle y_h) {
    return guard("es_channel_scale_add", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *s = tensor(s_h, "s"), *t = tensor(t_h, "t"), *y = tensor(y_h, "y");
        for (auto [p, n] : {std::pair{x, "x"}, {s, "s"}, {t, "t"}, {y, "y"}}) check_placement(ctx, p, n);
        PoolGeom g = pool_geometry(x, s, "s");
        check_same_shape(s, "s", t, "t");
        check_same_shape(x, "x", y, "y");
        ctx->k->channel_scale_add(ctx->exec(), g, x->data(), s->data(), t->data(), alpha, y->data());
    });
}

static void drop_path(es_handle ctx_h, es_handle in_h, es_handle out_h, float rate,
                      uint64_t seed, int training, bool backward) {
    Context* ctx = context(ctx_h);
    const char* in_name = backward ? "dy" : "x";
    const char* out_name = backward ? "dx" : "y";
    Tensor *in = tensor(in_h, in_name), *out = tensor(out_h, out_name);
    check_placement(ctx, in, in_name);
    check_placement(ctx, out, out_name);
    check_same_shape(in, in_name, out, out_name);
    require(in->ndim >= 1, ES_ERR_SHAPE, [&] {
        return std::string(in_name) + " needs a batch dimension";
    });
    require(rate >= 0 && rate < 1, ES_ERR_INVALID_ARGUMENT, [&] {
        return std::string("drop rate must be in [0, 1), got ") + std::to_string(rate);
    });
    if (!training || rate == 0.0f) {
        ctx->k->copy(ctx->exec(), out->data(), in->data(), in->numel);
        return;
    }
    int N = to_int(in->dim(0), "N");
    if (backward)
        ctx->k->drop_path_backward(ctx->exec(), N, in->numel / N, in->data(), out->data(), rate, seed);
    else
        ctx->k->drop_path_forward(ctx->exec(), N, in->numel / N, in->data(), out->data(), rate, seed);
}

es_status es_drop_path_forward(es_handle ctx, es_handle x, es_handle y, float rate, uint64_t seed, int training) {
    return guard("es_drop_path_forward",
                 [&] { drop_path(ctx, x, y, rate, seed, training, false); });
}

es_status es_drop_path_backward(es_handle ctx, es_handle dy, es_handle dx, float rate, uint64_t seed,
                                int training) {
    return guard("es_drop_path_backward",
                 [&] { drop_path(ctx, dy, dx, rate, seed, training, true); });
}

}  // extern "C"
