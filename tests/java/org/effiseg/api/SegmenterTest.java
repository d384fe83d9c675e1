package org.effiseg.api;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedding API's contract: builder, devices, its own exceptions, bounds, close. */
class SegmenterTest {
  @TempDir static Path dir;
  static Path checkpoint;

  /** An untrained smoke-preset checkpoint (B0 at 64x64), written as effiseg train writes one. */
  @BeforeAll
  static void writeCheckpoint() throws IOException {
    TrainConfig config = TrainConfig.preset("smoke");
    config.apply(Map.of("threshold_logit", 0.5), "test");
    checkpoint = dir.resolve("smoke.safetensors");
    try (Context ctx = Context.cpu(1);
        EffiSegNet model = EffiSegNet.create(ctx, config.modelConfig())) {
      Checkpoint.write(checkpoint, new Checkpoint(model.stateDict(), null, "b0", config.toJson(),
          0, 0, "{}", Map.of()));
    }
  }

  private static BufferedImage image(int w, int h) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (x * 7 + y * 3) % 256 << 16 | (x * y) % 256 << 8 | 40);
      }
    }
    return img;
  }

  @Test
  void theBuilderLoadsTheCheckpointsModelAndThreshold() throws IOException {
    try (Segmenter s = Segmenter.builder(checkpoint).device(Device.CPU).threads(1).build()) {
      assertThat(s.inputSize()).isEqualTo(64);
      assertThat((double) s.threshold()).isWithin(1e-6).of(1 / (1 + Math.exp(-0.5)));
      List<Prediction> p = s.predict(List.of(image(50, 30), image(64, 64)));
      assertThat(p.get(0).width()).isEqualTo(50);
      assertThat(p.get(0).height()).isEqualTo(30);
      assertThat(p.get(1).probabilities()).hasLength(64 * 64);
      // at the model's size, the resize back to the image is the identity (same batch of one)
      float[][] atModelSize = s.probabilitiesAtModelSize(List.of(image(64, 64)));
      assertThat(atModelSize[0]).usingExactEquality()
          .containsExactly(s.predict(image(64, 64)).probabilities()).inOrder();
    }
  }

  @Test
  void probabilityOutsideTheImageIsAnIndexError() throws IOException {
    try (Segmenter s = Segmenter.builder(checkpoint).device(Device.CPU).threads(1).build()) {
      Prediction p = s.predict(image(20, 10));
      assertThat(p.probability(19, 9)).isAtLeast(0f);
      for (int[] xy : new int[][] {{20, 0}, {0, 10}, {-1, 0}, {0, -1}}) {
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class,
            () -> p.probability(xy[0], xy[1]));
        assertThat(e).hasMessageThat().contains("outside the 20x10 image");
        assertThrows(IndexOutOfBoundsException.class, () -> p.isPolyp(xy[0], xy[1]));
      }
    }
  }

  @Test
  void aFileThatIsNotACheckpointIsAnInvalidCheckpoint() throws IOException {
    Path notOne = Files.writeString(dir.resolve("notes.safetensors"), "not a checkpoint at all");
    InvalidCheckpointException e = assertThrows(InvalidCheckpointException.class,
        () -> Segmenter.builder(notOne).device(Device.CPU).build());
    assertThat(e).hasMessageThat().contains(notOne.toString());
    assertThrows(NoSuchFileException.class,
        () -> Segmenter.builder(dir.resolve("missing.safetensors")).device(Device.CPU).build());
  }

  @Test
  void anUnavailableCudaIsADeviceErrorNeverAFallback() {
    String reason = Backend.CUDA.unavailableReason();
    assumeTrue(reason != null, "CUDA is usable here: there is no unavailable device to ask for");
    DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
        () -> Segmenter.builder(checkpoint).device(Device.CUDA).build());
    assertThat(e).hasMessageThat().contains(reason);
  }

  @Test
  void useAfterCloseIsAClosedSegmenterError() throws IOException {
    Segmenter s = Segmenter.builder(checkpoint).device(Device.CPU).threads(1).build();
    s.close();
    s.close(); // twice is harmless
    assertThrows(SegmenterClosedException.class, () -> s.predict(image(8, 8)));
    assertThrows(SegmenterClosedException.class, () -> s.probabilitiesAtModelSize(List.of(image(8, 8))));
  }

  @Test
  void threadCountsAreBounded() {
    Segmenter.Builder b = Segmenter.builder(checkpoint);
    assertThrows(IllegalArgumentException.class, () -> b.threads(-1));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.threads(100_000));
    assertThat(e).hasMessageThat().contains("threads must be 0 (all cores)");
    assertThat(Device.parse(" Cuda ")).isEqualTo(Device.CUDA);
    assertThrows(IllegalArgumentException.class, () -> Device.parse("gpu"));
  }

  /** Inference stands on the model, weights and native core: never the trainer, the CLI or eval. */
  @Test
  void theApiPackageImportsNothingFromTrainingCliOrEvaluation() throws IOException {
    try (Stream<Path> files = Files.list(Path.of("java/org/effiseg/api"))) {
      List<Path> sources = files.filter(f -> f.toString().endsWith(".java")).toList();
      assertThat(sources).isNotEmpty();
      for (Path f : sources) {
        for (String line : Files.readAllLines(f)) {
          assertThat(line).doesNotMatch("import (static )?org\\.effiseg\\.(train|cli|eval)\\..*");
        }
      }
    }
  }
}
