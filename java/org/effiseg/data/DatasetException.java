// Thrown when a dataset cannot be used; the message names every offending file and its problem.
package org.effiseg.data;

import java.util.List;

/** A dataset problem: bad layout, bad files, or a file that failed to load during training. */
public final class DatasetException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final transient List<BadInput> problems;

  public DatasetException(String summary, List<BadInput> problems) {
    super(format(summary, problems));
    this.problems = List.copyOf(problems);
  }

  /** A single problem; the message is {@code file: problem}. */
  public DatasetException(BadInput problem) {
    super(problem.toString());
    this.problems = List.of(problem);
  }

  /** The individual problems behind this exception, each naming its file. */
  public List<BadInput> problems() {
    return problems;
  }

  private static String format(String summary, List<BadInput> problems) {
    StringBuilder message = new StringBuilder(summary);
    for (BadInput problem : problems) {
      message.append(System.lineSeparator()).append("  ").append(problem);
    }
    return message.toString();
  }
}
