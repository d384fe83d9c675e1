package org.effiseg.model;

import org.effiseg.nativeapi.Tensor;

/**
 * A tensor [N, H, W, C] given as two blocks of its channels, {@code first} then {@code second},
 * that are never written side by side: a pointwise convolution reads each block with the
 * matching rows of its weight matrix ({@link Conv2dLayer#forward(Workspace, ChannelBlocks,
 * org.effiseg.nativeapi.Activation)}). {@code second} is null when the tensor is one block.
 */
record ChannelBlocks(Tensor first, Tensor second) {
  static ChannelBlocks of(Tensor t) {
    return new ChannelBlocks(t, null);
  }

  boolean split() {
    return second != null;
  }
}
