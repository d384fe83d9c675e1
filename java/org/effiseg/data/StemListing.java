// The image files of one folder keyed by stem, with the problems a dataset folder can have: a
// sub-folder, a file that is not an image, two files with the same stem. Dataset validation
// (SplitIndex) and effiseg data prepare (DatasetSource) list folders through this one rule.
package org.effiseg.data;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/** Pairs folder entries with their stems. */
final class StemListing {
  /** One entry of a folder: its name, whether it is a folder, where it is, and what to keep. */
  record Child<T>(String name, boolean folder, Path location, T value) {}

  private StemListing() {}

  /**
   * The image files among {@code children} (in the order given) keyed by stem; hidden entries
   * ({@code .DS_Store}) are skipped, every other non-image entry is added to {@code problems}.
   */
  static <T> Map<String, T> byStem(List<Child<T>> children, List<BadInput> problems) {
    Map<String, T> byStem = new TreeMap<>();
    Map<String, String> nameOfStem = new TreeMap<>();
    for (Child<T> child : children) {
      String name = child.name();
      if (name.startsWith(".")) {
        continue; // hidden files (.DS_Store, editor swap files, macOS ._ forks) are not content
      }
      if (child.folder()) {
        problems.add(new BadInput(child.location(), "unexpected folder (expected only image files)"));
        continue;
      }
      String extension = ImageDecoder.extensionOf(name);
      if (!ImageDecoder.IMAGE_EXTENSIONS.contains(extension)) {
        problems.add(new BadInput(child.location(), "not an image file (extension '" + extension
            + "', expected one of " + new TreeSet<>(ImageDecoder.IMAGE_EXTENSIONS) + ")"));
        continue;
      }
      String stem = name.substring(0, name.length() - extension.length() - 1);
      String previous = nameOfStem.putIfAbsent(stem, name);
      if (previous != null) {
        problems.add(new BadInput(child.location(),
            "same stem as " + previous + " (pairing by stem would be ambiguous)"));
        continue;
      }
      byStem.put(stem, child.value());
    }
    return byStem;
  }
}
