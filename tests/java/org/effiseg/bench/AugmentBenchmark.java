// JMH benchmark of the full per-sample pipeline (decode + Lanczos-4 resize + augment + normalise)
// for the original and improved presets at 352->380 (B4) and 352->224 (B0) on Kvasir-SEG images,
// and of the prefetching loader with 1 and 2 worker threads. Build, then run (see
// docs/data-pipeline.md):
//   mvn -o -Dexec.skip=true -Djavacpp.skip=true test-compile dependency:build-classpath \
//       -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=test
//   java -cp target/test-classes:target/classes:$(cat target/cp.txt) org.openjdk.jmh.Main \
//       AugmentBenchmark -wi 2 -i 3 -f 1
// Scores are samples per second (each operation is one sample; the loader ones are scaled by
// @OperationsPerInvocation). -Deffiseg.data=DIR points at another dataset root.
package org.effiseg.bench;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.augment.Sample;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Batch;
import org.effiseg.data.BatchLoader;
import org.effiseg.data.ImageDecodeException;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.SamplePair;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
public class AugmentBenchmark {
  static final int LOADER_SAMPLES = 64;

  static SplitIndex kvasirValidation() {
    Path root = Path.of(System.getProperty("effiseg.data", "../shared/data/kvasir-seg"));
    return SplitIndex.open(root, Split.VALIDATION, BadInputPolicy.FAIL);
  }

  /** One thread's pipeline and working buffers; samples cycle through the validation split. */
  @State(Scope.Thread)
  public static class PipelineState {
    @Param({"original", "improved"})
    String preset;

    @Param({"380", "224"})
    int size;

    SplitIndex split;
    AugmentPipeline pipeline;
    Sample sample;
    float[] image;
    float[] mask;
    int next;

    @Setup
    public void setUp() {
      split = kvasirValidation();
      pipeline = new AugmentPipeline(AugmentPresets.parse(preset), size);
      sample = pipeline.newSample();
      image = new float[size * size * 3];
      mask = new float[size * size];
    }
  }

  /** One sample through decode, resize, augment and normalise on the calling thread. */
  @Benchmark
  public float[] pipelinePerCore(PipelineState state) throws ImageDecodeException {
    int index = state.next++ % state.split.size();
    SamplePair pair = state.split.pairs().get(index);
    state.pipeline.prepare(ImageDecoder.readRgb(pair.image()), ImageDecoder.readMask(pair.mask()),
        1, state.next / state.split.size(), index, state.sample);
    state.pipeline.normalize(state.sample, state.image, state.mask);
    return state.image;
  }

  /** A loader over the validation split; each invocation consumes 64 samples. */
  @State(Scope.Benchmark)
  public static class LoaderState {
    @Param({"1", "2"})
    int threads;

    @Param({"improved"})
    String preset;

    @Param({"380"})
    int size;

    BatchLoader loader;
    int epoch;

    @Setup(Level.Trial)
    public void setUp() {
      loader = BatchLoader.builder(kvasirValidation(),
          new AugmentPipeline(AugmentPresets.parse(preset), size))
          .batchSize(8).threads(threads).seed(1).build();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      loader.close();
    }
  }

  /** Images per second the loader delivers to a consumer that does nothing else. */
  @Benchmark
  @OperationsPerInvocation(LOADER_SAMPLES)
  public void loader(LoaderState state, Blackhole blackhole) {
    try (BatchLoader.EpochBatches batches = state.loader.epoch(state.epoch++)) {
      for (int consumed = 0; consumed < LOADER_SAMPLES; ) {
        Batch batch = batches.next();
        blackhole.consume(batch.images().get(0));
        consumed += batch.size();
      }
    }
  }
}
