package org.effiseg.util;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar for long work: {@code epoch 3/50 [=========>      ] 61/100 loss 0.31
 * 14.2 img/s ETA 0:27}. On a terminal it redraws in place; otherwise (logs, CI) it prints a
 * line at most every {@code quietSeconds} so files stay readable.
 */
public final class ProgressBar {
  private final PrintStream out;
  private final String label;
  private final long total;
  private final boolean interactive;
  private final long startNanos = System.nanoTime();
  private long lastPrintNanos;
  private static final long QUIET_NANOS = 10_000_000_000L;

  public ProgressBar(PrintStream out, String label, long total) {
    this(out, label, total, System.console() != null);
  }

  public ProgressBar(PrintStream out, String label, long total, boolean interactive) {
    this.out = out;
    this.label = label;
    this.total = Math.max(total, 1);
    this.interactive = interactive;
  }

  /** Reports {@code done} of {@code total} units, with a free-form status (loss terms, rates). */
  public void update(long done, String status) {
    long now = System.nanoTime();
    boolean last = done >= total;
    if (!interactive && !last && now - lastPrintNanos < QUIET_NANOS) {
      return;
    }
    lastPrintNanos = now;
    double elapsed = (now - startNanos) / 1e9;
    double eta = done > 0 ? elapsed * (total - done) / done : Double.NaN;
    int width = 24;
    int filled = (int) (width * Math.min(done, total) / total);
    String bar = "=".repeat(filled) + (filled < width ? ">" + " ".repeat(width - filled - 1) : "");
    String line = String.format(Locale.ROOT, "%s [%s] %d/%d %s ETA %s",
        label, bar, done, total, status, Double.isNaN(eta) ? "?" : clock(eta));
    if (interactive) {
      out.print("\r" + line + "\u001b[K");
      if (last) {
        out.println();
      }
    } else {
      out.println(line);
    }
    out.flush();
  }

  /** Seconds as h:mm:ss or m:ss. */
  public static String clock(double seconds) {
    long s = Math.round(seconds);
    return s >= 3600
        ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
        : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
  }
}
