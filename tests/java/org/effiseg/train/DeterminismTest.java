package org.effiseg.train;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.eval.TrainingLog;
import org.effiseg.model.StateDict;
import org.effiseg.nativeapi.Context;
import org.effiseg.testing.MiniKvasir;
import org.effiseg.weights.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CPU determinism contract of docs/reproducibility.md: the same seed, data, settings and
 * native thread count give a bit-identical run (every checkpoint tensor, the optimizer state,
 * every logged metric; only timings differ), whatever the loader's thread count; another seed
 * gives another run. The smoke preset with its random augmentation, on 4 training images.
 */
class DeterminismTest {
  @TempDir static Path dir;
  private static SplitIndex train;
  private static SplitIndex validation;
  private static Path seed11;
  private static Path seed11OneLoaderThread;
  private static Path seed12;

  @BeforeAll
  static void trainThreeRuns() throws IOException {
    Path data = MiniKvasir.create(dir.resolve("data"), 4, 2, 0);
    train = SplitIndex.open(data, Split.TRAIN, BadInputPolicy.FAIL);
    validation = SplitIndex.open(data, Split.VALIDATION, BadInputPolicy.FAIL);
    seed11 = run("seed11", 11, 2);
    seed11OneLoaderThread = run("seed11-loader1", 11, 1);
    seed12 = run("seed12", 12, 2);
  }

  private static Path run(String name, long seed, int loaderThreads) throws IOException {
    TrainConfig c = TrainConfig.preset("smoke");
    c.apply(Map.of("seed", seed, "threads", 2, "workers", loaderThreads), "test");
    Path out = dir.resolve(name);
    new Trainer(c.validate(), train, validation, out, System.out).train();
    return out;
  }

  @Test
  void theSameSeedGivesBitIdenticalCheckpointsAndLogs() throws IOException {
    for (String file : List.of(Trainer.LAST, Trainer.BEST)) {
      Checkpoint a = Checkpoint.read(seed11.resolve(file));
      Checkpoint b = Checkpoint.read(seed11OneLoaderThread.resolve(file));
      assertBitIdentical(file, a.model(), b.model());
      assertThat(b.optimizer().expAvg()).isEqualTo(a.optimizer().expAvg());
      assertThat(b.optimizer().expAvgSq()).isEqualTo(a.optimizer().expAvgSq());
      assertThat(b.epoch()).isEqualTo(a.epoch());
      assertThat(b.step()).isEqualTo(a.step());
      assertThat(withoutTiming(b.metricsJson())).isEqualTo(withoutTiming(a.metricsJson()));
    }
    assertThat(loggedMetrics(seed11OneLoaderThread)).isEqualTo(loggedMetrics(seed11));
    assertThat(Files.readAllLines(seed11OneLoaderThread.resolve("epochs.jsonl")).stream()
            .map(DeterminismTest::withoutTiming).toList())
        .isEqualTo(Files.readAllLines(seed11.resolve("epochs.jsonl")).stream()
            .map(DeterminismTest::withoutTiming).toList());
  }

  @Test
  void anotherSeedGivesAnotherRun() throws IOException {
    StateDict a = Checkpoint.read(seed11.resolve(Trainer.LAST)).model();
    StateDict c = Checkpoint.read(seed12.resolve(Trainer.LAST)).model();
    long differing = a.names().stream()
        .filter(n -> !Arrays.equals(a.get(n).data(), c.get(n).data())).count();
    assertWithMessage("tensors that differ between seed 11 and 12").that(differing)
        .isGreaterThan(a.names().size() / 2L);
    double[] lossA = TrainingLog.read(seed11.resolve("epochs.csv")).column("train_loss");
    double[] lossC = TrainingLog.read(seed12.resolve("epochs.csv")).column("train_loss");
    assertThat(lossC).isNotEqualTo(lossA);
  }

  @Test
  void theRunRecordNamesTheDataBuildAndMachine() throws IOException {
    JsonObject a = JsonParser.parseString(Files.readString(seed11.resolve(RunRecord.FILE))).getAsJsonObject();
    JsonObject b = JsonParser.parseString(Files.readString(seed11OneLoaderThread.resolve(RunRecord.FILE))).getAsJsonObject();
    assertThat(b.get("data")).isEqualTo(a.get("data"));
    assertThat(a.getAsJsonObject("data").getAsJsonObject("train").get("pairs").getAsInt()).isEqualTo(4);
    assertThat(a.getAsJsonObject("data").getAsJsonObject("train").get("sha256").getAsString()).hasLength(64);
    JsonObject start = a.getAsJsonArray("starts").get(0).getAsJsonObject();
    assertThat(start.get("kind").getAsString()).isEqualTo("train");
    assertThat(start.get("threads").getAsInt()).isEqualTo(2);
    assertThat(start.get("backend").getAsString()).isEqualTo("cpu");
    for (String key : List.of("effiseg_version", "effiseg_commit", "native_core", "device", "java", "os", "host")) {
      assertWithMessage(key).that(start.get(key).getAsString()).isNotEmpty();
    }
    assertThat(b.getAsJsonArray("starts").get(0).getAsJsonObject().get("loader_threads").getAsInt()).isEqualTo(1);
  }

  @Test
  void aResumeOnOtherDataIsRefused(@TempDir Path run) throws IOException {
    TrainConfig c = TrainConfig.preset("smoke");
    try (Context ctx = Context.cpu(1)) {
      RunRecord.recordStart(run, c, train.head(4), validation.head(2), ctx, 1, 0);
      RunRecord.recordStart(run, c, train.head(4), validation.head(2), ctx, 1, 1);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> RunRecord.recordStart(run, c, train.head(3), validation.head(2), ctx, 1, 2));
      assertThat(e).hasMessageThat().contains(run.resolve(RunRecord.FILE).toString());
      assertThat(e).hasMessageThat().contains("other train data");
    }
    JsonObject record = JsonParser.parseString(Files.readString(run.resolve(RunRecord.FILE))).getAsJsonObject();
    assertThat(record.getAsJsonArray("starts").size()).isEqualTo(2);
    assertThat(record.getAsJsonArray("starts").get(1).getAsJsonObject().get("kind").getAsString()).isEqualTo("resume");
  }

  /** epochs.csv without the timing columns, as text per column. */
  private static Map<String, List<Double>> loggedMetrics(Path run) {
    TrainingLog log = TrainingLog.read(run.resolve("epochs.csv"));
    Map<String, List<Double>> m = new java.util.LinkedHashMap<>();
    for (String column : log.columns()) {
      if (!TrainingLog.TIMING_COLUMNS.contains(column)) {
        m.put(column, Arrays.stream(log.column(column)).boxed().toList());
      }
    }
    assertThat(m).containsKey("val_dice");
    return m;
  }

  private static JsonElement withoutTiming(String json) {
    JsonObject o = JsonParser.parseString(json).getAsJsonObject();
    TrainingLog.TIMING_COLUMNS.forEach(o::remove);
    return o;
  }

  private static void assertBitIdentical(String file, StateDict a, StateDict b) {
    assertThat(b.names()).containsExactlyElementsIn(a.names()).inOrder();
    assertThat(a.names().stream().anyMatch(n -> n.endsWith("running_var"))).isTrue();
    for (String name : a.names()) {
      assertWithMessage("%s: %s", file, name).that(b.get(name).shape()).isEqualTo(a.get(name).shape());
      assertWithMessage("%s: %s", file, name).that(b.get(name).data()).isEqualTo(a.get(name).data());
    }
  }
}
