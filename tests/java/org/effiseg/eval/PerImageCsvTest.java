package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class PerImageCsvTest {
  @Test
  void rowsCarryCountsAndLeaveUndefinedScoresEmpty() {
    String csv = PerImageCsv.format(List.of(
        new ImageMetrics("12", 4, 2, 2, 1, 1, 4),
        new ImageMetrics("a,b", 4, 2, 0, 3, 0, 5)));
    List<String> lines = csv.lines().toList();
    assertThat(lines.get(0)).isEqualTo(PerImageCsv.HEADER);
    // dice 2*2/(2*2+1+1) = 0.666667, iou 2/4 = 0.5, polyp fraction 3/8
    assertThat(lines.get(1)).isEqualTo("12,4,2,2,1,1,4,0.666667,0.500000,0.375000");
    // no polyp: Dice and IoU undefined, the id quoted because of its comma
    assertThat(lines.get(2)).isEqualTo("\"a,b\",4,2,0,3,0,5,,,0.000000");
  }
}
