package org.effiseg.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.testing.TorchOracle;

/**
 * EfficientNet's eval-mode classifier in PyTorch (through DJL), written from efficientnet_pytorch's
 * forward: an oracle for imported weights that does not depend on effiseg's kernels.
 */
final class TorchEfficientNet {
  private final TorchOracle torch;
  private final StateDict w;
  private final EfficientNetLayout layout;

  TorchEfficientNet(TorchOracle torch, StateDict canonical, EfficientNetLayout layout) {
    this.torch = torch;
    this.w = canonical;
    this.layout = layout;
  }

  private NDArray p(String name) {
    TensorData t = w.get(name);
    return torch.array(t.data(), t.shape());
  }

  /** Conv2dStaticSamePadding: pad (extra at bottom/right), then convolve. */
  private NDArray conv(NDArray x, String name, int k, int stride, int groups, boolean bias) {
    long h = x.getShape().get(2);
    long wd = x.getShape().get(3);
    long padH = Math.max(((h + stride - 1) / stride - 1) * stride + k - h, 0);
    long padW = Math.max(((wd + stride - 1) / stride - 1) * stride + k - wd, 0);
    NDArray padded = x.pad(new Shape(padW / 2, padW - padW / 2, padH / 2, padH - padH / 2), 0);
    return Conv2d.conv2d(padded, p(name + ".weight"), bias ? p(name + ".bias") : null,
        new Shape(stride, stride), new Shape(0, 0), new Shape(1, 1), groups).singletonOrThrow();
  }

  private NDArray bn(NDArray x, String prefix) {
    return BatchNorm.batchNorm(x, p(prefix + ".running_mean"), p(prefix + ".running_var"),
        p(prefix + ".weight"), p(prefix + ".bias"), 1, 0.01f, TfjsImporter.BN_EPS, false)
        .singletonOrThrow();
  }

  private static NDArray swish(NDArray x) {
    return x.mul(Activation.sigmoid(x));
  }

  private static NDArray meanHw(NDArray x) {
    return x.sum(new int[] {2, 3}, true).div(x.getShape().get(2) * x.getShape().get(3));
  }

  /** Logits [N, 1000] for normalised NHWC images. */
  float[] logits(float[] nhwc, int n, int h, int wd) {
    NDArray x = torch.fromNhwc(nhwc, n, h, wd, 3);
    x = swish(bn(conv(x, "_conv_stem", 3, 2, 1, false), "_bn0"));
    for (EfficientNetLayout.Block b : layout.blocks()) {
      String q = "_blocks." + b.index() + ".";
      NDArray in = x;
      if (b.hasExpansion()) {
        x = swish(bn(conv(x, q + "_expand_conv", 1, 1, 1, false), q + "_bn0"));
      }
      x = swish(bn(conv(x, q + "_depthwise_conv", b.kernel(), b.stride(), b.expandedChannels(),
          false), q + "_bn1"));
      NDArray s = swish(conv(meanHw(x), q + "_se_reduce", 1, 1, 1, true));
      x = x.mul(Activation.sigmoid(conv(s, q + "_se_expand", 1, 1, 1, true)));
      x = bn(conv(x, q + "_project_conv", 1, 1, 1, false), q + "_bn2");
      if (b.stride() == 1 && b.inChannels() == b.outChannels()) {
        x = x.add(in);
      }
    }
    x = swish(bn(conv(x, "_conv_head", 1, 1, 1, false), "_bn1"));
    NDArray pooled = meanHw(x).reshape(n, -1);
    return Linear.linear(pooled, p("_fc.weight"), p("_fc.bias")).singletonOrThrow()
        .toFloatArray();
  }
}
