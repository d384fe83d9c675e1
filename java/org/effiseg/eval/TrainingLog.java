package org.effiseg.eval;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The per-epoch training log, {@code epochs.csv}: one header line, then one line per epoch,
 * comma-separated numbers. {@code epoch} is required; the other {@link #COLUMNS} are the names the
 * training loop writes and the report draws; any further numeric column is kept. An empty cell or
 * {@code nan} is a missing value. Columns:
 *
 * <ul>
 *   <li>{@code epoch} — 1-based epoch number
 *   <li>{@code train_loss} — total training loss, mean over the epoch's batches
 *   <li>{@code train_dice_loss}, {@code train_bce_loss}, {@code train_npd_loss} — its terms (Dice,
 *       binary cross-entropy, near-pixel-difference; unweighted)
 *   <li>{@code val_loss} — total loss on the validation split
 *   <li>{@code val_dice}, {@code val_iou}, {@code val_precision}, {@code val_recall}, {@code
 *       val_f1} — validation metrics with the {@link SegmentationMetrics} conventions
 *   <li>{@code lr} — learning rate used during the epoch
 *   <li>{@code data_seconds}, {@code compute_seconds} — time waiting for data / in forward,
 *       backward and update
 *   <li>{@code images_per_second} — training throughput
 * </ul>
 *
 * <p>A run with a weight average ({@code --ema}) adds {@code val_loss_ema}, {@code val_dice_ema}
 * and {@code val_iou_ema} after these: the same validation of the averaged weights.
 */
public final class TrainingLog {
  /**
   * The columns that measure time, not the model: the only ones two runs of the same seed,
   * data, settings and thread count may disagree on (docs/reproducibility.md).
   */
  public static final List<String> TIMING_COLUMNS =
      List.of("data_seconds", "compute_seconds", "images_per_second");

  /** The standard columns, in the order a writer should use. */
  public static final List<String> COLUMNS =
      java.util.stream.Stream.concat(
              java.util.stream.Stream.of(
                  "epoch",
                  "train_loss",
                  "train_dice_loss",
                  "train_bce_loss",
                  "train_npd_loss",
                  "val_loss",
                  "val_dice",
                  "val_iou",
                  "val_precision",
                  "val_recall",
                  "val_f1",
                  "lr"),
              TIMING_COLUMNS.stream())
          .toList();

  private final Map<String, double[]> columns;
  private final int epochs;

  private TrainingLog(Map<String, double[]> columns, int epochs) {
    this.columns = columns;
    this.epochs = epochs;
  }

  /** The header line for a CSV in the standard column order. */
  public static String header() {
    return String.join(",", COLUMNS);
  }

  public static TrainingLog read(Path csv) {
    try (Reader r = Files.newBufferedReader(csv, StandardCharsets.UTF_8)) {
      return parse(r, csv.toString());
    } catch (IOException e) {
      throw new EvaluationInputException(
          "cannot read training log " + csv + ": " + e.getMessage(), e);
    }
  }

  public static TrainingLog parse(String csv) {
    try {
      return parse(new StringReader(csv), "training log");
    } catch (IOException e) {
      throw new AssertionError(e); // a StringReader does not fail
    }
  }

  private static TrainingLog parse(Reader reader, String source) throws IOException {
    BufferedReader in = new BufferedReader(reader);
    String headerLine = in.readLine();
    if (headerLine == null || headerLine.isBlank()) {
      throw new EvaluationInputException(source + ": empty, expected a header line");
    }
    String[] names = headerLine.strip().split(",", -1);
    for (int i = 0; i < names.length; i++) {
      names[i] = names[i].strip();
    }
    if (!Arrays.asList(names).contains("epoch")) {
      throw new EvaluationInputException(source + ": no 'epoch' column in header: " + headerLine);
    }
    List<double[]> rows = new ArrayList<>();
    String line;
    int lineNo = 1;
    while ((line = in.readLine()) != null) {
      lineNo++;
      if (line.isBlank()) {
        continue;
      }
      String[] cells = line.split(",", -1);
      if (cells.length != names.length) {
        throw new EvaluationInputException(
            source
                + " line "
                + lineNo
                + ": "
                + cells.length
                + " cells, header has "
                + names.length);
      }
      double[] row = new double[names.length];
      for (int i = 0; i < cells.length; i++) {
        row[i] = parseCell(cells[i].strip(), source, lineNo, names[i]);
      }
      rows.add(row);
    }
    Map<String, double[]> columns = new LinkedHashMap<>();
    for (int c = 0; c < names.length; c++) {
      double[] values = new double[rows.size()];
      for (int r = 0; r < rows.size(); r++) {
        values[r] = rows.get(r)[c];
      }
      columns.put(names[c], values);
    }
    return new TrainingLog(Collections.unmodifiableMap(columns), rows.size());
  }

  private static double parseCell(String cell, String source, int line, String column) {
    if (cell.isEmpty() || cell.toLowerCase(Locale.ROOT).equals("nan")) {
      return Double.NaN;
    }
    try {
      return Double.parseDouble(cell);
    } catch (NumberFormatException e) {
      throw new EvaluationInputException(
          source + " line " + line + ", column " + column + ": not a number: '" + cell + "'");
    }
  }

  /** Number of epochs (data lines). */
  public int epochs() {
    return epochs;
  }

  /** Column names in file order. */
  public List<String> columns() {
    return List.copyOf(columns.keySet());
  }

  public boolean has(String column) {
    return columns.containsKey(column);
  }

  /**
   * A column's values, one per epoch ({@code NaN} where missing); throws if there is no such
   * column.
   */
  public double[] column(String name) {
    double[] v = columns.get(name);
    if (v == null) {
      throw new IllegalArgumentException("no column '" + name + "' in the training log");
    }
    return v.clone();
  }
}
