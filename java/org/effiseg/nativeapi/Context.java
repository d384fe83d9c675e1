package org.effiseg.nativeapi;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * Where ops run: a backend, a device and a thread count. A context owns the tensors made from
 * it; {@link #close()} releases any still open, so native (and GPU) memory never waits on the
 * garbage collector. Close is idempotent; use after close throws {@link EffisegException}.
 *
 * <p>Thread-safety: making and closing tensors is safe from any thread. Ops on one context
 * should come from one thread at a time (a CUDA context has one stream and one set of
 * cuDNN/cuBLAS handles; a CPU context sizes its thread pool for one op at a time), and a tensor
 * must not be closed while an op on another thread uses it. {@code api.Segmenter} serialises its
 * calls for this reason.
 */
public final class Context implements AutoCloseable {
  private final Backend backend;
  private final int device;
  private final Set<Tensor> tensors = Collections.newSetFromMap(new IdentityHashMap<>());
  private long handle;

  private Context(Backend backend, int device, long handle) {
    this.backend = backend;
    this.device = device;
    this.handle = handle;
  }

  /**
   * Creates a context. {@code threads} 0 means all cores; a negative count or more than {@link
   * #maxThreads()} is refused. Fails with {@link EffisegException.Status#BACKEND_UNAVAILABLE}
   * (and the reason) if the backend is not usable.
   */
  public static Context create(Backend backend, int device, int threads) {
    long[] out = new long[1];
    EffisegException.check(
        EffisegNative.es_context_create(backend.ordinal(), device, threads, out));
    return new Context(backend, device, out[0]);
  }

  /** A CPU context with {@code threads} threads (0: all cores). */
  public static Context cpu(int threads) {
    return create(Backend.CPU, 0, threads);
  }

  /** The most threads a context may use (the native core's bound: 4 per processor). */
  public static int maxThreads() {
    int[] max = new int[1];
    EffisegException.check(EffisegNative.es_context_max_threads(max));
    return max[0];
  }

  /**
   * Checks a user's thread count against the native core's bound before anything is started;
   * {@code name} is the flag or setting it came from, for the message.
   *
   * @throws IllegalArgumentException naming {@code name} where the count is out of range
   */
  public static int checkThreads(String name, int threads) {
    int max = maxThreads();
    if (threads < 0 || threads > max) {
      throw new IllegalArgumentException(name + " must be 0 (all cores) or 1.." + max
          + " (4 per processor), got " + threads);
    }
    return threads;
  }

  public Backend backend() {
    return backend;
  }

  public int device() {
    return device;
  }

  public int threads() {
    int[] t = new int[1];
    EffisegException.check(EffisegNative.es_context_threads(handle(), t));
    return t[0];
  }

  /**
   * Waits until every op queued on this context has finished. CPU ops are synchronous; a CUDA
   * context queues ops on its stream and only a tensor read waits for them. For timing.
   */
  public void synchronize() {
    EffisegException.check(EffisegNative.es_context_synchronize(handle()));
  }

  /** This context's memory now and at its peak (since creation or {@link #resetPeakMemory()}). */
  public MemoryStats memory() {
    long[] s = new long[4];
    EffisegException.check(EffisegNative.es_context_memory(handle(), s));
    return new MemoryStats(s[0], s[1], s[2], s[3]);
  }

  /** Starts the peaks of {@link #memory()} again from what is in use now. */
  public void resetPeakMemory() {
    EffisegException.check(EffisegNative.es_context_reset_peak_memory(handle()));
  }

  /**
   * Starts profiling this context's ops afresh: from now on every kernel call waits for the work
   * queued before it and for itself, and its time is added to a row per (kernel, geometry). Ops
   * run slower while profiling (no overlap of host and device work); the shares are the point.
   */
  public void startProfile() {
    EffisegException.check(EffisegNative.es_context_profile(handle(), 1));
  }

  /** Stops profiling; the rows stay readable with {@link #profile()}. */
  public void stopProfile() {
    EffisegException.check(EffisegNative.es_context_profile(handle(), 0));
  }

  /** The rows of the last profile, slowest total first (empty if none was started). */
  public List<ProfileRow> profile() {
    long[] needed = new long[1];
    EffisegException.check(EffisegNative.es_context_profile_report(handle(), null, 0, needed));
    byte[] buf = new byte[(int) needed[0]];
    EffisegException.check(EffisegNative.es_context_profile_report(handle(), buf, buf.length, needed));
    String json = new String(buf, 0, buf.length - 1, StandardCharsets.UTF_8);
    List<ProfileRow> rows = new ArrayList<>();
    for (JsonElement e : JsonParser.parseString(json).getAsJsonArray()) {
      JsonObject o = e.getAsJsonObject();
      rows.add(new ProfileRow(o.get("kernel").getAsString(), o.get("geometry").getAsString(),
          o.get("calls").getAsLong(), o.get("ms").getAsDouble(),
          o.get("ms_median_call").getAsDouble(), o.get("flop").getAsDouble(),
          o.get("bytes").getAsDouble()));
    }
    return rows;
  }

  /**
   * Calls of one kernel on one geometry while profiling, their total wall time, the median
   * call's time (which a call held up by the OS or a busy machine does not move), and their
   * total work: floating-point operations (convolutions only; a multiply-add is 2) and
   * compulsory memory traffic in bytes (each input read once, each output written once).
   */
  public record ProfileRow(String kernel, String geometry, long calls, double ms,
      double msMedianCall, double flop, double bytes) {
    /** The calls' time at the median call's: what the total would be without outliers. */
    public double msTypical() {
      return msMedianCall * calls;
    }
  }

  /**
   * This machine's floating-point peak and memory bandwidth on this context's kernel path and
   * threads, measured (an FMA loop, a STREAM triad; about a second). CPU contexts only.
   */
  public Peaks measurePeaks() {
    double[] flops = new double[1];
    double[] bytes = new double[1];
    EffisegException.check(EffisegNative.es_context_measure_peaks(handle(), flops, bytes));
    return new Peaks(flops[0], bytes[0]);
  }

  /** FLOP/s and bytes/s at most. */
  public record Peaks(double flopsPerS, double bytesPerS) {}

  /**
   * Bytes of a context's memory. On CUDA, the context's device allocator: {@code live} is what
   * tensors and op scratch (cuDNN workspaces, ...) hold, {@code reserved} adds the blocks cached
   * for reuse (PyTorch's "allocated" and "reserved"). On CPU, tensor storage; reserved = live.
   */
  public record MemoryStats(long live, long peakLive, long reserved, long peakReserved) {}

  /** A zero-filled float32 tensor. */
  public Tensor tensor(long... shape) {
    long[] out = new long[1];
    EffisegException.check(
        EffisegNative.es_tensor_create(handle(), shape.length, shape.clone(), 0, out));
    return adopt(out[0]);
  }

  /** A tensor holding {@code data} (row-major, length = product of shape). */
  public Tensor tensor(float[] data, long... shape) {
    Tensor t = tensor(shape);
    try {
      t.write(data);
    } catch (RuntimeException e) {
      t.close();
      throw e;
    }
    return t;
  }

  synchronized Tensor adopt(long tensorHandle) {
    Tensor t = new Tensor(this, tensorHandle);
    tensors.add(t);
    return t;
  }

  synchronized void forget(Tensor t) {
    tensors.remove(t);
  }

  long handle() {
    long h = handle;
    if (h == 0) {
      throw new EffisegException(EffisegException.Status.USE_AFTER_FREE, "context is closed");
    }
    return h;
  }

  public boolean isClosed() {
    return handle == 0;
  }

  @Override
  public void close() {
    List<Tensor> open;
    synchronized (this) {
      if (handle == 0) {
        return;
      }
      open = new ArrayList<>(tensors);
    }
    RuntimeException first = null;
    for (Tensor t : open) {
      try {
        t.close();
      } catch (RuntimeException e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    // destroyed whatever happened to the tensors, so one failed tensor cannot keep it alive
    synchronized (this) {
      long h = handle;
      handle = 0;
      int status = EffisegNative.es_context_destroy(h);
      if (first == null) {
        EffisegException.check(status);
      }
    }
    if (first != null) {
      throw first;
    }
  }

  @Override
  public String toString() {
    return "Context[" + backend + ":" + device + (isClosed() ? ", closed]" : "]");
  }
}
