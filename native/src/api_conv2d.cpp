/* api_conv2d.cpp — C ABI for 2-D convolution: shape checks, then the backend kernel. */
#include "api_util.h"

using namespace es;

namespace {

/* Validates x [N,H,W,Cin], w [KH,KW,Cin/groups,Cout], y-or-dy [N,OH,OW,Cout] and the
 * padding/stride arithmetic; returns the geometry. */
ConvGeom conv_geometry(const Tensor* x, const Tensor* w, const Tensor* y, const char* yname, int sh,
                       int sw, int pt, int pb, int pl, int pr, int groups) {
    check_rank(x, 4, "x");
    check_rank(w, 4, "w");
    check_rank(y, 4, yname);
    require(sh > 0 && sw > 0, ES_ERR_INVALID_ARGUMENT, [&] {
        return "strides must be positive, got " + std::to_string(sh) + "x" + std::to_string(sw);
    });
    require(pt >= 0 && pb >= 0 && pl >= 0 && pr >= 0, ES_ERR_INVALID_ARGUMENT, "padding must be >= 0");
    require(groups > 0, ES_ERR_INVALID_ARGUMENT, [&] {
        return "groups must be positive, got " + std::to_string(groups);
    });
    ConvGeom g{};
    g.N = to_int(x->dim(0), "N");
    g.H = to_int(x->dim(1), "H");
    g.W = to_int(x->dim(2), "W");
    g.Cin = to_int(x->dim(3), "Cin");
    g.KH = to_int(w->dim(0), "KH");
    g.KW = to_int(w->dim(1), "KW");
    g.Cout = to_int(w->dim(3), "Cout");
    g.stride_h = sh;
    g.stride_w = sw;
    g.pad_top = pt;
    g.pad_left = pl;
    g.groups = groups;
    require(g.Cin % groups == 0 && g.Cout % groups == 0, ES_ERR_SHAPE, [&] {
        return "groups=" + std::to_string(groups) + " must divide Cin of x " + shape_str(x) +
            " and Cout of w " + shape_str(w);
    });
    require(w->dim(2) == g.Cin / groups, ES_ERR_SHAPE, [&] {
        return "w " + shape_str(w) + " must be [KH,KW,Cin/groups=" + std::to_string(g.Cin / groups) +
            ",Cout] for x " + shape_str(x) + " and groups=" + std::to_string(groups);
    });
    int64_t hp = (int64_t)g.H + pt + pb, wp = (int64_t)g.W + pl + pr;
    require(hp >= g.KH && wp >= g.KW, ES_ERR_SHAPE, [&] {
        return "kernel " + std::to_string(g.KH) + "x" + std::to_string(g.KW) +
            " is larger than padded input of x " + shape_str(x);
    });
    g.OH = (int)((hp - g.KH) / sh + 1);
    g.OW = (int)((wp - g.KW) / sw + 1);
    check_shape(y, {g.N, g.OH, g.OW, g.Cout}, yname);
    return g;
}

/* A pointwise convolution's geometry (the gated and batch-norm-finishing ones): x [N,H,W,Cin],
 * w [1,1,Cin,Cout], y-or-dy [N,H,W,Cout], and the gate s [N,1,1,Cin] when it is given. */
ConvGeom pointwise_geometry(const Tensor* x, const Tensor* s, const Tensor* w, const Tensor* y,
                            const char* yname) {
    const ConvGeom g = conv_geometry(x, w, y, yname, 1, 1, 0, 0, 0, 0, 1);
    require(g.KH == 1 && g.KW == 1, ES_ERR_SHAPE, [&] {
        return "the convolution is pointwise: w " + shape_str(w) + " must be [1,1,Cin,Cout]";
    });
    if (s) check_shape(s, {g.N, 1, 1, g.Cin}, "s");
    return g;
}

/* A pointwise convolution's input in two channel blocks (es_conv2d_forward_blocks,
 * es_conv2d_backward_bn_blocks): x [N,H,W,C1], x2 [N,H,W,C2], w [1,1,C1+C2,Cout]. Returns the
 * geometry of x's block (w's first C1 rows); C2 in c2. */
ConvGeom blocks_geometry(const Tensor* x, const Tensor* x2, const Tensor* w, int& c2) {
    check_rank(x, 4, "x");
    check_rank(x2, 4, "x2");
    check_rank(w, 4, "w");
    require(x2->dim(0) == x->dim(0) && x2->dim(1) == x->dim(1) && x2->dim(2) == x->dim(2),
            ES_ERR_SHAPE, [&] {
        return "x " + shape_str(x) + " and x2 " + shape_str(x2) + " must share N, H, W";
    });
    c2 = to_int(x2->dim(3), "C2");
    require(w->dim(0) == 1 && w->dim(1) == 1 && w->dim(2) == x->dim(3) + c2, ES_ERR_SHAPE, [&] {
        return "w " + shape_str(w) + " must be [1,1,Cin,Cout] with Cin the channels of x " +
            shape_str(x) + " and x2 " + shape_str(x2) + " together";
    });
    ConvGeom g{};
    g.N = to_int(x->dim(0), "N");
    g.H = g.OH = to_int(x->dim(1), "H");
    g.W = g.OW = to_int(x->dim(2), "W");
    g.Cin = to_int(x->dim(3), "Cin");
    g.Cout = to_int(w->dim(3), "Cout");
    g.KH = g.KW = g.stride_h = g.stride_w = g.groups = 1;
    return g;
}

/* A deferred batch norm's unfinished dx as the dy of the convolution before it
 * (es_conv2d_backward_bn, _blocks): bn_x like gr (checked against the convolution already),
 * save_mean [Cout], coef [3,Cout]. */
BnDy checked_bn_dy(const Tensor* gr, const Tensor* bn_x, const Tensor* sm, const Tensor* coef,
                   int Cout, int input_relu) {
    check_same_shape(bn_x, "bn_x", gr, "gr");
    check_shape(sm, {Cout}, "save_mean");
    check_shape(coef, {3, Cout}, "coef");
    return BnDy{gr->data(), bn_x->data(), sm->data(), coef->data(), input_relu != 0};
}

/* The epilogue's optional tensors checked against y and Cout (b [Cout], scale [Cout], shift
 * [Cout], residual y's shape and not y's storage), and the struct the kernels take. */
ConvEpilogue checked_epilogue(const Tensor* y, int Cout, const Tensor* b, const Tensor* scale,
                              const Tensor* shift, const Tensor* residual, int activation) {
    if (b) check_shape(b, {Cout}, "b");
    if (scale) check_shape(scale, {Cout}, "scale");
    if (shift) check_shape(shift, {Cout}, "shift");
    if (residual) check_same_shape(residual, "residual", y, "y");
    check_activation(activation);
    require(!residual || residual->storage != y->storage, ES_ERR_INVALID_ARGUMENT,
            "y must not share storage with residual");
    ConvEpilogue e;
    e.activation = activation;
    e.scale = scale ? scale->data() : nullptr;
    e.shift = shift ? shift->data() : nullptr;
    e.residual = residual ? residual->data() : nullptr;
    return e;
}

}  // namespace

extern "C" {

es_status es_conv2d_forward_gated(es_handle ctx_h, es_handle x_h, es_handle s_h, es_handle w_h,
                                  es_handle b_h, es_handle y_h, int activation, es_handle scale_h,
                                  es_handle shift_h, es_handle residual_h) {
    return guard("es_conv2d_forward_gated", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *s = tensor(s_h, "s"), *w = tensor(w_h, "w"),
               *y = tensor(y_h, "y");
        Tensor* b = optional_tensor(b_h, "b");
        Tensor *scale = optional_tensor(scale_h, "scale"), *shift = optional_tensor(shift_h, "shift"),
               *residual = optional_tensor(residual_h, "residual");
        for (auto [t, n] : {std::pair{x, "x"}, {s, "s"}, {w, "w"}, {y, "y"}, {b, "b"},
                            {scale, "scale"}, {shift, "shift"}, {residual, "residual"}})
            check_placement(ctx, t, n);
        const ConvGeom g = pointwise_geometry(x, s, w, y, "y");
        const ConvEpilogue e = checked_epilogue(y, g.Cout, b, scale, shift, residual, activation);
        require(y->storage != x->storage && y->storage != s->storage, ES_ERR_INVALID_ARGUMENT,
                "y must not share storage with x or s");
        ctx->k->conv2d_forward_gated(ctx->exec(), g, x->data(), s->data(), w->data(),
                                     b ? b->data() : nullptr, e, y->data());
    });
}

es_status es_conv2d_backward_gated(es_handle ctx_h, es_handle x_h, es_handle s_h, es_handle w_h,
                                   es_handle dy_h, es_handle dx_h, es_handle dw_h, es_handle db_h,
                                   es_handle ds_h) {
    return guard("es_conv2d_backward_gated", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *s = tensor(s_h, "s"), *w = tensor(w_h, "w"),
               *dy = tensor(dy_h, "dy");
        Tensor *dx = optional_tensor(dx_h, "dx"), *dw = optional_tensor(dw_h, "dw"),
               *db = optional_tensor(db_h, "db"), *ds = optional_tensor(ds_h, "ds");
        for (auto [t, n] : {std::pair{x, "x"}, {s, "s"}, {w, "w"}, {dy, "dy"}, {dx, "dx"},
                            {dw, "dw"}, {db, "db"}, {ds, "ds"}})
            check_placement(ctx, t, n);
        const ConvGeom g = pointwise_geometry(x, s, w, dy, "dy");
        if (dx) check_same_shape(dx, "dx", x, "x");
        if (dw) check_same_shape(dw, "dw", w, "w");
        if (db) check_shape(db, {g.Cout}, "db");
        if (ds) {
            check_same_shape(ds, "ds", s, "s");
            require(dx != nullptr, ES_ERR_INVALID_ARGUMENT, "ds needs dx (it is gathered from it)");
        }
        ctx->k->conv2d_backward_gated(ctx->exec(), g, x->data(), s->data(), w->data(), dy->data(),
                                      dx ? dx->data() : nullptr, dw ? dw->data() : nullptr,
                                      db ? db->data() : nullptr, ds ? ds->data() : nullptr);
    });
}

es_status es_conv2d_forward_fused(es_handle ctx_h, es_handle x_h, es_handle w_h, es_handle b_h,
                                  es_handle y_h, int stride_h, int stride_w, int pad_top, int pad_bottom,
                                  int pad_left, int pad_right, int groups, int activation,
                                  es_handle scale_h, es_handle shift_h, es_handle residual_h) {
    return guard("es_conv2d_forward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *w = tensor(w_h, "w"), *y = tensor(y_h, "y");
        Tensor* b = optional_tensor(b_h, "b");
        Tensor *scale = optional_tensor(scale_h, "scale"), *shift = optional_tensor(shift_h, "shift"),
               *residual = optional_tensor(residual_h, "residual");
        for (auto [t, n] : {std::pair{x, "x"}, {w, "w"}, {y, "y"}, {b, "b"}, {scale, "scale"},
                            {shift, "shift"}, {residual, "residual"}})
            check_placement(ctx, t, n);
        ConvGeom g = conv_geometry(x, w, y, "y", stride_h, stride_w, pad_top, pad_bottom, pad_left,
                                   pad_right, groups);
        const ConvEpilogue e = checked_epilogue(y, g.Cout, b, scale, shift, residual, activation);
        require(y->storage != x->storage, ES_ERR_INVALID_ARGUMENT, "y must not share storage with x");
        ctx->k->conv2d_forward(ctx->exec(), g, x->data(), w->data(), b ? b->data() : nullptr, e, y->data());
    });
}

es_status es_conv2d_forward(es_handle ctx, es_handle x, es_handle w, es_handle b, es_handle y,
                            int stride_h, int stride_w, int pad_top, int pad_bottom, int pad_left,
                            int pad_right, int groups) {
    return es_conv2d_forward_fused(ctx, x, w, b, y, stride_h, stride_w, pad_top, pad_bottom, pad_left,
                                   pad_right, groups, ES_ACT_NONE, 0, 0, 0);
}

es_status es_conv2d_backward(es_handle ctx_h, es_handle x_h, es_handle w_h, es_handle dy_h, es_handle dx_h,
                             es_handle dw_h, es_handle db_h, int stride_h, int stride_w, int pad_top,
                             int pad_bottom, int pad_left, int pad_right, int groups) {
    return guard("es_conv2d_backward", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *w = tensor(w_h, "w"), *dy = tensor(dy_h, "dy");
        Tensor *dx = optional_tensor(dx_h, "dx"), *dw = optional_tensor(dw_h, "dw"),
               *db = optional_tensor(db_h, "db");
        for (auto [t, n] : {std::pair{x, "x"}, {w, "w"}, {dy, "dy"}, {dx, "dx"}, {dw, "dw"}, {db, "db"}})
            check_placement(ctx, t, n);
        ConvGeom g = conv_geometry(x, w, dy, "dy", stride_h, stride_w, pad_top, pad_bottom, pad_left,
                                   pad_right, groups);
        if (dx) check_same_shape(dx, "dx", x, "x");
        if (dw) check_same_shape(dw, "dw", w, "w");
        if (db) check_shape(db, {g.Cout}, "db");
        ctx->k->conv2d_backward(ctx->exec(), g, x->data(), w->data(), dy->data(), dx ? dx->data() : nullptr,
                                dw ? dw->data() : nullptr, db ? db->data() : nullptr);
    });
}

es_status es_conv2d_forward_blocks(es_handle ctx_h, es_handle x_h, es_handle x2_h, es_handle w_h,
                                   es_handle b_h, es_handle y_h, int activation, es_handle scale_h,
                                   es_handle shift_h, es_handle residual_h) {
    return guard("es_conv2d_forward_blocks", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *x2 = tensor(x2_h, "x2"), *w = tensor(w_h, "w"),
               *y = tensor(y_h, "y");
        Tensor* b = optional_tensor(b_h, "b");
        Tensor *scale = optional_tensor(scale_h, "scale"), *shift = optional_tensor(shift_h, "shift"),
               *residual = optional_tensor(residual_h, "residual");
        for (auto [t, n] : {std::pair{x, "x"}, {x2, "x2"}, {w, "w"}, {y, "y"}, {b, "b"},
                            {scale, "scale"}, {shift, "shift"}, {residual, "residual"}})
            check_placement(ctx, t, n);
        int C2 = 0;
        const ConvGeom g = blocks_geometry(x, x2, w, C2);
        check_shape(y, {g.N, g.H, g.W, g.Cout}, "y");
        const ConvEpilogue e = checked_epilogue(y, g.Cout, b, scale, shift, residual, activation);
        require(y->storage != x->storage && y->storage != x2->storage, ES_ERR_INVALID_ARGUMENT,
                "y must not share storage with x or x2");
        ctx->k->conv2d_forward_blocks(ctx->exec(), g, x->data(), x2->data(), C2, w->data(),
                                      b ? b->data() : nullptr, e, y->data());
    });
}

es_status es_conv2d_backward_bn(es_handle ctx_h, es_handle x_h, es_handle s_h, es_handle w_h,
                                es_handle gr_h, es_handle bn_x_h, es_handle sm_h, es_handle coef_h,
                                int input_relu, es_handle dx_h, es_handle dw_h, es_handle ds_h) {
    return guard("es_conv2d_backward_bn", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *w = tensor(w_h, "w"), *gr = tensor(gr_h, "gr"),
               *bn_x = tensor(bn_x_h, "bn_x"), *sm = tensor(sm_h, "save_mean"),
               *coef = tensor(coef_h, "coef");
        Tensor *s = optional_tensor(s_h, "s"), *dx = optional_tensor(dx_h, "dx"),
               *dw = optional_tensor(dw_h, "dw"), *ds = optional_tensor(ds_h, "ds");
        for (auto [t, n] : {std::pair{x, "x"}, {s, "s"}, {w, "w"}, {gr, "gr"}, {bn_x, "bn_x"},
                            {sm, "save_mean"}, {coef, "coef"}, {dx, "dx"}, {dw, "dw"}, {ds, "ds"}})
            check_placement(ctx, t, n);
        const ConvGeom g = pointwise_geometry(x, s, w, gr, "gr");
        const BnDy bn = checked_bn_dy(gr, bn_x, sm, coef, g.Cout, input_relu);
        if (dx) check_same_shape(dx, "dx", x, "x");
        if (dw) check_same_shape(dw, "dw", w, "w");
        if (ds) {
            require(s != nullptr, ES_ERR_INVALID_ARGUMENT, "ds needs s (the gate)");
            check_same_shape(ds, "ds", s, "s");
            require(dx != nullptr, ES_ERR_INVALID_ARGUMENT, "ds needs dx (it is gathered from it)");
        }
        ctx->k->conv2d_backward_bn(ctx->exec(), g, x->data(), s ? s->data() : nullptr, nullptr, 0,
                                   w->data(), bn, dx ? dx->data() : nullptr, nullptr,
                                   dw ? dw->data() : nullptr, ds ? ds->data() : nullptr);
    });
}

es_status es_conv2d_backward_bn_blocks(es_handle ctx_h, es_handle x_h, es_handle x2_h,
                                       es_handle w_h, es_handle gr_h, es_handle bn_x_h,
                                       es_handle sm_h, es_handle coef_h, int input_relu,
                                       es_handle dx_h, es_handle dx2_h, es_handle dw_h) {
    return guard("es_conv2d_backward_bn_blocks", [&] {
        Context* ctx = context(ctx_h);
        Tensor *x = tensor(x_h, "x"), *x2 = tensor(x2_h, "x2"), *w = tensor(w_h, "w"),
               *gr = tensor(gr_h, "gr"), *bn_x = tensor(bn_x_h, "bn_x"),
               *sm = tensor(sm_h, "save_mean"), *coef = tensor(coef_h, "coef");
        Tensor *dx = optional_tensor(dx_h, "dx"), *dx2 = optional_tensor(dx2_h, "dx2"),
               *dw = optional_tensor(dw_h, "dw");
        for (auto [t, n] : {std::pair{x, "x"}, {x2, "x2"}, {w, "w"}, {gr, "gr"}, {bn_x, "bn_x"},
                            {sm, "save_mean"}, {coef, "coef"}, {dx, "dx"}, {dx2, "dx2"}, {dw, "dw"}})
            check_placement(ctx, t, n);
        int C2 = 0;
        const ConvGeom g = blocks_geometry(x, x2, w, C2);
        check_shape(gr, {g.N, g.H, g.W, g.Cout}, "gr");
        const BnDy bn = checked_bn_dy(gr, bn_x, sm, coef, g.Cout, input_relu);
        require((dx == nullptr) == (dx2 == nullptr), ES_ERR_INVALID_ARGUMENT,
                "dx and dx2 are given together or not at all");
        if (dx) check_same_shape(dx, "dx", x, "x");
        if (dx2) check_same_shape(dx2, "dx2", x2, "x2");
        if (dw) check_same_shape(dw, "dw", w, "w");
        ctx->k->conv2d_backward_bn(ctx->exec(), g, x->data(), nullptr, x2->data(), C2, w->data(),
                                   bn, dx ? dx->data() : nullptr, dx2 ? dx2->data() : nullptr,
                                   dw ? dw->data() : nullptr, nullptr);
    });
}

}  // extern "C"
