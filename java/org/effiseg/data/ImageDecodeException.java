// A file that could not be decoded as an image (unknown format, corrupt, truncated, unsupported).
package org.effiseg.data;

import java.io.IOException;
import java.nio.file.Path;

/** Why a file could not be decoded; the message names the file, {@link #reason()} does not. */
public final class ImageDecodeException extends IOException {
  private static final long serialVersionUID = 1L;
  private final String reason;

  public ImageDecodeException(Path file, String reason) {
    super(file == null ? reason : file + ": " + reason);
    this.reason = reason;
  }

  public ImageDecodeException(Path file, String reason, Throwable cause) {
    super(file == null ? reason : file + ": " + reason, cause);
    this.reason = reason;
  }

  /** What is wrong, without the file name (for listings that show the file beside it). */
  public String reason() {
    return reason;
  }
}
