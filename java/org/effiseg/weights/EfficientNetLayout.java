package org.effiseg.weights;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.effiseg.model.BlockArgs;
import org.effiseg.model.EfficientNetVariant;

/**
 * The tensors an EfficientNet-B0..B7 has, named in the canonical efficientnet_pytorch scheme with
 * PyTorch shapes, derived from the model's {@link EfficientNetVariant} (scaling rules, stage
 * table). Importers use it to convert between naming schemes and to say exactly what a file
 * lacks or has too much of, before the model sees the weights.
 */
public final class EfficientNetLayout {
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

  private final EfficientNetVariant variant;
  private final int stemChannels;
  private final int headChannels;
  private final List<Block> blocks;

  private EfficientNetLayout(EfficientNetVariant variant) {
    this.variant = variant;
    this.stemChannels = variant.stemChannels();
    this.headChannels = variant.headChannels();
    List<Block> list = new ArrayList<>();
    BlockArgs[] stages = variant.stages();
    for (int s = 0; s < stages.length; s++) {
      BlockArgs st = stages[s];
      for (int j = 0; j < st.repeats(); j++) {
        int blockIn = j == 0 ? st.inChannels() : st.outChannels();
        int squeeze = Math.max(1, (int) (blockIn * BlockArgs.SE_RATIO));
        list.add(new Block(list.size(), s, j, blockIn, st.outChannels(), st.expandRatio(),
            st.kernel(), j == 0 ? st.stride() : 1, squeeze));
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
    return new EfficientNetLayout(EfficientNetVariant.values()[variant]);
  }

  public static EfficientNetLayout of(EfficientNetVariant variant) {
    return new EfficientNetLayout(variant);
  }

  /** Parses "b4", "B4" or "efficientnet-b4". */
  public static EfficientNetLayout of(String name) {
    return new EfficientNetLayout(EfficientNetVariant.parse(name));
  }

  /** 0..7. */
  public int variant() {
    return variant.ordinal();
  }

  public EfficientNetVariant efficientNetVariant() {
    return variant;
  }

  /** "b0".."b7". */
  public String name() {
    return "b" + variant.ordinal();
  }

  public int resolution() {
    return variant.resolution();
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
    int[] r = new int[variant.stages().length];
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
