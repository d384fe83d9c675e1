package org.effiseg.train;

import org.effiseg.data.Batch;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;

/**
 * The native input tensors of a batch, images [n,S,S,3] and masks [n,S,S,1], reused from batch to
 * batch and re-allocated only when the batch size changes (the last, partial batch).
 */
final class InputTensors implements AutoCloseable {
  private final Context ctx;
  private final int size;
  private Tensor images;
  private Tensor masks;

  InputTensors(Context ctx, int size) {
    this.ctx = ctx;
    this.size = size;
  }

  /** Copies the loader's direct buffers into native memory. */
  void load(Batch batch) {
    int n = batch.size();
    if (images == null || images.dim(0) != n) {
      close();
      images = ctx.tensor(n, size, size, 3);
      masks = ctx.tensor(n, size, size, 1);
    }
    images.write(0, batch.images(), images.numel());
    masks.write(0, batch.masks(), masks.numel());
  }

  Tensor images() {
    return images;
  }

  Tensor masks() {
    return masks;
  }

  @Override
  public void close() {
    if (images != null) {
      images.close();
      masks.close();
      images = null;
      masks = null;
    }
  }
}
