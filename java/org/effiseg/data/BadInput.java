// One problem found while validating a split: the file it concerns and what is wrong with it.
package org.effiseg.data;

import java.nio.file.Path;

/** A file that failed validation and why; printed as {@code file: problem}. */
public record BadInput(Path file, String problem) {
  @Override
  public String toString() {
    return file + ": " + problem;
  }
}
