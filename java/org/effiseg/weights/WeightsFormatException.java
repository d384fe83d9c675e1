package org.effiseg.weights;

import java.io.IOException;

/**
 * A weights or checkpoint file that cannot be used: malformed (truncated, bad header, offsets that
 * do not fit) or not matching the chosen network (missing, unexpected or mis-shaped tensors). The
 * message names the file and says exactly what is wrong.
 */
public final class WeightsFormatException extends IOException {
  private static final long serialVersionUID = 1L;

  public WeightsFormatException(String message) {
    super(message);
  }

  public WeightsFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
