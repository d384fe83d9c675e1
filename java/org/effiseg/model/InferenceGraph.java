package org.effiseg.model;

import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.ConvSpec;

/**
 * What the network's eval-mode forward pass is made of, op by op, for writing it out as a static
 * graph (the ONNX export). {@link EffiSegNet#describe} walks the same layer objects the native
 * forward pass runs, so the two cannot drift apart: each layer says which op it is, with its
 * state-dict names, padding and geometry at the given input size. Values are NCHW; the batch
 * dimension is the graph's business.
 */
public interface InferenceGraph {
  /** A tensor of the graph: its name there and its channels, height and width. */
  record Value(String name, int channels, int height, int width) {}

  /**
   * Convolution with the weights {@code weight} (PyTorch layout) and, unless null, the bias
   * {@code bias}; when {@code foldedBatchNorm} is not null, the eval-mode batch norm of that
   * prefix (with {@code eps}) that follows it, folded in. Output size from {@code spec}.
   */
  Value conv(Value x, String weight, String bias, int outChannels, int kernel, ConvSpec spec,
      String foldedBatchNorm, double eps);

  /** Eval-mode batch norm of the prefix's parameters and running statistics, alone. */
  Value batchNorm(Value x, String prefix, double eps);

  /** {@code x} through the activation (NONE returns {@code x}). */
  Value activation(Value x, Activation activation);

  Value add(Value a, Value b);

  /** Mean over height and width: [C, 1, 1]. */
  Value globalAveragePool(Value x);

  /** {@code x} times a per-channel gate of shape [C, 1, 1]. */
  Value scaleChannels(Value x, Value gate);

  /** Nearest-neighbour resize to {@code height} x {@code width}, effiseg's index rule. */
  Value upsampleNearest(Value x, int height, int width);

  /** The channels of {@code a} then {@code b}, of which the first {@code keep} are kept. */
  Value concatChannels(Value a, Value b, int keep);
}
