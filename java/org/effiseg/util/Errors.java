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

  /**
   * A value read from a file, for a one-line message: in single quotes, line feeds and tabs
   * written as backslash-n and backslash-t, other control characters as backslash-u escapes, cut
   * to {@code max} characters with an ellipsis, so that a damaged file cannot spread a message
   * over many lines; "absent" for null.
   */
  public static String quoted(String value, int max) {
    if (value == null) {
      return "absent";
    }
    StringBuilder out = new StringBuilder("'");
    int shown = 0;
    for (int i = 0; i < value.length(); i++) {
      if (shown >= max) {
        out.append('…');
        break;
      }
      char c = value.charAt(i);
      if (c == '\n') {
        out.append("\\n");
      } else if (c == '\t') {
        out.append("\\t");
      } else if (Character.isISOControl(c)) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
      shown++;
    }
    return out.append('\'').toString();
  }
}
