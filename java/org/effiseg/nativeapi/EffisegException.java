package org.effiseg.nativeapi;

/**
 * A failed native call, or a handle used after {@code close()}. The message names the op and
 * the offending shapes, as the native core reported them.
 */
public final class EffisegException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The C ABI's status codes (es_status). */
  public enum Status {
    OK,
    INVALID_ARGUMENT,
    SHAPE,
    NULL_HANDLE,
    USE_AFTER_FREE,
    OUT_OF_MEMORY,
    BACKEND_UNAVAILABLE,
    INTERNAL;

    static Status of(int code) {
      Status[] all = values();
      return code >= 0 && code < all.length ? all[code] : INTERNAL;
    }
  }

  private final Status status;

  public EffisegException(Status status, String message) {
    super(message);
    this.status = status;
  }

  public Status status() {
    return status;
  }

  /** Throws if a native call returned an error, with the native thread-local message. */
  static void check(int code) {
    if (code != 0) {
      throw new EffisegException(Status.of(code), EffisegNative.es_last_error().getString());
    }
  }
}
