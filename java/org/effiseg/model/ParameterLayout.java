package org.effiseg.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The names, shapes and places of a network's tensors before anything is allocated: trainable
 * parameters in one flat space, BatchNorm running statistics in another. Counting parameters is
 * shape arithmetic on a layout, so it needs no native code.
 *
 * <p>Entries are kept in PyTorch's state-dict order; each knows its PyTorch shape, its native
 * shape (conv weights [KH, KW, Cin/groups, Cout], FC weights [1, 1, in, out]) and how it is
 * initialised.
 */
public final class ParameterLayout {

  /** How an entry's PyTorch layout maps to the native one. */
  public enum Kind {
    /** Torch [Cout, Cin/g, KH, KW], native [KH, KW, Cin/g, Cout]. */
    CONV,
    /** Torch [out, in], native [1, 1, in, out]. */
    LINEAR,
    /** A vector, the same in both. */
    VECTOR
  }

  /** Initial values (MONAI's EfficientNet init for the encoder, PyTorch defaults elsewhere). */
  public enum Init {
    /** N(0, sqrt(2 / (KH*KW*Cout))): efficientnet conv init. */
    NORMAL_FAN_OUT,
    /** U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default conv/linear weight and bias init. */
    UNIFORM_FAN_IN,
    /** U(-1/sqrt(out), 1/sqrt(out)): efficientnet linear init. */
    UNIFORM_FAN_OUT,
    ONES,
    ZEROS
  }

  /**
   * One tensor. {@code fanIn} is used by the uniform initialisations of biases (their layer's
   * fan-in).
   *
   * @param trainable false for BatchNorm running statistics (the buffer block)
   */
  public record Entry(
      String name,
      long[] torchShape,
      long[] nativeShape,
      Kind kind,
      Init init,
      long fanIn,
      boolean trainable,
      long offset) {
    public long numel() {
      long n = 1;
      for (long d : nativeShape) {
        n *= d;
      }
      return n;
    }
  }

  private final Map<String, Entry> entries = new LinkedHashMap<>();
  private long trainableSize;
  private long bufferSize;

  /** A conv weight [cout, cin/groups, k, k] in PyTorch terms. */
  public void addConv(String name, int cout, int cinPerGroup, int k, Init init) {
    add(
        name,
        new long[] {cout, cinPerGroup, k, k},
        new long[] {k, k, cinPerGroup, cout},
        Kind.CONV,
        init,
        (long) cinPerGroup * k * k,
        true);
  }

  /** A linear weight [out, in] in PyTorch terms, a 1x1 conv natively. */
  public void addLinear(String name, int out, int in, Init init) {
    add(name, new long[] {out, in}, new long[] {1, 1, in, out}, Kind.LINEAR, init, in, true);
  }

  /** A trainable vector (a bias); {@code fanIn} is the fan-in of its layer. */
  public void addVector(String name, int n, Init init, long fanIn) {
    add(name, new long[] {n}, new long[] {n}, Kind.VECTOR, init, fanIn, true);
  }

  /** weight, bias (trainable) and running_mean, running_var (buffers) of a BatchNorm. */
  public void addBatchNorm(String prefix, int channels) {
    addVector(prefix + ".weight", channels, Init.ONES, 0);
    addVector(prefix + ".bias", channels, Init.ZEROS, 0);
    long[] s = {channels};
    add(prefix + ".running_mean", s, s, Kind.VECTOR, Init.ZEROS, 0, false);
    add(prefix + ".running_var", s, s, Kind.VECTOR, Init.ONES, 0, false);
  }

  private void add(
      String name, long[] torch, long[] nat, Kind kind, Init init, long fanIn, boolean trainable) {
    if (entries.containsKey(name)) {
      throw new IllegalStateException("duplicate parameter name " + name);
    }
    long n = 1;
    for (long d : nat) {
      n *= d;
    }
    long offset = trainable ? trainableSize : bufferSize;
    if (trainable) {
      trainableSize += n;
    } else {
      bufferSize += n;
    }
    entries.put(name, new Entry(name, torch, nat, kind, init, fanIn, trainable, offset));
  }

  /** Every entry in state-dict order. */
  public List<Entry> entries() {
    return Collections.unmodifiableList(new ArrayList<>(entries.values()));
  }

  public Entry entry(String name) {
    Entry e = entries.get(name);
    if (e == null) {
      throw new IllegalArgumentException("no parameter named " + name);
    }
    return e;
  }

  public boolean contains(String name) {
    return entries.containsKey(name);
  }

  /** Elements of the trainable block. */
  public long trainableSize() {
    return trainableSize;
  }

  /** Elements of the running-statistics block. */
  public long bufferSize() {
    return bufferSize;
  }

  /** Trainable elements whose name starts with {@code prefix}. */
  public long trainableCount(String prefix) {
    long n = 0;
    for (Entry e : entries.values()) {
      if (e.trainable() && e.name().startsWith(prefix)) {
        n += e.numel();
      }
    }
    return n;
  }
}
