package org.effiseg.model;

/**
 * One stage of MBConv blocks in EfficientNet's table: kernel, stride of the first block,
 * expansion ratio, input and output channels, and the number of repeats (already scaled for a
 * variant where {@link EfficientNetVariant#stages()} made it).
 */
public record BlockArgs(
    int kernel, int stride, int expandRatio, int inChannels, int outChannels, int repeats) {

  /** The B0 table (efficientnet_pytorch / MONAI "r1_k3_s11_e1_i32_o16_se0.25", ...). */
  static final BlockArgs[] B0 = {
    new BlockArgs(3, 1, 1, 32, 16, 1),
    new BlockArgs(3, 2, 6, 16, 24, 2),
    new BlockArgs(5, 2, 6, 24, 40, 2),
    new BlockArgs(3, 2, 6, 40, 80, 3),
    new BlockArgs(5, 1, 6, 80, 112, 3),
    new BlockArgs(5, 2, 6, 112, 192, 4),
    new BlockArgs(3, 1, 6, 192, 320, 1),
  };

  /** The squeeze-excite ratio of every block, relative to the block's input channels. */
  public static final double SE_RATIO = 0.25;
}
