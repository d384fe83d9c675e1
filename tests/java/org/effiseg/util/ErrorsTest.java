package org.effiseg.util;

import static com.google.common.truth.Truth.assertThat;

import org.junit.jupiter.api.Test;

class ErrorsTest {
  @Test
  void aQuotedValueStaysOnOneLineAndWithinItsLength() {
    String quoted = Errors.quoted("effiseg-\"preset\": \"smoke\",\n  \"variant\":\t\"b0\"\u0001", 200);
    assertThat(quoted).isEqualTo("'effiseg-\"preset\": \"smoke\",\\n  \"variant\":\\t\"b0\"\\u0001'");
    assertThat(quoted.lines().count()).isEqualTo(1);
    assertThat(Errors.quoted("x".repeat(100), 10)).isEqualTo("'xxxxxxxxxx…'");
    assertThat(Errors.quoted("effiseg-checkpoint", 60)).isEqualTo("'effiseg-checkpoint'");
    assertThat(Errors.quoted(null, 60)).isEqualTo("absent");
  }

  @Test
  void oneLineKeepsTheFirstLineWithoutTheExceptionsClassName() {
    Exception e = new IllegalStateException("com.google.gson.JsonSyntaxException: bad token\nsee https://example");
    assertThat(Errors.oneLine(e)).isEqualTo("bad token");
    assertThat(Errors.oneLine(new RuntimeException())).isEqualTo("RuntimeException");
  }
}
