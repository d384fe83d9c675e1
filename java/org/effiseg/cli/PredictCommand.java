package org.effiseg.cli;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.effiseg.api.Device;
import org.effiseg.api.Prediction;
import org.effiseg.api.Segmenter;
import org.effiseg.data.ImageDecoder;
import org.effiseg.eval.MaskFiles;
import org.effiseg.util.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code effiseg predict}: binary mask PNGs (and optionally probability maps and overlays) for images. */
@Command(
    name = "predict",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    sortOptions = false,
    description = {
      "Segment images with a trained checkpoint.",
      "Writes OUT/<name>.png (0/255 mask at the image's original size) for every image;"
          + " folders are searched for images (not recursively)."
    })
final class PredictCommand implements Callable<Integer> {
  @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A checkpoint from effiseg train.")
  Path checkpoint;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the masks (created if missing).")
  Path out;

  @Option(names = "--probabilities", description = "Also write <name>_prob.png, the probability map (0…255).")
  boolean probabilities;

  @Option(names = "--overlays", description = "Also write <name>_overlay.png, the image with the prediction drawn on it.")
  boolean overlays;

  @Option(names = "--device", defaultValue = "auto", description = "cpu, cuda or auto (default: ${DEFAULT-VALUE}).")
  String device;

  @Option(names = "--threads", defaultValue = "0", description = "CPU threads (0: all cores).")
  int threads;

  @Parameters(arity = "1..*", paramLabel = "IMAGE_OR_DIR", description = "Image files or folders of images.")
  List<Path> inputs;

  @Override
  public Integer call() throws IOException {
    List<Path> images = collect(inputs);
    Files.createDirectories(out);
    try (Segmenter segmenter = Segmenter.builder(checkpoint).device(Device.parse(device)).threads(threads).build()) {
      System.err.println("model: " + segmenter);
      ProgressBar bar = new ProgressBar(System.err, "predicting", images.size());
      int done = 0;
      for (Path file : images) {
        BufferedImage image = ImageIO.read(file.toFile());
        if (image == null) {
          throw new IOException(file + ": not an image ImageIO can read");
        }
        Prediction p = segmenter.predict(image);
        String name = MaskFiles.stem(file);
        ImageIO.write(p.maskImage(), "png", out.resolve(name + ".png").toFile());
        if (probabilities) {
          ImageIO.write(p.probabilityImage(), "png", out.resolve(name + "_prob.png").toFile());
        }
        if (overlays) {
          ImageIO.write(p.overlay(image), "png", out.resolve(name + "_overlay.png").toFile());
        }
        bar.update(++done, String.format(Locale.ROOT, "%s: %.1f%% polyp", file.getFileName(), 100 * p.polypFraction()));
      }
    }
    System.err.println("wrote " + images.size() + " mask(s) to " + out);
    return 0;
  }

  private static List<Path> collect(List<Path> inputs) throws IOException {
    List<Path> files = new ArrayList<>();
    for (Path input : inputs) {
      if (Files.isDirectory(input)) {
        try (Stream<Path> list = Files.list(input)) {
          list.filter(Files::isRegularFile)
              .filter(f -> ImageDecoder.IMAGE_EXTENSIONS.contains(ImageDecoder.extensionOf(f.getFileName().toString())))
              .sorted()
              .forEach(files::add);
        }
      } else if (Files.isRegularFile(input)) {
        files.add(input);
      } else {
        throw new IOException(input + ": no such file or folder");
      }
    }
    if (files.isEmpty()) {
      throw new IOException("no images found in " + inputs);
    }
    return files;
  }
}
