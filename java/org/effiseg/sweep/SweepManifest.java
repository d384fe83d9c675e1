package org.effiseg.sweep;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import org.effiseg.util.AtomicFiles;

/**
 * {@code sweep.json}: a sweep's grid and the exact {@code effiseg} command of each of its runs.
 * Written when the sweep is made and when a later invocation adds presets or seeds; every
 * executor (and a human reproducing one run) reads the commands from here.
 *
 * @param workdir the folder the commands run in (relative paths in {@code trainFlags}, such as
 *     {@code --weights} or {@code --config}, are taken from there)
 * @param data the dataset root, absolute
 * @param evalSplit the split each run's checkpoints are scored on (test or validation)
 * @param trainFlags the training flags every run gets, verbatim
 * @param runs one entry per (preset, seed), in the order they were added; {@code index} is the
 *     Slurm array index
 */
public record SweepManifest(
    String format,
    int formatVersion,
    String workdir,
    String data,
    String evalSplit,
    List<String> trainFlags,
    List<Run> runs) {

  static final String FORMAT = "effiseg-sweep";
  static final int FORMAT_VERSION = 1;
  private static final Gson GSON = new GsonBuilder()
      .setPrettyPrinting()
      .disableHtmlEscaping()
      .setFieldNamingPolicy(com.google.gson.FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES)
      .create();

  /**
   * One run of the grid.
   *
   * @param args the arguments of {@code effiseg} that start it
   * @param resumeArgs the arguments that continue it after an interruption
   * @param command {@code args} as one shell line, for people
   */
  public record Run(int index, String name, String preset, long seed, List<String> args,
      List<String> resumeArgs, String command) {
    /** Its run directory under the sweep. */
    public Path dir(SweepDirectory sweep) {
      return sweep.runDir(name);
    }
  }

  /** The run name of a grid cell: {@code <preset>-seed<seed>}. */
  public static String runName(String preset, long seed) {
    return preset + "-seed" + seed;
  }

  /**
   * A new grid, or {@code existing} grown by the (preset, seed) pairs it lacks. Growing needs the
   * same data, split and training flags: a sweep compares seeds and presets under one setting.
   */
  public static SweepManifest plan(SweepManifest existing, SweepDirectory sweep, Path workdir,
      Path data, String evalSplit, List<String> presets, List<Long> seeds, List<String> trainFlags) {
    String dataPath = workdir.toAbsolutePath().resolve(data).normalize().toString();
    List<Run> runs = new ArrayList<>();
    if (existing != null) {
      requireSame(sweep, "--data", existing.data, dataPath);
      requireSame(sweep, "--eval-split", existing.evalSplit, evalSplit);
      requireSame(sweep, "training flags", existing.trainFlags, trainFlags);
      runs.addAll(existing.runs);
    }
    for (String preset : new LinkedHashSet<>(presets)) {
      for (long seed : new LinkedHashSet<>(seeds)) {
        String name = runName(preset, seed);
        if (runs.stream().noneMatch(r -> r.name().equals(name))) {
          runs.add(run(runs.size(), name, preset, seed, sweep, dataPath, evalSplit, trainFlags));
        }
      }
    }
    String dir = existing != null ? existing.workdir : workdir.toAbsolutePath().normalize().toString();
    return new SweepManifest(FORMAT, FORMAT_VERSION, dir, dataPath, evalSplit, List.copyOf(trainFlags),
        List.copyOf(runs));
  }

  private static Run run(int index, String name, String preset, long seed, SweepDirectory sweep,
      String data, String evalSplit, List<String> trainFlags) {
    String out = sweep.runDir(name).toString();
    List<String> args = new ArrayList<>(List.of("train", "--preset", preset, "--seed", Long.toString(seed),
        "--data", data, "--out", out, "--eval-split", evalSplit));
    args.addAll(trainFlags);
    List<String> resume = new ArrayList<>(List.of("train", "--resume", "--data", data, "--out", out,
        "--eval-split", evalSplit));
    if (trainFlags.contains("--skip-bad")) {
      resume.add("--skip-bad");
    }
    return new Run(index, name, preset, seed, List.copyOf(args), List.copyOf(resume),
        "effiseg " + Shell.join(args));
  }

  private static void requireSame(SweepDirectory sweep, String what, Object before, Object now) {
    if (!Objects.equals(before, now)) {
      throw new IllegalArgumentException(sweep.manifest() + " holds a sweep with other " + what + " ("
          + before + ", now " + now + "); a sweep compares presets and seeds under one setting:"
          + " choose another --out");
    }
  }

  /** The run with this Slurm array index. */
  public Run run(int index) {
    if (index < 0 || index >= runs.size()) {
      throw new IllegalArgumentException("the sweep has runs 0 to " + (runs.size() - 1) + ", not " + index);
    }
    return runs.get(index);
  }

  /** The presets in grid order. */
  public List<String> presets() {
    return runs.stream().map(Run::preset).distinct().toList();
  }

  void write(Path file) throws IOException {
    AtomicFiles.writeString(file, GSON.toJson(this) + "\n");
  }

  static SweepManifest read(Path file) throws IOException {
    SweepManifest m;
    try {
      m = GSON.fromJson(Files.readString(file), SweepManifest.class);
    } catch (JsonParseException e) {
      throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
    }
    if (m == null || !FORMAT.equals(m.format) || m.runs == null) {
      throw new IllegalArgumentException(file + " is not an effiseg sweep manifest");
    }
    if (m.formatVersion != FORMAT_VERSION) {
      throw new IllegalArgumentException(file + ": sweep format version " + m.formatVersion
          + " is not supported (this build reads " + FORMAT_VERSION + ")");
    }
    return m;
  }
}
