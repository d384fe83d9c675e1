package org.effiseg.api;

/** An image that cannot be segmented: not decodable, truncated, empty, or of an unsupported kind. */
public class InvalidImageException extends SegmentationException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message.
   *
   * @param message one line naming the image at fault
   */
  public InvalidImageException(String message) {
    super(message);
  }

  /**
   * An exception with a message and a cause.
   *
   * @param message one line naming the image at fault
   * @param cause the decoder's error
   */
  public InvalidImageException(String message, Throwable cause) {
    super(message, cause);
  }
}
