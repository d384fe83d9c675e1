package org.effiseg.eval;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;

/**
 * Published test scores to set beside a sweep's own, by preset and metric: the resource
 * {@code org/effiseg/reference/<name>.yaml} ({@code description}, then {@code scores:
 * {preset: {metric: value}}} with the metric names of {@link StudyTable#METRICS}).
 */
public record PublishedScores(String name, String description, Map<String, Map<String, Double>> scores) {
  /** The references that exist. */
  public static final List<String> NAMES = List.of("study");

  /** Loads {@code org/effiseg/reference/<name>.yaml}. */
  @SuppressWarnings("unchecked")
  public static PublishedScores load(String name) {
    if (!NAMES.contains(name)) {
      throw new IllegalArgumentException("unknown reference '" + name + "' (known: " + String.join(", ", NAMES) + ")");
    }
    String resource = "/org/effiseg/reference/" + name + ".yaml";
    try (InputStream in = PublishedScores.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("the build lacks " + resource);
      }
      Map<String, Object> doc = (Map<String, Object>) new Load(LoadSettings.builder().setLabel(resource).build())
          .loadFromString(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      Map<String, Map<String, Double>> scores = new LinkedHashMap<>();
      ((Map<String, Map<String, Object>>) doc.get("scores")).forEach((preset, metrics) -> {
        Map<String, Double> m = new LinkedHashMap<>();
        metrics.forEach((metric, value) -> {
          if (!StudyTable.METRICS.contains(metric)) {
            throw new IllegalStateException(resource + ": " + preset + " has an unknown metric " + metric);
          }
          m.put(metric, ((Number) value).doubleValue());
        });
        scores.put(preset, Map.copyOf(m));
      });
      return new PublishedScores(name, (String) doc.get("description"), scores);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + resource, e);
    }
  }

  /** The published value, or NaN where there is none. */
  public double score(String preset, String metric) {
    Map<String, Double> m = scores.get(preset);
    Double v = m == null ? null : m.get(metric);
    return v == null ? Double.NaN : v;
  }

  /** The metrics published for at least one preset, in {@link StudyTable#METRICS} order. */
  public List<String> metrics() {
    return StudyTable.METRICS.stream()
        .filter(metric -> scores.values().stream().anyMatch(m -> m.containsKey(metric)))
        .toList();
  }
}
