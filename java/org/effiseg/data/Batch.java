// One batch as the native core takes it: images float32 NHWC [n, H, W, 3] normalised, masks
// float32 NHWC [n, H, W, 1] in {0, 1}, both in direct native-order buffers owned by the loader.
package org.effiseg.data;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * A batch lent by {@link BatchLoader}. Its buffers are reused: it stays valid until it is closed,
 * the next batch is fetched, or its epoch is closed, whichever comes first.
 */
public final class Batch implements AutoCloseable {
  private final BatchLoader.Buffers buffers;
  private final Runnable release;
  private final int epoch;
  private final int number;
  private final int size;
  private final int height;
  private final int width;
  private final int[] sampleIndices;
  private boolean closed;

  Batch(BatchLoader.Buffers buffers, Runnable release, int epoch, int number, int size,
      int height, int width) {
    this.buffers = buffers;
    this.release = release;
    this.epoch = epoch;
    this.number = number;
    this.size = size;
    this.height = height;
    this.width = width;
    this.sampleIndices = Arrays.copyOf(buffers.sampleIndices, size);
  }

  /** Images, float32 [size, height, width, 3]; position 0, limit size*height*width*3. */
  public FloatBuffer images() {
    requireOpen();
    return buffers.images.duplicate().position(0).limit(size * height * width * 3);
  }

  /** Masks, float32 [size, height, width, 1] of 0 or 1; position 0, limit size*height*width. */
  public FloatBuffer masks() {
    requireOpen();
    return buffers.masks.duplicate().position(0).limit(size * height * width);
  }

  /** Samples in this batch (at most the loader's batch size; the last one may be smaller). */
  public int size() {
    return size;
  }

  public int height() {
    return height;
  }

  public int width() {
    return width;
  }

  public int epoch() {
    return epoch;
  }

  /** 0-based position of this batch in its epoch. */
  public int number() {
    return number;
  }

  /** Dataset indices (positions in {@link SplitIndex#pairs()}) of the samples, in batch order. */
  public int[] sampleIndices() {
    return sampleIndices.clone();
  }

  /** Hands the buffers back to the loader; the buffers must not be used afterwards. Idempotent. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    release.run();
  }

  private synchronized void requireOpen() {
    if (closed) {
      throw new IllegalStateException("batch " + number + " of epoch " + epoch + " is closed");
    }
  }
}
