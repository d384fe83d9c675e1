package org.effiseg.api;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.augment.Sample;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.Mask;
import org.effiseg.data.RgbImage;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.ModelWeights;
import org.effiseg.testing.Tolerance;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Test-time augmentation ({@link Tta#FLIP}): the mean of the plain probabilities of the image and
 * its two mirror images, each mirrored back; and {@link Tta#NONE} is the plain path, bit for bit.
 *
 * <p>The model is EffiSegNet-B0 at 64x64 with random weights (BN statistics and biases random
 * too), so that its output is neither flat nor symmetric, and a threshold logit of -0.4
 * (probability 0.40) inside the range of its probabilities. Images are 64x64, the model's size:
 * the resize to the model is then a copy, so a mirrored image is exactly the network input of
 * the segmenter's mirrored view.
 */
class SegmenterTtaTest {
  private static final int SIZE = 64;

  @TempDir static Path dir;
  static Path checkpoint;
  static TrainConfig config;

  @BeforeAll
  static void writeRandomCheckpoint() throws IOException {
    config = TrainConfig.preset("smoke");
    // probabilities of these images lie between about 0.3 and 0.5: a cut-off among them
    config.apply(Map.of("threshold_logit", -0.4), "test");
    checkpoint = dir.resolve("random.safetensors");
    try (Context ctx = Context.cpu(1);
        EffiSegNet model = EffiSegNet.create(ctx, config.modelConfig())) {
      Checkpoint.write(checkpoint, new Checkpoint(ModelWeights.randomize(model.stateDict(), 14), null, "b0",
          config.toJson(), 0, 0, "{}", Map.of()));
    }
  }

  private static Segmenter segmenter(Tta tta) throws IOException {
    return Segmenter.builder(checkpoint).device(Device.CPU).threads(1).tta(tta).build();
  }

  /** A random-noise image over a smooth gradient: nothing in it is mirror-symmetric. */
  private static BufferedImage image(int w, int h, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int red = (x * 3 + r.nextInt(60)) % 256;
        int green = (y * 4 + r.nextInt(60)) % 256;
        int blue = r.nextInt(256);
        img.setRGB(x, y, red << 16 | green << 8 | blue);
      }
    }
    return img;
  }

  private static BufferedImage mirrorImage(BufferedImage img, boolean leftRight) {
    int w = img.getWidth();
    int h = img.getHeight();
    BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        out.setRGB(x, y, leftRight ? img.getRGB(w - 1 - x, y) : img.getRGB(x, h - 1 - y));
      }
    }
    return out;
  }

  private static float[] mirrorMap(float[] map, boolean leftRight) {
    float[] out = new float[map.length];
    for (int y = 0; y < SIZE; y++) {
      for (int x = 0; x < SIZE; x++) {
        out[y * SIZE + x] = leftRight ? map[y * SIZE + SIZE - 1 - x] : map[(SIZE - 1 - y) * SIZE + x];
      }
    }
    return out;
  }

  private static float[] plain(Segmenter s, BufferedImage image) {
    return s.probabilitiesAtModelSize(List.of(image))[0];
  }

  /**
   * Batches of different sizes give the same probabilities only up to float rounding (the GEMM
   * blocks and the summation order of the CPU kernels depend on the batch; 1.2e-7 at most, i.e.
   * one float ulp, between batches of 1 and 3 on the AVX-512 path): 2e-6 absolute allows for the
   * other kernel paths, on probabilities between 0.3 and 0.5. A view wrongly indexed or not
   * mirrored back is off by 1e-2 or more here.
   */
  private static final double BATCH_ROUNDING = 2e-6;

  @Test
  void flipIsTheMeanOfThePlainProbabilitiesOfTheThreeViewsEachMirroredBack() throws IOException {
    List<BufferedImage> images = List.of(image(SIZE, SIZE, 1), image(SIZE, SIZE, 2));
    try (Segmenter none = segmenter(Tta.NONE); Segmenter flip = segmenter(Tta.FLIP)) {
      float[][] tta = flip.probabilitiesAtModelSize(images);
      assertThat(tta).hasLength(2);
      for (int i = 0; i < images.size(); i++) {
        BufferedImage x = images.get(i);
        float[] identity = plain(none, x);
        float[] leftRight = mirrorMap(plain(none, mirrorImage(x, true)), true);
        float[] topBottom = mirrorMap(plain(none, mirrorImage(x, false)), false);
        float[] mean = new float[identity.length];
        double largestCorrection = 0;
        for (int p = 0; p < mean.length; p++) {
          mean[p] = (float) (((double) identity[p] + leftRight[p] + topBottom[p]) / 3);
          largestCorrection = Math.max(largestCorrection, Math.abs(mean[p] - identity[p]));
        }
        // the views disagree: averaging them moves the probabilities by far more than rounding
        assertWithMessage("image %s: largest |mean - identity|", i).that(largestCorrection).isGreaterThan(1e-2);
        Tolerance.assertClose("image " + i + " of 2: flip TTA vs the mean of 3 plain predictions",
            tta[i], mean, BATCH_ROUNDING, 0);
      }
    }
  }

  /**
   * Mirroring the input mirrors the TTA output only as far as the views are shared: the TTA of
   * the left-right mirror x' = H x averages f(x'), H f(H x') = H f(x) and V f(V x') = V f(VH x),
   * while H applied to the TTA of x averages H f(x), f(H x) and HV f(V x). Two of the three views
   * are the same (checked here to float rounding); the third differs because {identity, H, V}
   * is not closed under mirroring (it lacks the 180 degree turn HV), and a network with TF "same"
   * padding is not itself mirror-equivariant. So: 3 TTA(H x) - V f(VH x) = 3 H TTA(x) - HV f(V x),
   * and likewise for the top-bottom mirror; the full equality does not hold, by a margin this
   * test also asserts, so that a change to the set of views is noticed.
   */
  @Test
  void mirroringTheInputMirrorsTheSharedViewsOfTheMean() throws IOException {
    BufferedImage x = image(SIZE, SIZE, 3);
    try (Segmenter none = segmenter(Tta.NONE); Segmenter flip = segmenter(Tta.FLIP)) {
      float[] ttaX = plain(flip, x);
      for (boolean leftRight : new boolean[] {true, false}) {
        String mirror = leftRight ? "left-right" : "top-bottom";
        BufferedImage mirrored = mirrorImage(x, leftRight);
        float[] ttaMirrored = plain(flip, mirrored);
        float[] mirroredTta = mirrorMap(ttaX, leftRight);
        // the view each side has alone: f(other mirror of mirrored x) mirrored back, and
        // f(other mirror of x) mirrored back and then mirrored as x was
        float[] onlyLeft = mirrorMap(plain(none, mirrorImage(mirrored, !leftRight)), !leftRight);
        float[] onlyRight = mirrorMap(mirrorMap(plain(none, mirrorImage(x, !leftRight)), !leftRight), leftRight);
        float[] left = new float[ttaX.length];
        float[] right = new float[ttaX.length];
        double largestDifference = 0;
        for (int p = 0; p < left.length; p++) {
          left[p] = (float) (3.0 * ttaMirrored[p] - onlyLeft[p]);
          right[p] = (float) (3.0 * mirroredTta[p] - onlyRight[p]);
          largestDifference = Math.max(largestDifference, Math.abs(ttaMirrored[p] - mirroredTta[p]));
        }
        // 3 x the rounding of the means plus the batch rounding of the views
        Tolerance.assertClose(mirror + ": the two shared views", left, right, 3 * BATCH_ROUNDING + 1e-6, 0);
        assertWithMessage("%s: largest |TTA(mirrored x) - mirrored TTA(x)|", mirror)
            .that(largestDifference).isGreaterThan(1e-3);
      }
    }
  }

  /**
   * {@link Tta#NONE}, and a builder that never names a mode, give exactly what the plain path
   * gave before test-time augmentation existed: the network run here on the same preprocessed
   * batch, its logits through the same float sigmoid, and (at the image's size) the same bilinear
   * resize — equal bit for bit.
   */
  @Test
  void noneIsBitIdenticalToThePlainPath() throws IOException {
    List<BufferedImage> images = List.of(image(SIZE, SIZE, 4), image(50, 30, 5), image(97, 61, 6));
    float[][] reference = referenceProbabilities(images);
    try (Segmenter none = segmenter(Tta.NONE);
        Segmenter unnamed = Segmenter.builder(checkpoint).device(Device.CPU).threads(1).build()) {
      assertThat(none.tta()).isEqualTo(Tta.NONE);
      assertThat(unnamed.tta()).isEqualTo(Tta.NONE);
      for (Segmenter s : List.of(none, unnamed)) {
        float[][] atModelSize = s.probabilitiesAtModelSize(images);
        List<Prediction> predictions = s.predict(images);
        for (int i = 0; i < images.size(); i++) {
          assertThat(atModelSize[i]).usingExactEquality().containsExactly(reference[i]).inOrder();
          BufferedImage img = images.get(i);
          float[] resized = Bilinear.resize(reference[i], SIZE, SIZE, img.getWidth(), img.getHeight());
          assertThat(predictions.get(i).probabilities()).usingExactEquality().containsExactly(resized).inOrder();
        }
      }
    }
  }

  /** The plain path as it stood before {@link Tta}: preprocess, one forward pass, float sigmoid. */
  private static float[][] referenceProbabilities(List<BufferedImage> images) {
    int n = images.size();
    int per = SIZE * SIZE;
    AugmentPipeline preprocessing = new AugmentPipeline(AugmentPresets.NONE, SIZE);
    Sample sample = preprocessing.newSample();
    float[] input = new float[n * per * 3];
    float[] one = new float[per * 3];
    for (int i = 0; i < n; i++) {
      RgbImage rgb = ImageDecoder.toRgb(images.get(i));
      preprocessing.prepare(rgb, new Mask(rgb.width(), rgb.height(), new byte[rgb.width() * rgb.height()]),
          0, 0, i, sample);
      preprocessing.normalize(sample, one, new float[per]);
      System.arraycopy(one, 0, input, i * per * 3, per * 3);
    }
    float[] logits;
    try (Context ctx = Context.cpu(1);
        EffiSegNet model = EffiSegNet.create(ctx, config.modelConfig())) {
      model.loadStateDict(Checkpoint.read(checkpoint).model(), true);
      try (Tensor x = ctx.tensor(input, n, SIZE, SIZE, 3);
          Tensor y = model.forward(x, false)) {
        model.closeAuxLogits();
        logits = y.read();
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    float[][] out = new float[n][per];
    for (int i = 0; i < n; i++) {
      for (int p = 0; p < per; p++) {
        out[i][p] = (float) (1 / (1 + Math.exp(-logits[i * per + p])));
      }
    }
    return out;
  }

  @Test
  void masksComeFromTheMeanProbabilityAtTheSameThreshold() throws IOException {
    BufferedImage x = image(SIZE, SIZE, 7);
    try (Segmenter flip = segmenter(Tta.FLIP)) {
      Prediction p = flip.predict(x);
      float[] mean = plain(flip, x);
      assertThat(p.probabilities()).usingExactEquality().containsExactly(mean).inOrder();
      boolean[] mask = p.mask();
      int polyp = 0;
      for (int i = 0; i < mask.length; i++) {
        assertThat(mask[i]).isEqualTo(mean[i] > flip.threshold());
        polyp += mask[i] ? 1 : 0;
      }
      // both classes occur, so the comparison above decided something
      assertThat(polyp).isGreaterThan(0);
      assertThat(polyp).isLessThan(mask.length);
    }
  }

  @Test
  void theBuilderRefusesANullModeAndModesParseLikeDevices() throws IOException {
    NullPointerException e = assertThrows(NullPointerException.class, () -> Segmenter.builder(checkpoint).tta(null));
    assertThat(e).hasMessageThat().isEqualTo("tta");
    assertThat(Tta.parse(" Flip ")).isEqualTo(Tta.FLIP);
    assertThat(Tta.parse("none")).isEqualTo(Tta.NONE);
    assertThat(Tta.FLIP.cliName()).isEqualTo("flip");
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> Tta.parse("nope"));
    assertThat(bad).hasMessageThat().isEqualTo("tta must be none or flip, got 'nope'");
    try (Segmenter flip = segmenter(Tta.FLIP)) {
      assertThat(flip.tta()).isEqualTo(Tta.FLIP);
      assertThat(flip.toString()).contains("test-time augmentation flip");
    }
  }
}
