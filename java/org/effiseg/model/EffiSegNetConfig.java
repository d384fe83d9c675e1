package org.effiseg.model;

/**
 * What defines an EffiSegNet.
 *
 * @param variant the EfficientNet encoder
 * @param channels the decoder width ({@code ch}; the paper uses 32)
 * @param deepSupervision whether the decoder has the five auxiliary 1x1 heads
 * @param dropConnectRate drop-connect rate of the last encoder block (0.2; 0 disables it)
 * @param seed initial weights and the drop-connect masks
 */
public record EffiSegNetConfig(
    EfficientNetVariant variant,
    int channels,
    boolean deepSupervision,
    float dropConnectRate,
    long seed) {

  public static final int DEFAULT_CHANNELS = 32;
  /** The widest decoder built; wider ones only exhaust memory. */
  public static final int MAX_CHANNELS = 1024;

  public EffiSegNetConfig {
    if (variant == null) {
      throw new IllegalArgumentException("variant must not be null");
    }
    if (channels < 1 || channels > MAX_CHANNELS) {
      throw new IllegalArgumentException("channels must be in 1.." + MAX_CHANNELS + ", got " + channels);
    }
    if (!(dropConnectRate >= 0f && dropConnectRate < 1f)) {
      throw new IllegalArgumentException("dropConnectRate must be in [0, 1), got " + dropConnectRate);
    }
  }

  /** The paper's settings: ch 32, no deep supervision, drop-connect 0.2, seed 0. */
  public static EffiSegNetConfig of(EfficientNetVariant variant) {
    return new EffiSegNetConfig(
        variant, DEFAULT_CHANNELS, false, (float) EfficientNetVariant.DROP_CONNECT_RATE, 0L);
  }

  public EffiSegNetConfig withDeepSupervision(boolean on) {
    return new EffiSegNetConfig(variant, channels, on, dropConnectRate, seed);
  }

  public EffiSegNetConfig withDropConnectRate(float rate) {
    return new EffiSegNetConfig(variant, channels, deepSupervision, rate, seed);
  }

  public EffiSegNetConfig withChannels(int ch) {
    return new EffiSegNetConfig(variant, ch, deepSupervision, dropConnectRate, seed);
  }

  public EffiSegNetConfig withSeed(long s) {
    return new EffiSegNetConfig(variant, channels, deepSupervision, dropConnectRate, s);
  }
}
