package org.effiseg.util;

/** Turns a library's exception into the one-line reason our messages end with. */
public final class Errors {
  private Errors() {}

  /**
   * The first line of {@code e}'s message, without a leading "some.package.SomeException: "
   * (Gson's parse errors add a second line pointing at its troubleshooting page); the class's
   * simple name where there is no message.
   */
  public static String oneLine(Throwable e) {
    String message = e.getMessage();
    if (message == null || message.isBlank()) {
      return e.getClass().getSimpleName();
    }
    String first = message.strip().lines().findFirst().orElse("");
    return first.replaceFirst("^([a-z_$][\\w$]*\\.)+[A-Z][\\w$]*(Exception|Error): ", "");
  }
}
