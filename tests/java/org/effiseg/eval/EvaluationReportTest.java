package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvaluationReportTest {
  /** Ten 32x16 images; image i predicts the polyp shifted right by i px, so higher i is worse. */
  private static EvaluationResult result(int keepWorst) {
    List<EvaluationSample> samples = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      BinaryMask gt = Masks.rect(32, 16, 2, 4, 12, 12);
      BinaryMask pred = Masks.rect(32, 16, 2 + i, 4, 12 + i, 12);
      BufferedImage image = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
      samples.add(new EvaluationSample("img<" + i + ">", pred, gt, i % 2 == 0 ? image : null));
    }
    return Evaluator.evaluate(samples.iterator(), ErrorBreakdown.Config.DEFAULT, keepWorst);
  }

  @Test
  void evaluatorKeepsTheWorstInOrder() {
    EvaluationResult r = result(3);
    assertThat(r.images()).hasSize(10);
    assertThat(r.worst().stream().map(w -> w.metrics().id()).toList())
        .containsExactly("img<9>", "img<8>", "img<7>")
        .inOrder();
    assertThat(r.imagesWorstFirst().get(0).id()).isEqualTo("img<9>");
    assertThat(r.imagesWorstFirst().get(9).id()).isEqualTo("img<0>");
    assertThat(result(0).worst()).isEmpty();
  }

  @Test
  void htmlHasTheTablesLegendAndOverlays() {
    TrainingLog log =
        TrainingLog.parse(
            "epoch,train_loss,train_dice_loss,val_dice,val_iou,lr\n"
                + "1,0.9,0.5,0.6,0.5,1e-4\n2,0.6,0.3,0.7,0.6,5e-5\n3,0.4,0.2,0.8,0.7,1e-5\n");
    String html =
        new EvaluationReport(result(4))
            .title("run <a>")
            .detail("split", "test")
            .trainingLog(log)
            .toHtml();

    assertThat(html).startsWith("<!DOCTYPE html>");
    assertThat(html).contains("<title>run &lt;a&gt;</title>");
    assertThat(html).contains("id=\"metrics\"");
    assertThat(html).containsMatch("<th scope=\"row\">Dice</th><td class=\"num\">0\\.\\d{4}</td>");
    for (String s : new String[] {"true positive", "false positive", "false negative"}) {
      assertThat(html).contains(s);
    }
    assertThat(count(html, "<figure class=\"overlay\">")).isEqualTo(4);
    assertThat(count(html, "<img class=\"outcome\"")).isEqualTo(4);
    assertThat(count(html, "<img class=\"input\"")).isEqualTo(2); // odd ids have no image
    assertThat(count(html, "<svg")).isEqualTo(3); // losses, Dice/IoU, learning rate
    assertThat(html).contains("best validation Dice 0.8000 at epoch 3");
    assertThat(html).contains("By polyp size");
    assertThat(html).contains("within 5 px of the boundary");
    assertThat(html).contains("top-left 30 % x 30 %");
    assertThat(html).contains("img&lt;9&gt;"); // ids escaped
    assertThat(html).doesNotContain("img<9>");
    assertThat(count(html, "<tr>")).isAtLeast(10); // per-image rows
    // self-contained: nothing fetched from elsewhere
    assertThat(html).doesNotContainMatch("(src|href)=\"(?!data:)");
    assertThat(html).doesNotContain("url(");
    assertBalanced(html);
  }

  @Test
  void aWeightAveragesColumnsAreDrawnWithTheirKind() {
    TrainingLog log = TrainingLog.parse("epoch,train_loss,val_loss,val_dice,val_iou,lr,"
        + "val_loss_ema,val_dice_ema,val_iou_ema\n"
        + "1,0.9,1.0,0.6,0.5,1e-4,1.1,0.5,0.4\n2,0.6,0.8,0.7,0.6,5e-5,0.9,0.65,0.55\n");
    String html = new EvaluationReport(result(4)).trainingLog(log).toHtml();
    assertThat(count(html, "<svg")).isEqualTo(3); // losses, Dice/IoU, learning rate
    for (String column : new String[] {"val_loss_ema", "val_dice_ema", "val_iou_ema"}) {
      assertThat(html).contains("class=\"legend\">" + column + "</text>");
    }
    assertThat(html).contains("best validation Dice 0.7000 at epoch 2"); // the raw model's
  }

  @Test
  void noTrainingLogNoCurves() {
    String html = new EvaluationReport(result(2)).toHtml();
    assertThat(html).contains("The 2 worst images");
    assertThat(html).doesNotContain("<svg");
    assertThat(html).doesNotContain("id=\"curves\"");
    assertBalanced(html);
  }

  @Test
  void noOverlaysNoOverlaySection() {
    String html = new EvaluationReport(result(0)).toHtml();
    assertThat(html).doesNotContain("id=\"worst\"");
    assertThat(html).contains("id=\"per-image\"");
    assertBalanced(html);
  }

  @Test
  void writesTheFile(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("sub/report.html");
    new EvaluationReport(result(1)).write(f);
    assertThat(Files.readString(f)).endsWith("</html>\n");
    assertThat(Files.list(f.getParent()).count()).isEqualTo(1); // no temp file left
  }

  private static int count(String s, String needle) {
    int n = 0;
    for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) {
      n++;
    }
    return n;
  }

  /** Every non-void element closes, in order. */
  private static void assertBalanced(String html) {
    Pattern tag = Pattern.compile("<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>");
    List<String> voids = List.of("meta", "img", "br", "hr", "link", "input");
    Deque<String> open = new ArrayDeque<>();
    String body = html.replaceAll("(?s)<style>.*?</style>", "<style></style>");
    Matcher m = tag.matcher(body);
    while (m.find()) {
      String name = m.group(2).toLowerCase();
      if (voids.contains(name) || !m.group(3).isEmpty()) {
        continue;
      }
      if (m.group(1).isEmpty()) {
        open.push(name);
      } else {
        assertThat(open).isNotEmpty();
        assertThat(open.pop()).isEqualTo(name);
      }
    }
    assertThat(open).isEmpty();
  }
}
