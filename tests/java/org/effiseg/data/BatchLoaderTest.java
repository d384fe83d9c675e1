// The prefetching loader: batch layout, byte-identical output for any thread count, per-epoch
// shuffling, drop/keep of the last batch, errors naming the file, stats, and clean shutdown.
package org.effiseg.data;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.augment.Sample;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BatchLoaderTest {
  private static final int SIZE = 40;
  @TempDir Path root;

  private SplitIndex split(int count) {
    SyntheticData.dataset(root, Split.TRAIN, count, 36);
    return SplitIndex.open(root, Split.TRAIN, BadInputPolicy.FAIL);
  }

  private static BatchLoader loader(SplitIndex split, String preset, int threads, boolean dropLast) {
    return BatchLoader.builder(split, new AugmentPipeline(AugmentPresets.parse(preset), SIZE))
        .batchSize(4).threads(threads).seed(1234).dropLast(dropLast).prefetchBatches(2).build();
  }

  /** One epoch's batches as text-free values: images, masks and sample indices per batch. */
  private record Content(float[] images, float[] masks, List<Integer> indices) {}

  private static List<Content> epoch(BatchLoader loader, int epoch) {
    List<Content> out = new ArrayList<>();
    try (BatchLoader.EpochBatches batches = loader.epoch(epoch)) {
      while (batches.hasNext()) {
        Batch batch = batches.next();
        List<Integer> indices = new ArrayList<>();
        for (int index : batch.sampleIndices()) {
          indices.add(index);
        }
        out.add(new Content(contents(batch.images()), contents(batch.masks()), indices));
      }
    }
    return out;
  }

  private static float[] contents(FloatBuffer buffer) {
    float[] values = new float[buffer.remaining()];
    buffer.duplicate().get(values);
    return values;
  }

  private static void assertSame(List<Content> expected, List<Content> actual) {
    assertThat(actual).hasSize(expected.size());
    for (int i = 0; i < expected.size(); i++) {
      assertThat(actual.get(i).indices()).isEqualTo(expected.get(i).indices());
      assertThat(actual.get(i).images()).isEqualTo(expected.get(i).images());
      assertThat(actual.get(i).masks()).isEqualTo(expected.get(i).masks());
    }
  }

  @Test
  void sameSeedGivesIdenticalBytesWhateverTheThreadCount() {
    SplitIndex split = split(10);
    List<Content> one = new ArrayList<>();
    List<Content> three = new ArrayList<>();
    try (BatchLoader loader = loader(split, "original+black-rect", 1, false)) {
      one.addAll(epoch(loader, 0));
      one.addAll(epoch(loader, 1));
    }
    try (BatchLoader loader = loader(split, "original+black-rect", 3, false)) {
      three.addAll(epoch(loader, 0));
      three.addAll(epoch(loader, 1));
    }
    assertSame(one, three);
  }

  @Test
  void epochsAreShuffledDifferentlyAndKeepTheLastPartialBatch() {
    SplitIndex split = split(10);
    try (BatchLoader loader = loader(split, "none", 2, false)) {
      List<Content> first = epoch(loader, 0);
      List<Content> second = epoch(loader, 1);
      assertThat(first).hasSize(3);
      assertThat(first.get(2).indices()).hasSize(2);
      List<Integer> order0 = first.stream().flatMap(c -> c.indices().stream()).toList();
      List<Integer> order1 = second.stream().flatMap(c -> c.indices().stream()).toList();
      assertThat(order0).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
      assertThat(order0).isNotEqualTo(order1);
      assertThat(order0).isNotEqualTo(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    }
  }

  @Test
  void dropLastDropsThePartialBatch() {
    try (BatchLoader loader = loader(split(10), "none", 2, true)) {
      assertThat(loader.batchesPerEpoch()).isEqualTo(2);
      List<Content> batches = epoch(loader, 0);
      assertThat(batches).hasSize(2);
      assertThat(batches.get(1).indices()).hasSize(4);
    }
  }

  @Test
  void batchIsDirectNativeNhwcWithNormalisedImagesAndBinaryMasks() throws Exception {
    SplitIndex split = split(4);
    AugmentPipeline pipeline = new AugmentPipeline(AugmentPresets.NONE, SIZE);
    try (BatchLoader loader = BatchLoader.builder(split, pipeline).batchSize(4).threads(2)
        .shuffle(false).build();
        BatchLoader.EpochBatches batches = loader.epoch(0)) {
      Batch batch = batches.next();
      FloatBuffer images = batch.images();
      assertThat(images.isDirect()).isTrue();
      assertThat(images.order()).isEqualTo(ByteOrder.nativeOrder());
      assertThat(images.remaining()).isEqualTo(4 * SIZE * SIZE * 3);
      assertThat(batch.masks().remaining()).isEqualTo(4 * SIZE * SIZE);
      // Sample 2 through the pipeline by hand must equal its slot in the batch.
      SamplePair pair = split.pairs().get(2);
      Sample sample = pipeline.newSample();
      pipeline.prepare(ImageDecoder.readRgb(pair.image()), ImageDecoder.readMask(pair.mask()),
          0, 0, 2, sample);
      float[] image = new float[SIZE * SIZE * 3];
      float[] mask = new float[SIZE * SIZE];
      pipeline.normalize(sample, image, mask);
      float[] slot = new float[image.length];
      images.position(2 * image.length).get(slot);
      assertThat(slot).isEqualTo(image);
      float[] masks = contents(batch.masks());
      for (float value : masks) {
        assertThat(value == 0f || value == 1f).isTrue();
      }
      assertThat(slot[0]).isWithin(3f).of(0f); // ImageNet-normalised, not 0..255
    }
  }

  @Test
  void fileBrokenAfterValidationFailsNamingIt() throws IOException {
    SplitIndex split = split(6);
    Path broken = split.pairs().get(3).image();
    Files.writeString(broken, "broken after validation");
    try (BatchLoader loader = loader(split, "none", 2, false);
        BatchLoader.EpochBatches batches = loader.epoch(0)) {
      DatasetException e = assertThrows(DatasetException.class, () -> {
        while (batches.hasNext()) {
          batches.next();
        }
      });
      assertThat(e).hasMessageThat().contains(broken.toString());
    }
  }

  @Test
  void statsCountEverySample() {
    try (BatchLoader loader = loader(split(10), "improved", 2, false);
        BatchLoader.EpochBatches batches = loader.epoch(0)) {
      while (batches.hasNext()) {
        batches.next();
      }
      LoaderStats stats = batches.stats();
      assertThat(stats.samples()).isEqualTo(10);
      assertThat(stats.threads()).isEqualTo(2);
      assertThat(stats.imagesPerSecond()).isGreaterThan(0);
      assertThat(stats.imagesPerWorkerSecond()).isGreaterThan(0);
    }
  }

  @Test
  void closeEndsEveryWorkerEvenMidEpoch() throws Exception {
    SplitIndex split = split(10);
    BatchLoader loader = loader(split, "original", 3, false);
    BatchLoader.EpochBatches batches = loader.epoch(0);
    batches.next();
    assertThat(loaderThreads()).isNotEmpty();
    loader.close();
    loader.close(); // idempotent
    assertThat(loaderThreads()).isEmpty();
    assertThrows(IllegalStateException.class, () -> loader.epoch(1));
  }

  @Test
  void manyEpochsNeverRunOutOfBuffers() {
    // Each epoch's last batch goes back to the pool when the epoch closes, also unfinished ones.
    SplitIndex split = split(10);
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      try (BatchLoader loader = loader(split, "none", 2, false)) {
        for (int epoch = 0; epoch < 8; epoch++) {
          try (BatchLoader.EpochBatches batches = loader.epoch(epoch)) {
            batches.next();
            batches.next();
          }
        }
        assertThat(epoch(loader, 8)).hasSize(3);
      }
    });
  }

  @Test
  void closedBatchRefusesAccess() {
    try (BatchLoader loader = loader(split(5), "none", 1, false);
        BatchLoader.EpochBatches batches = loader.epoch(0)) {
      Batch first = batches.next();
      batches.next(); // fetching the next batch closes the previous one
      assertThrows(IllegalStateException.class, first::images);
    }
  }

  private static List<Thread> loaderThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("effiseg-loader-") && t.isAlive()).toList();
  }
}
