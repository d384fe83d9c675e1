package org.effiseg.model;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;

/**
 * A context plus a pool of activation and gradient buffers, reused by shape from one step to the
 * next. {@code es_tensor_create} zero-fills every new tensor; a training step allocates a few GB
 * of buffers that the ops overwrite anyway, so reusing them saves that memset and the page
 * faults of fresh memory (about a sixth of a B0 training step on CPU).
 *
 * <p>{@link #take} returns a tensor with undefined contents (use {@link #zeros} where an op
 * accumulates into its output). {@link #give} returns one; giving a tensor twice throws, so an
 * aliasing mistake fails loudly instead of corrupting a later step. The pool keeps one input
 * shape's worth of buffers: {@link #beginPass} empties it when the input shape changes.
 */
final class Workspace implements AutoCloseable {
  private final Context ctx;
  private final Map<String, ArrayDeque<Tensor>> free = new HashMap<>();
  private final Map<Tensor, Boolean> pooled = new IdentityHashMap<>();
  private long[] lastInputShape;
  private BatchNormObserver batchNormObserver;

  Workspace(Context ctx) {
    this.ctx = ctx;
  }

  Context ctx() {
    return ctx;
  }

  /** Starts a forward pass on an input of {@code shape}; drops the pool if the shape changed. */
  void beginPass(long[] shape) {
    if (lastInputShape != null && !Arrays.equals(lastInputShape, shape)) {
      clear();
    }
    lastInputShape = shape.clone();
  }

  /** Shows every batch norm's input to {@code observer} until it is set back to null. */
  void observeBatchNorms(BatchNormObserver observer) {
    this.batchNormObserver = observer;
  }

  /** Called by each batch norm before it normalises {@code input}. */
  void beforeBatchNorm(String name, Tensor input) {
    if (batchNormObserver != null) {
      batchNormObserver.beforeBatchNorm(name, input);
    }
  }

  /** A tensor of {@code shape} whose contents are undefined. */
  Tensor take(long... shape) {
    ArrayDeque<Tensor> q = free.get(Arrays.toString(shape));
    Tensor t = q == null ? null : q.pollFirst();
    if (t == null) {
      return ctx.tensor(shape);
    }
    pooled.remove(t);
    return t;
  }

  /** A zero-filled tensor of {@code shape}. */
  Tensor zeros(long... shape) {
    Tensor t = take(shape);
    t.fill(0f);
    return t;
  }

  /** Returns tensors to the pool (nulls are skipped). */
  void give(Tensor... ts) {
    for (Tensor t : ts) {
      if (t == null || t.isClosed()) {
        continue;
      }
      if (pooled.put(t, Boolean.TRUE) != null) {
        throw new IllegalStateException("tensor " + t + " given back twice");
      }
      free.computeIfAbsent(Arrays.toString(t.shape()), k -> new ArrayDeque<>()).addFirst(t);
    }
  }

  /** Frees every pooled buffer. */
  void clear() {
    for (ArrayDeque<Tensor> q : free.values()) {
      for (Tensor t : q) {
        t.close();
      }
    }
    free.clear();
    pooled.clear();
  }

  @Override
  public void close() {
    clear();
  }
}
