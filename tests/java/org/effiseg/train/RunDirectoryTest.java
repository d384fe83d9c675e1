package org.effiseg.train;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.testing.TinyRuns;
import org.effiseg.weights.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run directory after a failure is always one a user can continue: best and last agree with
 * each other and the log, and {@code resume} ends where an uninterrupted run does. Failed writes
 * are provoked by putting a folder where a checkpoint must go (what a full disk does to the
 * write that hits it); {@code FaultInjectionTest} kills real processes.
 */
class RunDirectoryTest {
  @TempDir static Path shared;
  private static SplitIndex train;
  private static SplitIndex validation;
  /** An uninterrupted 3-epoch run, the state every test must reach. */
  private static Path reference;
  private static FinalState referenceState;
  /** The same run with a weight average whose best-ema is written at epochs 1 and 3. */
  private static TrainConfig emaConfig;
  private static Path emaReference;
  private static FinalState emaReferenceState;

  @BeforeAll
  static void referenceRun() throws IOException {
    Path data = TinyRuns.dataset(shared.resolve("data"));
    train = SplitIndex.open(data, Split.TRAIN, BadInputPolicy.FAIL);
    validation = SplitIndex.open(data, Split.VALIDATION, BadInputPolicy.FAIL);
    reference = shared.resolve("reference");
    new Trainer(TinyRuns.config(3), train, validation, reference, System.out).train();
    assertWithMessage("test setup: the reference run must improve after epoch 1")
        .that(FinalState.bestEpochOf(reference)).isAtLeast(2);
    referenceState = FinalState.of(reference);
    emaConfig = TinyRuns.emaConfig(3, TinyRuns.emaDecay());
    emaReference = shared.resolve("ema-reference");
    new Trainer(emaConfig, train, validation, emaReference, System.out).train();
    assertWithMessage("test setup: the average must improve after epoch 1")
        .that(FinalState.bestEmaEpochOf(emaReference)).isAtLeast(2);
    emaReferenceState = FinalState.of(emaReference);
  }

  @Test
  void aBestCheckpointThatCannotBeWrittenLeavesTheLastCommittedEpoch(@TempDir Path dir)
      throws IOException {
    int bestEpoch = FinalState.bestEpochOf(reference);
    Path run = dir.resolve("run");
    // the best epoch's checkpoint cannot be written
    failWriting(TinyRuns.config(3), run, Trainer.BEST, dir.resolve("saved"), bestEpoch);
    assertConsistent(run);

    new Trainer(Trainer.configOf(run), train, validation, run, System.out).resume();
    assertSameFinalState(run);
  }

  @Test
  void aBestEmaCheckpointThatCannotBeWrittenLeavesTheLastCommittedEpoch(@TempDir Path dir)
      throws IOException {
    int bestEmaEpoch = FinalState.bestEmaEpochOf(emaReference);
    Path run = dir.resolve("run");
    // the best average's checkpoint cannot be written
    failWriting(emaConfig, run, Trainer.BEST_EMA, dir.resolve("saved"), bestEmaEpoch);
    assertThat(Checkpoint.readHeader(run.resolve(Trainer.LAST)).epoch()).isEqualTo(bestEmaEpoch - 1);
    assertThat(Checkpoint.read(run.resolve(Trainer.BEST_EMA)).epoch())
        .isEqualTo(FinalState.bestEmaEpochOf(run));

    new Trainer(Trainer.configOf(run), train, validation, run, System.out).resume();
    emaReferenceState.assertReachedBy(run);
  }

  /**
   * Trains {@code config} into {@code run} with checkpoint {@code name} made unwritable (moved to
   * {@code saved}, see {@link #block}) after the first batch of (1-based) epoch {@code epoch};
   * the run must fail, and the block is lifted again.
   */
  private static void failWriting(TrainConfig config, Path run, String name, Path saved, int epoch)
      throws IOException {
    Trainer trainer = new Trainer(config, train, validation, run, System.out);
    trainer.onBatch((e, batch) -> {
      if (e == epoch - 1 && batch == 1) {
        block(run.resolve(name), saved);
      }
    });
    assertThrows(IOException.class, trainer::train);
    unblock(run.resolve(name), saved);
  }

  @Test
  void aMissingBestEmaIsAnErrorNamingIt(@TempDir Path dir) throws IOException {
    Path run = dir.resolve("run");
    Files.createDirectories(run);
    try (var files = Files.list(emaReference)) {
      for (Path f : files.toList()) {
        Files.copy(f, run.resolve(f.getFileName()));
      }
    }
    Files.delete(run.resolve(Trainer.BEST_EMA));
    IOException e = assertThrows(IOException.class,
        () -> new Trainer(Trainer.configOf(run), train, validation, run, System.out).resume());
    assertThat(e).hasMessageThat().contains(run.resolve(Trainer.BEST_EMA) + " is missing but "
        + run.resolve(Trainer.LAST) + " says it holds epoch " + FinalState.bestEmaEpochOf(emaReference));
  }

  @Test
  void aFirstBestCheckpointThatCannotBeWrittenLeavesAResumableRun(@TempDir Path dir)
      throws IOException {
    Path oneEpoch = dir.resolve("one-epoch-reference");
    new Trainer(TinyRuns.config(1), train, validation, oneEpoch, System.out).train();
    Path run = dir.resolve("run");
    Trainer trainer = new Trainer(TinyRuns.config(1), train, validation, run, System.out);
    trainer.onBatch((epoch, batch) -> block(run.resolve(Trainer.BEST), null));
    assertThrows(IOException.class, trainer::train);
    unblock(run.resolve(Trainer.BEST), null);

    new Trainer(Trainer.configOf(run), train, validation, run, System.out).resume();
    FinalState.of(oneEpoch).assertReachedBy(run);
  }

  @Test
  void aRunStoppedBeforeItsFirstCheckpointCanBeResumedOrStartedAgain(@TempDir Path dir)
      throws IOException {
    for (boolean resume : new boolean[] {true, false}) {
      Path run = dir.resolve("run-" + resume);
      Trainer doomed = new Trainer(TinyRuns.config(3), train, validation, run, System.out);
      doomed.onBatch((epoch, batch) -> {
        throw new IllegalStateException("simulated crash in epoch 1");
      });
      assertThrows(IllegalStateException.class, doomed::train);
      assertThat(Files.exists(run.resolve("config.json"))).isTrue();

      Trainer again = new Trainer(resume ? Trainer.configOf(run) : TinyRuns.config(3), train,
          validation, run, System.out);
      if (resume) {
        again.resume();
      } else {
        again.train();
      }
      assertSameFinalState(run);
    }
  }

  @Test
  void staleTemporariesAreRemovedAndUserFilesKept(@TempDir Path dir) throws IOException {
    Path run = dir.resolve("run");
    new Trainer(TinyRuns.config(1), train, validation, run, System.out).train();
    List<String> debris = List.of(".last.safetensors.8123.tmp", ".best.safetensors.77.tmp",
        ".epochs.csv.4.tmp", ".epochs.jsonl.5.tmp", ".config.json.6.tmp",
        ".report-best-test.html.99.tmp");
    for (String name : debris) {
      Files.writeString(run.resolve(name), "half a file");
    }
    Files.writeString(run.resolve("notes.txt"), "mine");
    new Trainer(Trainer.configOf(run), train, validation, run, System.out).resume();
    assertThat(names(run)).containsNoneIn(debris);
    assertThat(Files.readString(run.resolve("notes.txt"))).isEqualTo("mine");
  }

  /** Puts a non-empty folder where {@code file} is (keeping the file in {@code saved}). */
  private static void block(Path file, Path saved) {
    try {
      if (saved != null && Files.exists(file)) {
        Files.move(file, saved);
      }
      Files.createDirectories(file.resolve("blocked"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void unblock(Path file, Path saved) throws IOException {
    Files.delete(file.resolve("blocked"));
    Files.delete(file);
    if (saved != null && Files.exists(saved)) {
      Files.move(saved, file);
    }
  }

  /** What the last checkpoint says the best epoch was agrees with the best checkpoint. */
  private static void assertConsistent(Path run) throws IOException {
    int claimed = FinalState.bestEpochOf(run);
    assertThat(Checkpoint.read(run.resolve(Trainer.BEST)).epoch()).isEqualTo(claimed);
  }

  private static void assertSameFinalState(Path run) throws IOException {
    referenceState.assertReachedBy(run);
  }

  private static List<String> names(Path dir) throws IOException {
    try (var entries = Files.list(dir)) {
      return entries.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
