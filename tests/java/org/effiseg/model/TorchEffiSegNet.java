package org.effiseg.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.norm.BatchNorm;
import java.util.HashMap;
import java.util.Map;
import org.effiseg.testing.TorchOracle;

/**
 * The same EffiSegNet written independently in PyTorch ops (through DJL, NCHW), from a {@link
 * StateDict}: the oracle of the model parity tests. It follows the reference modules line by
 * line (MONAI MBConvBlock.forward, EffiSegNetBN.forward, GhostModule.forward), with TF SAME
 * padding computed from the actual input size and no drop-connect.
 */
final class TorchEffiSegNet {
  private final TorchOracle torch;
  private final EffiSegNetConfig config;
  private final Map<String, NDArray> params = new HashMap<>();
  private final String prefix;

  /** An EffiSegNet ({@code classifier} false, names as EffiSegNet) or classifier. */
  TorchEffiSegNet(TorchOracle torch, EffiSegNetConfig config, StateDict sd, boolean classifier) {
    this.torch = torch;
    this.config = config;
    this.prefix = classifier ? "" : "encoder.";
    for (String name : sd.names()) {
      TensorData t = sd.get(name);
      NDArray a = torch.array(t.data(), t.shape());
      if (!name.endsWith("running_mean") && !name.endsWith("running_var")) {
        a.setRequiresGradient(true);
      }
      params.put(name, a);
    }
  }

  NDArray param(String name) {
    NDArray a = params.get(name);
    if (a == null) {
      throw new IllegalArgumentException("reference has no " + name);
    }
    return a;
  }

  private static NDArray conv(NDArray x, NDArray w, NDArray b, int stride, int pad, int groups) {
    NDList out =
        Conv2d.conv2d(
            x, w, b, new Shape(stride, stride), new Shape(pad, pad), new Shape(1, 1), groups);
    return out.singletonOrThrow();
  }

  /** TF SAME: pad bottom/right with the odd extra, computed from x's size. */
  private static NDArray convSame(NDArray x, NDArray w, int stride, int groups) {
    long h = x.getShape().get(2);
    long wd = x.getShape().get(3);
    long k = w.getShape().get(2);
    long padH = Math.max(((h + stride - 1) / stride - 1) * stride + k - h, 0);
    long padW = Math.max(((wd + stride - 1) / stride - 1) * stride + k - wd, 0);
    NDArray xp = x;
    if (padH > 0 || padW > 0) {
      xp = x.pad(new Shape(padW / 2, padW - padW / 2, padH / 2, padH - padH / 2), 0);
    }
    return conv(xp, w, null, stride, 0, groups);
  }

  private NDArray bn(NDArray x, String name, boolean training, float momentum, float eps) {
    // DJL passes (1 - momentum) to torch::batch_norm.
    return BatchNorm.batchNorm(
            x,
            param(name + ".running_mean"),
            param(name + ".running_var"),
            param(name + ".weight"),
            param(name + ".bias"),
            1,
            1f - momentum,
            eps,
            training)
        .singletonOrThrow();
  }

  private NDArray encBn(NDArray x, String name, boolean training) {
    return bn(x, name, training, 0.01f, 1e-3f);
  }

  private NDArray decBn(NDArray x, String name, boolean training) {
    return bn(x, name, training, 0.1f, 1e-5f);
  }

  private static NDArray swish(NDArray x) {
    return x.mul(Activation.sigmoid(x));
  }

  /** The five encoder features (MONAI EfficientNetBNFeatures.forward). */
  NDArray[] encoder(NDArray x, boolean training) {
    EfficientNetVariant v = config.variant();
    NDArray h = convSame(x, param(prefix + "_conv_stem.weight"), 2, 1);
    h = swish(encBn(h, prefix + "_bn0", training));
    NDArray[] features = new NDArray[5];
    int idx = 0;
    int f = 0;
    BlockArgs[] stages = v.stages();
    for (int s = 0; s < stages.length; s++) {
      BlockArgs b = stages[s];
      for (int r = 0; r < b.repeats(); r++) {
        int in = r == 0 ? b.inChannels() : b.outChannels();
        int stride = r == 0 ? b.stride() : 1;
        h = mbconv(h, prefix + "_blocks." + idx, in, b.outChannels(), stride, b.expandRatio(), training);
        idx++;
      }
      if (s == 0 || s == 1 || s == 2 || s == 4 || s == 6) {
        features[f++] = h;
      }
    }
    return features;
  }

  private NDArray mbconv(
      NDArray inputs, String p, int in, int out, int stride, int expand, boolean training) {
    NDArray x = inputs;
    if (expand != 1) {
      x = conv(x, param(p + "._expand_conv.weight"), null, 1, 0, 1);
      x = swish(encBn(x, p + "._bn0", training));
    }
    long mid = x.getShape().get(1);
    x = convSame(x, param(p + "._depthwise_conv.weight"), stride, (int) mid);
    x = swish(encBn(x, p + "._bn1", training));
    long hw = x.getShape().get(2) * x.getShape().get(3);
    NDArray sq = x.sum(new int[] {2, 3}, true).div(hw);
    sq = conv(sq, param(p + "._se_reduce.weight"), param(p + "._se_reduce.bias"), 1, 0, 1);
    sq = swish(sq);
    sq = conv(sq, param(p + "._se_expand.weight"), param(p + "._se_expand.bias"), 1, 0, 1);
    x = Activation.sigmoid(sq).mul(x);
    x = conv(x, param(p + "._project_conv.weight"), null, 1, 0, 1);
    x = encBn(x, p + "._bn2", training);
    if (stride == 1 && in == out) {
      x = x.add(inputs);
    }
    return x;
  }

  /** Nearest upsampling by an integer factor: each pixel repeated f×f times. */
  private static NDArray upsample(NDArray x, long outH, long outW) {
    Shape s = x.getShape();
    long n = s.get(0), c = s.get(1), h = s.get(2), w = s.get(3);
    long fh = outH / h, fw = outW / w;
    if (fh * h != outH || fw * w != outW) {
      throw new IllegalArgumentException("reference upsampling needs integer factors");
    }
    return x.reshape(n, c, h, 1, w, 1).broadcast(n, c, h, fh, w, fw).reshape(n, c, outH, outW);
  }

  private NDArray ghost(NDArray x, String p, boolean training) {
    NDArray x1 = conv(x, param(p + ".primary_conv.0.weight"), null, 1, 0, 1);
    x1 = decBn(Activation.relu(x1), p + ".primary_conv.2", training);
    long init = x1.getShape().get(1);
    NDArray x2 = conv(x1, param(p + ".cheap_operation.0.weight"), null, 1, 1, (int) init);
    x2 = decBn(Activation.relu(x2), p + ".cheap_operation.2", training);
    NDArray cat = NDArrays.concat(new NDList(x1, x2), 1);
    return cat.get(":, 0:" + config.channels());
  }

  /** Logits NCHW [N,1,H,W]; {@code aux}, if non-null and deep supervision is on, gets 5 maps. */
  NDArray forward(NDArray x, boolean training, NDArray[] aux) {
    long h = x.getShape().get(2);
    long w = x.getShape().get(3);
    NDArray[] f = encoder(x, training);
    NDArray sum = null;
    NDArray[] up = new NDArray[5];
    for (int i = 0; i < 5; i++) {
      NDArray c = conv(f[i], param("conv" + (i + 1) + ".weight"), null, 1, 1, 1);
      c = decBn(Activation.relu(c), "bn" + (i + 1), training);
      up[i] = upsample(c, h, w);
      sum = sum == null ? up[i] : sum.add(up[i]);
    }
    NDArray y = decBn(sum, "bn6", training);
    y = ghost(y, "ghost1", training);
    y = ghost(y, "ghost2", training);
    y = conv(y, param("conv6.weight"), null, 1, 0, 1);
    if (config.deepSupervision() && aux != null) {
      for (int i = 0; i < 5; i++) {
        NDArray a = decBn(up[i], "bn" + (i + 7), training);
        aux[i] = conv(a, param("conv" + (i + 7) + ".weight"), null, 1, 0, 1);
      }
    }
    return y;
  }

  /** Classifier logits [N, classes] in eval mode. */
  NDArray classify(NDArray x) {
    NDArray[] f = encoder(x, false);
    NDArray h = conv(f[4], param("_conv_head.weight"), null, 1, 0, 1);
    h = swish(encBn(h, "_bn1", false));
    long hw = h.getShape().get(2) * h.getShape().get(3);
    NDArray pooled = h.sum(new int[] {2, 3}).div(hw);
    return pooled.matMul(param("_fc.weight").transpose()).add(param("_fc.bias"));
  }

  /**
   * DiceCE as es_seg_loss defines it (w_dice = w_bce = 1): MONAI Dice with sigmoid per sample
   * (smooth 1e-5) averaged over the batch, plus BCE-with-logits averaged over all pixels.
   */
  static NDArray diceCe(NDArray logits, NDArray target) {
    NDArray p = Activation.sigmoid(logits);
    int[] spatial = {1, 2, 3};
    NDArray inter = p.mul(target).sum(spatial);
    NDArray denom = p.sum(spatial).add(target.sum(spatial));
    NDArray dice = inter.mul(2).add(1e-5f).div(denom.add(1e-5f)).neg().add(1).mean();
    NDArray bce =
        logits.maximum(0).sub(logits.mul(target)).add(logits.abs().neg().exp().add(1).log()).mean();
    return dice.add(bce);
  }

}
