package org.effiseg.cli;

import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.effiseg.api.Device;
import org.effiseg.api.Segmenter;
import org.effiseg.api.Tta;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.eval.EvaluationReport;
import org.effiseg.eval.EvaluationResult;
import org.effiseg.eval.MetricSummary;
import org.effiseg.eval.PerImageCsv;
import org.effiseg.eval.SegmenterEvaluation;
import org.effiseg.eval.TrainingLog;
import org.effiseg.train.TrainConfig;
import org.effiseg.train.Trainer;
import picocli.CommandLine;
import org.effiseg.util.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code effiseg train}: trains EffiSegNet from a preset (+ YAML file + flags), then scores the
 * best-validation and the last checkpoint on the evaluation split and writes an HTML report
 * (with {@code --ema}, also the best weight average).
 */
@Command(
    name = "train",
    sortOptions = false,
    description = {
      "Train EffiSegNet on a Kvasir-SEG style dataset, then evaluate the best and last checkpoints, and the best with flip TTA"
          + " (with --ema, also the best weight average, plain and with flip TTA).",
      "",
      "Settings come from --preset, then --config, then the flags below (each overrides the one before).",
      "Presets: paper, study-original, study-mod1 … study-mod8, quick, b0-long, b0-hour, smoke."
    })
final class TrainCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin SharedOptions.DataOption dataset;

  @Option(names = "--out", paramLabel = "DIR",
      description = "Run directory (default: runs/<preset>-<date-time>). Never overwritten; see --resume.")
  Path out;

  @Option(names = "--resume", description = "Continue the run in --out from its last checkpoint.")
  boolean resume;

  @Option(names = "--preset", defaultValue = "quick", description = "Named preset (default: ${DEFAULT-VALUE}).")
  String preset;

  @Option(names = "--config", paramLabel = "FILE", description = "YAML file of settings applied on top of the preset.")
  Path configFile;

  @Option(names = "--eval-split", defaultValue = "test",
      description = "Split the finished run's checkpoints are scored on: test, validation or none (default: ${DEFAULT-VALUE}).")
  String evalSplit;

  @Option(names = "--skip-bad", description = "Leave out bad image/mask pairs (each reported) instead of stopping.")
  boolean skipBad;

  @Option(names = "--json", description = "Print the final scores as one JSON object on stdout.")
  boolean json;

  // Overrides of TrainConfig keys; null = keep the preset's/file's value.
  @Option(names = "--variant", description = "b0 … b7") String variant;
  @Option(names = "--image-size", description = "Square resolution (0: the variant's native one).") Integer imageSize;
  @Option(names = "--epochs") Integer epochs;
  @Option(names = "--batch-size") Integer batchSize;
  @Option(names = "--lr") Double lr;
  @Option(names = "--min-lr") Double minLr;
  @Option(names = "--weight-decay") Double weightDecay;
  @Option(names = "--ema", paramLabel = "DECAY",
      description = "Also keep an exponential moving average of the weights (e.g. 0.999), validated and saved beside them"
          + " (best-ema.safetensors) and scored separately; the raw run is unchanged (0: off, the default).")
  Double ema;
  @Option(names = "--weights", paramLabel = "PATH",
      description = "Pretrained encoder: TF.js folder or .safetensors (efficientnet_pytorch/MONAI or timm names).")
  String weights;
  @Option(names = "--calibration-images", description = "Training images used to calibrate imported BN statistics.")
  Integer calibrationImages;
  @Option(names = "--augment", description = "Augmentation preset: original, improved or none.") String augment;
  @Option(names = "--augment-mods", split = ",", paramLabel = "MOD",
      description = "Study modifications: p08, no-elastic, weak-jitter, black-rect, symmetric-affine.")
  List<String> augmentMods;
  @Option(names = "--dice-weight") Double diceWeight;
  @Option(names = "--bce-weight") Double bceWeight;
  @Option(names = "--npd-weight", description = "Near-pixel-diff loss weight (the study's 0.01; 0 = off).") Double npdWeight;
  @Option(names = "--threshold-logit", description = "Prediction threshold on the logit (0 = probability 0.5).") Double thresholdLogit;
  @Option(names = "--deep-supervision", negatable = true) Boolean deepSupervision;
  @Option(names = "--seed") Long seed;
  @Option(names = "--device", description = "cpu, cuda or auto.") String device;
  @Option(names = "--threads", description = "Native threads (0: all cores).") Integer threads;
  @Option(names = "--workers", description = "Data loader threads (0: one per core).") Integer workers;
  @Option(names = "--train-limit", description = "Use only the first N training images (0: all).") Integer trainLimit;
  @Option(names = "--val-limit", description = "Use only the first N validation images (0: all).") Integer valLimit;

  @Override
  public Integer call() throws IOException {
    if (dataset.data == null) {
      spec.commandLine().getErr().println(DataGuide.missingData("train"));
      return CommandLine.ExitCode.USAGE;
    }
    PrintStream log = json ? System.err : System.out;
    TrainConfig config;
    if (resume) {
      if (out == null) {
        throw new IllegalArgumentException("--resume needs --out, the run directory to continue");
      }
      if (configFile != null || !overrides().isEmpty()) {
        throw new IllegalArgumentException(
            "--resume continues with the run's own settings (" + out.resolve("config.json")
                + "); drop --config and the setting flags");
      }
      config = Trainer.configOf(out);
      log.println("--resume: continuing with the settings the run was started with (" + out.resolve("config.json") + ")");
    } else {
      config = settings();
      if (out == null) {
        out = Path.of("runs", preset + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
      }
    }
    // Everything the command line can get wrong is checked before the run directory is made.
    Split evalSplitToScore = evalSplit.equalsIgnoreCase("none") ? null : parseEvalSplit();
    BadInputPolicy policy = skipBad ? BadInputPolicy.SKIP_BAD : BadInputPolicy.FAIL;
    SplitIndex train = open(Split.TRAIN, policy, log);
    SplitIndex validation = open(Split.VALIDATION, policy, log);
    SplitIndex evaluation = evalSplitToScore == null ? null : open(evalSplitToScore, policy, log);
    Trainer trainer = new Trainer(config, train, validation, out, log);
    Trainer.Result result = resume ? trainer.resume() : trainer.train();
    log.printf(Locale.ROOT, "best validation Dice %.4f at epoch %d%s; checkpoints in %s%n",
        result.bestValDice(), result.bestEpoch(), result.bestEmaEpoch() == 0 ? ""
            : String.format(Locale.ROOT, " (weight average: %.4f at epoch %d)",
                result.bestEmaValDice(), result.bestEmaEpoch()), out);

    if (evaluation == null) {
      return 0;
    }
    Map<String, Object> scores = new LinkedHashMap<>();
    for (Scored entry : scored(config)) {
      String label = entry.label();
      Path file = out.resolve(entry.file());
      try (Segmenter segmenter = Segmenter.builder(file).device(Device.parse(config.device))
          .threads(config.threads).tta(entry.tta()).build()) {
        EvaluationResult r = SegmenterEvaluation.evaluate(segmenter, evaluation, 12, log);
        MetricSummary s = r.summary();
        log.printf(Locale.ROOT, "%s checkpoint (%s)%s on %s: Dice %.4f  IoU %.4f  precision %.4f  recall %.4f  F1 %.4f%n",
            entry.checkpoint(), entry.file(), EvaluateCommand.ttaPhrase(entry.tta()), evalSplit, s.dice(), s.iou(), s.precision(), s.recall(), s.f1());
        scores.put(label, s.toJson(evalSplit));
        Path report = out.resolve("report-" + label + "-" + evalSplit + ".html");
        EvaluationReport page = new EvaluationReport(r)
            .title("EffiSegNet-" + config.variant.toUpperCase(Locale.ROOT) + ", " + entry.checkpoint() + " checkpoint, "
                + evalSplit + " split" + EvaluateCommand.ttaPhrase(entry.tta()))
            .detail("run", out.toString())
            .detail("checkpoint", entry.file())
            .detail("preset", resume ? "(resumed)" : preset);
        EvaluateCommand.describeTta(page, entry.tta())
            .trainingLog(TrainingLog.read(out.resolve("epochs.csv"))).write(report);
        PerImageCsv.write(out.resolve("per-image-" + label + "-" + evalSplit + ".csv"), r);
        log.println("report: " + report);
      }
    }
    String text = new GsonBuilder().serializeNulls().create().toJson(scores);
    AtomicFiles.writeString(out.resolve("scores-" + evalSplit + ".json"), text + "\n");
    if (json) {
      System.out.println(text);
    }
    return 0;
  }

  /**
   * One entry of scores-SPLIT.json: the best, last or best-ema checkpoint, scored with or
   * without test-time augmentation.
   */
  private record Scored(String checkpoint, Tta tta) {
    /** The entry's name: "best", "last", "best-tta-flip", "best-ema", "best-ema-tta-flip". */
    String label() {
      return checkpoint + EvaluateCommand.ttaSuffix(tta);
    }

    /** The checkpoint's file in the run directory. */
    String file() {
      return switch (checkpoint) {
        case "best" -> Trainer.BEST;
        case "best-ema" -> Trainer.BEST_EMA;
        default -> Trainer.LAST;
      };
    }
  }

  /**
   * What a finished run is scored as: its best (by validation Dice) and last checkpoints, and the
   * best with flip TTA, reported beside the plain scores and never in their place.
   */
  private static final List<Scored> SCORED = List.of(
      new Scored("best", Tta.NONE), new Scored("last", Tta.NONE), new Scored("best", Tta.FLIP));

  /**
   * A run with a weight average ({@code ema}) adds its best ({@code best-ema}, by the average's
   * validation Dice), plain and with flip TTA, as entries of their own.
   */
  private static final List<Scored> SCORED_EMA =
      List.of(new Scored("best-ema", Tta.NONE), new Scored("best-ema", Tta.FLIP));

  private static List<Scored> scored(TrainConfig config) {
    return config.ema > 0
        ? java.util.stream.Stream.concat(SCORED.stream(), SCORED_EMA.stream()).toList()
        : SCORED;
  }

  /** The settings of a fresh run: the preset, then --config, then the flags; validated. */
  TrainConfig settings() throws IOException {
    TrainConfig config = TrainConfig.preset(preset);
    if (configFile != null) {
      if (!Files.isRegularFile(configFile)) {
        throw new IllegalArgumentException("--config " + configFile + ": " + (Files.isDirectory(configFile)
            ? "is a folder, not a YAML file of settings" : "no such file"));
      }
      config.applyFile(configFile);
    }
    config.applyFlags(overrides());
    return config.validate();
  }

  private Split parseEvalSplit() {
    try {
      return Split.parse(evalSplit);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "--eval-split must be test, validation, train or none, got " + evalSplit, e);
    }
  }

  private SplitIndex open(Split split, BadInputPolicy policy, PrintStream log) {
    SplitIndex index = SplitIndex.open(dataset.data, split, policy);
    index.quarantined().forEach(bad -> log.println("skipped " + bad));
    return index;
  }

  private Map<String, Object> overrides() {
    Map<String, Object> m = new LinkedHashMap<>();
    put(m, "variant", variant);
    put(m, "image_size", imageSize);
    put(m, "epochs", epochs);
    put(m, "batch_size", batchSize);
    put(m, "lr", lr);
    put(m, "min_lr", minLr);
    put(m, "weight_decay", weightDecay);
    put(m, "ema", ema);
    put(m, "weights", weights);
    put(m, "calibration_images", calibrationImages);
    put(m, "augment", augment);
    put(m, "augment_mods", augmentMods);
    put(m, "dice_weight", diceWeight);
    put(m, "bce_weight", bceWeight);
    put(m, "npd_weight", npdWeight);
    put(m, "threshold_logit", thresholdLogit);
    put(m, "deep_supervision", deepSupervision);
    put(m, "seed", seed);
    put(m, "device", device);
    put(m, "threads", threads);
    put(m, "workers", workers);
    put(m, "train_limit", trainLimit);
    put(m, "val_limit", valLimit);
    return m;
  }

  private static void put(Map<String, Object> m, String key, Object value) {
    if (value != null) {
      m.put(key, value);
    }
  }
}
