package org.effiseg.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.effiseg.model.EffiSegNetConfig;
import org.effiseg.model.EfficientNetVariant;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;

/**
 * Everything a training run depends on. Built from a named preset (YAML under
 * java-resources/org/effiseg/presets/, each may name a {@code base:} preset it changes), then a
 * user's YAML file, then command-line flags — each layer overriding the one before. Keys are
 * the snake_case field names below; an unknown key is an error, not a silent no-op.
 */
public final class TrainConfig {
  /** The preset these settings started from ("" if none): a record for exports and reports, it sets nothing. */
  public String preset = "";
  /** EfficientNet variant of the encoder: b0 … b7. */
  public String variant = "b0";
  /** Square training/inference resolution; 0 = the variant's native resolution. */
  public int imageSize = 0;
  public int epochs = 300;
  public int batchSize = 8;
  /** AdamW (PyTorch semantics): lr, betas 0.9/0.999, eps 1e-8, decoupled weight decay. */
  public double lr = 1e-4;
  public double weightDecay = 0.01;
  /** Cosine annealing per epoch from lr down to min_lr over the run (CosineAnnealingLR). */
  public double minLr = 1e-5;
  /** Loss = dice_weight·Dice + bce_weight·BCE + npd_weight·near-pixel-diff (MONAI DiceCE = 1, 1). */
  public double diceWeight = 1.0;
  public double bceWeight = 1.0;
  public double npdWeight = 0.0;
  public int npdDistance = 4;
  /** Augmentation preset of org.effiseg.augment (original, improved, none, …). */
  public String augment = "original";
  /** Study modifications applied on top of the preset (p08, no-elastic, weak-jitter, black-rect). */
  public List<String> augmentMods = new ArrayList<>();
  /** Prediction threshold on the logit: 0 = probability 0.5; the study's mod6 uses 0.5. */
  public double thresholdLogit = 0.0;
  public boolean deepSupervision = false;
  /** Decoder width (the paper's ch). */
  public int decoderChannels = 32;
  /** Pretrained encoder weights: a TF.js folder or a .safetensors file; "" = random init. */
  public String weights = "";
  /** Training images used to calibrate BN statistics after importing folded-BN weights. */
  public int calibrationImages = 100;
  public long seed = 42;
  /** Loader threads; 0 = one per core. */
  public int workers = 0;
  /** Native threads; 0 = all cores. */
  public int threads = 0;
  public String device = "cpu";
  /** Use only the first N training / validation images (0 = all): for smoke runs. */
  public int trainLimit = 0;
  public int valLimit = 0;

  private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();

  /** The named preset, with its base chain applied. */
  public static TrainConfig preset(String name) {
    TrainConfig c = new TrainConfig();
    c.applyPreset(name, new ArrayList<>());
    c.preset = name;
    return c;
  }

  /** The names of the built-in presets, for --help and errors. */
  public static List<String> presetNames() {
    return List.of(
        "paper", "study-original", "study-mod1", "study-mod2", "study-mod3", "study-mod4",
        "study-mod5", "study-mod6", "study-mod7", "study-mod8", "quick", "smoke");
  }

  private void applyPreset(String name, List<String> chain) {
    if (chain.contains(name)) {
      throw new IllegalArgumentException("preset cycle: " + chain + " -> " + name);
    }
    chain.add(name);
    String resource = "/org/effiseg/presets/" + name + ".yaml";
    try (InputStream in = TrainConfig.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalArgumentException(
            "unknown preset '" + name + "' (known: " + String.join(", ", presetNames()) + ")");
      }
      Map<String, Object> values = parseYaml(new String(in.readAllBytes(), StandardCharsets.UTF_8), resource);
      Object base = values.remove("base");
      if (base != null) {
        applyPreset(base.toString(), chain);
      }
      apply(values, "preset " + name);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + resource, e);
    }
  }

  /** Applies a user's YAML file on top of this configuration. */
  public void applyFile(Path file) throws IOException {
    Map<String, Object> values = parseYaml(Files.readString(file), file.toString());
    Object base = values.remove("base");
    if (base != null) {
      throw new IllegalArgumentException(
          file + ": 'base' is only for presets; choose the preset with --preset");
    }
    apply(values, file.toString());
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> parseYaml(String text, String source) {
    Object doc = new Load(LoadSettings.builder().setLabel(source).build()).loadFromString(text);
    if (doc == null) {
      return new LinkedHashMap<>();
    }
    if (!(doc instanceof Map)) {
      throw new IllegalArgumentException(source + ": expected a mapping of settings at the top level");
    }
    return new LinkedHashMap<>((Map<String, Object>) doc);
  }

  /** Sets fields from snake_case keys; values are converted through JSON, so types are checked. */
  public void apply(Map<String, Object> values, String source) {
    Map<String, Object> camel = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : values.entrySet()) {
      String field = camelCase(e.getKey());
      if (!FIELD_NAMES.contains(field)) {
        throw new IllegalArgumentException(
            source + ": unknown setting '" + e.getKey() + "' (known: " + String.join(", ", knownKeys()) + ")");
      }
      camel.put(field, e.getValue());
    }
    Map<String, Object> merged = GSON.fromJson(GSON.toJson(this), MAP_TYPE);
    merged.putAll(camel);
    TrainConfig parsed;
    try {
      parsed = GSON.fromJson(GSON.toJson(merged), TrainConfig.class);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
    }
    copyFrom(parsed);
  }

  /** Checks ranges; call after all layers are applied. */
  public TrainConfig validate() {
    require(variant.matches("b[0-7]"), "variant must be b0 … b7, got " + variant);
    require(imageSize == 0 || (imageSize >= 32 && imageSize % 32 == 0),
        "image_size must be 0 (native) or a multiple of 32 ≥ 32, got " + imageSize);
    require(epochs >= 1, "epochs must be ≥ 1");
    require(batchSize >= 1, "batch_size must be ≥ 1");
    require(lr > 0 && minLr >= 0 && minLr <= lr, "need 0 ≤ min_lr ≤ lr and lr > 0");
    require(weightDecay >= 0, "weight_decay must be ≥ 0");
    require(diceWeight >= 0 && bceWeight >= 0 && npdWeight >= 0, "loss weights must be ≥ 0");
    require(diceWeight + bceWeight + npdWeight > 0, "at least one loss weight must be positive");
    require(npdDistance >= 1, "npd_distance must be ≥ 1");
    require(device.equals("cpu") || device.equals("cuda") || device.equals("auto"),
        "device must be cpu, cuda or auto, got " + device);
    require(workers >= 0 && threads >= 0 && trainLimit >= 0 && valLimit >= 0 && calibrationImages >= 0,
        "workers, threads, limits and calibration_images must be ≥ 0");
    return this;
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /** The encoder variant named by {@link #variant}. */
  public EfficientNetVariant encoderVariant() {
    return EfficientNetVariant.parse(variant);
  }

  /** The square resolution the model runs at: {@link #imageSize}, or the variant's native one. */
  public int resolution() {
    return imageSize == 0 ? encoderVariant().resolution() : imageSize;
  }

  /** The network these settings describe. */
  public EffiSegNetConfig modelConfig() {
    return EffiSegNetConfig.of(encoderVariant())
        .withChannels(decoderChannels)
        .withDeepSupervision(deepSupervision)
        .withSeed(seed);
  }

  public String toJson() {
    Map<String, Object> snake = new LinkedHashMap<>();
    GSON.<Map<String, Object>>fromJson(GSON.toJson(this), MAP_TYPE)
        .forEach((k, v) -> snake.put(snakeCase(k), v));
    return GSON.toJson(snake);
  }

  public static TrainConfig fromJson(String json) {
    TrainConfig c = new TrainConfig();
    Map<String, Object> values = GSON.fromJson(json, MAP_TYPE);
    c.apply(values, "checkpoint config");
    return c;
  }

  private void copyFrom(TrainConfig o) {
    preset = o.preset == null ? "" : o.preset;
    variant = o.variant.toLowerCase(Locale.ROOT);
    imageSize = o.imageSize;
    epochs = o.epochs;
    batchSize = o.batchSize;
    lr = o.lr;
    weightDecay = o.weightDecay;
    minLr = o.minLr;
    diceWeight = o.diceWeight;
    bceWeight = o.bceWeight;
    npdWeight = o.npdWeight;
    npdDistance = o.npdDistance;
    augment = o.augment;
    augmentMods = o.augmentMods == null ? new ArrayList<>() : new ArrayList<>(o.augmentMods);
    thresholdLogit = o.thresholdLogit;
    deepSupervision = o.deepSupervision;
    decoderChannels = o.decoderChannels;
    weights = o.weights == null ? "" : o.weights;
    calibrationImages = o.calibrationImages;
    seed = o.seed;
    workers = o.workers;
    threads = o.threads;
    device = o.device.toLowerCase(Locale.ROOT);
    trainLimit = o.trainLimit;
    valLimit = o.valLimit;
  }

  private static final java.lang.reflect.Type MAP_TYPE =
      new com.google.gson.reflect.TypeToken<Map<String, Object>>() {}.getType();

  private static final List<String> FIELD_NAMES = fieldNames();

  private static List<String> fieldNames() {
    List<String> names = new ArrayList<>();
    for (java.lang.reflect.Field f : TrainConfig.class.getDeclaredFields()) {
      if (!java.lang.reflect.Modifier.isStatic(f.getModifiers())) {
        names.add(f.getName());
      }
    }
    return List.copyOf(names);
  }

  private static List<String> knownKeys() {
    return FIELD_NAMES.stream().map(TrainConfig::snakeCase).toList();
  }

  static String camelCase(String snake) {
    StringBuilder b = new StringBuilder();
    boolean upper = false;
    for (char ch : snake.toCharArray()) {
      if (ch == '_' || ch == '-') {
        upper = true;
      } else {
        b.append(upper ? Character.toUpperCase(ch) : ch);
        upper = false;
      }
    }
    return b.toString();
  }

  static String snakeCase(String camel) {
    StringBuilder b = new StringBuilder();
    for (char ch : camel.toCharArray()) {
      if (Character.isUpperCase(ch)) {
        b.append('_').append(Character.toLowerCase(ch));
      } else {
        b.append(ch);
      }
    }
    return b.toString();
  }
}
