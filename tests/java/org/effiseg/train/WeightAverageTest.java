package org.effiseg.train;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.effiseg.api.Device;
import org.effiseg.api.Segmenter;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.eval.SegmenterEvaluation;
import org.effiseg.eval.TrainingLog;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.ParameterBlock;
import org.effiseg.nativeapi.Context;
import org.effiseg.testing.Cli;
import org.effiseg.testing.TinyRuns;
import org.effiseg.weights.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The weight average ({@code --ema}): its arithmetic, that the raw run is the same computation
 * with and without it, that resume continues it exactly, and that {@code best-ema.safetensors} is
 * a model checkpoint of the logged average. Tiny runs ({@link TinyRuns}: 3 optimizer steps per
 * epoch).
 */
class WeightAverageTest {
  /** The decay of the averaged runs ({@link TinyRuns#emaDecay}: the average is best at epochs 1 and 3). */
  private static double decay;

  @TempDir static Path shared;
  private static Path data;
  private static SplitIndex train;
  private static SplitIndex validation;
  /** 3 epochs without and with the average: the same settings otherwise. */
  private static Path plain;
  private static Path averaged;

  @BeforeAll
  static void runWithAndWithoutTheAverage() throws IOException {
    decay = TinyRuns.emaDecay();
    data = TinyRuns.dataset(shared.resolve("data"));
    train = SplitIndex.open(data, Split.TRAIN, BadInputPolicy.FAIL);
    validation = SplitIndex.open(data, Split.VALIDATION, BadInputPolicy.FAIL);
    plain = shared.resolve("plain");
    averaged = shared.resolve("averaged");
    new Trainer(TinyRuns.config(3), train, validation, plain, System.out).train();
    new Trainer(TinyRuns.emaConfig(3, decay), train, validation, averaged, System.out).train();
  }

  @Test
  void theAverageIsTheClosedFormOfTheWeightsOfEveryStep(@TempDir Path dir) throws IOException {
    TrainConfig config = TinyRuns.emaConfig(2, decay);
    List<float[]> weights = new ArrayList<>();
    List<float[]> buffers = new ArrayList<>();
    Trainer trainer = new Trainer(config, train, validation, dir.resolve("run"), System.out);
    trainer.onStep(params -> {
      weights.add(params.weights().read());
      buffers.add(params.buffers().read());
    });
    trainer.train();
    assertThat(weights).hasSize(6);
    float[] startWeights;
    float[] startBuffers;
    try (Context ctx = Context.cpu(1); EffiSegNet fresh = EffiSegNet.create(ctx, config.modelConfig())) {
      ParameterBlock p = fresh.parameters(); // what the run started from (random init, no import)
      startWeights = p.weights().read();
      startBuffers = p.buffers().read();
    }
    Checkpoint.Ema saved = Checkpoint.read(dir.resolve("run").resolve(Trainer.LAST)).ema();
    assertClose("weights", saved.weights(), closedForm(startWeights, weights, decay));
    assertClose("BN statistics", saved.buffers(), closedForm(startBuffers, buffers, decay));
    // the comparison can tell the average from the weights it averages
    assertThat(maxDifference(saved.weights(), weights.get(5))).isGreaterThan(1e-4);
    assertThat(maxDifference(saved.buffers(), buffers.get(5))).isGreaterThan(1e-4);
  }

  /** ema_n = d^n·w_0 + Σ_k (1 − d)·d^(n−k)·w_k, in double. */
  private static double[] closedForm(float[] start, List<float[]> steps, double d) {
    int n = steps.size();
    double[] ema = new double[start.length];
    for (int i = 0; i < start.length; i++) {
      ema[i] = Math.pow(d, n) * start[i];
    }
    for (int k = 1; k <= n; k++) {
      double weight = (1 - d) * Math.pow(d, n - k);
      float[] w = steps.get(k - 1);
      for (int i = 0; i < w.length; i++) {
        ema[i] += weight * w[i];
      }
    }
    return ema;
  }

  private static void assertClose(String what, float[] actual, double[] expected) {
    assertThat(actual.length).isEqualTo(expected.length);
    int worst = 0;
    double worstExcess = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < actual.length; i++) {
      double excess = Math.abs(actual[i] - expected[i]) - (1e-6 + 1e-5 * Math.abs(expected[i]));
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
    }
    assertWithMessage("%s[%s]: %s, closed form %s", what, worst, actual[worst], expected[worst])
        .that(worstExcess).isAtMost(0.0);
  }

  private static double maxDifference(float[] a, float[] b) {
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }

  @Test
  void theRawRunIsBitIdenticalWithAndWithoutTheAverage() throws IOException {
    FinalState.assertSameRaw(Checkpoint.read(plain.resolve(Trainer.LAST)), averaged.resolve(Trainer.LAST));
    FinalState.assertSameRaw(Checkpoint.read(plain.resolve(Trainer.BEST)), averaged.resolve(Trainer.BEST));
    assertThat(Checkpoint.read(averaged.resolve(Trainer.BEST)).ema()).isNull(); // best is the raw model's
    List<Map<String, Double>> without = rows(plain);
    List<Map<String, Double>> with = rows(averaged);
    assertThat(with).hasSize(3);
    for (Map<String, Double> row : with) {
      assertThat(row.keySet()).containsAtLeast("val_loss_ema", "val_dice_ema", "val_iou_ema");
    }
    for (Map<String, Double> row : without) {
      assertThat(row.keySet()).containsNoneOf("val_loss_ema", "val_dice_ema", "val_iou_ema");
    }
    assertThat(rawColumns(with)).isEqualTo(rawColumns(without));
    assertThat(Files.exists(plain.resolve(Trainer.BEST_EMA))).isFalse();
    assertThat(Files.readAllLines(plain.resolve("epochs.csv")).get(0)).isEqualTo(TrainingLog.header());
    assertThat(Files.readAllLines(averaged.resolve("epochs.csv")).get(0))
        .isEqualTo(TrainingLog.header() + ",val_loss_ema,val_dice_ema,val_iou_ema");
  }

  /** Each row without its timing and weight-average columns. */
  private static List<Map<String, Double>> rawColumns(List<Map<String, Double>> rows) {
    List<Map<String, Double>> raw = new ArrayList<>();
    for (Map<String, Double> row : rows) {
      Map<String, Double> r = deterministic(row);
      r.keySet().removeIf(k -> k.endsWith("_ema"));
      raw.add(r);
    }
    return raw;
  }

  private static Map<String, Double> deterministic(Map<String, Double> row) {
    Map<String, Double> r = new LinkedHashMap<>(row);
    r.keySet().removeAll(TrainingLog.TIMING_COLUMNS);
    return r;
  }

  private static List<Map<String, Double>> rows(Path run) throws IOException {
    List<Map<String, Double>> rows = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve(EpochLog.JSONL))) {
      Map<String, Double> row = new LinkedHashMap<>();
      for (Map.Entry<String, JsonElement> e : JsonParser.parseString(line).getAsJsonObject().entrySet()) {
        row.put(e.getKey(), e.getValue().getAsDouble());
      }
      rows.add(row);
    }
    return rows;
  }

  @Test
  void anInterruptedAveragedRunResumesToTheUninterruptedState(@TempDir Path dir) throws IOException {
    Path run = dir.resolve("run");
    Trainer doomed = new Trainer(TinyRuns.emaConfig(3, decay), train, validation, run, System.out);
    doomed.onBatch((epoch, batch) -> {
      if (epoch == 1 && batch == 2) {
        throw new IllegalStateException("simulated crash in epoch 2");
      }
    });
    assertThrows(IllegalStateException.class, doomed::train);
    assertThat(Checkpoint.readHeader(run.resolve(Trainer.LAST)).epoch()).isEqualTo(1);

    new Trainer(Trainer.configOf(run), train, validation, run, System.out).resume();
    FinalState.of(averaged).assertReachedBy(run);
  }

  @Test
  void bestEmaIsAModelCheckpointThatScoresTheLoggedAverageDice() throws IOException {
    Path file = averaged.resolve(Trainer.BEST_EMA);
    Checkpoint bestEma = Checkpoint.read(file);
    int epoch = FinalState.bestEmaEpochOf(averaged);
    assertThat(bestEma.epoch()).isEqualTo(epoch);
    assertThat(bestEma.optimizer()).isNull();
    assertThat(bestEma.ema()).isNull();
    Map<String, Double> row = rows(averaged).get(epoch - 1);
    double logged = row.get("val_dice_ema");
    assertWithMessage("test setup: the average must score differently from the raw model")
        .that(logged).isNotEqualTo(row.get("val_dice"));
    try (Segmenter segmenter = Segmenter.builder(file).device(Device.CPU).threads(1).build()) {
      double dice = SegmenterEvaluation.evaluate(segmenter, validation, 0, null).summary().dice();
      assertThat(dice).isWithin(1e-12).of(logged);
    }
  }

  @Test
  void trainScoresBestEmaPlainAndWithFlipBesideTheOtherEntries(@TempDir Path dir) {
    List<String> args = new ArrayList<>(List.of("train", "--data", data.toString(),
        "--out", dir.resolve("run").toString(), "--eval-split", "test", "--json"));
    args.addAll(TinyRuns.flags(1));
    args.addAll(List.of("--ema", Double.toString(decay)));
    Cli.Outcome o = Cli.run(args.toArray(String[]::new));
    assertWithMessage("exit code; stderr: %s", o.err()).that(o.exit()).isEqualTo(0);
    JsonObject scores = JsonParser.parseString(o.out().trim()).getAsJsonObject();
    assertThat(scores.keySet())
        .containsExactly("best", "last", "best-tta-flip", "best-ema", "best-ema-tta-flip").inOrder();
    assertThat(scores.getAsJsonObject("best-ema").get("images").getAsInt()).isEqualTo(2);
    assertThat(Files.exists(dir.resolve("run").resolve("report-best-ema-tta-flip-test.html"))).isTrue();
  }

  @Test
  void theDecayIsZeroOrBetweenZeroAndOne() {
    for (double bad : new double[] {-0.5, 1, 1.5}) {
      TrainConfig c = TinyRuns.config(1);
      c.apply(Map.of("ema", bad), "test");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, c::validate);
      assertThat(e).hasMessageThat().isEqualTo("ema (--ema) must be 0 (off) or a decay strictly"
          + " between 0 and 1 (e.g. 0.999), got " + bad);
    }
    TrainConfig notANumber = TinyRuns.config(1);
    IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
        () -> notANumber.applyFlags(Map.of("ema", Double.NaN)));
    assertThat(nan).hasMessageThat().isEqualTo("command line: --ema must be a finite number, got NaN");
    Cli.Outcome o = Cli.run("train", "--data", data.toString(), "--out", shared.resolve("never").toString(),
        "--preset", "smoke", "--ema", "1");
    o.failsNaming(1, "ema (--ema) must be 0 (off) or a decay strictly between 0 and 1");
    assertThat(Files.exists(shared.resolve("never"))).isFalse();
    TrainConfig off = TinyRuns.config(1);
    off.apply(Map.of("ema", 0), "test");
    assertThat(off.validate().ema).isEqualTo(0.0);
    TrainConfig on = TinyRuns.config(1);
    on.apply(Map.of("ema", 0.9999), "test");
    assertThat(on.validate().ema).isEqualTo(0.9999);
  }

  @Test
  void settingsWithoutTheKeyKeepNoAverage() {
    String json = TinyRuns.config(1).toJson();
    assertThat(json).contains("\"ema\": 0.0");
    String old = json.replace("\"ema\": 0.0,", ""); // a config.json written before --ema existed
    assertThat(old).doesNotContain("\"ema\"");
    assertThat(TrainConfig.fromJson(old).validate().ema).isEqualTo(0.0);
    assertThat(TrainConfig.fromJson(TinyRuns.emaConfig(1, decay).toJson()).ema).isEqualTo(decay);
  }
}
