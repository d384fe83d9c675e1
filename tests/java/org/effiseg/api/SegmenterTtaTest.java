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
 * its three mirror images, each mirrored back, which mirroring the image mirrors; and {@link
 * Tta#NONE} is the plain path, bit for bit.
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

  private static BufferedImage bothWays(BufferedImage img) {
    return mirrorImage(mirrorImage(img, true), false);
  }

  private static float[] bothWays(float[] map) {
    return mirrorMap(mirrorMap(map, true), false);
  }

  @Test
  void flipIsTheMeanOfThePlainProbabilitiesOfTheFourViewsEachMirroredBack() throws IOException {
    List<BufferedImage> images = List.of(image(SIZE, SIZE, 1), image(SIZE, SIZE, 2));
    try (Segmenter none = segmenter(Tta.NONE); Segmenter flip = segmenter(Tta.FLIP)) {
      float[][] tta = flip.probabilitiesAtModelSize(images);
      assertThat(tta).hasLength(2);
      for (int i = 0; i < images.size(); i++) {
        BufferedImage x = images.get(i);
        float[] identity = plain(none, x);
        float[] leftRight = mirrorMap(plain(none, mirrorImage(x, true)), true);
        float[] topBottom = mirrorMap(plain(none, mirrorImage(x, false)), false);
        float[] turned = bothWays(plain(none, bothWays(x)));
        float[] mean = new float[identity.length];
        double largestCorrection = 0;
        for (int p = 0; p < mean.length; p++) {
          mean[p] = (float) (((double) identity[p] + leftRight[p] + topBottom[p] + turned[p]) / 4);
          largestCorrection = Math.max(largestCorrection, Math.abs(mean[p] - identity[p]));
        }
        // the views disagree: averaging them moves the probabilities by far more than rounding
        assertWithMessage("image %s: largest |mean - identity|", i).that(largestCorrection).isGreaterThan(1e-2);
        Tolerance.assertClose("image " + i + " of 2: flip TTA vs the mean of 4 plain predictions",
            tta[i], mean, BATCH_ROUNDING, 0);
      }
    }
  }

  /**
   * The four views {identity, H, V, HV} are closed under mirroring: the TTA of H x averages
   * g⁻¹ f(g H x) over the views g, which is H applied to the TTA of x with its terms in another
   * order (and its images at other places of the batch), so the two agree to rounding; the same
   * for V. The network alone is not equivariant (TF "same" padding is not symmetric), which the
   * test shows by a margin, so the equality is TTA's doing.
   */
  @Test
  void mirroringTheInputMirrorsTheMean() throws IOException {
    BufferedImage x = image(SIZE, SIZE, 3);
    try (Segmenter none = segmenter(Tta.NONE); Segmenter flip = segmenter(Tta.FLIP)) {
      float[] ttaX = plain(flip, x);
      float[] plainX = plain(none, x);
      for (boolean leftRight : new boolean[] {true, false}) {
        String mirror = leftRight ? "left-right" : "top-bottom";
        BufferedImage mirrored = mirrorImage(x, leftRight);
        Tolerance.assertClose(mirror + ": TTA(mirrored x) vs mirrored TTA(x)",
            plain(flip, mirrored), mirrorMap(ttaX, leftRight), BATCH_ROUNDING, 0);
        float[] plainMirrored = plain(none, mirrored);
        float[] mirroredPlain = mirrorMap(plainX, leftRight);
        double largestDifference = 0;
        for (int p = 0; p < plainX.length; p++) {
          largestDifference = Math.max(largestDifference, Math.abs(plainMirrored[p] - mirroredPlain[p]));
        }
        assertWithMessage("%s: largest |f(mirrored x) - mirrored f(x)| without TTA", mirror)
            .that(largestDifference).isGreaterThan(1e-3);
      }
    }
  }

  /**
   * An image symmetric under both mirrors: TTA changes nothing of its symmetry, the probability
   * map is symmetric both ways (to rounding), where the plain map is not.
   */
  @Test
  void aMirrorSymmetricImageGetsAMirrorSymmetricMap() throws IOException {
    BufferedImage half = image(SIZE, SIZE, 4);
    BufferedImage symmetric = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < SIZE; y++) {
      for (int x = 0; x < SIZE; x++) {
        symmetric.setRGB(x, y, half.getRGB(Math.min(x, SIZE - 1 - x), Math.min(y, SIZE - 1 - y)));
      }
    }
    try (Segmenter none = segmenter(Tta.NONE); Segmenter flip = segmenter(Tta.FLIP)) {
      float[] tta = plain(flip, symmetric);
      float[] plainMap = plain(none, symmetric);
      for (boolean leftRight : new boolean[] {true, false}) {
        String mirror = leftRight ? "left-right" : "top-bottom";
        Tolerance.assertClose(mirror + ": TTA map vs its mirror image", tta, mirrorMap(tta, leftRight),
            BATCH_ROUNDING, 0);
        float[] mirroredPlain = mirrorMap(plainMap, leftRight);
        double asymmetry = 0;
        for (int p = 0; p < plainMap.length; p++) {
          asymmetry = Math.max(asymmetry, Math.abs(plainMap[p] - mirroredPlain[p]));
        }
        assertWithMessage("%s: largest asymmetry of the plain map", mirror).that(asymmetry).isGreaterThan(1e-3);
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
