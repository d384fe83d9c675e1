package org.effiseg.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.effiseg.eval.TrainingLog;
import org.effiseg.util.AtomicFiles;

/**
 * The run's per-epoch logs: {@code epochs.csv} in {@link TrainingLog}'s column order (what the
 * HTML report draws) and {@code epochs.jsonl}, one JSON object per epoch. Both are rewritten
 * atomically from the kept rows, so a resumed run continues them without duplicate epochs.
 */
final class EpochLog {
  private final Path csv;
  private final Path jsonl;
  private final List<Map<String, Double>> rows = new ArrayList<>();
  private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();

  EpochLog(Path runDir) {
    this.csv = runDir.resolve("epochs.csv");
    this.jsonl = runDir.resolve("epochs.jsonl");
  }

  /** Loads the rows of epochs 1…{@code epochs} written before (for --resume). */
  void reload(int epochs) throws IOException {
    rows.clear();
    if (!Files.exists(csv)) {
      return;
    }
    TrainingLog log = TrainingLog.read(csv);
    for (int i = 0; i < log.epochs(); i++) {
      Map<String, Double> row = new LinkedHashMap<>();
      for (String column : log.columns()) {
        row.put(column, log.column(column)[i]);
      }
      if (row.get("epoch") <= epochs) {
        rows.add(row);
      }
    }
  }

  void append(Map<String, Double> row) throws IOException {
    rows.add(new LinkedHashMap<>(row));
    StringBuilder text = new StringBuilder(TrainingLog.header()).append('\n');
    StringBuilder json = new StringBuilder();
    for (Map<String, Double> r : rows) {
      List<String> cells = new ArrayList<>();
      for (String column : TrainingLog.COLUMNS) {
        Double v = r.get(column);
        cells.add(v == null || v.isNaN() ? "" : format(column, v));
      }
      text.append(String.join(",", cells)).append('\n');
      json.append(GSON.toJson(r)).append('\n');
    }
    AtomicFiles.writeString(csv, text.toString());
    AtomicFiles.writeString(jsonl, json.toString());
  }

  private static String format(String column, double v) {
    return column.equals("epoch") ? Long.toString(Math.round(v)) : String.format(Locale.ROOT, "%.6g", v);
  }
}
