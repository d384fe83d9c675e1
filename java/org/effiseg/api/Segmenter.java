package org.effiseg.api;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.augment.Sample;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.Mask;
import org.effiseg.data.RgbImage;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.train.Devices;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;

/**
 * A trained EffiSegNet, ready to segment polyps in colonoscopy images:
 *
 * <pre>{@code
 * try (Segmenter segmenter = Segmenter.load(Path.of("runs/quick/best.safetensors"))) {
 *   Prediction p = segmenter.predict(ImageIO.read(new File("frame.jpg")));
 *   ImageIO.write(p.maskImage(), "png", new File("frame-mask.png"));
 * }
 * }</pre>
 *
 * <p>Images of any size are resized to the model's resolution (Lanczos-4, as in training), and
 * the probabilities are resized back (bilinear) to the image's size. Thread-safe: calls are
 * serialised on the one native context; use one Segmenter per thread for parallel inference.
 * Close it to release native (and GPU) memory.
 */
public final class Segmenter implements AutoCloseable {
  private final Context ctx;
  private final EffiSegNet model;
  private final AugmentPipeline preprocessing;
  private final int size;
  private final float cutoff;
  private final String description;

  private Segmenter(Context ctx, EffiSegNet model, int size, double thresholdLogit, String description) {
    this.ctx = ctx;
    this.model = model;
    this.size = size;
    this.preprocessing = new AugmentPipeline(AugmentPresets.NONE, size);
    this.cutoff = (float) (1 / (1 + Math.exp(-thresholdLogit)));
    this.description = description;
  }

  /** Loads a checkpoint written by {@code effiseg train} on the best device available. */
  public static Segmenter load(Path checkpoint) throws IOException {
    return load(checkpoint, "auto", 0);
  }

  /**
   * Loads a checkpoint on {@code device} ("cpu", "cuda" or "auto") with {@code threads} CPU
   * threads (0: all cores). The threshold is the one the model was trained with.
   */
  public static Segmenter load(Path checkpoint, String device, int threads) throws IOException {
    Checkpoint c = Checkpoint.read(checkpoint);
    TrainConfig config = TrainConfig.fromJson(c.configJson());
    int size = config.resolution();
    Context ctx = Devices.open(device, threads);
    try {
      EffiSegNet model = EffiSegNet.create(ctx, config.modelConfig());
      model.loadStateDict(c.model(), true);
      return new Segmenter(ctx, model, size, config.thresholdLogit,
          "EffiSegNet-" + config.encoderVariant().name() + " " + size + "x" + size + " (" + checkpoint + ", epoch " + c.epoch() + ")");
    } catch (RuntimeException | Error e) {
      ctx.close();
      throw e;
    }
  }

  /** The square resolution the model runs at. */
  public int inputSize() {
    return size;
  }

  /** The probability above which a pixel is polyp. */
  public float threshold() {
    return cutoff;
  }

  @Override
  public String toString() {
    return description + " on " + ctx;
  }

  /** Segments one image (RGB; grey is replicated, alpha ignored). */
  public Prediction predict(BufferedImage image) {
    return predict(List.of(image)).get(0);
  }

  /** Segments an image file (any format ImageIO reads). */
  public Prediction predict(Path imageFile) throws IOException {
    RgbImage rgb = ImageDecoder.readRgb(imageFile);
    return predictRgb(List.of(rgb)).get(0);
  }

  /** Segments several images in one batch. */
  public List<Prediction> predict(List<BufferedImage> images) {
    List<RgbImage> rgb = new ArrayList<>(images.size());
    for (BufferedImage image : images) {
      rgb.add(ImageDecoder.toRgb(image));
    }
    return predictRgb(rgb);
  }

  /** Probability maps at the model's resolution, [n][size*size], for images already decoded. */
  public synchronized float[][] probabilitiesAtModelSize(List<RgbImage> images) {
    int n = images.size();
    int per = size * size;
    float[] input = new float[n * per * 3];
    float[] image = new float[per * 3];
    float[] ignoredMask = new float[per];
    Sample sample = preprocessing.newSample();
    for (int i = 0; i < n; i++) {
      RgbImage rgb = images.get(i);
      preprocessing.prepare(rgb, new Mask(rgb.width(), rgb.height(), new byte[rgb.width() * rgb.height()]),
          0, 0, i, sample);
      preprocessing.normalize(sample, image, ignoredMask);
      System.arraycopy(image, 0, input, i * per * 3, per * 3);
    }
    float[] logits;
    try (Tensor x = ctx.tensor(input, n, size, size, 3);
        Tensor y = model.forward(x, false)) {
      model.closeAuxLogits();
      logits = y.read();
    }
    float[][] out = new float[n][per];
    for (int i = 0; i < n; i++) {
      for (int p = 0; p < per; p++) {
        out[i][p] = (float) (1 / (1 + Math.exp(-logits[i * per + p])));
      }
    }
    return out;
  }

  private List<Prediction> predictRgb(List<RgbImage> images) {
    float[][] probabilities = probabilitiesAtModelSize(images);
    List<Prediction> out = new ArrayList<>(images.size());
    for (int i = 0; i < images.size(); i++) {
      RgbImage rgb = images.get(i);
      out.add(new Prediction(rgb.width(), rgb.height(),
          Bilinear.resize(probabilities[i], size, size, rgb.width(), rgb.height()), cutoff));
    }
    return out;
  }

  @Override
  public synchronized void close() {
    model.close();
    ctx.close();
  }
}
