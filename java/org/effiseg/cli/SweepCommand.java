package org.effiseg.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.effiseg.eval.PublishedScores;
import org.effiseg.nativeapi.Backend;
import org.effiseg.sweep.LocalExecutor;
import org.effiseg.sweep.RunLauncher;
import org.effiseg.sweep.RunStatus;
import org.effiseg.sweep.SlurmExecutor;
import org.effiseg.sweep.StatusReport;
import org.effiseg.sweep.StudyCollector;
import org.effiseg.sweep.SweepDirectory;
import org.effiseg.sweep.SweepManifest;
import org.effiseg.train.TrainConfig;
import org.effiseg.util.HostName;
import org.effiseg.util.ProgressBar;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code effiseg sweep}: a grid of presets × seeds, one {@code effiseg train} run each, in one
 * sweep directory; resumable, on this machine or as one Slurm job array; the study table of
 * mean ± std over seeds (docs/sweeps.md).
 */
@Command(
    name = "sweep",
    sortOptions = false,
    description = {
      "Train every preset x seed of a grid into one sweep directory and tabulate the test scores"
          + " (mean ± sample std over seeds, each seed's value).",
      "",
      "Any further option is a training flag for every run (as for train, e.g. --variant b0"
          + " --image-size 224 --epochs 20 --weights DIR --threads 2).",
      "Run it again to go on: finished runs are skipped, interrupted ones resumed, failed ones"
          + " retried; new presets or seeds are added to the grid.",
    })
final class SweepCommand implements Callable<Integer> {
  enum Executor { LOCAL, SLURM }

  @Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "The sweep directory.")
  Path out;

  @Option(names = "--presets", split = ",", paramLabel = "PRESET", description = "Presets of the grid, comma-separated.")
  List<String> presets;

  @Option(names = "--seeds", split = ",", paramLabel = "SEED", description = "Seeds of the grid, comma-separated.")
  List<Long> seeds;

  @Mixin SharedOptions.DataOption dataset;

  @Option(names = "--eval-split", paramLabel = "SPLIT",
      description = "Split the runs are scored on: test (default) or validation (for choosing settings).")
  String evalSplit;

  @Option(names = "--executor", defaultValue = "local", paramLabel = "local|slurm",
      description = "local (one run after another; one per GPU where several are visible) or slurm (one job array). Default: ${DEFAULT-VALUE}.")
  Executor executor;

  @Option(names = "--status", description = "Print the state of every run (and of its Slurm task) and exit.")
  boolean status;

  @Option(names = "--collect", description = "Write the study table from the finished runs (a local sweep does this at its end).")
  boolean collect;

  @Option(names = "--reference", paramLabel = "NAME", description = "Published scores to show beside the table: study.")
  String reference;

  @Option(names = "--checkpoint", defaultValue = "best", paramLabel = "ENTRY",
      description = "Entry of each run's scores-<split>.json the table shows: best (the checkpoint with the highest validation Dice, default), last, best-tta-flip, best-ema (runs trained with --ema), or any other entry it holds.")
  String checkpoint;

  @Option(names = "--partition", paramLabel = "NAME", description = "Slurm: partition of every task.")
  String partition;

  @Option(names = "--gpus", paramLabel = "N", description = "Slurm: GPUs per task (sbatch --gpus).")
  String gpus;

  @Option(names = "--cpus-per-task", paramLabel = "N", description = "Slurm: CPUs per task.")
  Integer cpusPerTask;

  @Option(names = "--mem", paramLabel = "SIZE", description = "Slurm: memory per task (e.g. 16G).")
  String mem;

  @Option(names = "--time", paramLabel = "LIMIT", description = "Slurm: time limit per task (e.g. 12:00:00).")
  String time;

  @Option(names = "--sbatch-arg", paramLabel = "OPTION", description = "Slurm: any further sbatch option, verbatim (repeatable), e.g. --sbatch-arg=--account=lab.")
  List<String> sbatchArgs = new ArrayList<>();

  @Option(names = "--task", hidden = true, paramLabel = "INDEX", description = "Run one run of the grid (the Slurm task body).")
  Integer task;

  @Unmatched List<String> trainFlags = new ArrayList<>();

  /** Training flags the sweep sets itself. */
  private static final List<String> OWN_FLAGS =
      List.of("--out", "--resume", "--preset", "--seed", "--data", "--json", "--eval-split");

  @Override
  public Integer call() throws IOException {
    SweepDirectory sweep = new SweepDirectory(out);
    if (task != null) {
      return runTask(sweep);
    }
    if (status && collect) {
      throw usage("--status and --collect are separate steps; give one");
    }
    if (!checkpoint.matches("[A-Za-z0-9_-]+")) {
      throw usage("--checkpoint must name an entry of scores-<split>.json (best, last), got " + checkpoint);
    }
    if (status || collect) {
      if (presets != null || seeds != null || dataset.data != null || !trainFlags.isEmpty()) {
        throw usage("--status and --collect read the sweep as it is: drop --presets, --seeds, --data and training flags");
      }
      SweepManifest manifest = sweep.readManifest();
      if (status) {
        StatusReport.print(sweep, manifest, checkpoint, System.out);
        return 0;
      }
      return collect(sweep, manifest);
    }
    SweepManifest manifest = plan(sweep);
    return executor == Executor.LOCAL ? runLocal(sweep, manifest) : submit(sweep, manifest);
  }

  /** The manifest to run: a new grid, or the existing one, grown by new presets or seeds. */
  private SweepManifest plan(SweepDirectory sweep) throws IOException {
    SweepManifest existing = sweep.exists() ? sweep.readManifest() : null;
    if (existing == null && (presets == null || seeds == null || dataset.data == null)) {
      throw usage(sweep.root() + " holds no sweep yet: --presets, --seeds and --data start one");
    }
    if (existing != null && presets == null && seeds == null && dataset.data == null && trainFlags.isEmpty()
        && evalSplit == null) {
      return existing;
    }
    if ((presets == null) != (seeds == null)) {
      throw usage("--presets and --seeds go together: they name the grid");
    }
    List<String> flags = trainFlags.isEmpty() && existing != null ? existing.trainFlags() : trainFlags;
    checkTrainFlags(flags);
    String split = evalSplit != null ? evalSplit : existing != null ? existing.evalSplit() : "test";
    if (!split.equals("test") && !split.equals("validation")) {
      throw usage("--eval-split must be test or validation, got " + split);
    }
    Path dataRoot = dataset.data != null ? dataset.data : Path.of(existing.data());
    SweepManifest manifest = SweepManifest.plan(existing, sweep, Path.of(""), dataRoot, split,
        presets == null ? List.of() : presets, seeds == null ? List.of() : seeds, flags);
    for (SweepManifest.Run run : manifest.runs()) {
      settingsOf(run, flags); // every run's settings checked before any starts
    }
    sweep.writeManifest(manifest);
    return manifest;
  }

  private void checkTrainFlags(List<String> flags) {
    CommandLine train = new CommandLine(new TrainCommand());
    CommandLine.ParseResult parsed;
    List<String> args = new ArrayList<>(List.of("--data", "."));
    args.addAll(flags);
    try {
      parsed = train.parseArgs(args.toArray(String[]::new));
    } catch (ParameterException e) {
      throw usage("training flags " + flags + ": " + e.getMessage());
    }
    for (String own : OWN_FLAGS) {
      if (!own.equals("--data") && parsed.hasMatchedOption(own)) {
        throw usage("the sweep sets " + own + " of each run itself; drop it from the training flags");
      }
    }
    if (parsed.isUsageHelpRequested() || parsed.isVersionHelpRequested()) {
      throw usage("training flags: --help and --version are not training flags");
    }
  }

  private static TrainConfig settingsOf(SweepManifest.Run run, List<String> flags) throws IOException {
    TrainCommand command = new TrainCommand();
    List<String> args = new ArrayList<>(List.of("--preset", run.preset(), "--seed", Long.toString(run.seed()),
        "--data", "."));
    args.addAll(flags);
    new CommandLine(command).parseArgs(args.toArray(String[]::new));
    try {
      return command.settings();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(run.name() + ": " + e.getMessage(), e);
    }
  }

  private int runLocal(SweepDirectory sweep, SweepManifest manifest) throws IOException {
    PrintStream console = System.out;
    boolean cuda = false;
    for (SweepManifest.Run run : manifest.runs()) {
      cuda |= !settingsOf(run, manifest.trainFlags()).device.equals("cpu");
    }
    List<Map<String, String>> slots = cuda && Backend.CUDA.isAvailable()
        ? LocalExecutor.gpuSlots(Backend.CUDA.devices().size(), System.getenv("CUDA_VISIBLE_DEVICES"))
        : List.of(Map.of());
    boolean all = new LocalExecutor(sweep, manifest, console, slots).run();
    int tableExit = collect(sweep, manifest);
    return all && tableExit == 0 ? 0 : Main.EXIT_FAILURE;
  }

  private int submit(SweepDirectory sweep, SweepManifest manifest) throws IOException {
    Map<Integer, String> queue = SlurmExecutor.queueStates(sweep);
    List<SweepManifest.Run> toSubmit = new ArrayList<>();
    for (SweepManifest.Run run : manifest.runs()) {
      RunStatus.State state = RunStatus.of(sweep, manifest, run).state();
      String queued = queue.get(run.index());
      if (state != RunStatus.State.FINISHED && state != RunStatus.State.RUNNING && !isActive(queued)) {
        toSubmit.add(run);
      }
    }
    if (toSubmit.isEmpty()) {
      System.out.println("sweep " + sweep.root() + ": every run is finished or in Slurm's queue; nothing to submit");
      return 0;
    }
    SlurmExecutor.submit(sweep, manifest, toSubmit,
        new SlurmExecutor.Request(partition, gpus, cpusPerTask, mem, time, sbatchArgs), System.out);
    System.out.println("follow it with: effiseg sweep --out " + out + " --status; tabulate with --collect");
    return 0;
  }

  /** Slurm states in which a task will still run or is running. */
  private static boolean isActive(String state) {
    return state != null && List.of("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
        "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT").contains(state);
  }

  private int runTask(SweepDirectory sweep) throws IOException {
    SweepManifest manifest = sweep.readManifest();
    SweepManifest.Run run = manifest.run(task);
    String job = System.getenv().getOrDefault("SLURM_ARRAY_JOB_ID", "?");
    System.out.println("effiseg sweep task " + task + ": " + run.name() + " on " + HostName.get()
        + "; its output goes to " + sweep.log(run.name()));
    RunLauncher.Result result = new RunLauncher(sweep, manifest, "slurm job " + job + " task " + task,
        System.out).launch(run, Map.of(), "");
    switch (result.outcome()) {
      case SKIPPED -> System.out.println(run.name() + " was finished already");
      case BUSY -> System.out.println(run.name() + " is being run by another process; this task leaves it to that one");
      case FINISHED -> System.out.println(run.name() + " finished in " + ProgressBar.clock(result.seconds()));
      case FAILED -> {
        System.out.println(run.name() + " FAILED (exit code " + result.exitCode() + "); log " + sweep.log(run.name()));
        return Main.EXIT_FAILURE;
      }
    }
    return 0;
  }

  private int collect(SweepDirectory sweep, SweepManifest manifest) throws IOException {
    PublishedScores published;
    try {
      published = reference == null ? null : PublishedScores.load(reference);
    } catch (IllegalArgumentException e) {
      throw usage("--reference: " + e.getMessage());
    }
    StudyCollector.Collected collected = StudyCollector.collect(sweep, manifest, checkpoint, published);
    List<Path> files = collected.table().write(sweep.studyBase());
    System.out.print(collected.table().markdown());
    System.out.println();
    System.out.println("study table: " + String.join(", ", files.stream().map(Path::toString).toList()));
    if (!collected.missing().isEmpty()) {
      System.out.println("not in the table (not finished): " + String.join(", ", collected.missing()));
      return Main.EXIT_FAILURE;
    }
    return 0;
  }

  private ParameterException usage(String message) {
    return new ParameterException(spec.commandLine(), message);
  }
}
