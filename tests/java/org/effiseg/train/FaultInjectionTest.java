package org.effiseg.train;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.testing.TinyRuns;
import org.effiseg.util.FaultPoints;
import org.effiseg.weights.Checkpoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Crash consistency by force (docs/run-directory.md): a 3-epoch run (best at epochs 1 and 3, so
 * every path of the write protocol runs) is recorded once; then, for the write steps it reached
 * (see {@link #killCases}), a child JVM runs the same training and is halted at that step, and
 * {@code resume} must end with best and last tensor-equal to the uninterrupted run's, the same
 * log rows and no temporary left. The same for a run with a weight average ({@code --ema}, its
 * best-ema also best at epochs 1 and 3) at the steps that write best-ema and the protocol's own.
 * Full disks: injected ENOSPC at each file's write, and a real 100 MiB tmpfs where the test may
 * mount one.
 */
class FaultInjectionTest {
  private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());
  private static Path root;
  private static Path data;
  private static SplitIndex train;
  private static SplitIndex validation;
  private static Path reference;
  private static FinalState referenceState;
  /** Every fault point the uninterrupted run reached, in order. */
  private static List<String> points;
  /** The same run with a weight average ({@code --ema}): its decay, final state and points. */
  private static double emaDecay;
  private static FinalState emaReferenceState;
  private static List<String> emaPoints;

  @BeforeAll
  static void recordAnUninterruptedRun() throws IOException {
    // tmpfs where there is one: fsync costs nothing, and a kill leaves the same files either way
    Path shm = Path.of("/dev/shm");
    root = Files.isDirectory(shm) && Files.isWritable(shm)
        ? Files.createTempDirectory(shm, "effiseg-faults")
        : Files.createTempDirectory("effiseg-faults");
    data = TinyRuns.dataset(root.resolve("data"));
    train = SplitIndex.open(data, Split.TRAIN, BadInputPolicy.FAIL);
    validation = SplitIndex.open(data, Split.VALIDATION, BadInputPolicy.FAIL);
    reference = root.resolve("reference");
    TrainConfig config = TinyRuns.config(3); // before recording: it may run the seed search
    List<String> recorded = FaultPoints.record();
    try {
      new Trainer(config, train, validation, reference, QUIET).train();
      points = List.copyOf(recorded);
      referenceState = FinalState.of(reference);
    } finally {
      FaultPoints.reset();
    }
    assertWithMessage("test setup: the run must improve in epochs 1 and 3, not 2")
        .that(points.stream().filter(p -> p.equals("run/best-kept")).count()).isEqualTo(2);
    assertWithMessage("test setup: best epoch").that(FinalState.bestEpochOf(reference)).isEqualTo(3);

    emaDecay = TinyRuns.emaDecay();
    Path emaReference = root.resolve("ema-reference");
    recorded = FaultPoints.record();
    try {
      new Trainer(TinyRuns.emaConfig(3, emaDecay), train, validation, emaReference, QUIET).train();
      emaPoints = List.copyOf(recorded);
      emaReferenceState = FinalState.of(emaReference);
    } finally {
      FaultPoints.reset();
    }
    assertWithMessage("test setup: the average must improve in epochs 1 and 3, not 2")
        .that(emaPoints.stream().filter(p -> p.equals("run/best-ema-kept")).count()).isEqualTo(2);
    assertWithMessage("test setup: best EMA epoch").that(FinalState.bestEmaEpochOf(emaReference))
        .isEqualTo(3);
  }

  @AfterAll
  static void cleanUp() throws IOException {
    delete(root);
  }

  @AfterEach
  void disarm() {
    FaultPoints.reset();
  }

  /**
   * The kill cases: {@code POINT:N} for each point the reference reached. A kill leaves the same
   * files after any of a write's first three steps (a temporary exists, the target is unchanged)
   * and after either of its last two (the target replaced), so by default each write is killed
   * once before and once after its rename, rotating through the step names; {@code
   * -Deffiseg.faults=all} kills at every step of every write.
   */
  static List<String> killCases(boolean everyStep) {
    return killCases(points, everyStep, file -> true);
  }

  /**
   * The kill cases among {@code reached}: every protocol step, and the steps of the writes of the
   * files {@code writes} accepts as above.
   */
  static List<String> killCases(List<String> reached, boolean everyStep,
      java.util.function.Predicate<String> writes) {
    List<String> before = List.of("created", "written", "synced");
    List<String> after = List.of("renamed", "done");
    List<String> cases = new ArrayList<>();
    Map<String, Integer> seen = new HashMap<>();
    int write = 0;
    for (String point : reached) {
      String occurrence = point + ":" + seen.merge(point, 1, Integer::sum);
      String file = point.substring(0, point.indexOf('/'));
      String stage = point.substring(point.indexOf('/') + 1);
      boolean protocolStep = file.equals("run");
      if (protocolStep || (writes.test(file) && (everyStep || stage.equals(before.get(write % 3))
          || stage.equals(after.get(write % 2))))) {
        cases.add(occurrence);
      }
      if (stage.equals("done") && writes.test(file)) {
        write++;
      }
    }
    return cases;
  }

  @Test
  void killedAtAnyWriteStepTheRunResumesToTheUninterruptedState() throws Exception {
    boolean everyStep = "all".equals(System.getProperty("effiseg.faults"));
    List<String> cases = killCases(everyStep);
    // 13 writes (config, run record; logs, best, last of epochs 1 and 3; logs and last of epoch 2)
    assertThat(cases.size()).isEqualTo(everyStep ? 13 * 5 + 5 : 13 * 2 + 5);
    assertEveryCaseResumes(cases, fault -> killAndResume(fault, List.of(), TinyRuns.config(3), referenceState));
  }

  @Test
  void killedWhileWritingBestEmaTheRunResumesToTheUninterruptedState() throws Exception {
    boolean everyStep = "all".equals(System.getProperty("effiseg.faults"));
    List<String> cases = killCases(emaPoints, everyStep, file -> file.equals(Trainer.BEST_EMA));
    // 2 writes of best-ema; protocol steps: best-kept and best-ema-kept twice, committed 3 times
    assertThat(cases.size()).isEqualTo((everyStep ? 2 * 5 : 2 * 2) + 7);
    List<String> flags = List.of("--ema", Double.toString(emaDecay));
    assertEveryCaseResumes(cases, fault -> killAndResume("ema-" + fault, fault, flags,
        TinyRuns.emaConfig(3, emaDecay), emaReferenceState));
  }

  /**
   * Runs {@code killAndResume} for every crash point, two at a time (each is a child JVM), and
   * asserts that none reported a failure (it returns null when the resumed run matched).
   */
  private static void assertEveryCaseResumes(List<String> cases,
      java.util.function.Function<String, String> killAndResume) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<String>> results = new ArrayList<>();
      for (String fault : cases) {
        results.add(pool.submit(() -> killAndResume.apply(fault)));
      }
      List<String> failures = new ArrayList<>();
      for (Future<String> r : results) {
        String failure = r.get(10, TimeUnit.MINUTES);
        if (failure != null) {
          failures.add(failure);
        }
      }
      assertWithMessage(failures.size() + " of " + cases.size() + " crash points").that(failures).isEmpty();
    } finally {
      pool.shutdownNow();
    }
  }

  private static String killAndResume(String fault, List<String> flags, TrainConfig config,
      FinalState expected) {
    return killAndResume(fault, fault, flags, config, expected);
  }

  /**
   * Returns null when the run (in folder {@code name}) killed at {@code fault}, training with
   * {@code flags} after {@link TinyRuns#flags} ({@code config}), resumes to {@code expected}.
   */
  private static String killAndResume(String name, String fault, List<String> flags,
      TrainConfig config, FinalState expected) {
    Path run = root.resolve("killed-" + name.replaceAll("[^A-Za-z0-9.-]", "_"));
    try {
      int exit = trainInChildJvm(run, fault, flags);
      if (exit != FaultPoints.HALT_STATUS) {
        return fault + ": the child exited " + exit + ", not halted at the fault point";
      }
      assertRecoverable(run);
      if (Files.exists(run.resolve("config.json"))) {
        new Trainer(Trainer.configOf(run), train, validation, run, QUIET).resume();
      } else { // killed while the directory was made: the same train command starts it over
        new Trainer(config, train, validation, run, QUIET).train();
      }
      expected.assertReachedBy(run);
      return null;
    } catch (Exception | AssertionError e) {
      return fault + ": " + e.getMessage();
    } finally {
      delete(run);
    }
  }

  /**
   * What the protocol promises at every instant: each checkpoint present is complete; where
   * last exists, the logs hold at least its epochs and best (or the rollback link) holds the
   * best epoch it names, and likewise best-ema (or its link) the best EMA epoch it names.
   */
  private static void assertRecoverable(Path run) throws IOException {
    for (String name : List.of(Trainer.BEST, Trainer.LAST, RunDirectory.ROLLBACK, Trainer.BEST_EMA,
        RunDirectory.ROLLBACK_EMA)) {
      if (Files.exists(run.resolve(name))) {
        // the header is checked against the file's size: a file cut short throws
        Checkpoint.readHeader(run.resolve(name));
      }
    }
    Path last = run.resolve(Trainer.LAST);
    if (Files.exists(last)) {
      Checkpoint.Header header = Checkpoint.readHeader(last);
      int best = RunDirectory.bestEpochOf(last, header.metricsJson());
      assertThat(Files.readAllLines(run.resolve("epochs.jsonl")).size()).isAtLeast(header.epoch());
      boolean bestHeld = Checkpoint.readHeader(run.resolve(Trainer.BEST)).epoch() == best;
      boolean rollbackHeld = Files.exists(run.resolve(RunDirectory.ROLLBACK))
          && Checkpoint.readHeader(run.resolve(RunDirectory.ROLLBACK)).epoch() == best;
      assertWithMessage("best epoch " + best + " is on disk").that(bestHeld || rollbackHeld).isTrue();
      int bestEma = RunDirectory.bestEmaEpochOf(last, header.metricsJson());
      assertWithMessage("best EMA epoch " + bestEma + " is on disk")
          .that(bestEma == 0 || epochOf(run.resolve(Trainer.BEST_EMA)) == bestEma
              || epochOf(run.resolve(RunDirectory.ROLLBACK_EMA)) == bestEma).isTrue();
    }
  }

  private static int epochOf(Path checkpoint) throws IOException {
    return Files.exists(checkpoint) ? Checkpoint.readHeader(checkpoint).epoch() : -1;
  }

  /** `effiseg train` of the reference's settings in a new JVM with EFFISEG_FAULT_AT=fault. */
  private static int trainInChildJvm(Path run, String fault, List<String> flags)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx384m", "-Xshare:auto",
        "--enable-native-access=ALL-UNNAMED",
        "-cp", System.getProperty("java.class.path"), "org.effiseg.cli.Main",
        "train", "--data", data.toString(), "--out", run.toString(), "--eval-split", "none"));
    command.addAll(TinyRuns.flags(3));
    command.addAll(flags);
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().put("EFFISEG_FAULT_AT", fault);
    Process child = pb.start();
    if (!child.waitFor(5, TimeUnit.MINUTES)) {
      child.destroyForcibly();
      throw new IOException("the child training did not finish in 5 minutes");
    }
    return child.exitValue();
  }

  @Test
  void aWriteThatFailsAsOnAFullDiskLeavesTheCommittedState() throws IOException {
    // epoch 3 improves: its log, the rollback link, best and last
    List<String> faults = List.of("epochs.csv/synced:3", "run/best-kept:2",
        "best.safetensors/written:2", "last.safetensors/written:3");
    for (String fault : faults) {
      Path run = root.resolve("enospc-" + fault.replaceAll("[^A-Za-z0-9.-]", "_"));
      FaultPoints.injectEnospc(fault);
      IOException e = assertThrows(IOException.class,
          () -> new Trainer(TinyRuns.config(3), train, validation, run, QUIET).train());
      FaultPoints.reset();
      assertWithMessage(fault).that(e).hasMessageThat().contains("No space left on device");
      new Trainer(Trainer.configOf(run), train, validation, run, QUIET).resume();
      referenceState.assertReachedBy(run);
      delete(run);
    }
  }

  @Test
  void aBestEmaWriteThatFailsAsOnAFullDiskLeavesTheCommittedState() throws IOException {
    // epoch 3 improves the average: the rollback link of best-ema, best-ema
    for (String fault : List.of("run/best-ema-kept:2", "best-ema.safetensors/written:2")) {
      Path run = root.resolve("enospc-ema-" + fault.replaceAll("[^A-Za-z0-9.-]", "_"));
      FaultPoints.injectEnospc(fault);
      IOException e = assertThrows(IOException.class,
          () -> new Trainer(TinyRuns.emaConfig(3, emaDecay), train, validation, run, QUIET).train());
      FaultPoints.reset();
      assertWithMessage(fault).that(e).hasMessageThat().contains("No space left on device");
      assertThat(Checkpoint.readHeader(run.resolve(Trainer.LAST)).epoch()).isEqualTo(2);
      new Trainer(Trainer.configOf(run), train, validation, run, QUIET).resume();
      emaReferenceState.assertReachedBy(run);
      delete(run);
    }
  }

  @Test
  void aRealFullDiskLeavesTheCommittedState() throws Exception {
    Path mount = Files.createTempDirectory("effiseg-full-disk");
    Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=100m", "tmpfs", mount.toString())
        .redirectErrorStream(true).start();
    String why = new String(p.getInputStream().readAllBytes()).strip();
    boolean mounted = p.waitFor() == 0;
    try {
      Assumptions.assumeTrue(mounted, "cannot mount a tmpfs here (needs root): " + why);
      // 100 MiB holds config, logs, best and last of epoch 1 (2 x 43 MiB), not epoch 2's last
      Path run = mount.resolve("run");
      IOException e = assertThrows(IOException.class,
          () -> new Trainer(TinyRuns.config(3), train, validation, run, QUIET).train());
      assertThat(e).hasMessageThat().contains(run.resolve(Trainer.LAST).toString());
      try (Stream<Path> files = Files.list(run)) {
        assertThat(files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList())
            .isEmpty();
      }
      assertThat(FinalState.bestEpochOf(run)).isEqualTo(1);
      Path copy = root.resolve("copied-from-full-disk");
      copyTree(run, copy);
      new Trainer(Trainer.configOf(copy), train, validation, copy, QUIET).resume();
      referenceState.assertReachedBy(copy);
      delete(copy);
    } finally {
      if (mounted) {
        new ProcessBuilder("umount", "-l", mount.toString()).start().waitFor();
      }
      Files.deleteIfExists(mount);
    }
  }

  private static void copyTree(Path from, Path to) throws IOException {
    Files.createDirectories(to);
    try (Stream<Path> files = Files.list(from)) {
      for (Path f : files.toList()) {
        Files.copy(f, to.resolve(f.getFileName()));
      }
    }
  }

  private static void delete(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
