package org.effiseg.util;

import java.io.IOException;

/**
 * Lets a process end with the one that started it. A sweep starts each {@code effiseg train}
 * with {@value #ENV}=1 and a pipe as its standard input that it never writes; when the sweep
 * dies, killed or not, the pipe closes and the child halts at once instead of training on as an
 * orphan beside the run the next sweep resumes. The run directory is crash-safe, so halting
 * loses at most the epoch in progress.
 */
public final class ParentWatch {
  public static final String ENV = "EFFISEG_EXIT_WITH_PARENT";
  /** The exit status of a halted child (128 + SIGHUP, as a shell reports a hung-up process). */
  public static final int HALT_STATUS = 129;

  private ParentWatch() {}

  /** Starts the watch where {@value #ENV} is 1; otherwise does nothing. */
  public static void startIfAsked() {
    if (!"1".equals(System.getenv(ENV))) {
      return;
    }
    Thread watch = new Thread(() -> {
      try {
        while (System.in.read() != -1) {
          // nothing is ever written; a byte would only mean the parent is alive
        }
      } catch (IOException e) {
        // a broken pipe is the same news as end of input
      }
      Runtime.getRuntime().halt(HALT_STATUS);
    }, "effiseg-parent-watch");
    watch.setDaemon(true);
    watch.start();
  }
}
