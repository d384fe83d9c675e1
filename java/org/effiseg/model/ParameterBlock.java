package org.effiseg.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;

/**
 * All of a network's tensors in five allocations: trainable weights, their gradients, AdamW's
 * two moments (each one flat tensor of {@link ParameterLayout#trainableSize()} floats, so the
 * optimizer is one {@code Ops.adamwStep}), and the BatchNorm running statistics. Each entry of
 * the layout is a named view into the weights and gradients (or into the statistics block).
 */
public final class ParameterBlock implements AutoCloseable {
  private final ParameterLayout layout;
  private final Tensor weights;
  private long version;
  private final Tensor grads;
  private final Tensor expAvg;
  private final Tensor expAvgSq;
  private final Tensor buffers;
  private final Map<String, Tensor> weightViews = new HashMap<>();
  private final Map<String, Tensor> gradViews = new HashMap<>();
  private final List<Tensor> scratch = new ArrayList<>();
  private final Context ctx;

  /** Allocates the blocks (zero-filled) and initialises them with {@code seed}. */
  public ParameterBlock(Context ctx, ParameterLayout layout, long seed) {
    this.layout = layout;
    this.ctx = ctx;
    weights = ctx.tensor(Math.max(1, layout.trainableSize()));
    grads = ctx.tensor(Math.max(1, layout.trainableSize()));
    expAvg = ctx.tensor(Math.max(1, layout.trainableSize()));
    expAvgSq = ctx.tensor(Math.max(1, layout.trainableSize()));
    buffers = ctx.tensor(Math.max(1, layout.bufferSize()));
    for (ParameterLayout.Entry e : layout.entries()) {
      if (e.trainable()) {
        weightViews.put(e.name(), weights.view(e.offset(), e.nativeShape()));
        gradViews.put(e.name(), grads.view(e.offset(), e.nativeShape()));
      } else {
        weightViews.put(e.name(), buffers.view(e.offset(), e.nativeShape()));
      }
    }
    initialize(seed);
  }

  public ParameterLayout layout() {
    return layout;
  }

  /**
   * All trainable weights, flat. Code that writes them (or the statistics in {@link #buffers()})
   * other than through this class calls {@link #markChanged()} afterwards.
   */
  public Tensor weights() {
    return weights;
  }

  /**
   * Counts changes of the weights and statistics (loads, initialisation, {@link #markChanged()}):
   * what was derived from them (the model's folded eval weights) is stale when it moved.
   */
  public long version() {
    return version;
  }

  /** Records that the weights or statistics were changed from outside (an optimizer step, a training pass). */
  public void markChanged() {
    version++;
  }

  /** Gradients of {@link #weights()}, same layout. */
  public Tensor grads() {
    return grads;
  }

  public Tensor expAvg() {
    return expAvg;
  }

  public Tensor expAvgSq() {
    return expAvgSq;
  }

  /** BatchNorm running statistics, flat. */
  public Tensor buffers() {
    return buffers;
  }

  /** Number of trainable parameters. */
  public long count() {
    return layout.trainableSize();
  }

  /** The native-layout view of a weight or running statistic. */
  public Tensor weight(String name) {
    Tensor t = weightViews.get(name);
    if (t == null) {
      throw new IllegalArgumentException("no parameter named " + name);
    }
    return t;
  }

  /** The native-layout view of a trainable parameter's gradient. */
  public Tensor grad(String name) {
    Tensor t = gradViews.get(name);
    if (t == null) {
      throw new IllegalArgumentException("no trainable parameter named " + name);
    }
    return t;
  }

  /** A small per-layer working tensor (e.g. BatchNorm's saved statistics) freed with the block. */
  Tensor scratch(long... shape) {
    Tensor t = ctx.tensor(shape);
    scratch.add(t);
    return t;
  }

  public void zeroGrads() {
    grads.fill(0f);
  }

  /** Fresh weights (and statistics) from the layout's init rules; clears Adam's moments. */
  public void initialize(long seed) {
    markChanged();
    SplittableRandom root = new SplittableRandom(seed);
    for (ParameterLayout.Entry e : layout.entries()) {
      SplittableRandom r = root.split();
      float[] v = new float[Math.toIntExact(e.numel())];
      switch (e.init()) {
        case ONES -> Arrays.fill(v, 1f);
        case ZEROS -> {}
        case NORMAL_FAN_OUT -> {
          long[] s = e.torchShape();
          double std = Math.sqrt(2.0 / (s[0] * s[2] * s[3]));
          for (int i = 0; i < v.length; i++) {
            double u = 1.0 - r.nextDouble();
            double w = r.nextDouble();
            v[i] = (float) (std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w));
          }
        }
        case UNIFORM_FAN_IN -> uniform(v, r, 1.0 / Math.sqrt(e.fanIn()));
        case UNIFORM_FAN_OUT -> uniform(v, r, 1.0 / Math.sqrt(e.torchShape()[0]));
      }
      weight(e.name()).write(v);
    }
    expAvg.fill(0f);
    expAvgSq.fill(0f);
    grads.fill(0f);
  }

  private static void uniform(float[] v, SplittableRandom r, double bound) {
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) ((2 * r.nextDouble() - 1) * bound);
    }
  }

  /** Every entry in PyTorch layout and order. */
  public StateDict stateDict() {
    return stateDictOf(weights.read(), buffers.read());
  }

  /**
   * The state dict of flat weights and statistics laid out as this block's {@link #weights()}
   * and {@link #buffers()} (another copy of the network's values, e.g. a moving average of them).
   */
  public StateDict stateDictOf(float[] flatWeights, float[] flatBuffers) {
    if (flatWeights.length != weights.numel() || flatBuffers.length != buffers.numel()) {
      throw new IllegalArgumentException("flat weights and statistics of " + flatWeights.length
          + " and " + flatBuffers.length + " values do not fit this model's blocks of "
          + weights.numel() + " and " + buffers.numel());
    }
    StateDict sd = new StateDict();
    for (ParameterLayout.Entry e : layout.entries()) {
      float[] flat = e.trainable() ? flatWeights : flatBuffers;
      int from = Math.toIntExact(e.offset());
      float[] nat = Arrays.copyOfRange(flat, from, from + Math.toIntExact(e.numel()));
      sd.put(e.name(), new TensorData(e.torchShape(), toTorch(e, nat)));
    }
    return sd;
  }

  /** The gradients as a state dict of the trainable entries (PyTorch layout), for tests. */
  public StateDict gradStateDict() {
    StateDict sd = new StateDict();
    for (ParameterLayout.Entry e : layout.entries()) {
      if (e.trainable()) {
        sd.put(e.name(), new TensorData(e.torchShape(), toTorch(e, grad(e.name()).read())));
      }
    }
    return sd;
  }

  /**
   * Copies matching entries of {@code sd} in. Names the {@code ignorable} predicate accepts are
   * skipped silently (e.g. a classifier head the segmentation net does not use). Shape mismatches
   * are always an error; with {@code strict}, so are missing and unexpected names. Nothing is
   * written unless the whole dict is accepted.
   */
  public void load(StateDict sd, boolean strict, Predicate<String> ignorable) {
    markChanged();
    List<String> missing = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    List<String> misShaped = new ArrayList<>();
    for (ParameterLayout.Entry e : layout.entries()) {
      TensorData t = sd.get(e.name());
      if (t == null) {
        missing.add(e.name());
      } else if (!Arrays.equals(t.shape(), e.torchShape())) {
        misShaped.add(
            e.name()
                + " "
                + Arrays.toString(t.shape())
                + " (expected "
                + Arrays.toString(e.torchShape())
                + ")");
      }
    }
    for (String name : sd.names()) {
      if (!layout.contains(name) && !ignorable.test(name)) {
        unexpected.add(name);
      }
    }
    boolean fail = !misShaped.isEmpty() || (strict && (!missing.isEmpty() || !unexpected.isEmpty()));
    if (fail) {
      StringBuilder m = new StringBuilder("state dict does not fit the model:");
      describe(m, "missing", missing);
      describe(m, "unexpected", unexpected);
      describe(m, "wrong shape", misShaped);
      throw new IllegalArgumentException(m.toString());
    }
    for (ParameterLayout.Entry e : layout.entries()) {
      TensorData t = sd.get(e.name());
      if (t != null) {
        weight(e.name()).write(toNative(e, t.data()));
      }
    }
  }

  private static void describe(StringBuilder m, String what, List<String> names) {
    if (names.isEmpty()) {
      return;
    }
    m.append("\n  ").append(what).append(" (").append(names.size()).append("): ");
    int shown = Math.min(names.size(), 20);
    m.append(String.join(", ", names.subList(0, shown)));
    if (shown < names.size()) {
      m.append(", ... ").append(names.size() - shown).append(" more");
    }
  }

  /** PyTorch layout to native layout. */
  static float[] toNative(ParameterLayout.Entry e, float[] torch) {
    long[] s = e.torchShape();
    return switch (e.kind()) {
      case VECTOR -> torch.clone();
      case LINEAR -> TensorLayouts.transpose(torch, (int) s[0], (int) s[1]);
      case CONV -> TensorLayouts.oihwToHwio(torch, (int) s[0], (int) s[1], (int) s[2], (int) s[3]);
    };
  }

  /** Native layout to PyTorch layout. */
  static float[] toTorch(ParameterLayout.Entry e, float[] nat) {
    long[] s = e.torchShape();
    return switch (e.kind()) {
      case VECTOR -> nat;
      case LINEAR -> TensorLayouts.transpose(nat, (int) s[1], (int) s[0]);
      case CONV -> TensorLayouts.hwioToOihw(nat, (int) s[2], (int) s[3], (int) s[1], (int) s[0]);
    };
  }

  @Override
  public void close() {
    for (Tensor t : scratch) {
      t.close();
    }
    for (Tensor t : weightViews.values()) {
      t.close();
    }
    for (Tensor t : gradViews.values()) {
      t.close();
    }
    weights.close();
    grads.close();
    expAvg.close();
    expAvgSq.close();
    buffers.close();
  }
}
