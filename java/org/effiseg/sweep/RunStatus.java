package org.effiseg.sweep;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Where one run of a sweep stands, read from its run directory, its attempt record and its lock
 * (the run directory is the truth: a sweep keeps no state of its own about progress).
 *
 * @param epochsDone epoch rows in its {@code epochs.csv}
 * @param epochs the epochs its settings ask for (0 before it started)
 * @param scores the finished run's {@code scores-<split>.json}, or null
 */
public record RunStatus(SweepManifest.Run run, State state, int epochsDone, int epochs,
    Attempt lastAttempt, JsonObject scores) {

  /** The states a run can be in. */
  public enum State {
    /** No run directory yet. */
    NOT_STARTED,
    /** An attempt holds its lock now (this machine, or another one sharing the folder). */
    RUNNING,
    /** Started, not finished, and not failed: interrupted, or waiting in a queue. */
    INCOMPLETE,
    /** Its last attempt exited with an error. */
    FAILED,
    /** Trained and scored: {@code scores-<split>.json} is there. */
    FINISHED;

    /** The state in words: "not started", "finished", … */
    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ');
    }
  }

  /** Inspects {@code run} in {@code sweep}. */
  public static RunStatus of(SweepDirectory sweep, SweepManifest manifest, SweepManifest.Run run)
      throws IOException {
    Path dir = run.dir(sweep);
    Attempt attempt = Attempt.read(sweep.attempt(run.name()));
    JsonObject scores = scores(dir.resolve("scores-" + manifest.evalSplit() + ".json"));
    int done = epochRows(dir.resolve("epochs.csv"));
    int epochs = settingEpochs(dir.resolve("config.json"));
    State state;
    if (scores != null) {
      state = State.FINISHED;
    } else if (isLocked(sweep.lock(run.name()))) {
      state = State.RUNNING;
    } else if (attempt != null && attempt.failed()) {
      state = State.FAILED;
    } else if (Files.exists(dir)) {
      state = State.INCOMPLETE;
    } else {
      state = State.NOT_STARTED;
    }
    return new RunStatus(run, state, done, epochs, attempt, scores);
  }

  /**
   * Whether {@code run} has finished, without looking at its lock: for the holder of the lock,
   * which must not open the lock file again (closing a second channel on a file drops every lock
   * this process holds on it).
   */
  static boolean isFinished(SweepDirectory sweep, SweepManifest manifest, SweepManifest.Run run)
      throws IOException {
    return scores(run.dir(sweep).resolve("scores-" + manifest.evalSplit() + ".json")) != null;
  }

  /** The scores of one checkpoint ("best" or "last") by metric name, NaN where undefined. */
  public double score(String checkpoint, String metric) {
    JsonObject of = scores == null || !scores.has(checkpoint) ? null : scores.getAsJsonObject(checkpoint);
    JsonElement v = of == null ? null : of.get(metric);
    return v == null || v.isJsonNull() ? Double.NaN : v.getAsDouble();
  }

  private static JsonObject scores(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      return null;
    }
    try {
      JsonObject o = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
      return o.has("best") ? o : null;
    } catch (JsonParseException | IllegalStateException e) {
      return null; // a file cut short by a crash: the run is not finished
    }
  }

  private static int epochRows(Path csv) throws IOException {
    if (!Files.isRegularFile(csv)) {
      return 0;
    }
    List<String> lines = Files.readAllLines(csv);
    return (int) lines.stream().skip(1).filter(l -> !l.isBlank()).count();
  }

  private static int settingEpochs(Path config) throws IOException {
    if (!Files.isRegularFile(config)) {
      return 0;
    }
    try {
      JsonElement e = JsonParser.parseString(Files.readString(config)).getAsJsonObject().get("epochs");
      return e == null ? 0 : e.getAsInt();
    } catch (JsonParseException | IllegalStateException | NumberFormatException e) {
      return 0;
    }
  }

  /** Whether another process holds {@code lock}. */
  static boolean isLocked(Path lock) throws IOException {
    if (!Files.exists(lock)) {
      return false;
    }
    try (FileChannel channel = FileChannel.open(lock, StandardOpenOption.WRITE)) {
      FileLock held = channel.tryLock();
      if (held == null) {
        return true;
      }
      held.release();
      return false;
    } catch (OverlappingFileLockException e) {
      return true; // this process runs it
    }
  }
}
