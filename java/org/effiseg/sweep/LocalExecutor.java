package org.effiseg.sweep;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.effiseg.util.ProgressBar;

/**
 * Runs a sweep's unfinished runs on this machine, in grid order: one at a time, or one per slot
 * where several are given (one per GPU: {@link #gpuSlots}). Each run is a child process
 * ({@link RunLauncher}); a failed run is reported and the others go on.
 */
public final class LocalExecutor {
  private final SweepDirectory sweep;
  private final SweepManifest manifest;
  private final PrintStream out;
  private final List<Map<String, String>> slots;

  /** @param slots the environment each concurrent run gets, one map per slot (at least one) */
  public LocalExecutor(SweepDirectory sweep, SweepManifest manifest, PrintStream out,
      List<Map<String, String>> slots) {
    if (slots.isEmpty()) {
      throw new IllegalArgumentException("at least one slot");
    }
    this.sweep = sweep;
    this.manifest = manifest;
    this.out = out;
    this.slots = List.copyOf(slots);
  }

  /**
   * The slots for runs on CUDA with {@code devices} GPUs visible: one per GPU, each seeing only
   * its own through {@code CUDA_VISIBLE_DEVICES} (the numbering of {@code visibleDevices}, the
   * caller's own CUDA_VISIBLE_DEVICES, where set); a single slot, unchanged, for fewer than two.
   */
  public static List<Map<String, String>> gpuSlots(int devices, String visibleDevices) {
    if (devices < 2) {
      return List.of(Map.of());
    }
    List<String> ids = new ArrayList<>();
    if (visibleDevices != null && !visibleDevices.isBlank()) {
      for (String id : visibleDevices.split(",")) {
        ids.add(id.strip());
      }
    }
    List<Map<String, String>> slots = new ArrayList<>();
    for (int d = 0; d < devices; d++) {
      slots.add(Map.of("CUDA_VISIBLE_DEVICES", d < ids.size() ? ids.get(d) : Integer.toString(d)));
    }
    return slots;
  }

  /** Runs what is left; true when every run of the grid has finished. */
  public boolean run() throws IOException {
    List<SweepManifest.Run> todo = new ArrayList<>();
    int total = manifest.runs().size();
    for (SweepManifest.Run run : manifest.runs()) {
      if (RunStatus.of(sweep, manifest, run).state() != RunStatus.State.FINISHED) {
        todo.add(run);
      }
    }
    out.printf(Locale.ROOT, "sweep %s: %d runs, %d finished, %d to run%s%n", sweep.root(), total,
        total - todo.size(), todo.size(), slots.size() > 1 ? ", " + slots.size() + " at a time" : "");
    ConcurrentLinkedQueue<SweepManifest.Run> queue = new ConcurrentLinkedQueue<>(todo);
    List<String> problems = java.util.Collections.synchronizedList(new ArrayList<>());
    AtomicInteger started = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(slots.size());
    try {
      List<Future<?>> workers = new ArrayList<>();
      for (Map<String, String> slot : slots) {
        workers.add(pool.submit(() -> {
          for (SweepManifest.Run run; (run = queue.poll()) != null; ) {
            runOne(run, slot, started.incrementAndGet(), todo.size(), problems);
          }
          return null;
        }));
      }
      for (Future<?> worker : workers) {
        join(worker);
      }
    } finally {
      pool.shutdownNow();
    }
    if (problems.isEmpty()) {
      out.printf(Locale.ROOT, "sweep: all %d runs finished%n", total);
      return true;
    }
    out.printf(Locale.ROOT, "sweep: %d of %d runs not finished:%n", problems.size(), total);
    problems.forEach(p -> out.println("  " + p));
    return false;
  }

  private void runOne(SweepManifest.Run run, Map<String, String> slot, int number, int count,
      List<String> problems) {
    String tag = String.format(Locale.ROOT, "[%d/%d %s]", number, count, run.name());
    out.printf(Locale.ROOT, "%s %s%s; log %s%n", tag, run.command(),
        slot.isEmpty() ? "" : " (" + slot + ")", sweep.log(run.name()));
    RunLauncher.Result result;
    try {
      result = new RunLauncher(sweep, manifest, "local", out).launch(run, slot, tag + " ");
    } catch (IOException | RuntimeException e) {
      String why = run.name() + ": " + e.getMessage();
      out.println(tag + " could not run: " + e.getMessage());
      problems.add(why);
      return;
    }
    switch (result.outcome()) {
      case FINISHED -> out.printf(Locale.ROOT, "%s finished in %s%n", tag, ProgressBar.clock(result.seconds()));
      case SKIPPED -> out.printf(Locale.ROOT, "%s was finished already%n", tag);
      case BUSY -> {
        out.printf(Locale.ROOT, "%s is being run by another process (%s held): left to it%n", tag,
            sweep.lock(run.name()));
        problems.add(run.name() + ": running elsewhere");
      }
      case FAILED -> {
        out.printf(Locale.ROOT, "%s FAILED (exit code %d); log %s%n", tag, result.exitCode(), sweep.log(run.name()));
        problems.add(run.name() + ": failed with exit code " + result.exitCode() + ", log " + sweep.log(run.name()));
      }
    }
  }

  private static void join(Future<?> worker) throws IOException {
    try {
      worker.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } catch (java.util.concurrent.ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof UncheckedIOException u) {
        throw u.getCause();
      }
      throw new IllegalStateException(cause.getMessage(), cause);
    }
  }
}
