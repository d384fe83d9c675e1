package org.effiseg.cli;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.effiseg.api.Prediction;
import org.effiseg.api.Segmenter;
import org.effiseg.data.ImageDecoder;
import org.effiseg.eval.MaskFiles;
import org.effiseg.util.AtomicFiles;
import org.effiseg.util.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code effiseg predict}: binary mask PNGs (and optionally probability maps and overlays) for images. */
@Command(
    name = "predict",
    sortOptions = false,
    description = {
      "Segment images with a trained checkpoint.",
      "Writes OUT/<name>.png (0/255 mask at the image's original size) for every image;"
          + " folders are searched for images (not recursively). Two inputs that would write the"
          + " same file (a/0.jpg and b/0.jpg, 0.jpg and 0.png) are refused, as is an OUT that is"
          + " or holds an input; each file is written whole or not at all."
    })
final class PredictCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A checkpoint from effiseg train.")
  Path checkpoint;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the masks (created if missing).")
  Path out;

  @Option(names = "--probabilities", description = "Also write <name>_prob.png, the probability map (0…255).")
  boolean probabilities;

  @Option(names = "--overlays", description = "Also write <name>_overlay.png, the image with the prediction drawn on it.")
  boolean overlays;

  @Mixin SharedOptions.DeviceOption device;
  @Mixin SharedOptions.ThreadsOption threads;
  @Mixin SharedOptions.TtaOption tta;

  @Parameters(arity = "1..*", paramLabel = "IMAGE_OR_DIR", description = "Image files or folders of images.")
  List<Path> inputs;

  @Override
  public Integer call() throws IOException {
    int threadCount = threads.checked();
    List<Path> images = collect(inputs);
    checkOutputFolder(images);
    Map<Path, Path> outputs = outputNames(images);
    Files.createDirectories(out);
    // what a killed predict of these images left half-written
    AtomicFiles.removeStaleTemporaries(out,
        outputs.keySet().stream().map(p -> p.getFileName().toString()).toList());
    try (Segmenter segmenter = Segmenter.builder(checkpoint).device(device.device).threads(threadCount)
        .tta(tta.tta).build()) {
      System.err.println("model: " + segmenter);
      ProgressBar bar = new ProgressBar(System.err, "predicting", images.size());
      int done = 0;
      for (Path file : images) {
        BufferedImage image = ImageDecoder.readRgb(file).toBufferedImage();
        Prediction p = segmenter.predict(image);
        String name = MaskFiles.stem(file);
        writePng(p.maskImage(), out.resolve(name + ".png"));
        if (probabilities) {
          writePng(p.probabilityImage(), out.resolve(name + "_prob.png"));
        }
        if (overlays) {
          writePng(p.overlay(image), out.resolve(name + "_overlay.png"));
        }
        bar.update(++done, String.format(Locale.ROOT, "%s: %.1f%% polyp", file.getFileName(), 100 * p.polypFraction()));
      }
    }
    System.err.println("wrote " + outputs.size() + " file(s) for " + images.size() + " image(s) to " + out);
    return 0;
  }

  /** --out must be a folder (or not exist yet) and must neither be an input nor hold one. */
  private void checkOutputFolder(List<Path> images) throws IOException {
    if (Files.exists(out) && !Files.isDirectory(out)) {
      throw new IllegalArgumentException("--out " + out + " is a file; it must be a folder for the masks");
    }
    Path outFolder = canonical(out);
    for (Path input : inputs) {
      if (canonical(input).equals(outFolder)) {
        throw new IllegalArgumentException("--out " + out + " is the input folder " + input
            + "; its images would be overwritten by masks: choose another folder");
      }
    }
    for (Path image : images) {
      if (canonical(image).getParent().equals(outFolder)) {
        throw new IllegalArgumentException("--out " + out + " holds the input " + image
            + ", which a mask could overwrite: choose another folder");
      }
    }
  }

  /** Every file this run writes, mapped to the image it comes from; refuses any clash. */
  private Map<Path, Path> outputNames(List<Path> images) {
    Map<Path, Path> writer = new LinkedHashMap<>();
    for (Path image : images) {
      String stem = MaskFiles.stem(image);
      List<String> names = new ArrayList<>(List.of(stem + ".png"));
      if (probabilities) {
        names.add(stem + "_prob.png");
      }
      if (overlays) {
        names.add(stem + "_overlay.png");
      }
      for (String name : names) {
        Path earlier = writer.putIfAbsent(out.resolve(name), image);
        if (earlier != null) {
          throw new IllegalArgumentException(earlier + " and " + image + " would both write "
              + out.resolve(name) + "; predict them into different --out folders");
        }
      }
    }
    return writer;
  }

  private static Path canonical(Path path) throws IOException {
    Path absolute = path.toAbsolutePath().normalize();
    return Files.exists(absolute) ? absolute.toRealPath() : absolute;
  }

  private static void writePng(BufferedImage image, Path file) throws IOException {
    AtomicFiles.write(file, o -> {
      if (!ImageIO.write(image, "png", o)) {
        throw new IOException("no PNG writer available");
      }
    });
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
