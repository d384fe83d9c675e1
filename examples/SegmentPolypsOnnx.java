// Deploying an exported EffiSegNet with ONNX Runtime in Java — no effiseg needed at run time: the
// model's metadata says the input size, the normalisation and the threshold; this program
// resizes each frame (Lanczos-4, as effiseg does), normalises it, runs the model and writes the
// mask at the frame's size.
//
//   java -jar target/effiseg.jar export --checkpoint runs/quick/best.safetensors --out model.onnx
//   java -cp onnxruntime-1.23.2.jar examples/SegmentPolypsOnnx.java model.onnx out/ \
//       ../shared/data/kvasir-seg/test/images/0.jpg
//
// (onnxruntime-1.23.2.jar: Maven Central, com.microsoft.onnxruntime:onnxruntime; it carries the
// native library for Linux, macOS and Windows.)
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;

public class SegmentPolypsOnnx {
  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: SegmentPolypsOnnx MODEL.onnx OUT_DIR IMAGE...");
      System.exit(2);
    }
    Path outDir = Files.createDirectories(Path.of(args[1]));
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        OrtSession session = env.createSession(args[0], options)) {
      Map<String, String> meta = session.getMetadata().getCustomMetadata();
      int size = Integer.parseInt(meta.get("image_size"));
      float[] mean = floats(meta.get("mean"));
      float[] std = floats(meta.get("std"));
      double cutoff = 1 / (1 + Math.exp(-Double.parseDouble(meta.get("threshold_logit"))));
      for (int i = 2; i < args.length; i++) {
        File file = new File(args[i]);
        BufferedImage frame = ImageIO.read(file);
        float[] input = preprocess(frame, size, mean, std);
        float[] logits;
        try (OnnxTensor image = OnnxTensor.createTensor(env, FloatBuffer.wrap(input), new long[] {1, 3, size, size});
            OrtSession.Result result = session.run(Map.of("image", image))) {
          FloatBuffer out = ((OnnxTensor) result.get("logits").orElseThrow()).getFloatBuffer();
          logits = new float[out.remaining()];
          out.get(logits);
        }
        // Probabilities, resized to the frame (bilinear, pixel centres aligned), then thresholded.
        float[] probability = new float[logits.length];
        for (int p = 0; p < logits.length; p++) {
          probability[p] = (float) (1 / (1 + Math.exp(-logits[p])));
        }
        int w = frame.getWidth();
        int h = frame.getHeight();
        float[] full = bilinear(probability, size, size, w, h);
        BufferedImage mask = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        int polyp = 0;
        for (int y = 0; y < h; y++) {
          for (int x = 0; x < w; x++) {
            boolean on = full[y * w + x] > cutoff;
            mask.getRaster().setSample(x, y, 0, on ? 255 : 0);
            polyp += on ? 1 : 0;
          }
        }
        String name = file.getName().replaceFirst("\\.[^.]*$", "");
        ImageIO.write(mask, "png", outDir.resolve(name + "-mask.png").toFile());
        System.out.printf("%s: %.1f%% of the frame is polyp%n", file, 100.0 * polyp / (w * h));
      }
    }
  }

  /**
   * The frame resized to size x size as [1,3,H,W] float32, each channel scaled to [0,1], minus its
   * mean, divided by its std. The resize is Lanczos-4 as OpenCV's INTER_LANCZOS4 computes it
   * (what effiseg trains and predicts on): 8 taps per axis around (d + 0.5) * in / out - 0.5,
   * edge pixels repeated, levels rounded to 0..255.
   */
  static float[] preprocess(BufferedImage frame, int size, float[] mean, float[] std) {
    int w = frame.getWidth();
    int h = frame.getHeight();
    int[] pixels = frame.getRGB(0, 0, w, h, null, 0, w);
    Taps columns = new Taps(w, size);
    Taps rows = new Taps(h, size);
    float[] nchw = new float[3 * size * size];
    double[] horizontal = new double[h * size];
    for (int c = 0; c < 3; c++) {
      int shift = 16 - 8 * c; // R, G, B in an ARGB int
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < size; x++) {
          double sum = 0;
          for (int k = 0; k < 8; k++) {
            sum += columns.weight[x * 8 + k] * ((pixels[y * w + columns.index[x * 8 + k]] >> shift) & 255);
          }
          horizontal[y * size + x] = sum;
        }
      }
      for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
          double sum = 0;
          for (int k = 0; k < 8; k++) {
            sum += rows.weight[y * 8 + k] * horizontal[rows.index[y * 8 + k] * size + x];
          }
          float level = (float) Math.max(0, Math.min(255, Math.rint(sum)));
          nchw[(c * size + y) * size + x] = (level / 255f - mean[c]) / std[c];
        }
      }
    }
    return nchw;
  }

  /** Lanczos-4 taps of one axis: for each output index, 8 source indices and their weights. */
  static final class Taps {
    final int[] index;
    final double[] weight;

    Taps(int in, int out) {
      index = new int[out * 8];
      weight = new double[out * 8];
      for (int d = 0; d < out; d++) {
        double position = (d + 0.5) * in / out - 0.5;
        int left = (int) Math.floor(position);
        double sum = 0;
        for (int k = 0; k < 8; k++) {
          double x = position - left + 3 - k; // distance from the sample point to tap left - 3 + k
          double v = Math.abs(x) < 1e-6 ? 1 : 4 * Math.sin(Math.PI * x) * Math.sin(Math.PI * x / 4) / (Math.PI * Math.PI * x * x);
          index[d * 8 + k] = Math.min(Math.max(left - 3 + k, 0), in - 1);
          weight[d * 8 + k] = v;
          sum += v;
        }
        for (int k = 0; k < 8; k++) {
          weight[d * 8 + k] /= sum;
        }
      }
    }
  }

  /** Bilinear resampling with pixel centres aligned (OpenCV's INTER_LINEAR). */
  static float[] bilinear(float[] src, int sw, int sh, int dw, int dh) {
    float[] dst = new float[dw * dh];
    for (int y = 0; y < dh; y++) {
      double fy = Math.max((y + 0.5) * sh / dh - 0.5, 0);
      int y0 = Math.min((int) fy, sh - 1);
      int y1 = Math.min(y0 + 1, sh - 1);
      double wy = Math.min(fy - y0, 1);
      for (int x = 0; x < dw; x++) {
        double fx = Math.max((x + 0.5) * sw / dw - 0.5, 0);
        int x0 = Math.min((int) fx, sw - 1);
        int x1 = Math.min(x0 + 1, sw - 1);
        double wx = Math.min(fx - x0, 1);
        double top = src[y0 * sw + x0] * (1 - wx) + src[y0 * sw + x1] * wx;
        double bottom = src[y1 * sw + x0] * (1 - wx) + src[y1 * sw + x1] * wx;
        dst[y * dw + x] = (float) (top * (1 - wy) + bottom * wy);
      }
    }
    return dst;
  }

  static float[] floats(String commaSeparated) {
    String[] parts = commaSeparated.split(",");
    float[] v = new float[parts.length];
    for (int i = 0; i < parts.length; i++) {
      v[i] = Float.parseFloat(parts[i]);
    }
    return v;
  }
}
