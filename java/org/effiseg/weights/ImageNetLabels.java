package org.effiseg.weights;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * ImageNet class names from a {@code labels_map.json} ({"0": "tench, Tinca tinca", ...}): the one
 * next to the weights if there is one, else the bundled copy. {@link #label} is the first synonym
 * ("sports car" of "sports car, sport car").
 */
public final class ImageNetLabels {
  private static final String BUNDLED = "imagenet_labels.json";
  private final String[] full;

  /** One class and its softmax probability. */
  public record ClassScore(int index, String label, double probability) {}

  private ImageNetLabels(String[] full) {
    this.full = full;
  }

  /** labels_map.json in {@code weights} (a folder) or beside it (a file), else the bundled one. */
  public static ImageNetLabels near(Path weights) throws IOException {
    Path dir = Files.isDirectory(weights) ? weights : weights.toAbsolutePath().getParent();
    Path local = dir == null ? null : dir.resolve("labels_map.json");
    if (local != null && Files.isRegularFile(local)) {
      try (Reader r = Files.newBufferedReader(local, StandardCharsets.UTF_8)) {
        return parse(r, local.toString());
      }
    }
    return bundled();
  }

  public static ImageNetLabels bundled() throws IOException {
    try (InputStream in = ImageNetLabels.class.getResourceAsStream(BUNDLED)) {
      if (in == null) {
        throw new IOException("the bundled ImageNet labels (" + BUNDLED + ") are missing");
      }
      return parse(new InputStreamReader(in, StandardCharsets.UTF_8), BUNDLED);
    }
  }

  private static ImageNetLabels parse(Reader r, String where) throws IOException {
    JsonObject o;
    try {
      o = JsonParser.parseReader(r).getAsJsonObject();
    } catch (RuntimeException e) {
      throw new IOException(where + ": not a JSON object of index -> label", e);
    }
    String[] labels = new String[o.size()];
    for (Map.Entry<String, JsonElement> e : o.entrySet()) {
      int i;
      try {
        i = Integer.parseInt(e.getKey());
      } catch (NumberFormatException ex) {
        throw new IOException(where + ": key '" + e.getKey() + "' is not a class index");
      }
      if (i < 0 || i >= labels.length) {
        throw new IOException(where + ": class index " + i + " out of 0.." + (labels.length - 1));
      }
      labels[i] = e.getValue().getAsString();
    }
    return new ImageNetLabels(labels);
  }

  public int size() {
    return full.length;
  }

  /** The first synonym of class {@code index}, e.g. "giant panda". */
  public String label(int index) {
    String f = full(index);
    int comma = f.indexOf(", ");
    return comma < 0 ? f : f.substring(0, comma);
  }

  /** The whole entry, e.g. "giant panda, panda, panda bear, coon bear, Ailuropoda melanoleuca". */
  public String full(int index) {
    return index >= 0 && index < full.length && full[index] != null ? full[index]
        : "class " + index;
  }

  /** The five most probable classes under softmax({@code logits}), most probable first. */
  public List<ClassScore> top5(float[] logits) {
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) {
      max = Math.max(max, l);
    }
    double total = 0;
    double[] p = new double[logits.length];
    for (int i = 0; i < logits.length; i++) {
      p[i] = Math.exp(logits[i] - max);
      total += p[i];
    }
    List<ClassScore> out = new ArrayList<>();
    boolean[] taken = new boolean[logits.length];
    for (int k = 0; k < Math.min(5, logits.length); k++) {
      int best = -1;
      for (int i = 0; i < logits.length; i++) {
        if (!taken[i] && (best < 0 || p[i] > p[best])) {
          best = i;
        }
      }
      taken[best] = true;
      out.add(new ClassScore(best, label(best), p[best] / total));
    }
    return out;
  }
}
