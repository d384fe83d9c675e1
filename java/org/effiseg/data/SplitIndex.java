// The validated image/mask pairs of one split, built by checking every file before training starts.
//
// Validation lists images/ and masks/, pairs files by stem, then fully decodes every image and mask
// (a truncated JPEG only shows itself when decoded) and checks that each pair has the same size.
// Every problem is collected, so one run reports all of them. With BadInputPolicy.FAIL any problem
// throws a DatasetException naming each file; with SKIP_BAD the bad pairs are left out and listed
// in quarantined(). Nothing is ever written into the dataset folder.
package org.effiseg.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/** The usable pairs of one split, in a fixed order (natural order of their stems). */
public final class SplitIndex {
  private final Path root;
  private final Split split;
  private final List<SamplePair> pairs;
  private final List<BadInput> quarantined;

  private SplitIndex(Path root, Split split, List<SamplePair> pairs, List<BadInput> quarantined) {
    this.root = root;
    this.split = split;
    this.pairs = List.copyOf(pairs);
    this.quarantined = List.copyOf(quarantined);
  }

  /**
   * Validates {@code root/<split>/images} and {@code masks}.
   *
   * @throws DatasetException naming each bad file; under {@link BadInputPolicy#SKIP_BAD} only
   *     when the layout itself is wrong or no good pair is left
   */
  public static SplitIndex open(Path root, Split split, BadInputPolicy policy) {
    Path splitDir = root.resolve(split.folder());
    requireDirectory(root, "dataset root");
    requireDirectory(splitDir, "split folder");
    Path imagesDir = splitDir.resolve("images");
    Path masksDir = splitDir.resolve("masks");
    requireDirectory(imagesDir, "images folder");
    requireDirectory(masksDir, "masks folder");

    List<BadInput> problems = new ArrayList<>();
    Map<String, Path> images = filesByStem(imagesDir, problems);
    Map<String, Path> masks = filesByStem(masksDir, problems);
    List<SamplePair> candidates = new ArrayList<>();
    for (Map.Entry<String, Path> image : images.entrySet()) {
      Path mask = masks.get(image.getKey());
      if (mask == null) {
        problems.add(new BadInput(image.getValue(),
            "no mask with stem '" + image.getKey() + "' in " + masksDir));
      } else {
        candidates.add(new SamplePair(image.getKey(), image.getValue(), mask));
      }
    }
    for (Map.Entry<String, Path> mask : masks.entrySet()) {
      if (!images.containsKey(mask.getKey())) {
        problems.add(new BadInput(mask.getValue(),
            "no image with stem '" + mask.getKey() + "' in " + imagesDir));
      }
    }

    // Decoding dominates validation time; pairs are independent, results land by index.
    BadInput[] decodeProblems = new BadInput[candidates.size()];
    IntStream.range(0, candidates.size()).parallel()
        .forEach(i -> decodeProblems[i] = checkPair(candidates.get(i)));
    List<SamplePair> good = new ArrayList<>();
    for (int i = 0; i < candidates.size(); i++) {
      if (decodeProblems[i] == null) {
        good.add(candidates.get(i));
      } else {
        problems.add(decodeProblems[i]);
      }
    }
    problems.sort(Comparator.comparing(problem -> problem.file().toString()));

    if (!problems.isEmpty() && policy == BadInputPolicy.FAIL) {
      throw new DatasetException(problems.size() + " bad file(s) in " + splitDir
          + " (fix them, or skip bad pairs explicitly):", problems);
    }
    if (good.isEmpty() && problems.isEmpty()) {
      throw new DatasetException(new BadInput(splitDir, "empty split, no image/mask pairs found"));
    }
    if (good.isEmpty()) {
      throw new DatasetException(
          splitDir + ": no usable image/mask pair left after skipping bad files:", problems);
    }
    good.sort(Comparator.comparing(SamplePair::stem, SplitIndex::compareStems));
    return new SplitIndex(root, split, good, problems);
  }

  public Path root() {
    return root;
  }

  public Split split() {
    return split;
  }

  /** The usable pairs; a pair's position here is its stable dataset index. */
  public List<SamplePair> pairs() {
    return pairs;
  }

  public int size() {
    return pairs.size();
  }

  /** The first {@code n} pairs (all if fewer): a smaller split for quick runs and tests. */
  public SplitIndex head(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("head needs n >= 1, got " + n);
    }
    return n >= pairs.size() ? this : new SplitIndex(root, split, pairs.subList(0, n), quarantined);
  }

  /** Files left out under {@link BadInputPolicy#SKIP_BAD}, each with its problem. */
  public List<BadInput> quarantined() {
    return quarantined;
  }

  private static void requireDirectory(Path dir, String what) {
    if (!Files.exists(dir)) {
      throw new DatasetException(new BadInput(dir, what + " does not exist"));
    }
    if (!Files.isDirectory(dir)) {
      throw new DatasetException(new BadInput(dir, what + " is not a directory"));
    }
    if (!Files.isReadable(dir) || !Files.isExecutable(dir)) {
      throw new DatasetException(new BadInput(dir, what + " is not readable (permission denied)"));
    }
  }

  /** Image files of a folder keyed by stem; anything that is not an image becomes a problem. */
  private static Map<String, Path> filesByStem(Path dir, List<BadInput> problems) {
    List<StemListing.Child<Path>> children;
    try (Stream<Path> listing = Files.list(dir)) {
      children = listing.sorted()
          .map(entry -> new StemListing.Child<>(
              entry.getFileName().toString(), Files.isDirectory(entry), entry, entry))
          .toList();
    } catch (IOException e) {
      throw new DatasetException(new BadInput(dir, "cannot list folder: " + e));
    }
    return StemListing.byStem(children, problems);
  }

  /** Decodes both files of a pair; returns the first problem, or null when the pair is good. */
  private static BadInput checkPair(SamplePair pair) {
    RgbImage image;
    Mask mask;
    try {
      image = ImageDecoder.readRgb(pair.image());
    } catch (ImageDecodeException e) {
      return new BadInput(pair.image(), e.reason());
    }
    try {
      mask = ImageDecoder.readMask(pair.mask());
    } catch (ImageDecodeException e) {
      return new BadInput(pair.mask(), e.reason());
    }
    if (image.width() != mask.width() || image.height() != mask.height()) {
      return new BadInput(pair.mask(), "mask is " + mask.width() + "x" + mask.height()
          + " but its image " + pair.image().getFileName() + " is " + image.width() + "x"
          + image.height());
    }
    return null;
  }

  /** Natural order: numeric stems by value (2 before 10), then other stems alphabetically. */
  static int compareStems(String a, String b) {
    boolean aNumeric = isDigits(a);
    boolean bNumeric = isDigits(b);
    if (aNumeric && bNumeric) {
      String x = stripZeros(a);
      String y = stripZeros(b);
      int order = Integer.compare(x.length(), y.length());
      if (order == 0) {
        order = x.compareTo(y);
      }
      return order != 0 ? order : a.compareTo(b);
    }
    if (aNumeric != bNumeric) {
      return aNumeric ? -1 : 1;
    }
    return a.compareTo(b);
  }

  private static boolean isDigits(String s) {
    return !s.isEmpty() && s.chars().allMatch(c -> c >= '0' && c <= '9');
  }

  private static String stripZeros(String digits) {
    int i = 0;
    while (i < digits.length() - 1 && digits.charAt(i) == '0') {
      i++;
    }
    return digits.substring(i);
  }
}
