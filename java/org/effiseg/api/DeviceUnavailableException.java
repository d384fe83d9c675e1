package org.effiseg.api;

/** The requested {@link Device} cannot be used in this process; the message says why. */
public class DeviceUnavailableException extends SegmentationException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message and a cause.
   *
   * @param message why the device cannot be used
   * @param cause the engine's error
   */
  public DeviceUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
