package org.effiseg.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * A small Kvasir-SEG for tests: the first pairs of each split of the shared dataset (by file
 * name), copied into a temporary folder, so that opening, training and scoring stay quick.
 */
public final class MiniKvasir {
  /** The shared dataset ({@code -Deffiseg.shared}, default ../shared). */
  public static final Path SHARED =
      Path.of(System.getProperty("effiseg.shared", "../shared"), "data", "kvasir-seg");

  private MiniKvasir() {}

  /** Copies {@code train}, {@code validation} and {@code test} pairs into {@code root}. */
  public static Path create(Path root, int train, int validation, int test) throws IOException {
    copy(root, "train", train);
    copy(root, "validation", validation);
    copy(root, "test", test);
    return root;
  }

  private static void copy(Path root, String split, int n) throws IOException {
    List<Path> images;
    try (Stream<Path> list = Files.list(SHARED.resolve(split).resolve("images"))) {
      images = list.sorted().limit(n).toList();
    }
    Files.createDirectories(root.resolve(split).resolve("images"));
    Files.createDirectories(root.resolve(split).resolve("masks"));
    for (Path image : images) {
      String name = image.getFileName().toString();
      Files.copy(image, root.resolve(split).resolve("images").resolve(name));
      Files.copy(SHARED.resolve(split).resolve("masks").resolve(name),
          root.resolve(split).resolve("masks").resolve(name));
    }
  }
}
