// The prefetching loader: background worker threads decode, resize, augment and normalise samples
// straight into pooled direct buffers while the consumer trains on earlier batches.
//
// Work is handed out one sample at a time in epoch order; a batch takes a buffer from the pool
// before any of its samples is handed out, so buffers are claimed in batch order and the batch the
// consumer waits for always has one (no deadlock however slow any thread is). The pool size bounds
// how far the workers run ahead. What a batch contains depends only on (seed, epoch) through the
// shuffle and on (seed, epoch, dataset index) through the processor, never on thread timing, so
// any thread count gives the same bytes.
package org.effiseg.data;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Produces batches of a split, epoch after epoch:
 *
 * <pre>{@code
 * try (BatchLoader loader = BatchLoader.builder(split, pipeline).batchSize(8).threads(4).seed(42).build()) {
 *   for (int epoch = 0; epoch < epochs; epoch++) {
 *     try (BatchLoader.EpochBatches batches = loader.epoch(epoch)) {
 *       while (batches.hasNext()) {
 *         Batch batch = batches.next();   // closes the previous batch
 *         forward(batch.images(), batch.masks(), batch.size());
 *       }
 *     }
 *   }
 * }
 * }</pre>
 */
public final class BatchLoader implements AutoCloseable {
  private final SplitIndex index;
  private final SampleProcessor processor;
  private final int batchSize;
  private final long seed;
  private final boolean shuffle;
  private final boolean dropLast;
  private final int size;
  private final Thread[] workers;
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  private final Object lock = new Object();
  private final ArrayDeque<Buffers> pool = new ArrayDeque<>();
  private EpochRun current;
  private boolean closed;

  /** Direct buffers for one batch, reused from batch to batch. */
  static final class Buffers {
    final FloatBuffer images;
    final FloatBuffer masks;
    final int[] sampleIndices;

    Buffers(int batchSize, int size) {
      images = direct(batchSize * size * size * 3);
      masks = direct(batchSize * size * size);
      sampleIndices = new int[batchSize];
    }

    private static FloatBuffer direct(int floats) {
      return ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder())
          .asFloatBuffer();
    }
  }

  private BatchLoader(Builder builder) {
    this.index = builder.index;
    this.processor = builder.processor;
    this.batchSize = builder.batchSize;
    this.seed = builder.seed;
    this.shuffle = builder.shuffle;
    this.dropLast = builder.dropLast;
    this.size = processor.size();
    for (int i = 0; i < builder.prefetchBatches + 1; i++) {
      pool.push(new Buffers(batchSize, size)); // +1: the batch the consumer holds
    }
    workers = new Thread[builder.threads];
    for (int i = 0; i < workers.length; i++) {
      workers[i] = new Thread(this::workerLoop, "effiseg-loader-" + i);
      workers[i].setDaemon(true);
      workers[i].start();
    }
  }

  public static Builder builder(SplitIndex index, SampleProcessor processor) {
    return new Builder(index, processor);
  }

  /** Samples one epoch yields (the dataset size, less the dropped remainder if dropLast). */
  public int samplesPerEpoch() {
    return dropLast ? index.size() / batchSize * batchSize : index.size();
  }

  public int batchesPerEpoch() {
    return (samplesPerEpoch() + batchSize - 1) / batchSize;
  }

  public int batchSize() {
    return batchSize;
  }

  /** The split this loader reads; a batch's {@link Batch#sampleIndices()} index its pairs. */
  public SplitIndex split() {
    return index;
  }

  /** Side of the square images and masks it produces. */
  public int imageSize() {
    return size;
  }

  /**
   * Starts producing {@code epoch}'s batches (shuffled by (seed, epoch) if shuffling); an epoch
   * still open is cancelled first.
   */
  public EpochBatches epoch(int epoch) {
    synchronized (lock) {
      requireOpen();
      if (current != null) {
        cancel(current);
      }
      int n = index.size();
      int[] order = shuffle ? EpochOrder.shuffled(seed, epoch, n) : EpochOrder.sequential(n);
      current = new EpochRun(epoch, order, samplesPerEpoch(), batchesPerEpoch());
      lock.notifyAll();
      return new EpochBatches(current);
    }
  }

  /** Stops the workers and waits for them to end. */
  @Override
  public void close() {
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      lock.notifyAll();
    }
    boolean interrupted = false;
    for (Thread worker : workers) {
      while (worker.isAlive()) {
        try {
          worker.join();
        } catch (InterruptedException e) {
          interrupted = true; // finish joining: leaving threads behind is what close() prevents
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** The batches of one epoch, in order. */
  public final class EpochBatches implements Iterator<Batch>, AutoCloseable {
    private final EpochRun run;

    private EpochBatches(EpochRun run) {
      this.run = run;
    }

    @Override
    public boolean hasNext() {
      synchronized (lock) {
        return run.consumed < run.batchCount && !run.cancelled;
      }
    }

    /**
     * Waits for the next batch and closes the previous one.
     *
     * @throws DatasetException if a file failed to load (naming the file)
     */
    @Override
    public Batch next() {
      synchronized (lock) {
        requireOpen();
        if (run.lent != null) {
          run.lent.close();
          run.lent = null;
        }
        if (run.cancelled || run.consumed >= run.batchCount) {
          throw new NoSuchElementException("epoch " + run.epoch + " has no more batches");
        }
        int number = run.consumed;
        int length = run.batchLength(number, batchSize);
        while (run.done[number] < length && run.failure == null && !closed) {
          waitOnLock();
        }
        requireOpen();
        if (run.failure != null) {
          RuntimeException failure = run.failure;
          cancel(run);
          throw failure;
        }
        Buffers buffers = run.slots[number];
        run.slots[number] = null;
        run.consumed++;
        run.lent = new Batch(buffers, () -> giveBack(buffers), run.epoch, number, length, size,
            size);
        return run.lent;
      }
    }

    /** Samples produced so far, wall time since the epoch started, worker CPU time spent. */
    public LoaderStats stats() {
      synchronized (lock) {
        boolean finished = run.samplesDone == run.sampleCount;
        long end = finished ? run.lastDoneNanos : System.nanoTime();
        return new LoaderStats(run.samplesDone, end - run.startNanos, run.busyNanos, workers.length);
      }
    }

    /** Stops work on this epoch and takes back its buffers, the last batch's included. */
    @Override
    public void close() {
      synchronized (lock) {
        cancel(run);
      }
    }
  }

  /** Per-epoch bookkeeping, guarded by {@code lock}. */
  private static final class EpochRun {
    final int epoch;
    final int[] order;
    final int sampleCount;
    final int batchCount;
    final Buffers[] slots;
    final int[] done;
    final long startNanos = System.nanoTime();
    int nextPosition;
    int consumed;
    int inFlight;
    boolean cancelled;
    RuntimeException failure;
    Batch lent;
    long samplesDone;
    long busyNanos;
    long lastDoneNanos;

    EpochRun(int epoch, int[] order, int sampleCount, int batchCount) {
      this.epoch = epoch;
      this.order = order;
      this.sampleCount = sampleCount;
      this.batchCount = batchCount;
      this.slots = new Buffers[batchCount];
      this.done = new int[batchCount];
    }

    int batchLength(int number, int batchSize) {
      return Math.min(batchSize, sampleCount - number * batchSize);
    }
  }

  private record Task(EpochRun run, int position, Buffers buffers, int datasetIndex) {}

  private void workerLoop() {
    SampleProcessor.Worker worker = processor.newWorker();
    float[] image = new float[size * size * 3];
    float[] mask = new float[size * size];
    Task task;
    while ((task = nextTask()) != null) {
      long start = cpuNanos();
      RuntimeException failure = null;
      SamplePair pair = index.pairs().get(task.datasetIndex());
      try {
        RgbImage rgb = readImage(pair);
        Mask binary = readMask(pair);
        worker.process(rgb, binary, seed, task.run().epoch, task.datasetIndex(), image, mask);
        int slot = task.position() % batchSize;
        task.buffers().images.put(slot * image.length, image, 0, image.length);
        task.buffers().masks.put(slot * mask.length, mask, 0, mask.length);
        task.buffers().sampleIndices[slot] = task.datasetIndex();
      } catch (DatasetException e) {
        failure = e;
      } catch (RuntimeException | Error e) {
        failure = new IllegalStateException("loader failed on " + pair.image() + ": " + e, e);
      }
      finished(task, cpuNanos() - start, failure);
    }
  }

  /**
   * CPU time of the calling thread: per-core throughput stays meaningful on a busy machine, where
   * wall time would also count the time other processes held the core.
   */
  private static long cpuNanos() {
    return THREADS.isCurrentThreadCpuTimeSupported()
        ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
  }

  /** Decodes a pair's image; a file that went bad since validation names itself. */
  private static RgbImage readImage(SamplePair pair) {
    try {
      return ImageDecoder.readRgb(pair.image());
    } catch (ImageDecodeException e) {
      throw new DatasetException(new BadInput(pair.image(), e.reason()));
    }
  }

  private static Mask readMask(SamplePair pair) {
    try {
      return ImageDecoder.readMask(pair.mask());
    } catch (ImageDecodeException e) {
      throw new DatasetException(new BadInput(pair.mask(), e.reason()));
    }
  }

  private Task nextTask() {
    synchronized (lock) {
      while (!closed) {
        EpochRun run = current;
        if (run != null && !run.cancelled && run.failure == null
            && run.nextPosition < run.sampleCount) {
          int number = run.nextPosition / batchSize;
          if (run.slots[number] == null) {
            if (pool.isEmpty()) {
              if (!waitOnLock()) {
                return null;
              }
              continue;
            }
            run.slots[number] = pool.pop();
          }
          int position = run.nextPosition++;
          run.inFlight++;
          return new Task(run, position, run.slots[number], run.order[position]);
        }
        if (!waitOnLock()) {
          return null;
        }
      }
      return null;
    }
  }

  private void finished(Task task, long busyNanos, RuntimeException failure) {
    synchronized (lock) {
      EpochRun run = task.run();
      run.inFlight--;
      run.busyNanos += busyNanos;
      if (failure != null) {
        if (run.failure == null) {
          run.failure = failure;
        }
      } else {
        run.done[task.position() / batchSize]++;
        run.samplesDone++;
        run.lastDoneNanos = System.nanoTime();
      }
      lock.notifyAll();
    }
  }

  /** Cancels a run: closes its last batch, waits for in-flight samples, returns all buffers. */
  private void cancel(EpochRun run) {
    run.cancelled = true;
    if (run.lent != null) {
      run.lent.close();
      run.lent = null;
    }
    while (run.inFlight > 0 && !closed) {
      waitOnLock();
    }
    for (int i = 0; i < run.slots.length; i++) {
      if (run.slots[i] != null) {
        pool.push(run.slots[i]);
        run.slots[i] = null;
      }
    }
    if (current == run) {
      current = null;
    }
    lock.notifyAll();
  }

  private void giveBack(Buffers buffers) {
    synchronized (lock) {
      pool.push(buffers);
      lock.notifyAll();
    }
  }

  /** Waits on the lock; false if interrupted (the interrupt flag is kept). */
  private boolean waitOnLock() {
    try {
      lock.wait();
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("loader is closed");
    }
  }

  /** Loader settings; batchSize is required, the rest have training defaults. */
  public static final class Builder {
    private final SplitIndex index;
    private final SampleProcessor processor;
    private int batchSize;
    private int threads = Runtime.getRuntime().availableProcessors();
    private long seed;
    private boolean shuffle = true;
    private boolean dropLast;
    private int prefetchBatches = -1;

    private Builder(SplitIndex index, SampleProcessor processor) {
      this.index = index;
      this.processor = processor;
    }

    public Builder batchSize(int value) {
      batchSize = value;
      return this;
    }

    /** Worker threads (default: available processors). */
    public Builder threads(int value) {
      threads = value;
      return this;
    }

    public Builder seed(long value) {
      seed = value;
      return this;
    }

    /** Shuffle each epoch by (seed, epoch) (default true; false for validation and test). */
    public Builder shuffle(boolean value) {
      shuffle = value;
      return this;
    }

    /**
     * Drop the last partial batch (default false, like the reference code's PyTorch DataLoader,
     * which leaves drop_last at False).
     */
    public Builder dropLast(boolean value) {
      dropLast = value;
      return this;
    }

    /** Batches the workers may finish ahead of the consumer (default: threads + 1). */
    public Builder prefetchBatches(int value) {
      prefetchBatches = value;
      return this;
    }

    public BatchLoader build() {
      if (batchSize < 1) {
        throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
      }
      if (threads < 1) {
        throw new IllegalArgumentException("threads must be at least 1, got " + threads);
      }
      if (prefetchBatches < 0) {
        prefetchBatches = threads + 1;
      }
      if (prefetchBatches < 1) {
        throw new IllegalArgumentException("prefetchBatches must be at least 1");
      }
      if (dropLast && index.size() < batchSize) {
        throw new IllegalArgumentException("dropLast with " + index.size()
            + " samples and batch size " + batchSize + " leaves no batch");
      }
      return new BatchLoader(this);
    }
  }
}
