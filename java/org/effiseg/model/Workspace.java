package org.effiseg.model;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;

/**
 * A context plus a pool of activation and gradient buffers, reused from one step to the next.
 * {@code es_tensor_create} zero-fills every new tensor; a training step allocates a few GB of
 * buffers that the ops overwrite anyway, so reusing them saves that memset and the page faults
 * of fresh memory (about a sixth of a B0 training step on CPU).
 *
 * <p>Buffers are kept by element count: {@link #take} lends the smallest free buffer that holds
 * the shape and is at most {@link #MAX_WASTE} times its size, as a view of that shape when the
 * shapes differ, and allocates a new one otherwise. (Keyed by exact shape, the pool kept one
 * buffer per distinct shape of the network: B4 380² inference at batch 8 held 1,492 MiB, about
 * twice what it needs at once.)
 *
 * <p>{@link #take} returns a tensor with undefined contents (use {@link #zeros} where an op
 * accumulates into its output); views made of it must not outlive it, since its buffer comes
 * back to the pool when it is given back or, closed by its holder, at the next pass. {@link
 * #give} returns one; giving a tensor twice in a pass throws, so an aliasing mistake fails
 * loudly instead of corrupting a later step. The pool keeps one input shape's worth of buffers:
 * {@link #beginPass} empties it when the input shape changes.
 */
final class Workspace implements AutoCloseable {
  /** A buffer lent for a smaller shape is at most this many times the shape's size. */
  static final long MAX_WASTE = 2;

  private final Context ctx;
  /** Free buffers by element count, most recently given first. */
  private final TreeMap<Long, ArrayDeque<Tensor>> free = new TreeMap<>();
  private final Map<Tensor, Boolean> pooled = new IdentityHashMap<>();
  /** Tensors lent out, each with the buffer it lives in (itself or its base). */
  private final Map<Tensor, Tensor> lent = new IdentityHashMap<>();
  /**
   * The views made of each buffer, by shape, kept open for the next time that buffer is lent at
   * that shape (a view costs two native calls; a training step lends about a thousand).
   */
  private final Map<Tensor, Map<String, Tensor>> views = new IdentityHashMap<>();
  /** Views whose buffer is back in the pool: a second give of one throws. */
  private final Map<Tensor, Boolean> restingViews = new IdentityHashMap<>();
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
    // Tensors lent earlier and closed by their holder without a give (the logits a caller
    // closes): a closed view's buffer comes back to the pool, a closed buffer is gone.
    lent.entrySet().removeIf(e -> {
      Tensor t = e.getKey();
      if (!t.isClosed()) {
        return false;
      }
      Tensor buffer = e.getValue();
      if (buffer != t) {
        Map<String, Tensor> byShape = views.get(buffer);
        if (byShape != null) {
          byShape.values().remove(t);
        }
        putFree(buffer);
      } else {
        closeViews(buffer);
      }
      return true;
    });
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
    long numel = 1;
    for (long d : shape) {
      numel *= d;
    }
    Map.Entry<Long, ArrayDeque<Tensor>> e = free.ceilingEntry(numel);
    if (e == null || e.getKey() > MAX_WASTE * numel) {
      Tensor t = ctx.tensor(shape);
      lent.put(t, t);
      return t;
    }
    Tensor buffer = e.getValue().pollFirst();
    if (e.getValue().isEmpty()) {
      free.remove(e.getKey());
    }
    pooled.remove(buffer);
    Tensor t = buffer;
    if (!Arrays.equals(buffer.shape(), shape)) {
      String key = Arrays.toString(shape);
      Map<String, Tensor> byShape = views.computeIfAbsent(buffer, k -> new HashMap<>());
      t = byShape.get(key);
      if (t == null || t.isClosed()) {
        t = buffer.view(0, shape);
        byShape.put(key, t);
      }
      restingViews.remove(t);
    }
    lent.put(t, buffer);
    return t;
  }

  /** A zero-filled tensor of {@code shape}. */
  Tensor zeros(long... shape) {
    Tensor t = take(shape);
    t.fill(0f);
    return t;
  }

  /** Returns tensors to the pool (nulls and tensors closed elsewhere are skipped). */
  void give(Tensor... ts) {
    for (Tensor t : ts) {
      if (t == null || t.isClosed()) {
        continue;
      }
      if (restingViews.containsKey(t)) {
        throw new IllegalStateException("tensor " + t + " given back twice");
      }
      Tensor buffer = lent.remove(t);
      if (buffer == null) {
        buffer = t; // made elsewhere (an op's result): the pool adopts it
      } else if (buffer != t) {
        restingViews.put(t, Boolean.TRUE); // a view: its buffer goes back, the view waits
      }
      if (pooled.containsKey(buffer)) {
        throw new IllegalStateException("tensor " + t + " given back twice");
      }
      putFree(buffer);
    }
  }

  private void putFree(Tensor buffer) {
    if (pooled.put(buffer, Boolean.TRUE) == null) {
      free.computeIfAbsent(buffer.numel(), k -> new ArrayDeque<>()).addFirst(buffer);
    }
  }

  private void closeViews(Tensor buffer) {
    Map<String, Tensor> byShape = views.remove(buffer);
    if (byShape != null) {
      for (Tensor v : byShape.values()) {
        restingViews.remove(v);
        if (!lent.containsKey(v)) {
          v.close();
        }
      }
    }
  }

  /**
   * Frees every pooled buffer and its views, and lets go of the buffers lent as views: a view
   * still open keeps its storage alive until its holder closes it.
   */
  void clear() {
    for (ArrayDeque<Tensor> q : free.values()) {
      for (Tensor t : q) {
        closeViews(t);
        t.close();
      }
    }
    free.clear();
    pooled.clear();
    lent.forEach((t, buffer) -> {
      closeViews(buffer); // the resting ones: a lent buffer's holder only closes the buffer
      if (buffer != t) {
        buffer.close();
      }
    });
    lent.clear();
    views.clear();
    restingViews.clear();
  }

  @Override
  public void close() {
    clear();
  }
}
