package org.effiseg.api;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.augment.Mirror;
import org.effiseg.augment.Sample;
import org.effiseg.data.ImageDecodeException;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.Mask;
import org.effiseg.data.RgbImage;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Devices;
import org.effiseg.nativeapi.EffisegException;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.weights.Checkpoint;
import org.effiseg.weights.CheckpointModel;
import org.effiseg.weights.WeightsFormatException;

/**
 * A trained EffiSegNet, ready to segment polyps in colonoscopy images:
 *
 * <pre>{@code
 * try (Segmenter segmenter = Segmenter.builder(Path.of("runs/quick/best.safetensors"))
 *     .device(Device.CPU).threads(2).build()) {
 *   Prediction p = segmenter.predict(ImageIO.read(new File("frame.jpg")));
 *   ImageIO.write(p.maskImage(), "png", new File("frame-mask.png"));
 * }
 * }</pre>
 *
 * <p>Images of any size are resized to the model's resolution (Lanczos-4, as in training), and
 * the probabilities are resized back (bilinear) to the image's size. With {@link Tta#FLIP} the
 * probabilities at the model's resolution are the mean over the image and its three mirror images
 * (left-right, top-bottom, both; each mirrored back) before that resize and the threshold.
 *
 * <p>Thread-safe: calls from several threads are serialised on the segmenter's one native
 * context (for parallel inference, build one segmenter per thread). Close it to release native
 * (and GPU) memory; every call after {@link #close()} throws {@link SegmenterClosedException}.
 */
public final class Segmenter implements AutoCloseable {
  private final Context ctx;
  private final EffiSegNet model;
  private final AugmentPipeline preprocessing;
  private final int size;
  private final float cutoff;
  private final Tta tta;
  private final String description;
  private boolean closed;

  private Segmenter(Context ctx, EffiSegNet model, CheckpointModel spec, Tta tta, String description) {
    this.ctx = ctx;
    this.model = model;
    this.size = spec.imageSize();
    this.preprocessing = new AugmentPipeline(AugmentPresets.NONE, size);
    this.cutoff = spec.probabilityThreshold();
    this.tta = tta;
    this.description = description;
  }

  /** Settings for a {@link Segmenter}: the device, the CPU thread count and test-time augmentation. */
  public static final class Builder {
    private final Path checkpoint;
    private Device device = Device.AUTO;
    private int threads = 0;
    private Tta tta = Tta.NONE;

    private Builder(Path checkpoint) {
      this.checkpoint = Objects.requireNonNull(checkpoint, "checkpoint");
    }

    /**
     * Where to run (default {@link Device#AUTO}).
     *
     * @param device the device
     * @return this builder
     */
    public Builder device(Device device) {
      this.device = Objects.requireNonNull(device, "device");
      return this;
    }

    /**
     * CPU threads (default 0: all cores).
     *
     * @param threads 0 for all cores, else the thread count
     * @return this builder
     * @throws IllegalArgumentException if {@code threads} is negative or above 4 × the cores
     */
    public Builder threads(int threads) {
      int max = 4 * Runtime.getRuntime().availableProcessors();
      if (threads < 0 || threads > max) {
        throw new IllegalArgumentException("threads must be 0 (all cores) … " + max + ", got " + threads);
      }
      this.threads = threads;
      return this;
    }

    /**
     * Test-time augmentation (default {@link Tta#NONE}). {@link Tta#FLIP} runs four views of
     * each image: the image, its left-right, top-bottom and both-ways mirror images.
     *
     * @param tta the views to average
     * @return this builder
     */
    public Builder tta(Tta tta) {
      this.tta = Objects.requireNonNull(tta, "tta");
      return this;
    }

    /**
     * Loads the checkpoint onto the device.
     *
     * @return a segmenter, the caller's to close
     * @throws IOException if the file cannot be read
     * @throws InvalidCheckpointException if it is not an effiseg checkpoint or does not fit the
     *     network its configuration names
     * @throws DeviceUnavailableException if the device cannot be used here
     * @throws SegmentationException if the engine fails otherwise (e.g. out of memory)
     */
    public Segmenter build() throws IOException {
      Checkpoint c;
      CheckpointModel spec;
      try {
        c = Checkpoint.read(checkpoint);
        spec = CheckpointModel.of(c, checkpoint);
      } catch (WeightsFormatException e) {
        throw new InvalidCheckpointException(e.getMessage(), e);
      }
      Context ctx = openContext();
      try {
        EffiSegNet model = EffiSegNet.create(ctx, spec.network());
        try {
          model.loadStateDict(c.model(), true);
        } catch (IllegalArgumentException e) {
          throw new InvalidCheckpointException(checkpoint + ": " + e.getMessage(), e);
        }
        return new Segmenter(ctx, model, spec, tta, "EffiSegNet-" + spec.variant().name() + " "
            + spec.imageSize() + "x" + spec.imageSize() + " (" + checkpoint + ", epoch " + c.epoch() + ")"
            + (tta == Tta.NONE ? "" : ", test-time augmentation " + tta.cliName()));
      } catch (EffisegException e) {
        ctx.close();
        throw new SegmentationException(checkpoint + ": " + e.getMessage(), e);
      } catch (RuntimeException | Error e) {
        ctx.close();
        throw e;
      }
    }

    private Context openContext() {
      try {
        return Devices.open(device.cliName(), threads);
      } catch (EffisegException e) {
        if (e.status() == EffisegException.Status.BACKEND_UNAVAILABLE) {
          throw new DeviceUnavailableException(e.getMessage(), e);
        }
        throw new SegmentationException("cannot open device " + device + ": " + e.getMessage(), e);
      }
    }
  }

  /**
   * Settings for loading a checkpoint.
   *
   * @param checkpoint a {@code best.safetensors} or {@code last.safetensors} of {@code effiseg train}
   * @return a builder with the defaults: {@link Device#AUTO}, all cores, {@link Tta#NONE}
   */
  public static Builder builder(Path checkpoint) {
    return new Builder(checkpoint);
  }

  /**
   * Loads a checkpoint on the best device available, with all cores: {@code builder(checkpoint).build()}.
   *
   * @param checkpoint a checkpoint written by {@code effiseg train}
   * @return a segmenter, the caller's to close
   * @throws IOException if the file cannot be read
   * @throws InvalidCheckpointException if it is not a usable effiseg checkpoint
   * @throws SegmentationException if the engine fails otherwise
   */
  public static Segmenter load(Path checkpoint) throws IOException {
    return builder(checkpoint).build();
  }

  /**
   * The square resolution the model runs at.
   *
   * @return the side in pixels, e.g. 224 for the quick preset
   */
  public int inputSize() {
    return size;
  }

  /**
   * The probability above which a pixel is polyp (the threshold the model was trained with).
   *
   * @return the threshold, in (0, 1)
   */
  public float threshold() {
    return cutoff;
  }

  /**
   * The test-time augmentation this segmenter applies.
   *
   * @return the mode it was built with
   */
  public Tta tta() {
    return tta;
  }

  @Override
  public String toString() {
    return description + " on " + ctx;
  }

  /**
   * Segments one image (RGB; grey is replicated, alpha ignored).
   *
   * @param image the image, any size
   * @return the prediction at the image's size
   * @throws InvalidImageException if the image is empty or of a kind that cannot be read as RGB
   * @throws SegmenterClosedException after {@link #close()}
   * @throws SegmentationException if the engine fails (e.g. out of memory)
   */
  public Prediction predict(BufferedImage image) {
    return predict(List.of(image)).get(0);
  }

  /**
   * Segments an image file (any format ImageIO reads).
   *
   * @param imageFile the image
   * @return the prediction at the image's size
   * @throws IOException if the file cannot be read
   * @throws InvalidImageException if it is not a decodable image (the message names the file)
   * @throws SegmenterClosedException after {@link #close()}
   * @throws SegmentationException if the engine fails (e.g. out of memory)
   */
  public Prediction predict(Path imageFile) throws IOException {
    RgbImage rgb;
    try {
      rgb = ImageDecoder.readRgb(imageFile);
    } catch (ImageDecodeException e) {
      throw new InvalidImageException(e.getMessage(), e);
    }
    return atImageSize(List.of(rgb), probabilities(List.of(rgb))).get(0);
  }

  /**
   * Segments several images in one batch.
   *
   * @param images the images, any sizes
   * @return one prediction per image, in the images' order, each at its image's size
   * @throws InvalidImageException if an image is empty or cannot be read as RGB
   * @throws SegmenterClosedException after {@link #close()}
   * @throws SegmentationException if the engine fails (e.g. out of memory)
   */
  public List<Prediction> predict(List<BufferedImage> images) {
    List<RgbImage> rgb = toRgb(images);
    return atImageSize(rgb, probabilities(rgb));
  }

  /**
   * The polyp probabilities at the model's own resolution, one row-major {@code [size*size]} map
   * per image, before they are resized back: what scoring at the model's resolution (as the
   * reference code does) needs. With {@link Tta#FLIP}, the mean over the four views.
   *
   * @param images the images, any sizes
   * @return one row-major {@code [inputSize() * inputSize()]} probability map per image
   * @throws InvalidImageException if an image is empty or cannot be read as RGB
   * @throws SegmenterClosedException after {@link #close()}
   * @throws SegmentationException if the engine fails (e.g. out of memory)
   */
  public float[][] probabilitiesAtModelSize(List<BufferedImage> images) {
    return probabilities(toRgb(images));
  }

  private static List<RgbImage> toRgb(List<BufferedImage> images) {
    List<RgbImage> rgb = new ArrayList<>(images.size());
    for (int i = 0; i < images.size(); i++) {
      BufferedImage image = Objects.requireNonNull(images.get(i), "image " + i);
      if (image.getWidth() < 1 || image.getHeight() < 1) {
        throw new InvalidImageException("image " + i + " is empty (" + image.getWidth() + "x" + image.getHeight() + ")");
      }
      try {
        rgb.add(ImageDecoder.toRgb(image));
      } catch (IllegalArgumentException e) {
        throw new InvalidImageException("image " + i + ": " + e.getMessage(), e);
      }
    }
    return rgb;
  }

  private synchronized float[][] probabilities(List<RgbImage> images) {
    if (closed) {
      throw new SegmenterClosedException("this segmenter (" + description + ") is closed");
    }
    int n = images.size();
    int per = size * size;
    int views = tta == Tta.FLIP ? 4 : 1;
    // view v of image i at (v * n + i): the images, then (FLIP) their left-right mirrors, their
    // top-bottom mirrors and their mirrors both ways, each normalised exactly as the image itself
    float[] input = new float[views * n * per * 3];
    float[] image = new float[per * 3];
    float[] ignoredMask = new float[per];
    Sample sample = preprocessing.newSample();
    for (int i = 0; i < n; i++) {
      RgbImage rgb = images.get(i);
      preprocessing.prepare(rgb, new Mask(rgb.width(), rgb.height(), new byte[rgb.width() * rgb.height()]),
          0, 0, i, sample);
      preprocessing.normalize(sample, image, ignoredMask);
      System.arraycopy(image, 0, input, i * per * 3, per * 3);
      if (tta == Tta.FLIP) {
        Mirror.columns(sample.rgb(), size, size, 3); // left-right
        preprocessing.normalize(sample, image, ignoredMask);
        System.arraycopy(image, 0, input, (n + i) * per * 3, per * 3);
        Mirror.rows(sample.rgb(), size * 3, size); // both ways
        preprocessing.normalize(sample, image, ignoredMask);
        System.arraycopy(image, 0, input, (3 * n + i) * per * 3, per * 3);
        Mirror.columns(sample.rgb(), size, size, 3); // top-bottom
        preprocessing.normalize(sample, image, ignoredMask);
        System.arraycopy(image, 0, input, (2 * n + i) * per * 3, per * 3);
      }
    }
    float[] logits = logits(input, views * n);
    float[][] out = new float[n][per];
    for (int i = 0; i < n; i++) {
      if (tta == Tta.NONE) {
        for (int p = 0; p < per; p++) {
          out[i][p] = sigmoid(logits[i * per + p]);
        }
        continue;
      }
      int identity = i * per;
      int leftRight = (n + i) * per;
      int topBottom = (2 * n + i) * per;
      int bothWays = (3 * n + i) * per;
      for (int y = 0, p = 0; y < size; y++) {
        int mirrorY = size - 1 - y;
        for (int x = 0; x < size; x++, p++) {
          int mirrorX = size - 1 - x;
          // each mirrored view's pixel (x, y) sits at its mirror position
          double sum = (double) sigmoid(logits[identity + p])
              + sigmoid(logits[leftRight + y * size + mirrorX])
              + sigmoid(logits[topBottom + mirrorY * size + x])
              + sigmoid(logits[bothWays + mirrorY * size + mirrorX]);
          out[i][p] = (float) (sum / 4);
        }
      }
    }
    return out;
  }

  /** The network's logits for a batch of {@code n} normalised NHWC inputs. */
  private float[] logits(float[] input, int n) {
    try (Tensor x = ctx.tensor(input, n, size, size, 3);
        Tensor y = model.forward(x, false)) {
      model.closeAuxLogits();
      return y.read();
    } catch (EffisegException e) {
      throw new SegmentationException("segmenting " + n + " image(s) on " + ctx + ": " + e.getMessage(), e);
    }
  }

  private static float sigmoid(float logit) {
    return (float) (1 / (1 + Math.exp(-logit)));
  }

  private List<Prediction> atImageSize(List<RgbImage> images, float[][] probabilities) {
    List<Prediction> out = new ArrayList<>(images.size());
    for (int i = 0; i < images.size(); i++) {
      RgbImage rgb = images.get(i);
      out.add(new Prediction(rgb.width(), rgb.height(),
          Bilinear.resize(probabilities[i], size, size, rgb.width(), rgb.height()), cutoff));
    }
    return out;
  }

  /** Releases the model's native (and GPU) memory; closing twice is harmless. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      model.close();
    } finally {
      ctx.close();
    }
  }
}
