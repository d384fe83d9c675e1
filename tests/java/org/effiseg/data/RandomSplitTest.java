// The seeded random split: its generator is SplitMix64 exactly, its result is pinned by an
// independent Python implementation of the algorithm as docs/data-pipeline.md states it, and it
// depends on nothing but the names (as a set), the seed and the ratios.
package org.effiseg.data;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

// A draw loop that never ends must fail the test, not hang the build (a busy loop ignores interrupts).
@Timeout(value = 20, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RandomSplitTest {
  private static final double[] STANDARD = {0.8, 0.1, 0.1};

  private static List<String> numbered(int n) {
    return IntStream.range(0, n).mapToObj(Integer::toString).toList();
  }

  @Test
  void generatorIsSplitMix64() {
    // Published first outputs of splitmix64.c for state 0.
    RandomSplit.SplitMix64 zero = new RandomSplit.SplitMix64(0);
    assertThat(zero.next()).isEqualTo(0xE220A8397B1DCDAFL);
    assertThat(zero.next()).isEqualTo(0x6E789E6AA1B965F4L);
    // ...and the JDK's SplittableRandom is the same generator (a second, independent check).
    for (long seed : new long[] {0, 42, 1L << 40, Long.MAX_VALUE}) {
      RandomSplit.SplitMix64 ours = new RandomSplit.SplitMix64(seed);
      SplittableRandom jdk = new SplittableRandom(seed);
      for (int i = 0; i < 1000; i++) {
        assertThat(ours.next()).isEqualTo(jdk.nextLong());
      }
    }
  }

  @Test
  void boundedDrawsStayInRangeAlsoForPowersOfTwo() {
    RandomSplit.SplitMix64 random = new RandomSplit.SplitMix64(7);
    assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
      for (int bound : new int[] {1, 2, 3, 7, 1024, 1 << 30, Integer.MAX_VALUE}) {
        for (int i = 0; i < 200; i++) {
          int value = random.below(bound);
          assertThat(value).isAtLeast(0);
          assertThat(value).isLessThan(bound);
        }
      }
    });
  }

  @Test
  void splitMatchesThePythonReproductionInTheDocs() {
    // Output of the Python code in docs/data-pipeline.md for stems 0..29, seed 42, 0.8/0.1/0.1.
    Map<Split, List<String>> split = RandomSplit.split(numbered(30), 42, STANDARD);
    assertThat(split.get(Split.VALIDATION)).containsExactly("0", "3", "9").inOrder();
    assertThat(split.get(Split.TEST)).containsExactly("1", "14", "28").inOrder();
    assertThat(split.get(Split.TRAIN)).containsExactly("10", "11", "12", "13", "15", "16", "17",
        "18", "19", "2", "20", "21", "22", "23", "24", "25", "26", "27", "29", "4", "5", "6", "7",
        "8").inOrder();
    Map<Split, List<String>> other = RandomSplit.split(numbered(30), 43, STANDARD);
    assertThat(other.get(Split.VALIDATION)).containsExactly("13", "16", "8").inOrder();
    assertThat(other.get(Split.TEST)).containsExactly("19", "22", "27").inOrder();
  }

  @Test
  void splitDependsOnTheNamesNotTheirOrder() {
    List<String> names = new ArrayList<>(numbered(200));
    Map<Split, List<String>> sorted = RandomSplit.split(names, 5, STANDARD);
    Collections.shuffle(names, new Random(3));
    assertThat(RandomSplit.split(names, 5, STANDARD)).isEqualTo(sorted);
    assertThat(RandomSplit.split(names, 6, STANDARD)).isNotEqualTo(sorted);
  }

  @Test
  void namesSortByCodePointAsPythonDoes() {
    // UTF-16 order would put the emoji (a surrogate pair) before U+FF21.
    List<String> names = new ArrayList<>(List.of("\uD83D\uDE00", "\uFF21", "z", "a", "Z"));
    names.sort(RandomSplit.CODE_POINT_ORDER);
    assertThat(names).containsExactly("Z", "a", "z", "\uFF21", "\uD83D\uDE00").inOrder();
  }

  @Test
  void countsRoundValidationAndTestAndGiveTrainTheRest() {
    assertThat(RandomSplit.counts(1000, STANDARD)).asList().containsExactly(800, 100, 100).inOrder();
    assertThat(RandomSplit.counts(612, STANDARD)).asList().containsExactly(490, 61, 61).inOrder();
    assertThat(RandomSplit.counts(30, new double[] {0, 0, 1})).asList().containsExactly(0, 0, 30).inOrder();
    assertThat(RandomSplit.counts(4, STANDARD)).asList().containsExactly(4, 0, 0).inOrder();
    assertThat(RandomSplit.counts(5, STANDARD)).asList().containsExactly(3, 1, 1).inOrder(); // 0.5 rounds up
    assertThrows(IllegalArgumentException.class, () -> RandomSplit.counts(1, new double[] {0, 0.5, 0.5}));
  }

  @Test
  void everyNameLandsInExactlyOneSplit() {
    Map<Split, List<String>> split = RandomSplit.split(numbered(1000), 1, STANDARD);
    List<String> all = new ArrayList<>();
    split.values().forEach(all::addAll);
    assertThat(all).containsExactlyElementsIn(numbered(1000));
    assertThat(split.get(Split.TRAIN)).hasSize(800);
  }

  @Test
  void badRatiosAndSeedsAreRefusedWithTheFlag() {
    for (String bad : new String[] {"0.8,0.2", "0.8,0.1,0.2", "0.9,-0.1,0.2", "a,b,c", "0.8,0.1,NaN"}) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> RandomSplit.parseRatios(bad));
      assertThat(e).hasMessageThat().contains("--ratios");
    }
    assertThat(RandomSplit.parseRatios("0.7, 0.2, 0.1")).usingExactEquality()
        .containsExactly(0.7, 0.2, 0.1).inOrder();
    assertThrows(IllegalArgumentException.class, () -> RandomSplit.split(numbered(3), -1, STANDARD));
    assertThrows(IllegalArgumentException.class, () -> RandomSplit.split(List.of("a", "a"), 1, STANDARD));
  }
}
