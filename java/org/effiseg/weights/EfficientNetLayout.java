package org.effiseg.weights;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The tensors an EfficientNet-B0..B7 has, derived from the scaling rules alone (the B0 stage
 * table, width/depth coefficients, channels rounded to multiples of 8 with the 10 % rule, repeats
 * rounded up), named in the canonical efficientnet_pytorch scheme with PyTorch shapes. Importers
 * use it to convert between naming schemes and to say exactly what a file lacks or has too much
 * of, independently of how the model lays out its parameters.
 */
public final class EfficientNetLayout {
  /** B0's stages: kernel, stride, expand ratio, input and output channels, repeats. */
  private static final int[][] B0_STAGES = {
    {3, 1, 1, 32, 16, 1},
    {3, 2, 6, 16, 24, 2},
    {5, 2, 6, 24, 40, 2},
    {3, 2, 6, 40, 80, 3},
    {5, 1, 6, 80, 112, 3},
    {5, 2, 6, 112, 192, 4},
    {3, 1, 6, 192, 320, 1},
  };

  private static final double[] WIDTH = {1.0, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0};
  private static final double[] DEPTH = {1.0, 1.1, 1.2, 1.4, 1.8, 2.2, 2.6, 3.1};
  private static final int[] RESOLUTION = {224, 240, 260, 300, 380, 456, 528, 600};

  /** Number of ImageNet classes of the classification head. */
  public static final int IMAGENET_CLASSES = 1000;

  /** One MBConv block; {@code index} is the flat index used by {@code _blocks.N}. */
  public record Block(
      int index,
      int stage,
      int indexInStage,
      int inChannels,
      int outChannels,
      int expandRatio,
      int kernel,
      int stride,
      int squeezeChannels) {
    /** Channels after the expansion conv (the depthwise conv's channels). */
    public int expandedChannels() {
      return inChannels * expandRatio;
    }

    public boolean hasExpansion() {
      return expandRatio != 1;
    }
  }

  private final int variant;
  private final int stemChannels;
  private final int headChannels;
  private final List<Block> blocks;

  private EfficientNetLayout(int variant) {
    this.variant = variant;
    double w = WIDTH[variant];
    double d = DEPTH[variant];
    this.stemChannels = roundFilters(32, w);
    this.headChannels = roundFilters(1280, w);
    List<Block> list = new ArrayList<>();
    for (int s = 0; s < B0_STAGES.length; s++) {
      int[] st = B0_STAGES[s];
      int in = roundFilters(st[3], w);
      int out = roundFilters(st[4], w);
      int repeats = (int) Math.ceil(d * st[5]);
      for (int j = 0; j < repeats; j++) {
        int blockIn = j == 0 ? in : out;
        int squeeze = Math.max(1, (int) (blockIn * 0.25));
        list.add(new Block(list.size(), s, j, blockIn, out, st[2], st[0], j == 0 ? st[1] : 1,
            squeeze));
      }
    }
    this.blocks = Collections.unmodifiableList(list);
  }

  /** B{@code variant} for variant 0..7. */
  public static EfficientNetLayout of(int variant) {
    if (variant < 0 || variant > 7) {
      throw new IllegalArgumentException("EfficientNet variant must be 0..7 (B0..B7), got "
          + variant);
    }
    return new EfficientNetLayout(variant);
  }

  /** The layout of one of the model's variants. */
  public static EfficientNetLayout of(org.effiseg.model.EfficientNetVariant variant) {
    return of(variant.ordinal());
  }

  /** Parses "b4", "B4", "efficientnet-b4" or "4". */
  public static EfficientNetLayout of(String name) {
    String s = name.trim().toLowerCase(Locale.ROOT);
    if (s.startsWith("efficientnet-")) {
      s = s.substring("efficientnet-".length());
    }
    if (s.startsWith("b")) {
      s = s.substring(1);
    }
    if (s.length() == 1 && Character.isDigit(s.charAt(0))) {
      return of(s.charAt(0) - '0');
    }
    throw new IllegalArgumentException("unknown EfficientNet variant '" + name
        + "' (expected b0..b7)");
  }

  /** efficientnet_pytorch's round_filters: multiple of 8, at least 8, never below 90 %. */
  static int roundFilters(int filters, double width) {
    double scaled = filters * width;
    int rounded = Math.max(8, (int) (scaled + 4) / 8 * 8);
    if (rounded < 0.9 * scaled) {
      rounded += 8;
    }
    return rounded;
  }

  public int variant() {
    return variant;
  }

  /** "b0".."b7". */
  public String name() {
    return "b" + variant;
  }

  public int resolution() {
    return RESOLUTION[variant];
  }

  public int stemChannels() {
    return stemChannels;
  }

  public int headChannels() {
    return headChannels;
  }

  public List<Block> blocks() {
    return blocks;
  }

  /** Blocks per stage (7 stages). */
  public int[] stageRepeats() {
    int[] r = new int[B0_STAGES.length];
    for (Block b : blocks) {
      r[b.stage()]++;
    }
    return r;
  }

  /** The flat block index of block {@code indexInStage} of {@code stage}, or -1. */
  public int flatIndex(int stage, int indexInStage) {
    for (Block b : blocks) {
      if (b.stage() == stage && b.indexInStage() == indexInStage) {
        return b.index();
      }
    }
    return -1;
  }

  /**
   * Every tensor of the encoder in canonical names and PyTorch shapes, in module order: stem,
   * blocks, and, if {@code withHead}, the head conv, its BN and the ImageNet classifier
   * ({@code _fc}). BatchNorm entries are weight, bias, running_mean, running_var.
   */
  public Map<String, long[]> canonicalShapes(boolean withHead) {
    Map<String, long[]> m = new LinkedHashMap<>();
    m.put("_conv_stem.weight", new long[] {stemChannels, 3, 3, 3});
    putBn(m, "_bn0", stemChannels);
    for (Block b : blocks) {
      String p = "_blocks." + b.index() + ".";
      int mid = b.expandedChannels();
      if (b.hasExpansion()) {
        m.put(p + "_expand_conv.weight", new long[] {mid, b.inChannels(), 1, 1});
        putBn(m, p + "_bn0", mid);
      }
      m.put(p + "_depthwise_conv.weight", new long[] {mid, 1, b.kernel(), b.kernel()});
      putBn(m, p + "_bn1", mid);
      m.put(p + "_se_reduce.weight", new long[] {b.squeezeChannels(), mid, 1, 1});
      m.put(p + "_se_reduce.bias", new long[] {b.squeezeChannels()});
      m.put(p + "_se_expand.weight", new long[] {mid, b.squeezeChannels(), 1, 1});
      m.put(p + "_se_expand.bias", new long[] {mid});
      m.put(p + "_project_conv.weight", new long[] {b.outChannels(), mid, 1, 1});
      putBn(m, p + "_bn2", b.outChannels());
    }
    if (withHead) {
      int last = blocks.get(blocks.size() - 1).outChannels();
      m.put("_conv_head.weight", new long[] {headChannels, last, 1, 1});
      putBn(m, "_bn1", headChannels);
      m.put("_fc.weight", new long[] {IMAGENET_CLASSES, headChannels});
      m.put("_fc.bias", new long[] {IMAGENET_CLASSES});
    }
    return m;
  }

  /** The BN prefixes (without ".weight" etc.) in module order. */
  public List<String> batchNormPrefixes(boolean withHead) {
    List<String> out = new ArrayList<>();
    for (String name : canonicalShapes(withHead).keySet()) {
      if (name.endsWith(".running_mean")) {
        out.add(name.substring(0, name.length() - ".running_mean".length()));
      }
    }
    return out;
  }

  /** Trainable parameters (BN running statistics excluded). */
  public long parameterCount(boolean withHeadConv, boolean withFc) {
    long n = 0;
    for (Map.Entry<String, long[]> e : canonicalShapes(true).entrySet()) {
      String k = e.getKey();
      if (k.endsWith("running_mean") || k.endsWith("running_var")) {
        continue;
      }
      if (!withFc && k.startsWith("_fc.")) {
        continue;
      }
      if (!withHeadConv && (k.startsWith("_conv_head.") || k.startsWith("_bn1."))) {
        continue;
      }
      long c = 1;
      for (long d : e.getValue()) {
        c *= d;
      }
      n += c;
    }
    return n;
  }

  private static void putBn(Map<String, long[]> m, String prefix, int channels) {
    for (String s : new String[] {"weight", "bias", "running_mean", "running_var"}) {
      m.put(prefix + "." + s, new long[] {channels});
    }
  }
}
