package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class SvgLineChartTest {
  @Test
  void ticksAreRoundAndCoverTheRange() {
    assertThat(SvgLineChart.ticks(0, 1, 5))
        .usingTolerance(1e-12)
        .containsExactly(0, 0.2, 0.4, 0.6, 0.8, 1.0)
        .inOrder();
    double[] t = SvgLineChart.ticks(0.43, 0.93, 5);
    assertThat(t[0]).isAtMost(0.43);
    assertThat(t[t.length - 1]).isAtLeast(0.93);
  }

  @Test
  void gapsSplitTheLine() {
    String svg =
        SvgLineChart.render(
            "t",
            "epoch",
            new double[] {1, 2, 3, 4},
            List.of(new SvgLineChart.Series("a", new double[] {1, 2, Double.NaN, 3})));
    String path =
        svg.substring(svg.indexOf(" d=\"") + 4, svg.indexOf("\"/>", svg.indexOf(" d=\"")));
    assertThat(path.chars().filter(c -> c == 'M').count()).isEqualTo(2);
    assertThat(svg).startsWith("<svg");
    assertThat(svg).endsWith("</svg>");
  }

  @Test
  void noDataSaysSo() {
    String svg =
        SvgLineChart.render(
            "t",
            "epoch",
            new double[] {1},
            List.of(new SvgLineChart.Series("a", new double[] {Double.NaN})));
    assertThat(svg).contains("no data");
  }
}
