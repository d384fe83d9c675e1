// Derives independent 64-bit seeds from (run seed, epoch, sample index, stream) so that every
// random draw of the pipeline is fixed by those numbers alone, whatever thread computes it.
package org.effiseg.data;

/** Stateless seed derivation (SplitMix64 finaliser over the mixed inputs). */
public final class SeedMixer {
  /** Stream tag of the per-epoch shuffle; sample streams use small non-negative tags. */
  public static final long SHUFFLE_STREAM = -1;

  private SeedMixer() {}

  /** A well-mixed seed for the given coordinates; distinct inputs give unrelated outputs. */
  public static long mix(long seed, long epoch, long index, long stream) {
    long h = finalise(seed + 0x9E3779B97F4A7C15L);
    h = finalise(h ^ (epoch * 0xC2B2AE3D27D4EB4FL + 0x165667B19E3779F9L));
    h = finalise(h ^ (index * 0x94D049BB133111EBL + 0x27D4EB2F165667C5L));
    return finalise(h ^ (stream * 0xBF58476D1CE4E5B9L + 0x9E3779B97F4A7C15L));
  }

  private static long finalise(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
