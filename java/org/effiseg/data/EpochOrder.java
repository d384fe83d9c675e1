// The order in which an epoch visits the dataset: a Fisher-Yates shuffle seeded from (seed, epoch).
package org.effiseg.data;

import java.util.SplittableRandom;

/** Per-epoch sample orders. */
public final class EpochOrder {
  private EpochOrder() {}

  /** A permutation of 0..n-1 fixed by (seed, epoch). */
  public static int[] shuffled(long seed, int epoch, int n) {
    int[] order = sequential(n);
    SplittableRandom random = new SplittableRandom(SeedMixer.mix(seed, epoch, 0, SeedMixer.SHUFFLE_STREAM));
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int swap = order[i];
      order[i] = order[j];
      order[j] = swap;
    }
    return order;
  }

  /** 0..n-1 in order (validation and test). */
  public static int[] sequential(int n) {
    int[] order = new int[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    return order;
  }
}
