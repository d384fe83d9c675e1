// The three folders of a dataset root (train/, validation/, test/), each holding images/ + masks/.
package org.effiseg.data;

import java.util.Locale;

/** One split of a dataset root; {@link #folder()} is its folder name. */
public enum Split {
  TRAIN("train"),
  VALIDATION("validation"),
  TEST("test");

  private final String folder;

  Split(String folder) {
    this.folder = folder;
  }

  public String folder() {
    return folder;
  }

  /** Accepts the folder name in any case ({@code train}, {@code validation}, {@code test}). */
  public static Split parse(String name) {
    String wanted = name.trim().toLowerCase(Locale.ROOT);
    for (Split split : values()) {
      if (split.folder.equals(wanted)) {
        return split;
      }
    }
    throw new IllegalArgumentException(
        "unknown split '" + name + "' (expected train, validation or test)");
  }
}
