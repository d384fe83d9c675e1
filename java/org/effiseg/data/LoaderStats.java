// Throughput of a loader epoch: samples produced, wall time since the epoch started, and the CPU
// time the workers spent producing them (decode + resize + augment + normalise + copy).
package org.effiseg.data;

/** A snapshot of an epoch's production. */
public record LoaderStats(long samples, long wallNanos, long workerBusyNanos, int threads) {
  /** Samples per second of wall time: what the consumer can be fed at most. */
  public double imagesPerSecond() {
    return wallNanos == 0 ? 0 : samples * 1e9 / wallNanos;
  }

  /** Samples per second of worker CPU time: the per-core rate of the pipeline. */
  public double imagesPerWorkerSecond() {
    return workerBusyNanos == 0 ? 0 : samples * 1e9 / workerBusyNanos;
  }
}
