package org.effiseg.nativeapi;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The native core refuses thread counts OpenMP cannot serve, whoever asks. */
class ThreadBoundsTest {
  @Test
  void absurdThreadCountsAreRefusedByTheCore() {
    for (int threads : new int[] {-1, 100_000, Integer.MAX_VALUE}) {
      EffisegException e = assertThrows(EffisegException.class, () -> Context.cpu(threads).close());
      assertThat(e).hasMessageThat().contains(Integer.toString(threads));
    }
  }
}
