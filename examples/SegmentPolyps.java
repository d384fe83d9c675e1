// Embedding effiseg in a Java application: segment colonoscopy frames with a trained checkpoint.
//
// Run it straight from source (Java 11+ single-file launch) with the shaded jar on the class path:
//   java -cp target/effiseg.jar examples/SegmentPolyps.java runs/quick/best.safetensors out/ \
//       ../shared/data/kvasir-seg/test/images/0.jpg
import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.effiseg.api.Device;
import org.effiseg.api.Prediction;
import org.effiseg.api.SegmentationException;
import org.effiseg.api.Segmenter;

public class SegmentPolyps {
  public static void main(String[] args) throws Exception {
    if (args.length < 3) {
      System.err.println("usage: SegmentPolyps CHECKPOINT OUT_DIR IMAGE...");
      System.exit(2);
    }
    Path outDir = Files.createDirectories(Path.of(args[1]));
    // One Segmenter per process is enough: it is thread-safe, and closing it frees native memory.
    // Device.AUTO takes a GPU where CUDA is usable; threads(0) uses every core.
    try (Segmenter segmenter = Segmenter.builder(Path.of(args[0])).device(Device.AUTO).threads(0).build()) {
      for (int i = 2; i < args.length; i++) {
        File file = new File(args[i]);
        BufferedImage frame = ImageIO.read(file);
        if (frame == null) {
          System.err.println(file + ": not an image ImageIO can read; skipped");
          continue;
        }
        Prediction prediction;
        try {
          prediction = segmenter.predict(frame);
        } catch (SegmentationException e) { // bad input, engine failure: one line, go on
          System.err.println(file + ": " + e.getMessage());
          continue;
        }
        String name = file.getName().replaceFirst("\\.[^.]*$", "");
        ImageIO.write(prediction.maskImage(), "png", outDir.resolve(name + "-mask.png").toFile());
        ImageIO.write(prediction.overlay(frame), "png", outDir.resolve(name + "-overlay.png").toFile());
        System.out.printf("%s: %.1f%% of the frame is polyp%n", file, 100 * prediction.polypFraction());
      }
    }
  }
}
