package org.effiseg.weights;

import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.util.AtomicFiles;
import org.effiseg.util.Errors;

/**
 * effiseg's own checkpoint: one safetensors file holding the model's {@link StateDict} (its own
 * names), optionally the AdamW moments as two flat tensors {@code optimizer.exp_avg} and {@code
 * optimizer.exp_avg_sq} (in the order of the model's flat parameter block), optionally the
 * training's moving average of the weights as two flat tensors {@code ema.weights} and {@code
 * ema.buffers} (the flat weights and BN statistics blocks), and string metadata:
 * {@code format} = "effiseg-checkpoint", {@code format_version}, {@code variant}, {@code config}
 * and {@code metrics} (JSON text), {@code epoch}, {@code step}, plus free-form entries (RNG and
 * data-order state, ...). Any safetensors tool can open it.
 *
 * @param model the model's state dict
 * @param optimizer the AdamW moments, or null (an inference-only checkpoint)
 * @param variant e.g. "b0"
 * @param configJson the training/model configuration as JSON ("{}" if none)
 * @param epoch completed epochs
 * @param step optimizer steps taken (AdamW's bias-correction step)
 * @param metricsJson metrics as JSON ("{}" if none)
 * @param extra other metadata, e.g. RNG state; keys must not clash with the ones above
 * @param ema the moving average of the weights a training run keeps beside them ({@code --ema}),
 *     or null; readers that load {@link #model} ignore it
 */
public record Checkpoint(
    StateDict model,
    Checkpoint.OptimizerState optimizer,
    String variant,
    String configJson,
    int epoch,
    long step,
    String metricsJson,
    Map<String, String> extra,
    Checkpoint.Ema ema) {

  public static final String FORMAT = "effiseg-checkpoint";
  public static final String FORMAT_VERSION = "1";
  /** The most characters of a metadata value an error message quotes (Errors.quoted). */
  private static final int SHOWN_CHARS = 60;
  static final String EXP_AVG = "optimizer.exp_avg";
  static final String EXP_AVG_SQ = "optimizer.exp_avg_sq";
  static final String EMA_WEIGHTS = "ema.weights";
  static final String EMA_BUFFERS = "ema.buffers";
  private static final String[] RESERVED = {
    "format", "format_version", "variant", "config", "epoch", "step", "metrics"
  };

  /** AdamW's first and second moments over the flat parameter block. */
  public record OptimizerState(float[] expAvg, float[] expAvgSq) {
    public OptimizerState {
      if (expAvg.length != expAvgSq.length) {
        throw new IllegalArgumentException("exp_avg has " + expAvg.length
            + " values but exp_avg_sq has " + expAvgSq.length);
      }
    }
  }

  /**
   * The exponential moving average of the weights and BN statistics, flat, in the layout of the
   * model's parameter block ({@code ParameterBlock.weights()} and {@code buffers()}).
   */
  public record Ema(float[] weights, float[] buffers) {
    public Ema {
      if (weights == null || buffers == null) {
        throw new IllegalArgumentException("a weight average needs its weights and its buffers");
      }
    }
  }

  /** A checkpoint without a weight average. */
  public Checkpoint(StateDict model, OptimizerState optimizer, String variant, String configJson,
      int epoch, long step, String metricsJson, Map<String, String> extra) {
    this(model, optimizer, variant, configJson, epoch, step, metricsJson, extra, null);
  }

  public Checkpoint {
    if (model == null || variant == null) {
      throw new IllegalArgumentException("a checkpoint needs a model state dict and a variant");
    }
    configJson = configJson == null ? "{}" : configJson;
    metricsJson = metricsJson == null ? "{}" : metricsJson;
    extra = extra == null ? Map.of() : Map.copyOf(extra);
    for (String r : RESERVED) {
      if (extra.containsKey(r)) {
        throw new IllegalArgumentException("extra metadata may not use the reserved key " + r);
      }
    }
    for (String n : new String[] {EXP_AVG, EXP_AVG_SQ, EMA_WEIGHTS, EMA_BUFFERS}) {
      if (model.contains(n)) {
        throw new IllegalArgumentException("a model tensor may not be named " + n);
      }
    }
    requireJson(configJson, "config");
    requireJson(metricsJson, "metrics");
  }

  /**
   * Writes atomically: a temporary file in the same folder, flushed to disk, then renamed over
   * {@code file}, so a crash leaves either the old or the new checkpoint, never half of one. A
   * tensor holding NaN or an infinity is refused, naming it.
   */
  public static void write(Path file, Checkpoint c) throws IOException {
    StateDict tensors = c.tensors();
    for (String name : tensors.names()) { // what read() refuses is never written
      requireFinite(file, name, tensors.get(name).data());
    }
    AtomicFiles.write(file, out -> Safetensors.write(out, tensors, c.metadata()));
  }

  /** What a checkpoint's header says, read without its tensors. */
  public record Header(int epoch, long step, String metricsJson) {}

  /** Reads the header of a checkpoint written by {@link #write}: cheap, checks the format. */
  public static Header readHeader(Path file) throws IOException {
    Map<String, String> meta = new LinkedHashMap<>(Safetensors.readMetadata(file));
    checkFormat(file, meta);
    String metrics = meta.getOrDefault("metrics", "{}");
    return new Header(epochOf(file, meta), stepOf(file, meta), metrics);
  }

  /**
   * Reads a checkpoint written by {@link #write}. A tensor holding NaN or an infinity is refused
   * (naming it): such weights only make meaningless masks.
   */
  public static Checkpoint read(Path file) throws IOException {
    Safetensors.Contents c = Safetensors.read(file);
    Map<String, String> meta = new LinkedHashMap<>(c.metadata());
    checkFormat(file, meta);
    StateDict all = c.tensors();
    for (String name : all.names()) {
      requireFinite(file, name, all.get(name).data());
    }
    OptimizerState opt = null;
    TensorData m = all.remove(EXP_AVG);
    TensorData v = all.remove(EXP_AVG_SQ);
    if ((m == null) != (v == null)) {
      throw new WeightsFormatException(file + ": has only one of " + EXP_AVG + " and "
          + EXP_AVG_SQ);
    }
    if (m != null) {
      if (m.data().length != v.data().length) {
        throw new WeightsFormatException(file + ": " + EXP_AVG + " and " + EXP_AVG_SQ
            + " differ in size");
      }
      opt = new OptimizerState(m.data(), v.data());
    }
    Ema ema = null;
    TensorData emaWeights = all.remove(EMA_WEIGHTS);
    TensorData emaBuffers = all.remove(EMA_BUFFERS);
    if ((emaWeights == null) != (emaBuffers == null)) {
      throw new WeightsFormatException(file + ": has only one of " + EMA_WEIGHTS + " and "
          + EMA_BUFFERS);
    }
    if (emaWeights != null) {
      ema = new Ema(emaWeights.data(), emaBuffers.data());
    }
    String variant = meta.remove("variant");
    if (variant == null) {
      throw new WeightsFormatException(file + ": checkpoint metadata has no 'variant'");
    }
    int epoch = epochOf(file, meta);
    long step = stepOf(file, meta);
    String config = meta.remove("config");
    String metrics = meta.remove("metrics");
    for (String r : RESERVED) {
      meta.remove(r);
    }
    try {
      return new Checkpoint(all, opt, variant, config, epoch, step, metrics, meta, ema);
    } catch (IllegalArgumentException e) {
      throw new WeightsFormatException(file + ": " + e.getMessage(), e);
    }
  }

  private static void checkFormat(Path file, Map<String, String> meta) throws WeightsFormatException {
    if (!FORMAT.equals(meta.get("format"))) {
      throw new WeightsFormatException(file + ": not an effiseg checkpoint (metadata 'format' is "
          + Errors.quoted(meta.get("format"), SHOWN_CHARS)
          + "); pretrained weights are imported with --weights / PretrainedWeights instead");
    }
    if (!FORMAT_VERSION.equals(meta.get("format_version"))) {
      throw new WeightsFormatException(file + ": checkpoint format version "
          + Errors.quoted(meta.get("format_version"), SHOWN_CHARS) + " is not supported (this build reads "
          + FORMAT_VERSION + ")");
    }
  }

  private static int epochOf(Path file, Map<String, String> meta) throws WeightsFormatException {
    return (int) counter(file, meta, "epoch", Integer.MAX_VALUE);
  }

  private static long stepOf(Path file, Map<String, String> meta) throws WeightsFormatException {
    return counter(file, meta, "step", Long.MAX_VALUE);
  }

  /** A metadata counter ("0" where absent): an integer in 0..max, or the file is refused. */
  private static long counter(Path file, Map<String, String> meta, String key, long max)
      throws WeightsFormatException {
    try {
      long value = Long.parseLong(meta.getOrDefault(key, "0"));
      if (value >= 0 && value <= max) {
        return value;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new WeightsFormatException(file + ": checkpoint " + key + " is not an integer ≥ 0: "
        + Errors.quoted(meta.get(key), SHOWN_CHARS));
  }

  private static void requireFinite(Path file, String name, float[] data)
      throws WeightsFormatException {
    for (int i = 0; i < data.length; i++) {
      if (!Float.isFinite(data[i])) {
        throw new WeightsFormatException(file + ": tensor '" + name + "' holds " + data[i]
            + " at index " + i + " (a checkpoint must hold finite numbers only)");
      }
    }
  }

  private StateDict tensors() {
    StateDict sd = new StateDict();
    for (String n : model.names()) {
      sd.put(n, model.get(n));
    }
    if (optimizer != null) {
      sd.put(EXP_AVG, new TensorData(new long[] {optimizer.expAvg.length}, optimizer.expAvg));
      sd.put(EXP_AVG_SQ,
          new TensorData(new long[] {optimizer.expAvgSq.length}, optimizer.expAvgSq));
    }
    if (ema != null) {
      sd.put(EMA_WEIGHTS, new TensorData(new long[] {ema.weights.length}, ema.weights));
      sd.put(EMA_BUFFERS, new TensorData(new long[] {ema.buffers.length}, ema.buffers));
    }
    return sd;
  }

  private Map<String, String> metadata() {
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", FORMAT);
    meta.put("format_version", FORMAT_VERSION);
    meta.put("variant", variant);
    meta.put("config", configJson);
    meta.put("epoch", Integer.toString(epoch));
    meta.put("step", Long.toString(step));
    meta.put("metrics", metricsJson);
    meta.putAll(extra);
    return meta;
  }

  private static void requireJson(String text, String what) {
    try {
      JsonParser.parseString(text);
    } catch (JsonParseException e) {
      throw new IllegalArgumentException(what + " is not valid JSON: " + Errors.oneLine(e), e);
    }
  }
}
