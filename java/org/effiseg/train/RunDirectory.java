package org.effiseg.train;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.effiseg.util.AtomicFiles;
import org.effiseg.util.FaultPoints;
import org.effiseg.weights.Checkpoint;

/**
 * A run directory as a small database whose every state a crash can leave is valid (the
 * protocol is described in docs/run-directory.md and {@link Trainer}).
 *
 * <p>{@code last.safetensors} is the commit record: the epoch it holds is committed, and so is
 * the best epoch its metrics name. Everything else either agrees with it or belongs to the one
 * epoch after it that was being written when the process died; {@link #recover} rolls that back
 * on the next start. End of an epoch, in this order, each file written atomically (temporary,
 * fsync, rename, fsync of the folder):
 *
 * <ol>
 *   <li>{@code epochs.jsonl}, {@code epochs.csv} with the epoch's row;
 *   <li>if the epoch is the new best: a hard link {@code .best.rollback.safetensors} to the
 *       current best, then {@code best.safetensors};
 *   <li>in a run with a weight average ({@code --ema}), if the epoch's average is the new best
 *       average: likewise {@code .best-ema.rollback.safetensors}, then {@code
 *       best-ema.safetensors};
 *   <li>{@code last.safetensors} (the commit);
 *   <li>the rollback links are deleted.
 * </ol>
 */
final class RunDirectory {
  static final String CONFIG = "config.json";
  static final String LAST = Trainer.LAST;
  static final String BEST = Trainer.BEST;
  static final String ROLLBACK = ".best.rollback.safetensors";
  static final String BEST_EMA = Trainer.BEST_EMA;
  static final String ROLLBACK_EMA = ".best-ema.rollback.safetensors";
  /** Every file a run writes before its first checkpoint and the protocol writes after. */
  private static final Set<String> FILES = Set.of(CONFIG, RunRecord.FILE, EpochLog.CSV,
      EpochLog.JSONL, BEST, LAST, ROLLBACK, BEST_EMA, ROLLBACK_EMA);

  private final Path dir;
  private final PrintStream out;

  RunDirectory(Path dir, PrintStream out) {
    this.dir = dir;
    this.out = out;
  }

  Path dir() {
    return dir;
  }

  Path file(String name) {
    return dir.resolve(name);
  }

  /**
   * What the last checkpoint committed: its epoch, the best epoch it names and, in a run with a
   * weight average, the epoch of the best average (0 in a run without).
   */
  record Committed(int epoch, int bestEpoch, int bestEmaEpoch) {}

  /**
   * Makes a new run directory holding {@code configJson}, or reuses one that holds no committed
   * checkpoint and nothing but run files (a run that stopped before its first checkpoint).
   */
  void create(String configJson) throws IOException {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new IllegalArgumentException(dir + " is a file; --out must be a folder");
    }
    if (Files.isDirectory(dir)) {
      List<String> entries = entries();
      boolean onlyRunFiles = entries.stream().allMatch(RunDirectory::isRunFile);
      if (entries.contains(LAST) || !onlyRunFiles) {
        throw new IllegalArgumentException(
            dir + " already exists; choose another --out, or continue it with --resume");
      }
      if (!entries.isEmpty()) {
        out.println(dir + " holds no checkpoint yet (a run that stopped in its first epoch):"
            + " starting it over");
      }
      for (String name : entries) {
        Files.deleteIfExists(dir.resolve(name));
      }
    }
    Files.createDirectories(dir);
    AtomicFiles.writeString(dir.resolve(CONFIG), configJson + "\n");
  }

  /**
   * Brings the directory back to its last committed state: removes stale temporaries, rolls
   * back (or forward) the best checkpoint, truncates the logs to the committed epochs. Returns
   * that state, or null where no epoch was committed (the run starts over).
   */
  Committed recover(EpochLog log) throws IOException {
    // the run's own files and the reports written into it after training
    List<String> removed = AtomicFiles.removeStaleTemporaries(dir, null);
    if (!removed.isEmpty()) {
      out.println("removed " + removed.size() + " temporary file(s) of an interrupted write: "
          + String.join(", ", removed));
    }
    Path last = dir.resolve(LAST);
    if (!Files.exists(last)) {
      for (String uncommitted : List.of(BEST, ROLLBACK, BEST_EMA, ROLLBACK_EMA, EpochLog.JSONL,
          EpochLog.CSV)) {
        Files.deleteIfExists(dir.resolve(uncommitted));
      }
      AtomicFiles.syncDirectory(dir);
      return null;
    }
    Checkpoint.Header header = Checkpoint.readHeader(last);
    Committed committed = new Committed(header.epoch(), bestEpochOf(last, header.metricsJson()),
        bestEmaEpochOf(last, header.metricsJson()));
    recoverBest(BEST, ROLLBACK, committed.bestEpoch(), committed.bestEpoch() == committed.epoch());
    if (committed.bestEmaEpoch() > 0) {
      // last holds the average only as flat tensors, never as best-ema's model: no copy from it
      recoverBest(BEST_EMA, ROLLBACK_EMA, committed.bestEmaEpoch(), false);
    }
    log.truncate(committed.epoch());
    return committed;
  }

  /**
   * Makes {@code name} hold {@code bestEpoch}: as it is, from its rollback link, or (with {@code
   * lastIsIt}, where last is that very checkpoint) from last.
   */
  private void recoverBest(String name, String rollbackName, int bestEpoch, boolean lastIsIt)
      throws IOException {
    Path best = dir.resolve(name);
    Path rollback = dir.resolve(rollbackName);
    if (epochOf(best) == bestEpoch) {
      Files.deleteIfExists(rollback);
    } else if (epochOf(rollback) == bestEpoch) {
      Files.move(rollback, best, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      out.println("restored " + best + " (epoch " + bestEpoch + ") over the checkpoint of an"
          + " epoch that was not committed");
    } else if (lastIsIt) {
      // the last checkpoint is the best one: the same model and optimizer state (without the
      // weight average that last also carries)
      Checkpoint c = Checkpoint.read(dir.resolve(LAST));
      Checkpoint.write(best, new Checkpoint(c.model(), c.optimizer(), c.variant(), c.configJson(),
          c.epoch(), c.step(), c.metricsJson(), c.extra()));
      Files.deleteIfExists(rollback);
      out.println("restored " + best + " from " + LAST + " (epoch " + bestEpoch + ")");
    } else {
      throw new IOException(best + (Files.exists(best) ? " holds epoch " + epochOf(best)
          : " is missing") + " but " + dir.resolve(LAST) + " says it holds epoch " + bestEpoch
          + " (was the file removed or replaced?)");
    }
    AtomicFiles.syncDirectory(dir);
  }

  /**
   * The protocol's steps for one finished epoch: {@code last} becomes the last checkpoint;
   * {@code newBest} and {@code newBestEma}, where not null, the new best and best-ema.
   */
  void commit(EpochLog log, Map<String, Double> row, Checkpoint last, Checkpoint newBest,
      Checkpoint newBestEma) throws IOException {
    log.append(row);
    if (newBest != null) {
      replaceKeepingRollback(BEST, ROLLBACK, newBest, "run/best-kept");
    }
    if (newBestEma != null) {
      replaceKeepingRollback(BEST_EMA, ROLLBACK_EMA, newBestEma, "run/best-ema-kept");
    }
    Checkpoint.write(dir.resolve(LAST), last);
    boolean deleted = Files.deleteIfExists(dir.resolve(ROLLBACK));
    deleted |= Files.deleteIfExists(dir.resolve(ROLLBACK_EMA));
    if (deleted) {
      AtomicFiles.syncDirectory(dir);
    }
    FaultPoints.reach("run/committed");
  }

  private void replaceKeepingRollback(String name, String rollbackName, Checkpoint checkpoint,
      String faultPoint) throws IOException {
    Path best = dir.resolve(name);
    if (Files.isRegularFile(best)) {
      keep(best, dir.resolve(rollbackName));
    }
    FaultPoints.reach(faultPoint);
    Checkpoint.write(best, checkpoint);
  }

  /** {@code rollback} becomes another name of {@code best}'s current content. */
  private static void keep(Path best, Path rollback) throws IOException {
    Files.deleteIfExists(rollback);
    try {
      Files.createLink(rollback, best);
      AtomicFiles.syncDirectory(rollback.getParent());
    } catch (UnsupportedOperationException | FileSystemException e) {
      // no hard links here: a durable copy does the same job
      AtomicFiles.write(rollback, o -> Files.copy(best, o));
    }
  }

  private static int epochOf(Path checkpoint) throws IOException {
    return Files.isRegularFile(checkpoint) ? Checkpoint.readHeader(checkpoint).epoch() : -1;
  }

  /** The best epoch the metrics name; 0 in a run that has none yet. */
  static int bestEpochOf(Path file, String metricsJson) throws IOException {
    return epochIn(file, metricsJson, "best_epoch", "best epoch");
  }

  /** The epoch of the best weight average the metrics name; 0 in a run without one. */
  static int bestEmaEpochOf(Path file, String metricsJson) throws IOException {
    return epochIn(file, metricsJson, "best_ema_epoch", "best EMA epoch");
  }

  private static int epochIn(Path file, String metricsJson, String key, String what)
      throws IOException {
    try {
      JsonElement epoch = JsonParser.parseString(metricsJson).getAsJsonObject().get(key);
      return epoch == null ? 0 : epoch.getAsInt();
    } catch (JsonParseException | IllegalStateException | UnsupportedOperationException
        | NumberFormatException e) {
      throw new IOException(file + ": its metrics name no " + what + ": " + metricsJson, e);
    }
  }

  private static boolean isRunFile(String name) {
    return FILES.contains(name) || AtomicFiles.isTemporary(name);
  }

  private List<String> entries() throws IOException {
    try (Stream<Path> list = Files.list(dir)) {
      return list.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
