package org.effiseg.train;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.effiseg.eval.TrainingLog;
import org.effiseg.weights.Checkpoint;

/**
 * What a finished run directory holds, read once, to compare other runs with: the best and last
 * checkpoints, best-ema where the run keeps a weight average (else null), and the log rows
 * (without the timing columns, the only ones a rerun changes).
 */
record FinalState(Checkpoint best, Checkpoint last, Checkpoint bestEma, List<String> log) {
  static FinalState of(Path run) throws IOException {
    Path bestEma = run.resolve(Trainer.BEST_EMA);
    return new FinalState(Checkpoint.read(run.resolve(Trainer.BEST)),
        Checkpoint.read(run.resolve(Trainer.LAST)),
        Files.exists(bestEma) ? Checkpoint.read(bestEma) : null, deterministicColumns(run));
  }

  /**
   * {@code run} ended here: best, last (and best-ema, or its absence) tensor-equal (model, AdamW
   * moments, weight average), the same epoch, step and log rows, and no temporary or rollback
   * file left.
   */
  void assertReachedBy(Path run) throws IOException {
    assertSame(best, run.resolve(Trainer.BEST));
    assertSame(last, run.resolve(Trainer.LAST));
    assertWithMessage(run.resolve(Trainer.BEST_EMA) + " exists")
        .that(Files.exists(run.resolve(Trainer.BEST_EMA))).isEqualTo(bestEma != null);
    if (bestEma != null) { // checked above that the file exists exactly then
      assertSame(bestEma, run.resolve(Trainer.BEST_EMA));
    }
    assertThat(deterministicColumns(run)).isEqualTo(log);
    try (var entries = Files.list(run)) {
      assertThat(entries.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList())
          .isEmpty();
    }
  }

  /** The checkpoint in {@code actualFile} is tensor-equal to {@code expected}, weight average included. */
  static void assertSame(Checkpoint expected, Path actualFile) throws IOException {
    Checkpoint actual = assertSameRaw(expected, actualFile);
    assertWithMessage(actualFile + " holds a weight average").that(actual.ema() != null)
        .isEqualTo(expected.ema() != null);
    assertWithMessage(actualFile + " weight average").that(flat(actual.ema()))
        .isEqualTo(flat(expected.ema()));
  }

  /**
   * The raw model of {@code actualFile} is {@code expected}'s: epoch, step, every tensor and the
   * AdamW moments (the weight average is not compared). Returns the file's checkpoint.
   */
  static Checkpoint assertSameRaw(Checkpoint expected, Path actualFile) throws IOException {
    Checkpoint actual = Checkpoint.read(actualFile);
    assertWithMessage(actualFile + " epoch").that(actual.epoch()).isEqualTo(expected.epoch());
    assertWithMessage(actualFile + " step").that(actual.step()).isEqualTo(expected.step());
    assertThat(actual.model().names()).containsExactlyElementsIn(expected.model().names()).inOrder();
    for (String name : expected.model().names()) {
      assertWithMessage(actualFile + " " + name).that(actual.model().get(name))
          .isEqualTo(expected.model().get(name));
    }
    assertWithMessage(actualFile + " holds AdamW moments").that(actual.optimizer() != null)
        .isEqualTo(expected.optimizer() != null);
    assertWithMessage(actualFile + " AdamW moments").that(flat(actual.optimizer()))
        .isEqualTo(flat(expected.optimizer()));
    return actual;
  }

  private static float[] flat(Checkpoint.OptimizerState o) {
    return o == null ? new float[0] : concat(o.expAvg(), o.expAvgSq());
  }

  private static float[] flat(Checkpoint.Ema e) {
    return e == null ? new float[0] : concat(e.weights(), e.buffers());
  }

  private static float[] concat(float[] a, float[] b) {
    float[] ab = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, ab, a.length, b.length);
    return ab;
  }

  /** The best epoch the last checkpoint of {@code run} names. */
  static int bestEpochOf(Path run) throws IOException {
    return metricOf(run, "best_epoch");
  }

  /** The epoch of the best weight average the last checkpoint of {@code run} names. */
  static int bestEmaEpochOf(Path run) throws IOException {
    return metricOf(run, "best_ema_epoch");
  }

  private static int metricOf(Path run, String key) throws IOException {
    String metrics = Checkpoint.readHeader(run.resolve(Trainer.LAST)).metricsJson();
    return JsonParser.parseString(metrics).getAsJsonObject().get(key).getAsInt();
  }

  /** epochs.csv without the timing columns. */
  static List<String> deterministicColumns(Path run) throws IOException {
    List<String> lines = Files.readAllLines(run.resolve("epochs.csv"));
    List<String> header = List.of(lines.get(0).split(","));
    List<String> kept = new ArrayList<>();
    for (String line : lines) {
      List<String> cells = List.of(line.split(",", -1));
      List<String> deterministic = new ArrayList<>();
      for (int i = 0; i < header.size(); i++) {
        if (!TrainingLog.TIMING_COLUMNS.contains(header.get(i))) {
          deterministic.add(cells.get(i));
        }
      }
      kept.add(String.join(",", deterministic));
    }
    return kept;
  }
}
