// A seeded random train/validation/test split, defined precisely enough to be reproduced in any
// language (docs/data-pipeline.md has it in Python): nothing here depends on the JDK's own random
// number generators, collation or hash order, so the same names, seed and ratios give the same
// split on every machine and JDK.
//
//   names sorted by Unicode code point; counts validation = floor(n * r_val + 0.5),
//   test = floor(n * r_test + 0.5), train = the rest; a Fisher-Yates shuffle driven by SplitMix64
//   (Steele, Lea, Flood 2014; Vigna's splitmix64.c) seeded with the seed; the first `train` names
//   of the shuffled list are train, the next `validation` ones validation, the rest test.
package org.effiseg.data;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Splits names at random, reproducibly from a seed and three ratios. */
public final class RandomSplit {
  /** How the algorithm is named in prepare.json; change it if the algorithm ever changes. */
  public static final String ALGORITHM = "splitmix64-fisher-yates-1";

  private RandomSplit() {}

  /** Unicode code-point order (Python's default string order), via UTF-8 bytes. */
  public static final Comparator<String> CODE_POINT_ORDER =
      (a, b) -> Arrays.compareUnsigned(
          a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));

  /**
   * Parses {@code "0.8,0.1,0.1"}: three finite fractions >= 0 (train, validation, test) that sum
   * to 1 (within 1e-6).
   */
  public static double[] parseRatios(String text) {
    String[] parts = text.split(",", -1);
    if (parts.length != 3) {
      throw new IllegalArgumentException("--ratios needs three comma-separated fractions"
          + " (train,validation,test), got '" + text + "'");
    }
    double[] ratios = new double[3];
    double sum = 0;
    for (int i = 0; i < 3; i++) {
      try {
        ratios[i] = Double.parseDouble(parts[i].trim());
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--ratios: '" + parts[i].trim() + "' is not a number");
      }
      if (!Double.isFinite(ratios[i]) || ratios[i] < 0) {
        throw new IllegalArgumentException("--ratios: each fraction must be >= 0, got " + parts[i].trim());
      }
      sum += ratios[i];
    }
    if (Math.abs(sum - 1) > 1e-6) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "--ratios must sum to 1, got %s (sum %.6f)", text, sum));
    }
    return ratios;
  }

  /** Pair counts of each split for {@code n} names: validation and test rounded, train the rest. */
  public static int[] counts(int n, double[] ratios) {
    int validation = (int) Math.floor(n * ratios[1] + 0.5);
    int test = (int) Math.floor(n * ratios[2] + 0.5);
    int train = n - validation - test;
    if (train < 0) {
      throw new IllegalArgumentException("--ratios " + ratios[0] + "," + ratios[1] + "," + ratios[2]
          + " round to more than the " + n + " pairs there are");
    }
    return new int[] {train, validation, test};
  }

  /**
   * Assigns every name to a split. The result maps each split to its names in code-point order;
   * a split with no names maps to an empty list.
   */
  public static Map<Split, List<String>> split(List<String> names, long seed, double[] ratios) {
    if (seed < 0) {
      throw new IllegalArgumentException("--seed must be >= 0, got " + seed);
    }
    String[] shuffled = names.toArray(String[]::new);
    Arrays.sort(shuffled, CODE_POINT_ORDER);
    for (int i = 1; i < shuffled.length; i++) {
      if (shuffled[i].equals(shuffled[i - 1])) {
        throw new IllegalArgumentException("name '" + shuffled[i] + "' given twice");
      }
    }
    SplitMix64 random = new SplitMix64(seed);
    for (int i = shuffled.length - 1; i > 0; i--) {
      int j = random.below(i + 1);
      String swap = shuffled[i];
      shuffled[i] = shuffled[j];
      shuffled[j] = swap;
    }
    int[] counts = counts(shuffled.length, ratios);
    Map<Split, List<String>> result = new EnumMap<>(Split.class);
    int start = 0;
    for (Split split : Split.values()) {
      int count = counts[split.ordinal()];
      List<String> members = new ArrayList<>(Arrays.asList(shuffled).subList(start, start + count));
      members.sort(CODE_POINT_ORDER);
      result.put(split, members);
      start += count;
    }
    return result;
  }

  /**
   * SplitMix64: the state advances by the golden-ratio increment, each output is the state
   * through a fixed 64-bit mixer. The same sequence as {@code new SplittableRandom(seed).nextLong()},
   * but written out so that the split never depends on a JDK's implementation.
   */
  static final class SplitMix64 {
    private long state;

    SplitMix64(long seed) {
      this.state = seed;
    }

    long next() {
      state += 0x9E3779B97F4A7C15L;
      long z = state;
      z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
      z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
      return z ^ (z >>> 31);
    }

    /**
     * Uniform in [0, bound): the top 63 bits of an output, redrawn while they fall in the
     * incomplete last block of {@code bound} values, then reduced modulo {@code bound}.
     */
    int below(int bound) {
      long lastAccepted = Long.MAX_VALUE - Long.remainderUnsigned(1L << 63, bound); // 2^63 - (2^63 mod bound) - 1
      while (true) {
        long r = next() >>> 1;
        if (r <= lastAccepted) {
          return (int) (r % bound);
        }
      }
    }
  }
}
