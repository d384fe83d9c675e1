// What the loader runs on each decoded pair to get network input; AugmentPipeline implements it.
// An interface here keeps org.effiseg.data free of a dependency on org.effiseg.augment.
package org.effiseg.data;

/** Turns decoded pairs into normalised float input of side {@link #size()}. */
public interface SampleProcessor {
  /** Side of the square output in pixels. */
  int size();

  /** A worker for one thread (it may keep scratch buffers between samples). */
  Worker newWorker();

  /** Processes samples on one thread. */
  interface Worker {
    /**
     * Writes size*size*3 floats (HWC) into {@code imageOut} and size*size 0/1 floats into
     * {@code maskOut}; the result may depend only on the inputs and (seed, epoch, index).
     */
    void process(RgbImage image, Mask mask, long seed, int epoch, int index, float[] imageOut,
        float[] maskOut);
  }
}
