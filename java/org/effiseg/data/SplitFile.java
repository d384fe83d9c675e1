// The split file: which split each image belongs to, one `name,split` line per image. effiseg data
// prepare reads one (--split-file, to reproduce a published split) and writes the one it used
// into the prepared folder (split.csv), so a prepared dataset can be rebuilt exactly.
//
// Format: UTF-8 text; an optional header line `name,split`; blank lines and lines starting with #
// are skipped; each other line is `name,split` with spaces around either field ignored. `name`
// is an image's stem (`cju0qkwl35piu0993l0dewei2`) or its file name (`...dewei2.jpg`); `split` is
// train, validation or test. No quoting: a name cannot contain a comma.
package org.effiseg.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/** Reads and writes {@code name,split} files. */
public final class SplitFile {
  public static final String HEADER = "name,split";

  private SplitFile() {}

  /**
   * Reads {@code file} and assigns each image of {@code stemsByName} (every stem and every image
   * file name, mapped to the stem) to its split. Every line must name a distinct image and a
   * known split, and every image must be listed; otherwise a {@link DatasetException} lists each
   * offending line and each unlisted image.
   *
   * @param source how the images' location is named in messages
   */
  public static Map<Split, List<String>> read(Path file, Map<String, String> stemsByName, String source) {
    List<String> lines;
    try {
      String text = StandardCharsets.UTF_8.newDecoder()
          .decode(ByteBuffer.wrap(Files.readAllBytes(file))).toString();
      lines = List.of(text.split("\r?\n|\r", -1));
    } catch (CharacterCodingException e) {
      throw new DatasetException(new BadInput(file, "not UTF-8 text"));
    } catch (NoSuchFileException e) {
      throw new DatasetException(new BadInput(file, "split file does not exist"));
    } catch (IOException e) {
      throw new DatasetException(new BadInput(file, "cannot be read: " + e));
    }
    List<BadInput> problems = new ArrayList<>();
    Map<String, Integer> lineOfStem = new HashMap<>();
    Map<String, Split> splitOfStem = new TreeMap<>(RandomSplit.CODE_POINT_ORDER);
    boolean first = true;
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      if (i == 0 && line.startsWith("\uFEFF")) {
        line = line.substring(1); // byte-order mark written by some spreadsheet programs
      }
      line = line.trim();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      boolean header = first && line.replace(" ", "").equalsIgnoreCase(HEADER);
      first = false;
      if (header) {
        continue;
      }
      String where = "line " + (i + 1) + ": ";
      String[] fields = line.split(",", -1);
      if (fields.length != 2 || fields[0].isBlank()) {
        problems.add(new BadInput(file, where + "expected 'name,split', got '" + line + "'"));
        continue;
      }
      String name = fields[0].trim();
      Split split;
      try {
        split = Split.parse(fields[1]);
      } catch (IllegalArgumentException e) {
        problems.add(new BadInput(file, where + e.getMessage()));
        continue;
      }
      String stem = stemsByName.get(name);
      if (stem == null) {
        problems.add(new BadInput(file, where + "no image '" + name + "' in " + source));
        continue;
      }
      Integer earlier = lineOfStem.putIfAbsent(stem, i + 1);
      if (earlier != null) {
        problems.add(new BadInput(file, where + "'" + name + "' is listed again (first on line "
            + earlier + ")"));
        continue;
      }
      splitOfStem.put(stem, split);
    }
    TreeSet<String> stems = new TreeSet<>(RandomSplit.CODE_POINT_ORDER);
    stems.addAll(stemsByName.values());
    for (String stem : stems) {
      if (!splitOfStem.containsKey(stem)) {
        problems.add(new BadInput(file, "image '" + stem + "' of " + source + " is not listed"));
      }
    }
    if (!problems.isEmpty()) {
      throw new DatasetException(problems.size() + " problem(s) in split file " + file + ":", problems);
    }
    Map<Split, List<String>> result = new EnumMap<>(Split.class);
    for (Split split : Split.values()) {
      result.put(split, new ArrayList<>());
    }
    splitOfStem.forEach((stem, split) -> result.get(split).add(stem));
    return result;
  }

  /** The file's text for an assignment: the header, then one line per name in code-point order. */
  public static String format(Map<Split, List<String>> assignment) {
    Map<String, Split> splitOfName = new TreeMap<>(RandomSplit.CODE_POINT_ORDER);
    assignment.forEach((split, names) -> names.forEach(name -> splitOfName.put(name, split)));
    StringBuilder text = new StringBuilder(HEADER).append('\n');
    splitOfName.forEach((name, split) -> text.append(name).append(',').append(split.folder()).append('\n'));
    return text.toString();
  }

  /** Whether {@code name} can be written as a field of this format unchanged. */
  public static boolean representable(String name) {
    return !name.isEmpty() && name.equals(name.trim()) && !name.startsWith("#")
        && name.chars().noneMatch(c -> c == ',' || c == '\n' || c == '\r');
  }
}
