package org.effiseg.weights;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import org.effiseg.model.EffiSegNetConfig;
import org.effiseg.model.EfficientNetVariant;

/**
 * What a checkpoint says about the network it holds, read from its {@code config} metadata (the
 * run's configuration as {@code effiseg train} wrote it): enough to rebuild the network for
 * inference, without the training package.
 *
 * @param network the EffiSegNet to build (variant, decoder width, deep-supervision heads)
 * @param imageSize the square resolution the network was trained at
 * @param thresholdLogit the logit above which a pixel is polyp
 * @param preset the preset the run started from ("" where the checkpoint does not say)
 */
public record CheckpointModel(EffiSegNetConfig network, int imageSize, double thresholdLogit,
    String preset) {

  public EfficientNetVariant variant() {
    return network.variant();
  }

  /** The probability above which a pixel is polyp: sigmoid of {@link #thresholdLogit}. */
  public float probabilityThreshold() {
    return (float) (1 / (1 + Math.exp(-thresholdLogit)));
  }

  /**
   * Reads the model description of {@code checkpoint} (loaded from {@code file}, named in errors).
   *
   * @throws WeightsFormatException if the configuration lacks a setting or holds an invalid one
   */
  public static CheckpointModel of(Checkpoint checkpoint, Path file) throws WeightsFormatException {
    JsonObject config;
    try {
      config = JsonParser.parseString(checkpoint.configJson()).getAsJsonObject();
    } catch (RuntimeException e) {
      throw new WeightsFormatException(file + ": checkpoint config is not a JSON object", e);
    }
    try {
      EfficientNetVariant variant = EfficientNetVariant.parse(string(config, "variant"));
      int size = (int) number(config, "image_size");
      if (size == 0) {
        size = variant.resolution();
      }
      if (size < 32) {
        throw new IllegalArgumentException("image_size " + size + " is below 32");
      }
      EffiSegNetConfig network = EffiSegNetConfig.of(variant)
          .withChannels((int) number(config, "decoder_channels"))
          .withDeepSupervision(bool(config, "deep_supervision"))
          .withSeed((long) number(config, "seed"));
      double threshold = number(config, "threshold_logit");
      if (!Double.isFinite(threshold)) {
        throw new IllegalArgumentException("threshold_logit " + threshold + " is not finite");
      }
      JsonElement preset = config.get("preset");
      return new CheckpointModel(network, size, threshold,
          preset == null || preset.isJsonNull() ? "" : preset.getAsString());
    } catch (IllegalArgumentException | IllegalStateException | UnsupportedOperationException e) {
      throw new WeightsFormatException(file + ": checkpoint config: " + e.getMessage(), e);
    }
  }

  private static JsonElement get(JsonObject o, String key) {
    JsonElement e = o.get(key);
    if (e == null || e.isJsonNull()) {
      throw new IllegalArgumentException("no '" + key + "'");
    }
    return e;
  }

  private static String string(JsonObject o, String key) {
    return get(o, key).getAsString();
  }

  private static double number(JsonObject o, String key) {
    JsonElement e = get(o, key);
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
      throw new IllegalArgumentException("'" + key + "' is not a number: " + e);
    }
    return e.getAsDouble();
  }

  private static boolean bool(JsonObject o, String key) {
    JsonElement e = get(o, key);
    if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
      throw new IllegalArgumentException("'" + key + "' is not true or false: " + e);
    }
    return e.getAsBoolean();
  }
}
