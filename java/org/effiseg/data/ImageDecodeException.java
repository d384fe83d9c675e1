// A file that could not be decoded as an image (unknown format, corrupt, truncated, unsupported).
package org.effiseg.data;

import java.io.IOException;

/** Why a file could not be decoded; the message is meant to follow the file name. */
public final class ImageDecodeException extends IOException {
  private static final long serialVersionUID = 1L;

  public ImageDecodeException(String message) {
    super(message);
  }

  public ImageDecodeException(String message, Throwable cause) {
    super(message, cause);
  }
}
