package org.effiseg.sweep;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.effiseg.util.HostName;
import org.effiseg.util.ParentWatch;
import org.effiseg.util.ProgressBar;

/**
 * Runs one run of a sweep as a child process, {@code effiseg train} with the run's arguments
 * from the manifest: a fresh start where nothing was committed, {@code train --resume} where a
 * checkpoint exists, nothing where the run finished. A child process keeps a crash, a native
 * fault or an out-of-memory of one run from taking the sweep down. While it runs, the run's lock
 * ({@code logs/<run>.lock}) is held, so two sweeps (or a sweep and a Slurm task) never work on
 * one run; its output is appended to {@code logs/<run>.log} and echoed with a prefix.
 */
public final class RunLauncher {
  /** What an attempt came to. */
  public enum Outcome {
    /** Trained (or resumed) and scored. */
    FINISHED,
    /** Was finished already: nothing to do. */
    SKIPPED,
    /** Exited with an error; the log says why. */
    FAILED,
    /** Another process is working on it now. */
    BUSY
  }

  /** An attempt's outcome, the child's exit code (0 where none ran) and its wall time. */
  public record Result(Outcome outcome, int exitCode, double seconds) {}

  private static final String MAIN_CLASS = "org.effiseg.cli.Main";

  private final SweepDirectory sweep;
  private final SweepManifest manifest;
  private final String executor;
  private final PrintStream console;

  /**
   * @param executor how the attempt is recorded: "local", or "slurm job J task I"
   * @param console where the child's output is echoed, each line prefixed
   */
  public RunLauncher(SweepDirectory sweep, SweepManifest manifest, String executor, PrintStream console) {
    this.sweep = sweep;
    this.manifest = manifest;
    this.executor = executor;
    this.console = console;
  }

  /** Brings {@code run} to finished if it is not; {@code env} is added to the child's environment. */
  public Result launch(SweepManifest.Run run, Map<String, String> env, String prefix) throws IOException {
    Files.createDirectories(sweep.lock(run.name()).getParent());
    try (FileChannel lockChannel = FileChannel.open(sweep.lock(run.name()),
        StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      FileLock lock;
      try {
        lock = lockChannel.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null;
      }
      if (lock == null) {
        return new Result(Outcome.BUSY, 0, 0);
      }
      try {
        if (RunStatus.isFinished(sweep, manifest, run)) {
          return new Result(Outcome.SKIPPED, 0, 0);
        }
        return attempt(run, env, prefix);
      } finally {
        lock.release();
      }
    }
  }

  private Result attempt(SweepManifest.Run run, Map<String, String> env, String prefix) throws IOException {
    Path dir = run.dir(sweep);
    boolean resume = Files.isRegularFile(dir.resolve("last.safetensors"));
    if (!resume && Files.exists(dir)) {
      startOver(dir);
    }
    List<String> args = resume ? run.resumeArgs() : run.args();
    String how = resume ? "resume" : "train";
    Instant started = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    String host = HostName.get();
    new Attempt(how, executor, host, started.toString(), null, null, null).write(sweep.attempt(run.name()));

    ProcessBuilder builder = new ProcessBuilder(command(args))
        .directory(new File(manifest.workdir()))
        .redirectErrorStream(true);
    builder.environment().putAll(env);
    builder.environment().put(ParentWatch.ENV, "1");
    long t0 = System.nanoTime();
    int exit;
    try (BufferedWriter log = Files.newBufferedWriter(sweep.log(run.name()), StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
      log.write("==== " + started + " " + how + " on " + host + " (" + executor + "): effiseg "
          + Shell.join(args) + (env.isEmpty() ? "" : " with " + env) + "\n");
      log.flush();
      Process child = builder.start();
      try (BufferedReader output = new BufferedReader(
          new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = output.readLine()) != null; ) {
          log.write(line);
          log.write('\n');
          log.flush();
          console.println(prefix + line);
        }
      }
      exit = waitFor(child);
      log.write("==== exit code " + exit + " after " + ProgressBar.clock((System.nanoTime() - t0) / 1e9) + "\n");
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    new Attempt(how, executor, host, started.toString(),
        Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), exit, Math.rint(seconds * 10) / 10)
        .write(sweep.attempt(run.name()));
    return new Result(exit == 0 ? Outcome.FINISHED : Outcome.FAILED, exit, seconds);
  }

  /**
   * A run directory without a checkpoint holds nothing worth keeping (settings, a record, log
   * rows of an epoch that never committed): remove it so {@code train} can start it afresh.
   */
  private static void startOver(Path dir) throws IOException {
    List<Path> entries;
    try (Stream<Path> list = Files.list(dir)) {
      entries = list.toList();
    }
    for (Path entry : entries) {
      if (!Files.isRegularFile(entry, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        throw new IllegalStateException(dir + " holds no checkpoint to resume but holds " + entry
            + ", which effiseg train does not write: move it away and run the sweep again");
      }
    }
    for (Path entry : entries) {
      Files.delete(entry);
    }
    Files.delete(dir);
  }

  private static int waitFor(Process child) throws IOException {
    try {
      return child.waitFor();
    } catch (InterruptedException e) {
      child.destroy();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for " + child.pid(), e);
    }
  }

  /** {@code java … org.effiseg.cli.Main ARGS} with this process's Java and class path. */
  static List<String> command(List<String> effisegArgs) {
    List<String> cmd = new ArrayList<>(javaLauncher());
    cmd.addAll(effisegArgs);
    return cmd;
  }

  /**
   * This process's Java and class path (made absolute), the heap limit it was given, and the
   * effiseg entry point: what a child needs to be the same effiseg.
   */
  public static List<String> javaLauncher() {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("--enable-native-access=ALL-UNNAMED");
    for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (arg.startsWith("-Xmx")) {
        cmd.add(arg);
      }
    }
    List<String> classPath = new ArrayList<>();
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (!entry.isEmpty()) {
        classPath.add(Path.of(entry).toAbsolutePath().normalize().toString());
      }
    }
    cmd.add("-cp");
    cmd.add(String.join(File.pathSeparator, classPath));
    cmd.add(MAIN_CLASS);
    return cmd;
  }
}
