package org.effiseg.model;

import java.util.Locale;

/**
 * EfficientNet B0–B7: width and depth coefficients, native resolution and classifier dropout, as
 * in efficientnet_pytorch / MONAI ({@code efficientnet_params}). Channels are rounded with
 * {@link #roundFilters} and repeats with {@link #roundRepeats}.
 */
public enum EfficientNetVariant {
  B0(1.0, 1.0, 224, 0.2),
  B1(1.0, 1.1, 240, 0.2),
  B2(1.1, 1.2, 260, 0.3),
  B3(1.2, 1.4, 300, 0.3),
  B4(1.4, 1.8, 380, 0.4),
  B5(1.6, 2.2, 456, 0.4),
  B6(1.8, 2.6, 528, 0.5),
  B7(2.0, 3.1, 600, 0.5);

  /** Channel rounding divisor (depth_divisor). */
  public static final int DIVISOR = 8;

  /** Drop-connect rate of the last block; block i uses {@code rate * i / numBlocks}. */
  public static final double DROP_CONNECT_RATE = 0.2;

  private final double width;
  private final double depth;
  private final int resolution;
  private final double dropout;

  EfficientNetVariant(double width, double depth, int resolution, double dropout) {
    this.width = width;
    this.depth = depth;
    this.resolution = resolution;
    this.dropout = dropout;
  }

  public double width() {
    return width;
  }

  public double depth() {
    return depth;
  }

  /** The native input resolution (square). */
  public int resolution() {
    return resolution;
  }

  /** The classifier's dropout rate (unused by EffiSegNet). */
  public double dropout() {
    return dropout;
  }

  /** "efficientnet-b0" style name. */
  public String modelName() {
    return "efficientnet-" + name().toLowerCase(Locale.ROOT);
  }

  /** Parses "b4", "B4" or "efficientnet-b4". */
  public static EfficientNetVariant parse(String s) {
    String t = s.trim().toUpperCase(Locale.ROOT);
    if (t.startsWith("EFFICIENTNET-")) {
      t = t.substring("EFFICIENTNET-".length());
    }
    try {
      return valueOf(t);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown EfficientNet variant '" + s + "' (b0..b7)");
    }
  }

  /** round_filters: scale by width, round to a multiple of 8, never dropping below 90 %. */
  public int roundFilters(int filters) {
    double scaled = filters * width;
    int rounded = Math.max(DIVISOR, (int) (scaled + DIVISOR / 2.0) / DIVISOR * DIVISOR);
    if (rounded < 0.9 * scaled) {
      rounded += DIVISOR;
    }
    return rounded;
  }

  /** round_repeats: ceil(depth * repeats). */
  public int roundRepeats(int repeats) {
    return (int) Math.ceil(depth * repeats);
  }

  /** The seven stages with channels and repeats scaled for this variant. */
  public BlockArgs[] stages() {
    BlockArgs[] out = new BlockArgs[BlockArgs.B0.length];
    for (int i = 0; i < out.length; i++) {
      BlockArgs b = BlockArgs.B0[i];
      out[i] =
          new BlockArgs(
              b.kernel(),
              b.stride(),
              b.expandRatio(),
              roundFilters(b.inChannels()),
              roundFilters(b.outChannels()),
              roundRepeats(b.repeats()));
    }
    return out;
  }

  /** Total number of MBConv blocks. */
  public int numBlocks() {
    int n = 0;
    for (BlockArgs b : stages()) {
      n += b.repeats();
    }
    return n;
  }

  public int stemChannels() {
    return roundFilters(32);
  }

  public int headChannels() {
    return roundFilters(1280);
  }

  /**
   * Channels of the five feature maps the encoder returns (strides 2, 4, 8, 16, 32): the outputs
   * of stages 0, 1, 2, 4 and 6, as MONAI's EfficientNetBNFeatures returns them.
   */
  public int[] featureChannels() {
    BlockArgs[] s = stages();
    int[] stagesOut = EfficientNetEncoder.FEATURE_STAGES;
    int[] out = new int[stagesOut.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = s[stagesOut[i]].outChannels();
    }
    return out;
  }
}
