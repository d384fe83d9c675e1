// Per-transform behaviour: geometric transforms keep mask and image aligned, colour transforms
// leave the mask alone, each transform fires with its probability, and the black rectangle is 0
// in image and mask and comes before the other transforms.
package org.effiseg.augment;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.effiseg.data.Mask;
import org.effiseg.data.RgbImage;
import org.effiseg.data.SyntheticData;
import org.junit.jupiter.api.Test;

class TransformTest {
  private static final int SIZE = 128;
  private static final AugmentConfig NONE = AugmentPresets.NONE;
  private static final AugmentConfig ORIGINAL = AugmentPresets.ORIGINAL;

  private static Sample diskSample(int cx, int cy, int radius) {
    RgbImage image = SyntheticData.diskImage(SIZE, SIZE, cx, cy, radius);
    Mask mask = SyntheticData.diskMask(SIZE, SIZE, cx, cy, radius);
    Sample sample = new Sample(SIZE, SIZE);
    System.arraycopy(image.rgb(), 0, sample.rgb(), 0, image.rgb().length);
    System.arraycopy(mask.values(), 0, sample.mask(), 0, mask.values().length);
    return sample;
  }

  private static boolean diskColoured(byte[] rgb, int p) {
    return (rgb[p * 3] & 0xFF) > 200 && (rgb[p * 3 + 1] & 0xFF) > 180 && (rgb[p * 3 + 2] & 0xFF) < 80;
  }

  /**
   * Pixels whose mask neighbourhood (radius 2) is all 1 must show the disk, pixels whose
   * neighbourhood is all 0 must not; edges are left out, Lanczos blurs them. Returns how many
   * polyp pixels were checked (0 when the transform moved the disk out of the frame).
   */
  private static int assertAligned(String what, Sample sample) {
    int inside = 0;
    for (int y = 2; y < SIZE - 2; y++) {
      for (int x = 2; x < SIZE - 2; x++) {
        int ones = 0;
        for (int dy = -2; dy <= 2; dy++) {
          for (int dx = -2; dx <= 2; dx++) {
            ones += sample.mask()[(y + dy) * SIZE + x + dx];
          }
        }
        int p = y * SIZE + x;
        if (ones == 25) {
          inside++;
          assertWithMessage("%s: mask marks (%s,%s) but the image has no disk there", what, x, y)
              .that(diskColoured(sample.rgb(), p)).isTrue();
        } else if (ones == 0) {
          assertWithMessage("%s: disk at (%s,%s) outside the mask", what, x, y)
              .that(diskColoured(sample.rgb(), p)).isFalse();
        }
      }
    }
    return inside;
  }

  private static AugmentConfig.Affine alwaysAffine(Range translate, Range rotate) {
    return new AugmentConfig.Affine(1, ORIGINAL.affine().scale(), translate, rotate);
  }

  @Test
  void geometricTransformsKeepMaskAligned() {
    Transform[] transforms = {
      new FlipStep(true),
      new FlipStep(false),
      new AffineStep(alwaysAffine(Range.constant(0.125), Range.constant(90))),
      new AffineStep(alwaysAffine(Range.around(0, 0.125), Range.around(0, 90))),
      new ElasticStep(new AugmentConfig.Elastic(1, 1, 50, 50)),
      new ElasticStep(new AugmentConfig.Elastic(1, 30, 4, 10)),
    };
    for (Transform transform : transforms) {
      int checked = 0;
      for (int seed = 0; seed < 12; seed++) {
        Sample sample = diskSample(52, 72, 24);
        transform.apply(sample, new SplittableRandom(seed));
        String what = transform.getClass().getSimpleName() + " seed " + seed;
        checked += assertAligned(what, sample) > 100 ? 1 : 0;
      }
      assertWithMessage("%s: too few draws kept the disk in frame", transform.getClass())
          .that(checked).isAtLeast(8);
    }
  }

  @Test
  void geometricTransformsMoveTheDisk() {
    // Guards the alignment test: it must see moved disks, not untouched ones.
    Sample sample = diskSample(52, 72, 24);
    byte[] before = sample.mask().clone();
    new AffineStep(alwaysAffine(Range.constant(0.125), Range.constant(90)))
        .apply(sample, new SplittableRandom(3));
    assertThat(sample.mask()).isNotEqualTo(before);
  }

  @Test
  void fullOriginalPipelineKeepsMaskAligned() {
    AugmentPipeline pipeline = new AugmentPipeline(
        ORIGINAL.withColorJitter(new AugmentConfig.ColorJitter(0, ORIGINAL.colorJitter().brightness(),
            ORIGINAL.colorJitter().contrast(), ORIGINAL.colorJitter().saturation(),
            ORIGINAL.colorJitter().hue())), SIZE);
    RgbImage image = SyntheticData.diskImage(104, 104, 42, 58, 20);
    Mask mask = SyntheticData.diskMask(104, 104, 42, 58, 20);
    Sample sample = pipeline.newSample();
    int checked = 0;
    for (int index = 0; index < 20; index++) {
      pipeline.prepare(image, mask, 7, 0, index, sample);
      checked += assertAligned("original pipeline, sample " + index, sample) > 100 ? 1 : 0;
    }
    assertThat(checked).isAtLeast(12);
  }

  @Test
  void colourJitterLeavesMaskUntouchedAndChangesImage() {
    ColorJitterStep jitter = new ColorJitterStep(new AugmentConfig.ColorJitter(1,
        ORIGINAL.colorJitter().brightness(), ORIGINAL.colorJitter().contrast(),
        ORIGINAL.colorJitter().saturation(), ORIGINAL.colorJitter().hue()));
    int changed = 0;
    for (int seed = 0; seed < 50; seed++) {
      Sample sample = diskSample(60, 60, 30);
      byte[] mask = sample.mask().clone();
      byte[] rgb = sample.rgb().clone();
      jitter.apply(sample, new SplittableRandom(seed));
      assertThat(sample.mask()).isEqualTo(mask);
      changed += Arrays.equals(sample.rgb(), rgb) ? 0 : 1;
    }
    assertThat(changed).isEqualTo(50);
  }

  @Test
  void eachTransformFiresWithItsProbability() {
    double[] probabilities = {0.5, 0.8};
    int draws = 2000;
    for (double p : probabilities) {
      Transform[] steps = {
        new FlipStep(true),
        new FlipStep(false),
        new ColorJitterStep(new AugmentConfig.ColorJitter(p, new Range(1.2, 1.6),
            Range.constant(1), Range.constant(1), Range.constant(0))),
        new AffineStep(new AugmentConfig.Affine(p, Range.constant(1), Range.constant(0.125),
            Range.constant(90))),
        new ElasticStep(new AugmentConfig.Elastic(p, 1, 50, 50)),
        new BlackRectangleStep(new AugmentConfig.BlackRectangle(p, 0.3)),
      };
      for (Transform step : steps) {
        Transform transform = Transform.withProbability(p, step);
        int fired = 0;
        for (int seed = 0; seed < draws; seed++) {
          Sample sample = smallAsymmetricSample();
          byte[] before = sample.rgb().clone();
          transform.apply(sample, new SplittableRandom(1000L * seed + 17));
          fired += Arrays.equals(before, sample.rgb()) ? 0 : 1;
        }
        double sigma = Math.sqrt(draws * p * (1 - p));
        assertWithMessage("%s at p=%s", step.getClass().getSimpleName(), p)
            .that((double) fired).isWithin(4 * sigma).of(draws * p);
      }
    }
  }

  private static Sample smallAsymmetricSample() {
    Sample sample = new Sample(12, 12);
    for (int i = 0; i < sample.rgb().length; i++) {
      sample.rgb()[i] = (byte) (40 + (i * 7) % 180);
    }
    return sample;
  }

  @Test
  void blackRectangleIsZeroInImageAndMaskAndOnlyThere() {
    Sample sample = diskSample(40, 40, 36);
    byte[] rgb = sample.rgb().clone();
    byte[] mask = sample.mask().clone();
    new BlackRectangleStep(new AugmentConfig.BlackRectangle(1, 0.3))
        .apply(sample, new SplittableRandom(1));
    int side = (int) (0.3 * SIZE);
    for (int y = 0; y < SIZE; y++) {
      for (int x = 0; x < SIZE; x++) {
        int p = y * SIZE + x;
        boolean inRectangle = x < side && y < side;
        for (int c = 0; c < 3; c++) {
          assertThat(sample.rgb()[p * 3 + c]).isEqualTo(inRectangle ? 0 : rgb[p * 3 + c]);
        }
        assertThat(sample.mask()[p]).isEqualTo(inRectangle ? 0 : mask[p]);
      }
    }
    assertThat(mask[20 * SIZE + 20]).isEqualTo(1); // the rectangle did cut into the polyp
  }

  @Test
  void blackRectangleComesRightAfterResizeBeforeFlips() {
    AugmentConfig config = new AugmentConfig(new AugmentConfig.BlackRectangle(1, 0.3), 1, 0,
        NONE.colorJitter(), NONE.affine(), NONE.elastic());
    AugmentPipeline pipeline = new AugmentPipeline(config, SIZE);
    RgbImage image = SyntheticData.diskImage(SIZE, SIZE, 32, 32, 20);
    Mask mask = SyntheticData.diskMask(SIZE, SIZE, 32, 32, 20);
    Sample sample = pipeline.newSample();
    pipeline.prepare(image, mask, 1, 0, 0, sample);
    int side = (int) (0.3 * SIZE);
    // Flipped after blackening: the black block is now top-right, the top-left is image again.
    assertThat(sample.rgb()[((side / 2) * SIZE + SIZE - 1 - side / 2) * 3]).isEqualTo(0);
    assertThat(sample.rgb()[((side / 2) * SIZE + side / 2) * 3]).isNotEqualTo(0);
  }
}
