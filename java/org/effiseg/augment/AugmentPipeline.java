// The per-sample path from decoded files to network input: resize (Lanczos-4 image, nearest mask),
// the configured transforms in albumentations order, then ImageNet normalisation.
//
// Every transform draws from its own random stream seeded by (run seed, epoch, dataset index,
// transform), so a sample's augmentation depends on nothing else: not on the thread that computes
// it, not on the other samples, and switching one transform off leaves the others' draws unchanged.
package org.effiseg.augment;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.effiseg.data.Mask;
import org.effiseg.data.Resize;
import org.effiseg.data.RgbImage;
import org.effiseg.data.SampleProcessor;
import org.effiseg.data.SeedMixer;

/** Resize + augment + normalise for square model inputs of side {@link #size()}. Thread-safe. */
public final class AugmentPipeline implements SampleProcessor {
  private final AugmentConfig config;
  private final int size;
  private final List<Step> steps = new ArrayList<>();

  /** A transform and the stream tag its random numbers are drawn from. */
  private record Step(long stream, Transform transform) {}

  public AugmentPipeline(AugmentConfig config, int size) {
    if (size <= 0) {
      throw new IllegalArgumentException("size must be positive, got " + size);
    }
    this.config = config;
    this.size = size;
    addIfEnabled(1, config.blackRectangle().p(), new BlackRectangleStep(config.blackRectangle()));
    addIfEnabled(2, config.horizontalFlipP(), new FlipStep(true));
    addIfEnabled(3, config.verticalFlipP(), new FlipStep(false));
    addIfEnabled(4, config.colorJitter().p(), new ColorJitterStep(config.colorJitter()));
    addIfEnabled(5, config.affine().p(), new AffineStep(config.affine()));
    addIfEnabled(6, config.elastic().p(), new ElasticStep(config.elastic()));
  }

  public AugmentConfig config() {
    return config;
  }

  /** Side of the square output in pixels. */
  @Override
  public int size() {
    return size;
  }

  /** A reusable working sample of the output size (one per thread). */
  public Sample newSample() {
    return new Sample(size, size);
  }

  /**
   * Resizes {@code image}/{@code mask} into {@code into} and augments them; the random draws are
   * fixed by (seed, epoch, index) alone.
   */
  public void prepare(RgbImage image, Mask mask, long seed, int epoch, int index, Sample into) {
    if (into.width() != size || into.height() != size) {
      throw new IllegalArgumentException("sample is " + into.width() + "x" + into.height()
          + ", pipeline output is " + size + "x" + size);
    }
    if (image.width() != mask.width() || image.height() != mask.height()) {
      throw new IllegalArgumentException("image is " + image.width() + "x" + image.height()
          + " but mask is " + mask.width() + "x" + mask.height());
    }
    Resize.lanczos4(image.rgb(), image.width(), image.height(), into.rgb(), size, size);
    Resize.nearest(mask.values(), mask.width(), mask.height(), into.mask(), size, size);
    for (Step step : steps) {
      step.transform().apply(into,
          new SplittableRandom(SeedMixer.mix(seed, epoch, index, step.stream())));
    }
  }

  /**
   * Writes {@code sample} as network input: {@code image} gets size*size*3 normalised floats (HWC),
   * {@code mask} size*size values 0 or 1.
   */
  public void normalize(Sample sample, float[] image, float[] mask) {
    NormalizeStep.write(sample, image, mask);
  }

  /** A loader worker: prepare + normalise with its own reusable sample. */
  @Override
  public SampleProcessor.Worker newWorker() {
    Sample sample = newSample();
    return (image, mask, seed, epoch, index, imageOut, maskOut) -> {
      prepare(image, mask, seed, epoch, index, sample);
      normalize(sample, imageOut, maskOut);
    };
  }

  private void addIfEnabled(long stream, double p, Transform transform) {
    if (p > 0) {
      steps.add(new Step(stream, Transform.withProbability(p, transform)));
    }
  }
}
