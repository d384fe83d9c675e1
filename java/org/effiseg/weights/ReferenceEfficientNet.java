package org.effiseg.weights;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.ConvSpec;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * A straight-line EfficientNet forward pass over a canonical {@link StateDict}, built from the
 * core's ops, for BatchNorm calibration: it lets a caller see every BN's input (the conv output
 * W'x) while the network runs in eval mode, which the model's training API does not expose. No
 * backward, no drop-connect; SAME padding as efficientnet_pytorch.
 */
final class ReferenceEfficientNet implements AutoCloseable {
  /** Sees each BN's input before it is normalised. */
  interface BnObserver {
    void beforeBn(String bnPrefix, Tensor bnInput);
  }

  private final Context ctx;
  private final EfficientNetLayout layout;
  private final Map<String, Tensor> tensors = new LinkedHashMap<>();
  private final boolean hasHead;

  ReferenceEfficientNet(Context ctx, StateDict canonical, EfficientNetLayout layout) {
    this.ctx = ctx;
    this.layout = layout;
    this.hasHead = canonical.contains("_fc.weight");
    try {
      for (String name : canonical.names()) {
        TensorData t = canonical.get(name);
        float[] data = t.data();
        long[] shape = t.shape();
        if (shape.length == 4) { // conv OIHW -> native [KH, KW, Cin/groups, Cout]
          data = oihwToNative(t);
          shape = new long[] {shape[2], shape[3], shape[1], shape[0]};
        } else if (shape.length == 2) { // linear [out, in] -> 1x1 conv [1, 1, in, out]
          data = oihwToNative(new TensorData(new long[] {shape[0], shape[1], 1, 1}, data));
          shape = new long[] {1, 1, shape[1], shape[0]};
        }
        tensors.put(name, ctx.tensor(data, shape));
      }
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  static float[] oihwToNative(TensorData t) {
    long[] s = t.shape();
    int co = (int) s[0];
    int ci = (int) s[1];
    int kh = (int) s[2];
    int kw = (int) s[3];
    float[] src = t.data();
    float[] dst = new float[src.length];
    for (int o = 0; o < co; o++) {
      for (int i = 0; i < ci; i++) {
        for (int y = 0; y < kh; y++) {
          for (int x = 0; x < kw; x++) {
            dst[((y * kw + x) * ci + i) * co + o] = src[((o * ci + i) * kh + y) * kw + x];
          }
        }
      }
    }
    return dst;
  }

  /** The last block's output [N, H/32, W/32, C] (a new tensor) for normalised NHWC images. */
  Tensor features(Tensor images, boolean training, BnObserver observer) {
    List<Tensor> live = new ArrayList<>();
    try {
      Tensor x = conv(images, "_conv_stem", 3, 2, 1, false);
      live.add(x);
      Tensor h = bn(x, "_bn0", Activation.SWISH, training, observer);
      release(live);
      for (EfficientNetLayout.Block b : layout.blocks()) {
        Tensor out = block(h, b, training, observer);
        h.close();
        h = out;
      }
      return h;
    } finally {
      release(live);
    }
  }

  /** Whether the weights include the classification head (head conv, BN, FC). */
  boolean hasHead() {
    return hasHead;
  }

  /** The head's swish(BN(conv)) activations [N, H/32, W/32, head channels] (a new tensor). */
  Tensor headActivations(Tensor images, boolean training, BnObserver observer) {
    if (!hasHead) {
      throw new IllegalStateException("these weights have no classification head");
    }
    try (Tensor f = features(images, training, observer);
        Tensor h = conv(f, "_conv_head", 1, 1, 1, false)) {
      return bn(h, "_bn1", Activation.SWISH, training, observer);
    }
  }

  /** ImageNet logits [N * classes], row-major, in eval mode (requires the head). */
  float[] logits(Tensor images) {
    try (Tensor a = headActivations(images, false, null);
        Tensor pooled = ctx.tensor(a.dim(0), 1, 1, a.dim(3));
        Tensor out = ctx.tensor(a.dim(0), 1, 1, tensors.get("_fc.bias").dim(0))) {
      Ops.globalAvgPoolForward(ctx, a, pooled);
      Ops.conv2dForward(ctx, pooled, tensors.get("_fc.weight"), tensors.get("_fc.bias"), out,
          ConvSpec.symmetric(0, 1, 1));
      return out.read();
    }
  }

  private Tensor block(Tensor in, EfficientNetLayout.Block b, boolean training,
      BnObserver observer) {
    String p = "_blocks." + b.index() + ".";
    int mid = b.expandedChannels();
    List<Tensor> live = new ArrayList<>();
    try {
      Tensor h = in;
      if (b.hasExpansion()) {
        Tensor e = conv(in, p + "_expand_conv", 1, 1, 1, false);
        live.add(e);
        h = bn(e, p + "_bn0", Activation.SWISH, training, observer);
        live.add(h);
      }
      Tensor d = conv(h, p + "_depthwise_conv", b.kernel(), b.stride(), mid, false);
      live.add(d);
      Tensor a = bn(d, p + "_bn1", Activation.SWISH, training, observer);
      live.add(a);
      // squeeze-excite: pool -> 1x1 reduce -> swish -> 1x1 expand -> sigmoid -> scale
      Tensor pooled = ctx.tensor(a.dim(0), 1, 1, mid);
      live.add(pooled);
      Ops.globalAvgPoolForward(ctx, a, pooled);
      Tensor r = conv(pooled, p + "_se_reduce", 1, 1, 1, true);
      live.add(r);
      Tensor rs = ctx.tensor(r.shape());
      live.add(rs);
      Ops.activationForward(ctx, Activation.SWISH, r, rs);
      Tensor g = conv(rs, p + "_se_expand", 1, 1, 1, true);
      live.add(g);
      Tensor gs = ctx.tensor(g.shape());
      live.add(gs);
      Ops.activationForward(ctx, Activation.SIGMOID, g, gs);
      Tensor scaled = ctx.tensor(a.shape());
      live.add(scaled);
      Ops.channelScaleForward(ctx, a, gs, scaled);
      Tensor proj = conv(scaled, p + "_project_conv", 1, 1, 1, false);
      live.add(proj);
      Tensor out = bn(proj, p + "_bn2", Activation.NONE, training, observer);
      if (b.stride() == 1 && b.inChannels() == b.outChannels()) {
        Ops.add(ctx, out, in, out);
      }
      return out;
    } finally {
      release(live);
    }
  }

  private Tensor conv(Tensor x, String name, int k, int stride, int groups, boolean bias) {
    Tensor w = tensors.get(name + ".weight");
    ConvSpec spec =
        ConvSpec.same((int) x.dim(1), (int) x.dim(2), k, k, stride, groups);
    Tensor y = ctx.tensor(x.dim(0), spec.outH((int) x.dim(1), k), spec.outW((int) x.dim(2), k),
        w.dim(3));
    try {
      Ops.conv2dForward(ctx, x, w, bias ? tensors.get(name + ".bias") : null, y, spec);
    } catch (RuntimeException e) {
      y.close();
      throw e;
    }
    return y;
  }

  private Tensor bn(Tensor x, String prefix, Activation act, boolean training,
      BnObserver observer) {
    if (observer != null) {
      observer.beforeBn(prefix, x);
    }
    Tensor y = ctx.tensor(x.shape());
    long c = x.dim(3);
    try (Tensor saveMean = training ? ctx.tensor(c) : null;
        Tensor saveInvstd = training ? ctx.tensor(c) : null) {
      // momentum 0: training mode here normalises with batch statistics but leaves the running
      // statistics as they are.
      Ops.batchnormForward(ctx, x, tensors.get(prefix + ".weight"), tensors.get(prefix + ".bias"),
          tensors.get(prefix + ".running_mean"), tensors.get(prefix + ".running_var"), y, saveMean,
          saveInvstd, training, 0f, TfjsImporter.BN_EPS, act);
    } catch (RuntimeException e) {
      y.close();
      throw e;
    }
    return y;
  }

  private static void release(List<Tensor> live) {
    for (Tensor t : live) {
      t.close();
    }
    live.clear();
  }

  @Override
  public void close() {
    for (Tensor t : tensors.values()) {
      t.close();
    }
    tensors.clear();
  }
}
