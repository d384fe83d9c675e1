package org.effiseg.train;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.data.Batch;
import org.effiseg.data.BatchLoader;
import org.effiseg.data.SamplePair;
import org.effiseg.data.SplitIndex;
import org.effiseg.eval.MetricSummary;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.EfficientNetVariant;
import org.effiseg.model.ParameterBlock;
import org.effiseg.model.StateDict;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Devices;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.util.ProgressBar;
import org.effiseg.weights.BnCalibration;
import org.effiseg.weights.Checkpoint;
import org.effiseg.weights.EfficientNetLayout;
import org.effiseg.weights.PretrainedWeights;

/**
 * The training loop: the prefetching loader feeds the native forward/backward, the fused loss
 * and one AdamW step over the flat parameter block; validation after every epoch; the best
 * (by validation Dice) and the last checkpoint kept in the run directory, with per-epoch CSV
 * and JSON logs; {@code run.json} ({@link RunRecord}) records the data, build and machine of
 * every start.
 *
 * <p>The run directory is crash-consistent (docs/run-directory.md): everything the settings can
 * get wrong (ranges, augmentation, pretrained weights, device) is checked before it is created,
 * and at the end of every epoch the logs, then the best checkpoint (when the epoch is the new
 * best, keeping the previous one as a rollback link), then {@code last.safetensors} are written,
 * each atomically (temporary file, fsync, rename, fsync of the folder). {@code last} is the commit
 * record: killed at any instant, the directory holds the committed epoch plus at most parts of
 * the next one, which {@link #resume} rolls back before it continues (stale temporaries, a best
 * checkpoint and log rows of the uncommitted epoch). A directory without a checkpoint starts
 * over, under {@code train} or {@code resume}.
 *
 * <p>With {@code ema} (a decay d, {@code --ema}), a {@link WeightAverage} of the weights and BN
 * statistics starts from the starting weights and follows every optimizer step; each epoch it is
 * validated after the raw model (log columns {@code val_loss_ema}, {@code val_dice_ema}, {@code
 * val_iou_ema}), kept in {@code last.safetensors} (so {@code resume} continues it exactly), and
 * written as the model of {@code best-ema.safetensors} in the epochs whose average has the
 * highest validation Dice so far. The raw trajectory is the same computation as without it.
 *
 * <p>{@code resume} continues from the last checkpoint with the same weights, BN statistics,
 * AdamW moments and step, learning rate (a function of the epoch) and data order (a function of
 * seed and epoch), so a resumed run ends in exactly the state an uninterrupted one would. A NaN
 * or infinite loss stops the run before the optimizer step, leaving the last good checkpoint.
 */
public final class Trainer {
  public static final String LAST = "last.safetensors";
  public static final String BEST = "best.safetensors";
  /** The weight average ({@code --ema}) of the epoch whose average validated best. */
  public static final String BEST_EMA = "best-ema.safetensors";

  private final TrainConfig config;
  private final Path dataRoot;
  private final Path runDir;
  private final PrintStream out;
  private final SplitIndex train;
  private final SplitIndex validation;
  private final int imageSize;
  private final EfficientNetVariant variant;
  /** Test hook: called after each training batch with (epoch, batch); may throw to simulate a crash. */
  private BatchListener batchListener = (epoch, batch) -> {};
  /** Test hook: called after each optimizer step (and the weight average's update). */
  private StepListener stepListener = params -> {};

  /** Called after every training step; for tests that interrupt a run. */
  @FunctionalInterface
  public interface BatchListener {
    void afterBatch(int epoch, int batch);
  }

  /** Sees the parameters after every optimizer step; for tests. */
  @FunctionalInterface
  interface StepListener {
    void afterStep(ParameterBlock params);
  }

  /**
   * What a finished run reports; {@code bestEmaEpoch} is 0 (and {@code bestEmaValDice} NaN) in
   * a run without a weight average.
   */
  public record Result(Path runDir, int epochs, int bestEpoch, double bestValDice, MetricSummary last,
      int bestEmaEpoch, double bestEmaValDice) {}

  /**
   * @param train the validated training split (see {@link SplitIndex#open})
   * @param validation the validated validation split
   */
  public Trainer(TrainConfig config, SplitIndex train, SplitIndex validation, Path runDir, PrintStream out) {
    this.config = config.validate();
    this.dataRoot = train.root();
    this.train = limit(train, config.trainLimit);
    this.validation = limit(validation, config.valLimit);
    this.runDir = runDir;
    this.out = out;
    this.variant = config.encoderVariant();
    this.imageSize = config.resolution();
  }

  public void onBatch(BatchListener listener) {
    this.batchListener = listener;
  }

  void onStep(StepListener listener) {
    this.stepListener = listener;
  }

  private static SplitIndex limit(SplitIndex split, int n) {
    return n > 0 && n < split.size() ? split.head(n) : split;
  }

  /**
   * A fresh run: {@code runDir} must not exist yet, be empty, or hold only the files of a run
   * that stopped before its first checkpoint.
   */
  public Result train() throws IOException {
    PretrainedWeights.Imported pretrained = importPretrained();
    try (Context ctx = Devices.open(config.device, config.threads)) {
      RunDirectory dir = new RunDirectory(runDir, out);
      dir.create(config.toJson());
      return run(ctx, dir, new EpochLog(runDir), null, pretrained);
    }
  }

  /**
   * Continues the run in {@code runDir} from its last committed checkpoint, after undoing what
   * an interrupted epoch left; a run without a checkpoint starts over.
   */
  public Result resume() throws IOException {
    try (Context ctx = Devices.open(config.device, config.threads)) {
      RunDirectory dir = new RunDirectory(runDir, out);
      EpochLog log = new EpochLog(runDir);
      RunDirectory.Committed committed = dir.recover(log);
      if (committed == null) {
        out.println(runDir + " holds no checkpoint yet: starting the run over");
        return run(ctx, dir, log, null, importPretrained());
      }
      return run(ctx, dir, log, Checkpoint.read(dir.file(LAST)), null);
    }
  }

  /** Reads the configuration a run was started with (for --resume). */
  public static TrainConfig configOf(Path runDir) throws IOException {
    Path file = runDir.resolve(RunDirectory.CONFIG);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(runDir + " is not an effiseg run directory (no config.json)"
          + (Files.isDirectory(runDir) ? "; if a run stopped while creating it, start that run"
              + " again (without --resume)" : ""));
    }
    try {
      return TrainConfig.fromJson(Files.readString(file)).validate();
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /** The pretrained encoder named by the settings, or null for random weights. */
  private PretrainedWeights.Imported importPretrained() throws IOException {
    if (config.weights.isEmpty()) {
      return null;
    }
    if (!Files.exists(Path.of(config.weights))) {
      throw new IllegalArgumentException("pretrained weights " + config.weights + " do not exist"
          + " (relative paths are taken from the current folder; the quick preset expects the"
          + " repository root beside ../shared): pass --weights PATH, or --weights \"\" to start"
          + " from random weights. The ImageNet B0: " + PretrainedWeights.IMAGENET_B0_SOURCE);
    }
    return PretrainedWeights.load(Path.of(config.weights), EfficientNetLayout.of(variant), false);
  }

  /** Where the run stands between epochs: what {@code last} commits besides the tensors. */
  private static final class Progress {
    long step;
    int bestEpoch;
    double bestDice = Double.NEGATIVE_INFINITY;
    int bestEmaEpoch;
    double bestEmaDice = Double.NEGATIVE_INFINITY;
  }

  private Result run(Context ctx, RunDirectory dir, EpochLog log, Checkpoint resumeFrom,
      PretrainedWeights.Imported pretrained) throws IOException {
    try (EffiSegNet model = EffiSegNet.create(ctx, config.modelConfig());
        BatchLoader trainLoader = loader(train, AugmentPresets.parse(config.augmentSpec()), true);
        BatchLoader valLoader = loader(validation, AugmentPresets.NONE, false);
        Tensor terms = ctx.tensor(4)) {
      RunRecord.recordStart(runDir, config, train, validation, ctx, loaderThreads(),
          resumeFrom == null ? 0 : resumeFrom.epoch());
      ParameterBlock params = model.parameters();
      int startEpoch = 0;
      Progress progress = new Progress();
      if (resumeFrom != null) {
        model.loadStateDict(resumeFrom.model(), true);
        params.expAvg().write(resumeFrom.optimizer().expAvg());
        params.expAvgSq().write(resumeFrom.optimizer().expAvgSq());
        startEpoch = resumeFrom.epoch();
        progress.step = resumeFrom.step();
        JsonObject metrics = JsonParser.parseString(resumeFrom.metricsJson()).getAsJsonObject();
        progress.bestEpoch = metrics.get("best_epoch").getAsInt();
        progress.bestDice = metrics.get("best_val_dice").getAsDouble();
        if (config.ema > 0) {
          if (resumeFrom.ema() == null || !metrics.has("best_ema_epoch")) {
            throw new IOException(dir.file(LAST) + " holds no weight average, but the run's"
                + " settings keep one (ema " + config.ema + ")");
          }
          progress.bestEmaEpoch = metrics.get("best_ema_epoch").getAsInt();
          progress.bestEmaDice = metrics.get("best_ema_val_dice").getAsDouble();
        }
        out.printf(Locale.ROOT, "resuming %s after epoch %d (step %d, best val Dice %.4f at epoch %d%s)%n",
            runDir, startEpoch, progress.step, progress.bestDice, progress.bestEpoch,
            config.ema > 0 ? String.format(Locale.ROOT, "; EMA %.4f at epoch %d",
                progress.bestEmaDice, progress.bestEmaEpoch) : "");
      } else {
        loadPretrained(model, pretrained);
      }
      out.printf(Locale.ROOT,
          "training EffiSegNet-%s at %dx%d on %d images (validation %d), %d epochs, batch %d, %s%s%n",
          variant.name(), imageSize, imageSize, train.size(), validation.size(), config.epochs,
          config.batchSize, ctx, config.ema > 0 ? ", weight average (EMA) decay " + config.ema : "");
      // the average starts from the weights training starts from (imported and calibrated, or resumed)
      try (WeightAverage ema = config.ema > 0 ? new WeightAverage(ctx, params, config.ema) : null) {
        if (ema != null && resumeFrom != null) {
          ema.write(resumeFrom.ema());
        }
        MetricSummary lastSummary = epochs(ctx, model, ema, trainLoader, valLoader, terms, dir, log,
            startEpoch, progress);
        return new Result(runDir, config.epochs, progress.bestEpoch, progress.bestDice, lastSummary,
            progress.bestEmaEpoch, ema == null ? Double.NaN : progress.bestEmaDice);
      }
    }
  }

  /** Trains, validates and commits epochs {@code startEpoch}… of the run; the last summary. */
  private MetricSummary epochs(Context ctx, EffiSegNet model, WeightAverage ema,
      BatchLoader trainLoader, BatchLoader valLoader, Tensor terms, RunDirectory dir, EpochLog log,
      int startEpoch, Progress progress) throws IOException {
    LrSchedule schedule = new LrSchedule(config.lr, config.minLr, config.epochs);
    MetricSummary lastSummary = null;
    for (int epoch = startEpoch; epoch < config.epochs; epoch++) {
      double lr = schedule.lr(epoch);
      EpochStats stats = trainEpoch(ctx, model, ema, trainLoader, epoch, lr, progress.step);
      progress.step = stats.step;
      int validated = epoch;
      Validation.Result val = Validation.run(ctx, model, valLoader, config, validated, terms);
      Validation.Result emaVal = ema == null ? null
          : ema.evaluate(() -> Validation.run(ctx, model, valLoader, config, validated, terms));
      lastSummary = val.summary();
      double dice = lastSummary.dice();
      boolean best = improves(progress.bestEpoch, progress.bestDice, dice);
      if (best) {
        progress.bestDice = dice;
        progress.bestEpoch = epoch + 1;
      }
      boolean bestEma = emaVal != null
          && improves(progress.bestEmaEpoch, progress.bestEmaDice, emaVal.summary().dice());
      if (bestEma) {
        progress.bestEmaDice = emaVal.summary().dice();
        progress.bestEmaEpoch = epoch + 1;
      }
      Map<String, Double> row = epochRow(epoch, stats, val, emaVal, lr);
      ParameterBlock params = model.parameters();
      StateDict weights = model.stateDict();
      Checkpoint.OptimizerState optimizer =
          new Checkpoint.OptimizerState(params.expAvg().read(), params.expAvgSq().read());
      Checkpoint.Ema average = ema == null ? null : ema.read();
      // last carries the average (for resume); best is the raw model's alone, as without --ema
      Checkpoint last = checkpoint(weights, optimizer, average, epoch + 1, row, progress, Map.of());
      Checkpoint bestCheckpoint = best
          ? checkpoint(weights, optimizer, null, epoch + 1, row, progress, Map.of())
          : null;
      Checkpoint bestEmaCheckpoint = bestEma
          ? checkpoint(WeightAverage.stateDict(params, average), null, null, epoch + 1, row,
              progress, Map.of("ema_decay", Double.toString(config.ema)))
          : null;
      dir.commit(log, row, last, bestCheckpoint, bestEmaCheckpoint);
      out.printf(Locale.ROOT,
          "epoch %d/%d  loss %.4f (dice %.4f bce %.4f npd %.4f)  val loss %.4f  val Dice %.4f IoU %.4f"
              + "%s  lr %.2e  %.1f img/s  %s%s%s%n",
          epoch + 1, config.epochs, stats.loss.total(), stats.loss.dice(), stats.loss.bce(),
          stats.loss.npd(), val.loss().total(), lastSummary.dice(), lastSummary.iou(),
          emaVal == null ? "" : String.format(Locale.ROOT, "  EMA val Dice %.4f IoU %.4f",
              emaVal.summary().dice(), emaVal.summary().iou()),
          lr, stats.imagesPerSecond(), ProgressBar.clock(stats.seconds()), best ? "  * best" : "",
          bestEma ? "  * best EMA" : "");
    }
    return lastSummary;
  }

  /** Whether an epoch's validation Dice is the run's new best (the first epoch always is). */
  private static boolean improves(int bestEpoch, double bestDice, double dice) {
    return bestEpoch == 0 || dice > bestDice || (Double.isNaN(bestDice) && !Double.isNaN(dice));
  }

  private BatchLoader loader(SplitIndex split, org.effiseg.augment.AugmentConfig augment, boolean shuffle) {
    return BatchLoader.builder(split, new AugmentPipeline(augment, imageSize))
        .batchSize(config.batchSize)
        .threads(loaderThreads())
        .seed(config.seed)
        .shuffle(shuffle)
        .dropLast(false)
        .build();
  }

  private int loaderThreads() {
    return config.workers > 0 ? config.workers : Runtime.getRuntime().availableProcessors();
  }

  /** Loads the pretrained encoder and calibrates its BN statistics on training images. */
  private void loadPretrained(EffiSegNet model, PretrainedWeights.Imported imported)
      throws IOException {
    if (imported == null) {
      out.println("no --weights: the encoder starts from random weights (the paper fine-tunes "
          + "an ImageNet-pretrained one; see docs/weights.md)");
      return;
    }
    EfficientNetLayout layout = EfficientNetLayout.of(variant);
    StateDict encoder = imported.withPrefix(EffiSegNet.ENCODER_PREFIX, false);
    model.loadStateDict(encoder, false); // completeness was checked against the layout on import
    int n = Math.min(config.calibrationImages, train.size());
    if (n > 0) {
      List<Path> images = new ArrayList<>();
      for (SamplePair pair : train.pairs().subList(0, n)) {
        images.add(pair.image());
      }
      BnCalibration.calibrateOnImages(model, images, imageSize, config.batchSize);
    }
    out.printf(Locale.ROOT, "encoder: %s%s%n", imported.description(),
        n > 0 ? ", BN statistics calibrated on " + n + " training images" : "");
  }

  private static final class EpochStats {
    LossTerms loss = LossTerms.ZERO;
    long step;
    long images;
    double dataSeconds;
    double computeSeconds;
    double wallSeconds;

    double imagesPerSecond() {
      return images / Math.max(wallSeconds, 1e-9);
    }

    double seconds() {
      return wallSeconds;
    }
  }

  private EpochStats trainEpoch(Context ctx, EffiSegNet model, WeightAverage ema, BatchLoader loader,
      int epoch, double lr, long step) {
    EpochStats stats = new EpochStats();
    stats.step = step;
    ProgressBar bar = new ProgressBar(out, String.format(Locale.ROOT, "epoch %d/%d", epoch + 1,
        config.epochs), loader.batchesPerEpoch());
    long start = System.nanoTime();
    LossTerms sum = LossTerms.ZERO;
    int batches = 0;
    try (BatchLoader.EpochBatches epochBatches = loader.epoch(epoch);
        InputTensors input = new InputTensors(ctx, imageSize);
        TrainStep trainStep = new TrainStep(model, config)) {
      while (epochBatches.hasNext()) {
        long t0 = System.nanoTime();
        Batch batch = epochBatches.next();
        long t1 = System.nanoTime();
        input.load(batch);
        LossTerms terms1 = trainStep.forwardBackward(input.images(), input.masks(), stats.step);
        if (!terms1.isFinite()) {
          throw new NonFiniteLossException(String.format(Locale.ROOT,
              "the loss became %s at epoch %d, batch %d (terms: %s); the run stops here, "
                  + "keeping the last good checkpoint %s", terms1.total(), epoch + 1, batches + 1,
              terms1, runDir.resolve(LAST)));
        }
        stats.step++;
        trainStep.update(lr, stats.step);
        if (ema != null) {
          ema.update();
        }
        stepListener.afterStep(model.parameters());
        long t2 = System.nanoTime();
        stats.dataSeconds += (t1 - t0) / 1e9;
        stats.computeSeconds += (t2 - t1) / 1e9;
        stats.images += batch.size();
        sum = sum.plus(terms1);
        batches++;
        double elapsed = (t2 - start) / 1e9;
        bar.update(batches, String.format(Locale.ROOT, "loss %.4f (dice %.3f bce %.3f npd %.3f) %.1f img/s",
            terms1.total(), terms1.dice(), terms1.bce(), terms1.npd(), stats.images / elapsed));
        batchListener.afterBatch(epoch, batches);
      }
    }
    stats.wallSeconds = (System.nanoTime() - start) / 1e9;
    stats.loss = sum.times(1.0 / Math.max(batches, 1));
    return stats;
  }

  private Map<String, Double> epochRow(int epoch, EpochStats stats, Validation.Result val,
      Validation.Result emaVal, double lr) {
    MetricSummary s = val.summary();
    Map<String, Double> row = new LinkedHashMap<>();
    row.put("epoch", (double) (epoch + 1));
    row.put("train_loss", stats.loss.total());
    row.put("train_dice_loss", stats.loss.dice());
    row.put("train_bce_loss", stats.loss.bce());
    row.put("train_npd_loss", stats.loss.npd());
    row.put("val_loss", val.loss().total());
    row.put("val_dice", s.dice());
    row.put("val_iou", s.iou());
    row.put("val_precision", s.precision());
    row.put("val_recall", s.recall());
    row.put("val_f1", s.f1());
    row.put("lr", lr);
    row.put("data_seconds", stats.dataSeconds);
    row.put("compute_seconds", stats.computeSeconds);
    row.put("images_per_second", stats.imagesPerSecond());
    if (emaVal != null) {
      row.put("val_loss_ema", emaVal.loss().total());
      row.put("val_dice_ema", emaVal.summary().dice());
      row.put("val_iou_ema", emaVal.summary().iou());
    }
    return row;
  }

  /**
   * A checkpoint of the epoch: the row and where the best epochs stand as its metrics, the run's
   * settings, image size and data as its metadata.
   */
  private Checkpoint checkpoint(StateDict model, Checkpoint.OptimizerState optimizer,
      Checkpoint.Ema average, int epochsDone, Map<String, Double> row, Progress progress,
      Map<String, String> extra) {
    Map<String, Object> metrics = new LinkedHashMap<>(row);
    metrics.put("best_epoch", progress.bestEpoch);
    metrics.put("best_val_dice", progress.bestDice);
    if (config.ema > 0) {
      metrics.put("best_ema_epoch", progress.bestEmaEpoch);
      metrics.put("best_ema_val_dice", progress.bestEmaDice);
    }
    Map<String, String> meta = new LinkedHashMap<>(extra);
    meta.put("image_size", Integer.toString(imageSize));
    meta.put("data", dataRoot.toString());
    return new Checkpoint(
        model,
        optimizer,
        config.variant,
        config.toJson(),
        epochsDone,
        progress.step,
        new GsonBuilder().serializeSpecialFloatingPointValues().create().toJson(metrics),
        meta,
        average);
  }
}
