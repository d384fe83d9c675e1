package org.effiseg.eval;

/** Bad evaluation input (a missing or unreadable file, a size mismatch); the message names it. */
public final class EvaluationInputException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public EvaluationInputException(String message) {
    super(message);
  }

  public EvaluationInputException(String message, Throwable cause) {
    super(message, cause);
  }
}
