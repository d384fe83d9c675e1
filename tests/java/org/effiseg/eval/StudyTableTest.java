package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StudyTableTest {
  private static StudyTable.Run run(String preset, long seed, double dice, double precision) {
    Map<String, Double> s = new LinkedHashMap<>();
    s.put("dice", dice);
    s.put("iou", dice - 0.1);
    s.put("precision", precision);
    s.put("recall", 0.9);
    s.put("f1", 0.8);
    return new StudyTable.Run(preset, seed, preset + "-seed" + seed, s);
  }

  private static StudyTable table(PublishedScores published) {
    return new StudyTable("t", List.of("study-original", "study-mod4", "smoke"), List.of(
        run("study-original", 2, 0.92, 0.91), run("study-original", 1, 0.91, 0.92),
        run("study-original", 3, 0.94, Double.NaN), run("study-original", 4, 0.93, 0.93),
        run("study-mod4", 1, 0.95, 0.94)), published, Map.of("sweep", "/x"));
  }

  @Test
  void meanAndSampleStandardDeviation() {
    assertThat(StudyTable.mean(new double[] {1, 2, 3, 4})).isEqualTo(2.5);
    // sqrt(((1.5^2 + 0.5^2) * 2) / 3): n - 1 in the denominator
    assertThat(StudyTable.sampleStd(new double[] {1, 2, 3, 4})).isWithin(1e-12).of(Math.sqrt(5.0 / 3));
    assertThat(StudyTable.sampleStd(new double[] {0.9})).isNaN();
    StudyTable t = table(null);
    assertThat(t.summary("study-original", "dice").n()).isEqualTo(4);
    assertThat(t.summary("study-original", "dice").mean()).isWithin(1e-12).of(0.925);
    // an undefined value is left out of its metric only
    assertThat(t.summary("study-original", "precision").n()).isEqualTo(3);
    assertThat(t.summary("study-original", "precision").mean()).isWithin(1e-12).of(0.92);
    assertThat(t.summary("smoke", "dice").n()).isEqualTo(0);
  }

  @Test
  void markdownAndCsvShowMeanStdAndEverySeed() {
    StudyTable t = table(null);
    String md = t.markdown();
    assertThat(md).contains("| study-original | 4 | 0.9250 ± 0.0129 | 0.8250 ± 0.0129 | 0.9200 ± 0.0100 |");
    assertThat(md).contains("| study-mod4 | 1 | 0.9500 | 0.8500 | 0.9400 |"); // one seed: no spread
    assertThat(md).contains("| smoke | 0 | n/a |");
    assertThat(md).contains("n − 1");
    // per seed, in seed order
    assertThat(md.indexOf("| study-original | 1 | 0.9100")).isLessThan(md.indexOf("| study-original | 2 | 0.9200"));
    List<String> summary = t.summaryCsv().lines().toList();
    assertThat(summary.get(0)).startsWith("preset,n,dice_mean,dice_std,iou_mean,iou_std,precision_mean");
    assertThat(summary.get(1)).startsWith("study-original,4,0.925");
    assertThat(summary.get(2)).contains("study-mod4,1,0.95,,"); // std of one value: empty
    List<String> runs = t.runsCsv().lines().toList();
    assertThat(runs.get(0)).isEqualTo("preset,seed,run,dice,iou,precision,recall,f1");
    assertThat(runs).hasSize(6);
    List<String> seed3 = List.of(runs.get(3).split(",", -1));
    assertThat(seed3.subList(0, 4)).containsExactly("study-original", "3", "study-original-seed3", "0.94").inOrder();
    assertThat(seed3.subList(5, 8)).containsExactly("", "0.9", "0.8").inOrder(); // precision undefined
  }

  @Test
  void theHtmlPageHasAStripPerPresetWithADotPerSeed(@TempDir Path dir) throws Exception {
    StudyTable t = table(PublishedScores.load("study"));
    List<Path> files = t.write(dir.resolve("study"));
    assertThat(files.stream().map(p -> p.getFileName().toString()).toList())
        .containsExactly("study.md", "study.csv", "study-runs.csv", "study.html");
    String html = Files.readString(dir.resolve("study.html"));
    assertThat(html).doesNotContain("<script");
    assertThat(html).doesNotContain("http");
    assertThat(count(html, "<svg")).isEqualTo(5);
    // Dice: 4 + 1 seeds; precision: seed 3 has none
    String dice = html.substring(html.indexOf("aria-label=\"Dice\""), html.indexOf("aria-label=\"IoU\""));
    assertThat(count(dice, "<circle")).isEqualTo(5);
    assertThat(dice).contains("<title>seed 3: 0.9400</title>");
    assertThat(dice).contains("<title>study: 0.9310</title>"); // study-original's published Dice
    assertThat(dice).contains("<title>study: 0.9421</title>");
    String precision = html.substring(html.indexOf("aria-label=\"precision\""), html.indexOf("aria-label=\"recall\""));
    assertThat(count(precision, "<circle")).isEqualTo(4);
    assertThat(precision).doesNotContain("study:"); // the study published no precision
    assertThat(Files.readString(dir.resolve("study.md"))).contains("| Dice (study) | IoU (study) | recall (study) |");
    assertThat(Files.readString(dir.resolve("study.csv")).lines().findFirst().orElseThrow())
        .endsWith(",study_dice,study_iou,study_recall");
  }

  /** README's presets table shows the study's numbers: they must be the reference file's. */
  @Test
  void readmeQuotesThePublishedScoresOfTheReferenceFile() throws Exception {
    PublishedScores study = PublishedScores.load("study");
    Pattern row = Pattern.compile("^\\| `(study-[a-z0-9-]+)` \\|.*\\| ([0-9.]+) / ([0-9.]+) / ([0-9.]+) \\|$");
    int rows = 0;
    for (String line : Files.readAllLines(Path.of("README.md"))) {
      Matcher m = row.matcher(line);
      if (m.matches()) {
        String preset = m.group(1);
        assertThat(Double.parseDouble(m.group(2))).isEqualTo(study.score(preset, "dice"));
        assertThat(Double.parseDouble(m.group(3))).isEqualTo(study.score(preset, "iou"));
        assertThat(Double.parseDouble(m.group(4))).isEqualTo(study.score(preset, "recall"));
        rows++;
      }
    }
    assertThat(rows).isEqualTo(study.scores().size());
    assertThat(study.metrics()).containsExactly("dice", "iou", "recall").inOrder();
  }

  private static int count(String text, String what) {
    int n = 0;
    for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
      n++;
    }
    return n;
  }
}
