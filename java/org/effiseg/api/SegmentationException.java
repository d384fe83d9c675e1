package org.effiseg.api;

/**
 * What the embedding API throws when it cannot segment: the base of {@link InvalidImageException},
 * {@link InvalidCheckpointException}, {@link DeviceUnavailableException} and {@link
 * SegmenterClosedException}. Thrown directly for failures of the engine itself (out of memory, a
 * device error), with the engine's error as the cause. The message is one line that names the
 * file or setting at fault.
 */
public class SegmentationException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message.
   *
   * @param message one line naming the file or setting at fault
   */
  public SegmentationException(String message) {
    super(message);
  }

  /**
   * An exception with a message and a cause.
   *
   * @param message one line naming the file or setting at fault
   * @param cause the underlying error
   */
  public SegmentationException(String message, Throwable cause) {
    super(message, cause);
  }
}
