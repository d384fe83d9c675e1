package org.effiseg.export;

/** The network, at the requested image size, computes something an ONNX graph cannot express exactly. */
final class UnsupportedSizeException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  UnsupportedSizeException(String message) {
    super(message);
  }
}
