package org.effiseg.api;

/**
 * A file that is not a usable effiseg checkpoint: not a safetensors file, not written by {@code
 * effiseg train}, corrupt, or holding tensors that do not fit the network its configuration names.
 */
public class InvalidCheckpointException extends SegmentationException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message and a cause.
   *
   * @param message one line naming the file and what is wrong
   * @param cause the reader's error
   */
  public InvalidCheckpointException(String message, Throwable cause) {
    super(message, cause);
  }
}
