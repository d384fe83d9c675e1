package org.effiseg.train;

/** A NaN or infinite loss: the run stops before the optimizer step, keeping the last good checkpoint. */
public final class NonFiniteLossException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public NonFiniteLossException(String message) {
    super(message);
  }
}
