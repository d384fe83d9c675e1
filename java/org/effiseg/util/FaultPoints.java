package org.effiseg.util;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Named moments where a test can make the process die, or a write fail, to prove that every
 * state a crash can leave is a valid one (see docs/run-directory.md). Code that writes durable
 * state calls {@link #reach} at each step; normally that is one volatile read.
 *
 * <ul>
 *   <li>{@code EFFISEG_FAULT_AT=POINT[:N]} halts the JVM ({@link Runtime#halt}: no shutdown
 *       hooks, no {@code finally} blocks, the nearest the JVM gets to {@code kill -9}) with exit
 *       status {@value #HALT_STATUS} the N-th time (default 1) POINT is reached;
 *   <li>{@code EFFISEG_FAULT_ENOSPC=POINT[:N]} makes that moment throw the IOException a full disk
 *       gives instead.
 * </ul>
 *
 * <p>Points are {@code FILE/STAGE} for {@link AtomicFiles} writes ({@code created}, {@code
 * written}, {@code synced}, {@code renamed}, {@code done}) and the steps the trainer names.
 * {@link #record} lists the points a run reaches, so a test can sweep all of them.
 */
public final class FaultPoints {
  /** The exit status of a halted process: 128 + SIGKILL, what a shell reports for kill -9. */
  public static final int HALT_STATUS = 137;

  private enum Action { HALT, ENOSPC }

  private record Fault(String point, int occurrence, Action action) {}

  private static final Object LOCK = new Object();
  private static volatile boolean active;
  private static final List<Fault> faults = new ArrayList<>();
  private static final Map<String, Integer> reached = new HashMap<>();
  private static List<String> recording;

  static {
    try {
      arm(System.getenv("EFFISEG_FAULT_AT"), Action.HALT);
      arm(System.getenv("EFFISEG_FAULT_ENOSPC"), Action.ENOSPC);
    } catch (IllegalArgumentException e) {
      // a test harness misconfigured: stop loudly rather than run without the fault it expects
      System.err.println("effiseg: " + e.getMessage());
      Runtime.getRuntime().halt(2);
    }
  }

  private FaultPoints() {}

  /** Marks {@code point}; halts or throws where a fault is armed for this occurrence. */
  public static void reach(String point) throws IOException {
    if (!active) {
      return;
    }
    Fault due = null;
    synchronized (LOCK) {
      int n = reached.merge(point, 1, Integer::sum);
      if (recording != null) {
        recording.add(point);
      }
      for (Fault f : faults) {
        if (f.point.equals(point) && f.occurrence == n) {
          due = f;
        }
      }
    }
    if (due == null) {
      return;
    }
    if (due.action == Action.HALT) {
      Runtime.getRuntime().halt(HALT_STATUS);
    }
    throw new IOException("No space left on device (injected at " + point + ")");
  }

  /** Test hook: from now on {@code spec} (POINT[:N]) throws as a full disk would. */
  public static void injectEnospc(String spec) {
    arm(spec, Action.ENOSPC);
  }

  /** Test hook: records every point reached from now on, in order; {@link #reset} stops it. */
  public static List<String> record() {
    synchronized (LOCK) {
      recording = new ArrayList<>();
      active = true;
      return recording;
    }
  }

  /** Test hook: disarms every fault, forgets the counts and stops recording. */
  public static void reset() {
    synchronized (LOCK) {
      faults.clear();
      reached.clear();
      recording = null;
      active = false;
    }
  }

  private static void arm(String spec, Action action) {
    if (spec == null || spec.isBlank()) {
      return;
    }
    int colon = spec.lastIndexOf(':');
    String point = colon < 0 ? spec : spec.substring(0, colon);
    int occurrence;
    try {
      occurrence = colon < 0 ? 1 : Integer.parseInt(spec.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("fault point " + spec + ": expected POINT[:N], N ≥ 1");
    }
    if (occurrence < 1) {
      throw new IllegalArgumentException("fault point " + spec + ": expected POINT[:N], N ≥ 1");
    }
    synchronized (LOCK) {
      faults.add(new Fault(point, occurrence, action));
      active = true;
    }
  }
}
