package org.effiseg.train;

import org.effiseg.data.SeedMixer;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.ParameterBlock;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * One optimisation step as training runs it, shared by {@link Trainer} and {@code effiseg
 * bench}: the model's forward pass in training mode (drop-connect masks from the run's seed and
 * the step number), the configured loss and its backward pass ({@link #forwardBackward}), then
 * one AdamW step over the flat parameter block ({@link #update}). The caller checks the loss in
 * between, so a non-finite loss never reaches the weights.
 */
public final class TrainStep implements AutoCloseable {
  static final float BETA1 = 0.9f;
  static final float BETA2 = 0.999f;
  static final float ADAM_EPS = 1e-8f;
  /** Seed stream of the drop-connect masks (the loader's streams are non-negative). */
  private static final long DROP_CONNECT_STREAM = -2;

  private final EffiSegNet model;
  private final LossFunction loss;
  private final float weightDecay;
  private final long seed;
  private final Tensor terms;

  public TrainStep(EffiSegNet model, TrainConfig config) {
    this.model = model;
    this.loss = new LossFunction(config);
    this.weightDecay = (float) config.weightDecay;
    this.seed = config.seed;
    this.terms = model.context().tensor(4);
  }

  /**
   * Forward, loss and backward for the batch of optimizer step {@code step + 1} (steps done so
   * far: {@code step}); leaves the gradients in the parameter block and returns the loss (a read,
   * so this waits for the device).
   */
  public LossTerms forwardBackward(Tensor images, Tensor masks, long step) {
    try (Tensor logits = model.forward(images, true, SeedMixer.mix(seed, 0, step, DROP_CONNECT_STREAM))) {
      return loss.forwardBackward(model.context(), model, logits, masks, terms);
    }
  }

  /** AdamW step number {@code step} (1-based, for the bias corrections) with learning rate lr. */
  public void update(double lr, long step) {
    ParameterBlock p = model.parameters();
    Ops.adamwStep(model.context(), p.weights(), p.grads(), p.expAvg(), p.expAvgSq(), (float) lr,
        BETA1, BETA2, ADAM_EPS, weightDecay, step);
    p.markChanged();
  }

  @Override
  public void close() {
    terms.close();
  }
}
