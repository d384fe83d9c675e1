package org.effiseg.sweep;

import java.util.List;
import java.util.stream.Collectors;

/** POSIX shell quoting, for the commands a sweep records and the Slurm script it writes. */
final class Shell {
  private Shell() {}

  /** {@code word} as one shell word: unchanged when it is plainly safe, else in single quotes. */
  static String quote(String word) {
    if (!word.isEmpty() && word.matches("[A-Za-z0-9_./:=,+@%-]+")) {
      return word;
    }
    return "'" + word.replace("'", "'\\''") + "'";
  }

  static String join(List<String> words) {
    return words.stream().map(Shell::quote).collect(Collectors.joining(" "));
  }
}
