package org.effiseg.cli;

import com.google.gson.GsonBuilder;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.NativeMemory;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.nativeapi.Devices;
import org.effiseg.train.LossTerms;
import org.effiseg.train.TrainConfig;
import org.effiseg.train.TrainStep;
import org.effiseg.util.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code effiseg bench}: images per second and peak memory of EffiSegNet training steps or
 * inference on synthetic data already on the device, the way bench/e2e_compare.py sets them
 * beside PyTorch's. A training step is exactly the trainer's ({@link TrainStep}: forward, the
 * paper's Dice + BCE loss, backward, AdamW, and the loss read back); inference is an eval-mode
 * forward pass. Each step is timed to completion (the context is synchronised after it); the
 * median, 10th and 90th percentile of the timed steps are reported after the warm-up steps.
 */
@Command(
    name = "bench",
    description = {
      "Time EffiSegNet training steps or inference on synthetic data (images/s, peak memory).",
      "Inputs are random and stay on the device; weights are randomly initialised."
    })
public final class BenchCommand implements Callable<Integer> {
  private static final int MAX_STEPS = 1_000_000;

  @Option(names = "--variant", defaultValue = "b0", description = "EfficientNet variant b0..b7 (default: ${DEFAULT-VALUE}).")
  String variant;

  @Option(names = "--size", defaultValue = "0", description = "Square input size; 0 = the variant's native resolution (default).")
  int size;

  @Option(names = "--batch", defaultValue = "8", description = "Batch size (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--mode", defaultValue = "train", description = "train (a full optimisation step) or infer (default: ${DEFAULT-VALUE}).")
  String mode;

  @Option(names = "--precision", defaultValue = "fp32", description = "fp32 (the only one implemented so far; bf16 is reported as unsupported).")
  String precision;

  @Option(names = "--steps", defaultValue = "20", description = "Timed steps (default: ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--warmup", defaultValue = "5", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
  int warmup;

  @Mixin SharedOptions.DeviceOption device;
  @Mixin SharedOptions.ThreadsOption threads;

  @Option(names = "--json", description = "Print one JSON object (also for errors) instead of text.")
  boolean json;

  @Option(names = "--profile", defaultValue = "0", paramLabel = "STEPS",
      description = "After the timed steps, profile this many more (every kernel call synchronised and timed"
          + " per kernel and geometry) and report where the time goes; on the CPU also each row's roofline"
          + " floor and the rows furthest above it.")
  int profileSteps;

  @Override
  public Integer call() {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("impl", "effiseg");
    r.put("effiseg_version", NativeMemory.version());
    r.put("variant", variant.toLowerCase(Locale.ROOT));
    r.put("size", size);
    r.put("batch", batch);
    r.put("mode", mode);
    r.put("precision", precision);
    r.put("steps", steps);
    r.put("warmup", warmup);
    try {
      run(r);
    } catch (RuntimeException e) {
      r.put("error", e.getMessage());
      if (json) {
        print(r);
      } else {
        System.err.println("effiseg bench: " + e.getMessage());
      }
      return 1;
    }
    if (json) {
      print(r);
    } else {
      System.out.printf(Locale.ROOT,
          "EffiSegNet-%s %dx%d batch %d %s %s on %s: %.1f images/s (median %.2f ms per step, p10 %.2f, p90 %.2f),"
              + " peak memory %.1f MiB (reserved %.1f MiB)%n",
          r.get("variant"), r.get("size"), r.get("size"), batch, mode, precision, r.get("device_name"),
          (Double) r.get("images_per_s"), (Double) r.get("ms_median"), (Double) r.get("ms_p10"),
          (Double) r.get("ms_p90"), (Long) r.get("peak_allocated_bytes") / 1048576.0,
          (Long) r.get("peak_reserved_bytes") / 1048576.0);
      String jitNote = jitNote((double[]) r.get("ms_steps"), (long[]) r.get("jit_ms_steps"));
      if (jitNote != null) {
        System.out.println(jitNote);
      }
      if (r.containsKey("profile")) {
        @SuppressWarnings("unchecked")
        Map<String, Object> p = (Map<String, Object>) r.get("profile");
        printProfile(p);
      }
    }
    return 0;
  }

  private void run(Map<String, Object> r) {
    if (!precision.equals("fp32")) {
      throw new IllegalArgumentException("precision " + precision + " is not implemented (fp32 only so far)");
    }
    boolean train = switch (mode) {
      case "train" -> true;
      case "infer" -> false;
      default -> throw new IllegalArgumentException("--mode must be train or infer, got " + mode);
    };
    if (batch < 1 || batch > TrainConfig.MAX_BATCH_SIZE || steps < 1 || steps > MAX_STEPS
        || warmup < 0 || warmup > MAX_STEPS || profileSteps < 0 || profileSteps > MAX_STEPS) {
      throw new IllegalArgumentException("--batch must be in 1.." + TrainConfig.MAX_BATCH_SIZE
          + ", --steps in 1.." + MAX_STEPS + ", --warmup and --profile in 0.." + MAX_STEPS);
    }
    int threadCount = threads.checked();
    // The trainer's settings of the paper preset: Dice + BCE (1, 1), AdamW lr 1e-4, wd 0.01.
    TrainConfig config = TrainConfig.preset("paper");
    config.apply(Map.of("variant", variant, "batch_size", batch), "bench");
    config.validate();
    // any size the network takes (B4's native 380 is no multiple of 32, which training asks for)
    int s = size == 0 ? config.resolution() : size;
    if (s < 32 || s > TrainConfig.MAX_IMAGE_SIZE) {
      throw new IllegalArgumentException("--size must be 0 (native) or in 32.."
          + TrainConfig.MAX_IMAGE_SIZE + ", got " + size);
    }
    r.put("size", s);
    try (Context ctx = Devices.open(device.device.cliName(), threadCount);
        EffiSegNet model = EffiSegNet.create(ctx, config.modelConfig());
        TrainStep step = new TrainStep(model, config);
        Tensor images = ctx.tensor(normal(batch * s * s * 3, 1), batch, s, s, 3);
        Tensor masks = ctx.tensor(binary(batch * s * s), batch, s, s, 1)) {
      r.put("device_name", ctx.backend().name().toLowerCase(Locale.ROOT) + ":" + ctx.device() + " ("
          + ctx.backend().devices().get(ctx.device()) + ")");
      r.put("threads", ctx.threads());
      // every step's time and the JIT compilers' time during it (their threads share the cores
      // with the step's), warm-up steps first, in the order they ran
      double[] stepMs = new double[warmup + steps];
      CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
      boolean jitTimed = jit != null && jit.isCompilationTimeMonitoringSupported();
      long[] jitMs = new long[warmup + steps];
      ProgressBar bar = new ProgressBar(json ? System.err : System.out,
          String.format(Locale.ROOT, "%s %s %dx%d b%d", mode, variant, s, s, batch), warmup + steps);
      LossTerms last = null;
      for (int i = 0; i < warmup + steps; i++) {
        if (i == warmup) {
          ctx.resetPeakMemory(); // warm-up allocations (the cache filling up) stay out of the peak
        }
        long jit0 = jitTimed ? jit.getTotalCompilationTime() : 0;
        long t0 = System.nanoTime();
        if (train) {
          last = step.forwardBackward(images, masks, i);
          step.update(config.lr, i + 1);
        } else {
          model.forward(images, false).close();
        }
        ctx.synchronize();
        stepMs[i] = (System.nanoTime() - t0) / 1e6;
        jitMs[i] = jitTimed ? jit.getTotalCompilationTime() - jit0 : 0;
        bar.update(i + 1, i < warmup ? "warm-up" : "");
      }
      double[] timed = Arrays.copyOfRange(stepMs, warmup, warmup + steps);
      double[] ms = timed.clone();
      Arrays.sort(ms);
      double median = percentile(ms, 50);
      Context.MemoryStats mem = ctx.memory();
      if (profileSteps > 0) {
        Context.Peaks peaks = ctx.backend() == Backend.CPU ? ctx.measurePeaks() : null;
        ctx.startProfile();
        for (int i = 0; i < profileSteps; i++) {
          long done = warmup + steps + i;
          if (train) {
            step.forwardBackward(images, masks, done);
            step.update(config.lr, done + 1);
          } else {
            model.forward(images, false).close();
          }
        }
        ctx.stopProfile();
        r.put("profile", profileSummary(ctx.profile(), profileSteps, peaks));
      }
      r.put("ms_median", median);
      r.put("ms_p10", percentile(ms, 10));
      r.put("ms_p90", percentile(ms, 90));
      // each step in the order it ran, which the percentiles cannot show: the first warm-up
      // step's start-up, a step that the JIT compiler or the OS held up, a drift
      r.put("ms_steps", timed);
      r.put("ms_warmup", Arrays.copyOfRange(stepMs, 0, warmup));
      if (jitTimed) {
        // JIT compilation time during each step (warm-up, then timed): compiler threads that
        // still run take the cores' time from the step
        r.put("jit_ms_warmup", Arrays.copyOfRange(jitMs, 0, warmup));
        r.put("jit_ms_steps", Arrays.copyOfRange(jitMs, warmup, warmup + steps));
      }
      r.put("images_per_s", batch * 1000.0 / median);
      r.put("peak_allocated_bytes", mem.peakLive());
      r.put("peak_reserved_bytes", mem.peakReserved());
      if (last != null) {
        r.put("last_loss", last.total());
      }
      r.put("notes", "synthetic inputs resident on the device; random init; "
          + (train ? "step = forward, Dice+BCE, backward, AdamW, loss read back" : "eval-mode forward")
          + "; each step synchronised; no autotuning");
    }
  }

  /**
   * A note when the JIT compilers ran for more than {@link #JIT_NOTE_SHARE} of the timed steps'
   * time (their threads take the cores the step runs on, so the timing is not the steady state
   * yet), else null. jitMs may be null (no compilation time from this JVM).
   */
  static String jitNote(double[] stepMs, long[] jitMs) {
    if (jitMs == null) {
      return null;
    }
    double total = Arrays.stream(stepMs).sum();
    long jit = Arrays.stream(jitMs).sum();
    if (jit <= JIT_NOTE_SHARE * total) {
      return null;
    }
    long steps = Arrays.stream(jitMs).filter(v -> v > 0).count();
    return String.format(Locale.ROOT,
        "note: the JIT compiled for %d ms during %d of the %d timed steps (%.1f %% of their time):"
            + " not the steady state yet; a larger --warmup gets there",
        jit, steps, jitMs.length, 100.0 * jit / total);
  }

  /** The share of the timed steps' time above which {@link #jitNote} speaks up. */
  static final double JIT_NOTE_SHARE = 0.01;

  /** Rows of the "slowest" and "most above the floor" lists. */
  private static final int PROFILE_ROWS = 25;
  private static final int ABOVE_FLOOR_ROWS = 12;

  /**
   * Per kernel (all geometries) and the slowest rows, per step, with shares of the total, the
   * achieved GFLOP/s and GB/s (compulsory traffic) and, where {@code peaks} were measured, their
   * shares of the machine's peaks and the roofline floor: the time each kernel call would take at
   * the measured FMA peak or STREAM bandwidth, whichever binds, moving only its compulsory bytes.
   * Summed over every kernel x geometry that is the step's floor on this machine; the rows with
   * the most typical time (their calls at the median call's time) above their floor are where
   * fusing or faster kernels can still gain.
   */
  private static Map<String, Object> profileSummary(List<Context.ProfileRow> rows, int steps,
      Context.Peaks peaks) {
    double total = rows.stream().mapToDouble(Context.ProfileRow::ms).sum();
    double typicalTotal = rows.stream().mapToDouble(Context.ProfileRow::msTypical).sum();
    double floorTotal = 0;
    // kernel -> {ms, calls, flop, bytes, floor, typical ms}
    Map<String, double[]> byKernel = new LinkedHashMap<>();
    for (Context.ProfileRow row : rows) {
      double[] k = byKernel.computeIfAbsent(row.kernel(), x -> new double[6]);
      double floor = floorMs(row.flop(), row.bytes(), peaks);
      k[0] += row.ms();
      k[1] += row.calls();
      k[2] += row.flop();
      k[3] += row.bytes();
      k[4] += floor;
      k[5] += row.msTypical();
      floorTotal += floor;
    }
    List<Map<String, Object>> kernels = new ArrayList<>();
    byKernel.entrySet().stream()
        .sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]))
        .forEach(e -> kernels.add(profileRow(e.getKey(), null, e.getValue()[1], e.getValue()[0],
            e.getValue()[5], e.getValue()[2], e.getValue()[3], e.getValue()[4], steps, total,
            peaks)));
    List<Map<String, Object>> top = new ArrayList<>();
    for (Context.ProfileRow row : rows.subList(0, Math.min(PROFILE_ROWS, rows.size()))) {
      top.add(geometryRow(row, steps, total, peaks));
    }
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("steps", steps);
    p.put("ms_per_step", total / steps);
    p.put("typical_ms_per_step", typicalTotal / steps);
    if (peaks != null) {
      p.put("peak_gflop_s", peaks.flopsPerS() / 1e9);
      p.put("peak_gb_s", peaks.bytesPerS() / 1e9);
      p.put("floor_ms_per_step", floorTotal / steps);
      List<Map<String, Object>> above = new ArrayList<>();
      rows.stream() // by the typical time: a call the OS held up does not rank a row
          .sorted((a, b) -> Double.compare(b.msTypical() - floorMs(b.flop(), b.bytes(), peaks),
              a.msTypical() - floorMs(a.flop(), a.bytes(), peaks)))
          .limit(ABOVE_FLOOR_ROWS)
          .forEach(row -> above.add(geometryRow(row, steps, total, peaks)));
      p.put("most_above_floor", above);
    }
    p.put("by_kernel", kernels);
    p.put("slowest", top);
    return p;
  }

  /** The roofline time of work {@code flop} moving {@code bytes}, in ms (0 without peaks). */
  private static double floorMs(double flop, double bytes, Context.Peaks peaks) {
    if (peaks == null) {
      return 0;
    }
    return 1e3 * Math.max(flop / peaks.flopsPerS(), bytes / peaks.bytesPerS());
  }

  private static Map<String, Object> geometryRow(Context.ProfileRow row, int steps, double total,
      Context.Peaks peaks) {
    return profileRow(row.kernel(), row.geometry(), row.calls(), row.ms(), row.msTypical(),
        row.flop(), row.bytes(), floorMs(row.flop(), row.bytes(), peaks), steps, total, peaks);
  }

  /**
   * A row: {@code ms} the calls' total, {@code typical} the same calls at the median call's time
   * (on a busy or virtual machine a call the OS holds up for milliseconds moves the total, and
   * the rates, of whatever kernel it hits).
   */
  private static Map<String, Object> profileRow(String kernel, String geometry, double calls,
      double ms, double typical, double flop, double bytes, double floor, int steps, double total,
      Context.Peaks peaks) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("kernel", kernel);
    if (geometry != null) {
      m.put("geometry", geometry);
    }
    m.put("calls_per_step", calls / steps);
    m.put("ms_per_step", ms / steps);
    m.put("typical_ms_per_step", typical / steps);
    m.put("share", total > 0 ? ms / total : 0);
    double seconds = ms / 1e3;
    m.put("gflop_s", seconds > 0 ? flop / seconds / 1e9 : 0);
    m.put("gb_s", seconds > 0 ? bytes / seconds / 1e9 : 0);
    if (peaks != null && seconds > 0) {
      m.put("flop_peak_share", flop / seconds / peaks.flopsPerS());
      m.put("bw_peak_share", bytes / seconds / peaks.bytesPerS());
    }
    if (peaks != null) {
      m.put("floor_ms_per_step", floor / steps);
    }
    return m;
  }

  @SuppressWarnings("unchecked")
  private static void printProfile(Map<String, Object> p) {
    System.out.printf(Locale.ROOT, "profile of %d more steps (each kernel call synchronised): %.2f ms per step in kernels"
        + " (typical: %.2f, every call at its kernel x geometry's median call)%n",
        (Integer) p.get("steps"), (Double) p.get("ms_per_step"), (Double) p.get("typical_ms_per_step"));
    boolean floors = p.containsKey("floor_ms_per_step");
    if (floors) {
      System.out.printf(Locale.ROOT, "  measured peaks: %.1f GFLOP/s (FMA loop), %.1f GB/s (STREAM triad)%n",
          (Double) p.get("peak_gflop_s"), (Double) p.get("peak_gb_s"));
      System.out.printf(Locale.ROOT, "  roofline floor: %.2f ms per step (every call at the FMA peak or the triad bandwidth,"
          + " whichever binds, moving only its compulsory bytes): the kernels take %.2fx that%n",
          (Double) p.get("floor_ms_per_step"), (Double) p.get("ms_per_step") / (Double) p.get("floor_ms_per_step"));
    }
    String head = "  GFLOP/s %peak   GB/s %peak" + (floors ? "  floor ms" : "");
    System.out.println("  by kernel                                    calls/step    ms/step  typical   share" + head);
    for (Map<String, Object> k : (List<Map<String, Object>>) p.get("by_kernel")) {
      System.out.printf(Locale.ROOT, "  %-44s %10.1f %10.3f %8.3f %6.1f%% %s%n", k.get("kernel"),
          (Double) k.get("calls_per_step"), (Double) k.get("ms_per_step"), (Double) k.get("typical_ms_per_step"),
          100 * (Double) k.get("share"), rates(k));
    }
    printGeometryRows("slowest kernel x geometry", (List<Map<String, Object>>) p.get("slowest"));
    if (floors) {
      printGeometryRows("most typical time above the floor", (List<Map<String, Object>>) p.get("most_above_floor"));
    }
  }

  private static void printGeometryRows(String title, List<Map<String, Object>> rows) {
    System.out.println("  " + title);
    for (Map<String, Object> k : rows) {
      System.out.printf(Locale.ROOT, "  %-24s %-58s %5.1f %9.3f %8.3f %6.1f%% %s%n", k.get("kernel"), k.get("geometry"),
          (Double) k.get("calls_per_step"), (Double) k.get("ms_per_step"), (Double) k.get("typical_ms_per_step"),
          100 * (Double) k.get("share"), rates(k));
    }
  }

  /**
   * "GFLOP/s %peak GB/s %peak" columns of a profile row ("-" where not counted or measured), and
   * the roofline floor where peaks were measured.
   */
  private static String rates(Map<String, Object> k) {
    double gflops = (Double) k.get("gflop_s");
    Object fs = k.get("flop_peak_share");
    Object bs = k.get("bw_peak_share");
    Object floor = k.get("floor_ms_per_step");
    return String.format(Locale.ROOT, "%8s %5s %6.1f %5s%s",
        gflops > 0 ? String.format(Locale.ROOT, "%.1f", gflops) : "-",
        gflops > 0 && fs != null ? String.format(Locale.ROOT, "%.0f%%", 100 * (Double) fs) : "-",
        (Double) k.get("gb_s"), bs != null ? String.format(Locale.ROOT, "%.0f%%", 100 * (Double) bs) : "-",
        floor != null ? String.format(Locale.ROOT, " %9.3f", (Double) floor) : "");
  }

  private static double percentile(double[] sorted, double p) {
    double pos = p / 100.0 * (sorted.length - 1);
    int lo = (int) Math.floor(pos);
    int hi = Math.min(lo + 1, sorted.length - 1);
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
  }

  private static float[] normal(int n, double sigma) {
    SplittableRandom rnd = new SplittableRandom(1);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      double u = 1 - rnd.nextDouble();
      v[i] = (float) (sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd.nextDouble()));
    }
    return v;
  }

  private static float[] binary(int n) {
    SplittableRandom rnd = new SplittableRandom(2);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = rnd.nextBoolean() ? 1f : 0f;
    }
    return v;
  }

  private static void print(Map<String, Object> r) {
    System.out.println(new GsonBuilder().disableHtmlEscaping().serializeSpecialFloatingPointValues().create().toJson(r));
  }
}
