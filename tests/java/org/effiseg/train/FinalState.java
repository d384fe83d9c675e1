package org.effiseg.train;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.effiseg.weights.Checkpoint;

/**
 * What a finished run directory holds, read once, to compare other runs with: the best and last
 * checkpoints and the log rows (without the timing columns, the only ones a rerun changes).
 */
record FinalState(Checkpoint best, Checkpoint last, List<String> log) {
  static FinalState of(Path run) throws IOException {
    return new FinalState(Checkpoint.read(run.resolve(Trainer.BEST)),
        Checkpoint.read(run.resolve(Trainer.LAST)), deterministicColumns(run));
  }

  /**
   * {@code run} ended here: best and last tensor-equal (model and AdamW moments), the same epoch,
   * step and log rows, and no temporary or rollback file left.
   */
  void assertReachedBy(Path run) throws IOException {
    assertSame(best, run.resolve(Trainer.BEST));
    assertSame(last, run.resolve(Trainer.LAST));
    assertThat(deterministicColumns(run)).isEqualTo(log);
    try (var entries = Files.list(run)) {
      assertThat(entries.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList())
          .isEmpty();
    }
  }

  static void assertSame(Checkpoint expected, Path actualFile) throws IOException {
    Checkpoint actual = Checkpoint.read(actualFile);
    assertWithMessage(actualFile + " epoch").that(actual.epoch()).isEqualTo(expected.epoch());
    assertWithMessage(actualFile + " step").that(actual.step()).isEqualTo(expected.step());
    assertThat(actual.model().names()).containsExactlyElementsIn(expected.model().names()).inOrder();
    for (String name : expected.model().names()) {
      assertWithMessage(actualFile + " " + name).that(actual.model().get(name))
          .isEqualTo(expected.model().get(name));
    }
    assertThat(actual.optimizer().expAvg()).isEqualTo(expected.optimizer().expAvg());
    assertThat(actual.optimizer().expAvgSq()).isEqualTo(expected.optimizer().expAvgSq());
  }

  /** The best epoch the last checkpoint of {@code run} names. */
  static int bestEpochOf(Path run) throws IOException {
    String metrics = Checkpoint.readHeader(run.resolve(Trainer.LAST)).metricsJson();
    return JsonParser.parseString(metrics).getAsJsonObject().get("best_epoch").getAsInt();
  }

  /** epochs.csv without the timing columns. */
  static List<String> deterministicColumns(Path run) throws IOException {
    List<String> lines = Files.readAllLines(run.resolve("epochs.csv"));
    List<String> header = List.of(lines.get(0).split(","));
    int cut = header.indexOf("data_seconds");
    return lines.stream()
        .map(l -> String.join(",", List.of(l.split(",", -1)).subList(0, cut)))
        .toList();
  }
}
