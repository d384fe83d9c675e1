package org.effiseg.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.effiseg.eval.TrainingLog;
import org.effiseg.util.AtomicFiles;

/**
 * The run's per-epoch logs: {@code epochs.jsonl}, one JSON object per epoch with every value at
 * full precision (the log a resumed run continues from), and {@code epochs.csv} in {@link
 * TrainingLog}'s column order, then any further columns the rows hold (a weight average's
 * {@code val_*_ema}) in the order they first appear (what the HTML report draws). Both are
 * rewritten atomically from
 * the kept rows, so a resumed run continues them without duplicate epochs.
 */
final class EpochLog {
  static final String CSV = "epochs.csv";
  static final String JSONL = "epochs.jsonl";

  private final Path csv;
  private final Path jsonl;
  private final List<Map<String, Double>> rows = new ArrayList<>();
  private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();

  EpochLog(Path runDir) {
    this.csv = runDir.resolve(CSV);
    this.jsonl = runDir.resolve(JSONL);
  }

  /**
   * Keeps the rows of epochs 1…{@code epochs} written before (for --resume) and rewrites both
   * files with exactly those, dropping the row of an epoch that was not committed.
   */
  void truncate(int epochs) throws IOException {
    rows.clear();
    List<String> lines = Files.exists(jsonl) ? Files.readAllLines(jsonl) : List.of();
    for (int i = 0; i < lines.size() && rows.size() < epochs; i++) {
      Map<String, Double> row = parse(lines.get(i), i + 1);
      if (row.getOrDefault("epoch", Double.NaN) != rows.size() + 1) {
        throw new IOException(jsonl + " line " + (i + 1) + ": expected epoch " + (rows.size() + 1)
            + ", found " + row.get("epoch"));
      }
      rows.add(row);
    }
    if (rows.size() < epochs) {
      throw new IOException(jsonl + " holds " + rows.size() + " epoch(s) but the last checkpoint"
          + " is at epoch " + epochs + " (the log was changed or removed)");
    }
    rewrite();
  }

  void append(Map<String, Double> row) throws IOException {
    rows.add(new LinkedHashMap<>(row));
    rewrite();
  }

  private void rewrite() throws IOException {
    Set<String> columns = new LinkedHashSet<>(TrainingLog.COLUMNS);
    for (Map<String, Double> r : rows) {
      columns.addAll(r.keySet());
    }
    StringBuilder text = new StringBuilder(String.join(",", columns)).append('\n');
    StringBuilder json = new StringBuilder();
    for (Map<String, Double> r : rows) {
      List<String> cells = new ArrayList<>();
      for (String column : columns) {
        Double v = r.get(column);
        cells.add(v == null || v.isNaN() ? "" : format(column, v));
      }
      text.append(String.join(",", cells)).append('\n');
      json.append(GSON.toJson(r)).append('\n');
    }
    AtomicFiles.writeString(jsonl, json.toString());
    AtomicFiles.writeString(csv, text.toString());
  }

  private Map<String, Double> parse(String line, int lineNo) throws IOException {
    Map<String, Double> row = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, JsonElement> e : JsonParser.parseString(line).getAsJsonObject().entrySet()) {
        row.put(e.getKey(), e.getValue().getAsDouble());
      }
    } catch (JsonParseException | IllegalStateException | UnsupportedOperationException
        | NumberFormatException e) {
      throw new IOException(jsonl + " line " + lineNo + ": not a JSON object of numbers", e);
    }
    return row;
  }

  private static String format(String column, double v) {
    return column.equals("epoch") ? Long.toString(Math.round(v)) : String.format(Locale.ROOT, "%.6g", v);
  }
}
