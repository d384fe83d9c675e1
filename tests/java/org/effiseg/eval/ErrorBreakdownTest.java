package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class ErrorBreakdownTest {

  private static BinaryMask flip(BinaryMask m, int... xy) {
    boolean[] p = new boolean[m.width() * m.height()];
    for (int i = 0; i < p.length; i++) {
      p[i] = m.get(i);
    }
    for (int k = 0; k < xy.length; k += 2) {
      int i = xy[k + 1] * m.width() + xy[k];
      p[i] = !p[i];
    }
    return BinaryMask.of(m.width(), m.height(), p);
  }

  private static ErrorBreakdown.ImageErrors add(ErrorBreakdown b, BinaryMask pred, BinaryMask gt) {
    return b.add(pred, gt, ImageMetrics.of("x", pred, gt));
  }

  @Test
  void binsImagesByGroundTruthAreaFraction() {
    ErrorBreakdown b = new ErrorBreakdown();
    BinaryMask small = Masks.rect(20, 20, 0, 0, 2, 2); // 1 %
    BinaryMask medium = Masks.rect(20, 20, 0, 0, 6, 6); // 9 %
    BinaryMask large = Masks.rect(20, 20, 0, 0, 10, 10); // 25 %
    b.add(small, small, ImageMetrics.of("s1", small, small));
    b.add(BinaryMask.empty(20, 20), small, ImageMetrics.of("s2", BinaryMask.empty(20, 20), small));
    b.add(medium, medium, ImageMetrics.of("m", medium, medium));
    b.add(medium, large, ImageMetrics.of("l", medium, large));
    b.add(small, BinaryMask.empty(20, 20), ImageMetrics.of("e", small, BinaryMask.empty(20, 20)));

    List<ErrorBreakdown.SizeBin> bins = b.result().sizeBins();
    assertThat(bins.stream().map(ErrorBreakdown.SizeBin::label).toList())
        .containsExactly("small", "medium", "large", "no polyp")
        .inOrder();
    ErrorBreakdown.SizeBin s = bins.get(0);
    assertThat(s.images()).isEqualTo(2);
    assertThat(s.meanDice()).isEqualTo(0.5); // (1 + 0) / 2
    assertThat(s.fn()).isEqualTo(4);
    assertThat(bins.get(1).meanDice()).isEqualTo(1.0);
    ErrorBreakdown.SizeBin l = bins.get(2);
    assertThat(l.meanDice()).isWithin(1e-12).of(2.0 * 36 / (36 + 100));
    assertThat(l.meanIou()).isWithin(1e-12).of(36.0 / 100);
    ErrorBreakdown.SizeBin e = bins.get(3);
    assertThat(e.images()).isEqualTo(1);
    assertThat(e.meanDice()).isNaN();
    assertThat(e.fp()).isEqualTo(4);
  }

  @Test
  void noPolypBinOnlyWhenThereIsOne() {
    ErrorBreakdown b = new ErrorBreakdown();
    BinaryMask gt = Masks.rect(20, 20, 0, 0, 2, 2);
    add(b, gt, gt);
    assertThat(b.result().sizeBins()).hasSize(3);
  }

  @Test
  void edgeBandCoversBothSidesOfTheContour() {
    BinaryMask gt = Masks.rect(40, 40, 4, 4, 36, 36);
    boolean[] edge = ErrorBreakdown.nearBoundary(gt, 0);
    int n = 0;
    for (boolean e : edge) {
      n += e ? 1 : 0;
    }
    assertThat(n).isEqualTo((4 * 32 - 4) + 4 * 32); // inner ring + outer ring
    assertThat(edge[4 * 40 + 4]).isTrue();
    assertThat(edge[3 * 40 + 4]).isTrue();
    assertThat(edge[3 * 40 + 3]).isFalse(); // diagonal only: not 4-adjacent
    assertThat(ErrorBreakdown.nearBoundary(BinaryMask.empty(5, 5), 5)).asList().doesNotContain(true);
  }

  @Test
  void splitsErrorsNearTheBoundaryFromTheRest() {
    BinaryMask gt = Masks.rect(40, 40, 6, 6, 34, 34); // outer edge ring at 5, inner at 6
    // FN at the centre (14 px from the edge) and at (7, 20) (1 px in); FP at (0, 0)
    // (|(5, 6)| = 7.8 px from the nearest edge pixel) and at (3, 20) (2 px out)
    BinaryMask pred = flip(gt, 20, 20, 7, 20, 0, 0, 3, 20);
    ErrorBreakdown b = new ErrorBreakdown();
    ErrorBreakdown.ImageErrors e = add(b, pred, gt);
    assertThat(e.fpNearBoundary()).isEqualTo(1);
    assertThat(e.fnNearBoundary()).isEqualTo(1);
    ErrorBreakdown.Result r = b.result();
    assertThat(r.nearBoundary().fp()).isEqualTo(1);
    assertThat(r.nearBoundary().fn()).isEqualTo(1);
    assertThat(r.awayFromBoundary().fp()).isEqualTo(1);
    assertThat(r.awayFromBoundary().fn()).isEqualTo(1);
    assertThat(r.nearBoundary().pixels() + r.awayFromBoundary().pixels()).isEqualTo(1600);
    assertThat(r.nearBoundary().label()).contains("5 px");
  }

  @Test
  void countsErrorsInTheLeftCorners() {
    BinaryMask gt = Masks.rect(10, 10, 2, 9, 3, 10); // one polyp pixel at (2, 9)
    // FP at (0, 0) top-left, (1, 8) bottom-left, (8, 0) top-right; the polyp pixel missed
    BinaryMask pred = Masks.parse(
        "#.......#.",
        "..........",
        "..........",
        "..........",
        "..........",
        "..........",
        "..........",
        "..........",
        ".#........",
        "..........");
    ErrorBreakdown b = new ErrorBreakdown();
    ErrorBreakdown.ImageErrors e = add(b, pred, gt);
    assertThat(e.fpCorners()).isEqualTo(2);
    assertThat(e.fnCorners()).isEqualTo(1);
    ErrorBreakdown.Result r = b.result();
    assertThat(r.topLeft().pixels()).isEqualTo(9);
    assertThat(r.topLeft().fp()).isEqualTo(1);
    assertThat(r.bottomLeft().pixels()).isEqualTo(9);
    assertThat(r.bottomLeft().fp()).isEqualTo(1);
    assertThat(r.bottomLeft().fn()).isEqualTo(1);
    assertThat(r.elsewhere().pixels()).isEqualTo(82);
    assertThat(r.elsewhere().fp()).isEqualTo(1);
    assertThat(r.elsewhere().fn()).isEqualTo(0);
    assertThat(r.topLeft().fpPer10k()).isWithin(1e-9).of(10_000.0 / 9);
  }
}
