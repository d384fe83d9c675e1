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
import java.util.function.Function;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.model.EffiSegNetConfig;
import org.effiseg.model.EfficientNetVariant;
import org.effiseg.nativeapi.Context;
import org.effiseg.util.Errors;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;

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
  /**
   * Decay of an exponential moving average of the weights and BN statistics, validated and
   * checkpointed beside the raw model ({@code best-ema.safetensors}); 0 = off.
   */
  public double ema = 0;
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
        "study-mod5", "study-mod6", "study-mod7", "study-mod8", "quick", "b0-long", "b0-hour",
        "smoke");
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
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + ": " + (Files.isDirectory(file)
          ? "is a folder, not a YAML file of settings" : "no such file"));
    }
    if (Files.size(file) > MAX_YAML_BYTES) {
      throw new IllegalArgumentException(file + ": " + Files.size(file) + " bytes; a settings file"
          + " holds at most " + MAX_YAML_BYTES);
    }
    Map<String, Object> values = parseYaml(Files.readString(file), file.toString());
    Object base = values.remove("base");
    if (base != null) {
      throw new IllegalArgumentException(
          file + ": 'base' is only for presets; choose the preset with --preset");
    }
    apply(values, file.toString());
  }

  /** Settings files are small; anchors that expand collections are few (no alias bombs). */
  static final int MAX_YAML_BYTES = 1 << 20;
  private static final int MAX_YAML_COLLECTION_ALIASES = 8;

  @SuppressWarnings("unchecked")
  private static Map<String, Object> parseYaml(String text, String source) {
    LoadSettings settings = LoadSettings.builder()
        .setLabel(source)
        .setAllowDuplicateKeys(false)
        .setAllowRecursiveKeys(false)
        .setMaxAliasesForCollections(MAX_YAML_COLLECTION_ALIASES)
        .setCodePointLimit(MAX_YAML_BYTES)
        .build();
    Object doc;
    try {
      doc = new Load(settings).loadFromString(text);
    } catch (YamlEngineException e) {
      throw new IllegalArgumentException(source + ": not valid YAML: "
          + e.getMessage().replaceAll("\\s+", " ").strip(), e);
    } catch (StackOverflowError e) {
      throw new IllegalArgumentException(source + ": nested too deeply to be a settings file");
    }
    if (doc == null) {
      return new LinkedHashMap<>();
    }
    if (!(doc instanceof Map<?, ?> map)) {
      throw new IllegalArgumentException(source + ": expected a mapping of settings at the top level");
    }
    Map<String, Object> values = new LinkedHashMap<>();
    for (Map.Entry<?, ?> e : map.entrySet()) {
      if (!(e.getKey() instanceof String key)) {
        throw new IllegalArgumentException(source + ": setting names are words, got " + e.getKey());
      }
      values.put(key, e.getValue());
    }
    return values;
  }

  /**
   * Sets fields from snake_case keys ({@code source} names them in errors, e.g. a file); each
   * value is checked against its field's type, and numbers must be finite.
   */
  public void apply(Map<String, Object> values, String source) {
    apply(values, source, key -> "'" + key + "'");
  }

  /** {@link #apply} for command-line flags: errors name the flag ({@code --batch-size}). */
  public void applyFlags(Map<String, Object> values) {
    apply(values, "command line", TrainConfig::flagOf);
  }

  private void apply(Map<String, Object> values, String source, Function<String, String> nameOf) {
    for (Map.Entry<String, Object> e : values.entrySet()) {
      String key = e.getKey();
      java.lang.reflect.Field field = FIELDS.get(camelCase(key));
      if (field == null) {
        throw new IllegalArgumentException(
            source + ": unknown setting '" + key + "' (known: " + String.join(", ", knownKeys()) + ")");
      }
      try {
        field.set(this, convert(e.getValue(), field));
      } catch (IllegalAccessException | RuntimeException bad) {
        throw new IllegalArgumentException(source + ": " + nameOf.apply(key) + " must be "
            + kindOf(field) + ", got " + abbreviate(e.getValue()));
      }
    }
    variant = variant.toLowerCase(Locale.ROOT);
    device = device.toLowerCase(Locale.ROOT);
  }

  /** The value as the field's type; throws for anything else (wrong type, null, NaN, ±∞). */
  private static Object convert(Object value, java.lang.reflect.Field field) {
    if (value == null) {
      throw new IllegalArgumentException("no value");
    }
    if (value instanceof Number n && !Double.isFinite(n.doubleValue())) {
      throw new IllegalArgumentException("not finite");
    }
    Object converted = GSON.fromJson(GSON.toJsonTree(value), field.getGenericType());
    if (converted == null || (converted instanceof List<?> list && list.contains(null))) {
      throw new IllegalArgumentException("no value");
    }
    return converted instanceof List<?> list ? new ArrayList<>(list) : converted;
  }

  private static String kindOf(java.lang.reflect.Field field) {
    Class<?> type = field.getType();
    if (type == int.class || type == long.class) {
      return "an integer";
    }
    if (type == double.class) {
      return "a finite number";
    }
    if (type == boolean.class) {
      return "true or false";
    }
    return type == List.class ? "a list of names" : "text";
  }

  private static String abbreviate(Object value) {
    String text = String.valueOf(value);
    return text.length() <= 60 ? text : text.substring(0, 60) + "…";
  }

  /** The command-line flag of a setting: batch_size → --batch-size. */
  static String flagOf(String key) {
    return "--" + snakeCase(camelCase(key)).replace('_', '-');
  }

  /** Names a setting in range errors, for files and flags alike: "batch_size (--batch-size)". */
  private static String name(String key) {
    return key + " (" + flagOf(key) + ")";
  }

  /** The largest settings anything sensible needs; beyond them memory or time runs out first. */
  public static final int MAX_IMAGE_SIZE = 2048;
  public static final int MAX_BATCH_SIZE = 1024;
  public static final int MAX_EPOCHS = 100_000;
  public static final int MAX_NPD_DISTANCE = 256;
  public static final int MAX_CALIBRATION_IMAGES = 100_000;

  /** Checks every setting's range; call after all layers are applied. */
  public TrainConfig validate() {
    require(variant.matches("b[0-7]"), name("variant") + " must be b0 … b7, got " + variant);
    require(imageSize == 0 || (imageSize >= 32 && imageSize % 32 == 0 && imageSize <= MAX_IMAGE_SIZE),
        name("image_size") + " must be 0 (native) or a multiple of 32 in 32.." + MAX_IMAGE_SIZE
            + ", got " + imageSize);
    requireInRange("epochs", epochs, 1, MAX_EPOCHS);
    requireInRange("batch_size", batchSize, 1, MAX_BATCH_SIZE);
    requireFinite("lr", lr);
    requireFinite("min_lr", minLr);
    require(lr > 0 && minLr >= 0 && minLr <= lr,
        "need 0 ≤ min_lr (--min-lr) ≤ lr (--lr) and lr > 0, got lr " + lr + ", min_lr " + minLr);
    requireFinite("ema", ema);
    require(ema == 0 || (ema > 0 && ema < 1), name("ema") + " must be 0 (off) or a decay"
        + " strictly between 0 and 1 (e.g. 0.999), got " + ema);
    requireFinite("weight_decay", weightDecay);
    require(weightDecay >= 0, name("weight_decay") + " must be ≥ 0, got " + weightDecay);
    for (String key : List.of("dice_weight", "bce_weight", "npd_weight")) {
      double w = switch (key) {
        case "dice_weight" -> diceWeight;
        case "bce_weight" -> bceWeight;
        default -> npdWeight;
      };
      requireFinite(key, w);
      require(w >= 0, name(key) + " must be ≥ 0, got " + w);
    }
    require(diceWeight + bceWeight + npdWeight > 0, "at least one loss weight must be positive");
    requireInRange("npd_distance", npdDistance, 1, MAX_NPD_DISTANCE);
    requireFinite("threshold_logit", thresholdLogit);
    requireInRange("decoder_channels", decoderChannels, 1, EffiSegNetConfig.MAX_CHANNELS);
    requireInRange("calibration_images", calibrationImages, 0, MAX_CALIBRATION_IMAGES);
    require(device.equals("cpu") || device.equals("cuda") || device.equals("auto"),
        name("device") + " must be cpu, cuda or auto, got " + device);
    Context.checkThreads(name("threads"), threads);
    Context.checkThreads(name("workers"), workers);
    require(trainLimit >= 0 && valLimit >= 0, "train_limit (--train-limit) and val_limit"
        + " (--val-limit) must be ≥ 0 (0: all images)");
    try {
      AugmentPresets.parse(augmentSpec());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("augment (--augment) / augment_mods (--augment-mods): "
          + e.getMessage(), e);
    }
    return this;
  }

  /** The augmentation preset with the modifications, e.g. "original+p08". */
  public String augmentSpec() {
    StringBuilder spec = new StringBuilder(augment);
    for (String mod : augmentMods) {
      spec.append('+').append(mod);
    }
    return spec.toString();
  }

  private static void requireInRange(String key, long value, long min, long max) {
    require(value >= min && value <= max,
        name(key) + " must be in " + min + ".." + max + ", got " + value);
  }

  private static void requireFinite(String key, double value) {
    require(Double.isFinite(value), name(key) + " must be a finite number, got " + value);
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

  /** Reads settings written by {@link #toJson} (config.json, a checkpoint's config). */
  public static TrainConfig fromJson(String json) {
    Map<String, Object> values;
    try {
      values = GSON.fromJson(json, MAP_TYPE);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("settings are not valid JSON (" + Errors.oneLine(e) + ")", e);
    }
    if (values == null) {
      throw new IllegalArgumentException("settings are empty");
    }
    TrainConfig c = new TrainConfig();
    c.apply(values, "settings");
    return c;
  }

  private static final java.lang.reflect.Type MAP_TYPE =
      new com.google.gson.reflect.TypeToken<Map<String, Object>>() {}.getType();

  private static final Map<String, java.lang.reflect.Field> FIELDS = fields();

  private static Map<String, java.lang.reflect.Field> fields() {
    Map<String, java.lang.reflect.Field> fields = new LinkedHashMap<>();
    for (java.lang.reflect.Field f : TrainConfig.class.getDeclaredFields()) {
      if (!java.lang.reflect.Modifier.isStatic(f.getModifiers())) {
        fields.put(f.getName(), f);
      }
    }
    return fields;
  }

  private static List<String> knownKeys() {
    return FIELDS.keySet().stream().map(TrainConfig::snakeCase).toList();
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
