package org.effiseg.train;

import java.util.function.Supplier;
import org.effiseg.model.ParameterBlock;
import org.effiseg.model.StateDict;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.weights.Checkpoint;

/**
 * An exponential moving average of a model's weights and BatchNorm running statistics ({@code
 * --ema DECAY}): two tensors on the model's device shaped as the flat blocks of its {@link
 * ParameterBlock}, updated after every optimizer step as {@code ema = d·ema + (1 − d)·current}
 * (one {@code Ops.axpby} per block, no host round trip). The statistics are averaged with the
 * same decay as the weights, as timm's {@code ModelEmaV2} averages every state-dict entry; there
 * is no warm-up of the decay.
 *
 * <p>The average never feeds back into training: {@link #evaluate} swaps it into the model for
 * one evaluation and puts the raw values back bit for bit.
 */
final class WeightAverage implements AutoCloseable {
  private final ParameterBlock params;
  private final Context ctx;
  private final float decay;
  private final float rate;
  private final Tensor weights;
  private final Tensor buffers;

  /** An average that starts at the block's current values. */
  WeightAverage(Context ctx, ParameterBlock params, double decay) {
    if (!(decay > 0 && decay < 1)) {
      throw new IllegalArgumentException("the decay of a weight average is in (0, 1), got " + decay);
    }
    this.params = params;
    this.ctx = ctx;
    this.decay = (float) decay;
    this.rate = (float) (1 - decay);
    this.weights = ctx.tensor(params.weights().shape());
    this.buffers = ctx.tensor(params.buffers().shape());
    weights.copyFrom(params.weights());
    buffers.copyFrom(params.buffers());
  }

  /** Folds the block's current weights and statistics in (after an optimizer step). */
  void update() {
    Ops.axpby(ctx, rate, params.weights(), decay, weights);
    Ops.axpby(ctx, rate, params.buffers(), decay, buffers);
  }

  /** The average's values, for a checkpoint. */
  Checkpoint.Ema read() {
    return new Checkpoint.Ema(weights.read(), buffers.read());
  }

  /** Replaces the average's values with a checkpoint's (a resumed run). */
  void write(Checkpoint.Ema saved) {
    if (saved.weights().length != weights.numel() || saved.buffers().length != buffers.numel()) {
      throw new IllegalArgumentException("the checkpoint's weight average holds "
          + saved.weights().length + " weights and " + saved.buffers().length
          + " statistics; this model has " + weights.numel() + " and " + buffers.numel());
    }
    weights.write(saved.weights());
    buffers.write(saved.buffers());
  }

  /** The average as the model's state dict (PyTorch layout, the model's names). */
  static StateDict stateDict(ParameterBlock params, Checkpoint.Ema values) {
    return params.stateDictOf(values.weights(), values.buffers());
  }

  /**
   * Runs {@code evaluation} with the average in the model in place of its weights and
   * statistics, then restores them exactly (from a device copy, also when it throws). Both swaps
   * mark the block changed, so the model's cached eval weights follow. {@code evaluation} must
   * not train: what it changed in the block would be overwritten.
   */
  <T> T evaluate(Supplier<T> evaluation) {
    try (Tensor rawWeights = ctx.tensor(params.weights().shape());
        Tensor rawBuffers = ctx.tensor(params.buffers().shape())) {
      rawWeights.copyFrom(params.weights());
      rawBuffers.copyFrom(params.buffers());
      params.weights().copyFrom(weights);
      params.buffers().copyFrom(buffers);
      params.markChanged();
      try {
        return evaluation.get();
      } finally {
        params.weights().copyFrom(rawWeights);
        params.buffers().copyFrom(rawBuffers);
        params.markChanged();
      }
    }
  }

  @Override
  public void close() {
    weights.close();
    buffers.close();
  }
}
