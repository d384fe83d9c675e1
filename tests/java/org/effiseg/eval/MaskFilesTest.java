package org.effiseg.eval;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MaskFilesTest {
  @TempDir Path dir;

  private static BufferedImage grey(int w, int h, int... values) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
    img.getRaster().setSamples(0, 0, w, h, 0, values);
    return img;
  }

  @Test
  void readsGreyPngSamplesUnchanged() throws Exception {
    Path f = dir.resolve("a.png");
    ImageIO.write(grey(4, 1, 0, 127, 128, 255), "png", f.toFile());
    assertThat(MaskFiles.readGrey(f).values()).asList().containsExactly(0, 127, 128, 255).inOrder();
    assertThat(MaskFiles.readMask(f, Threshold.DEFAULT)).isEqualTo(Masks.parse("..##"));
  }

  @Test
  void readsColourAndBinaryFormats() throws Exception {
    BufferedImage rgb = new BufferedImage(2, 1, BufferedImage.TYPE_INT_RGB);
    rgb.setRGB(0, 0, 0x000000);
    rgb.setRGB(1, 0, 0xffffff);
    for (String format : new String[] {"bmp", "gif", "png"}) {
      Path f = dir.resolve("c." + format);
      ImageIO.write(rgb, format, f.toFile());
      assertThat(MaskFiles.readMask(f, Threshold.DEFAULT)).isEqualTo(Masks.parse(".#"));
    }
    BufferedImage bits = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_BINARY);
    bits.setRGB(1, 0, 0xffffff);
    Path f = dir.resolve("b.png");
    ImageIO.write(bits, "png", f.toFile());
    assertThat(MaskFiles.readMask(f, Threshold.DEFAULT)).isEqualTo(Masks.parse(".#"));
  }

  @Test
  void jpegNoiseIsBinarisedAt127() throws Exception {
    int[] v = new int[16 * 16];
    for (int i = 0; i < v.length; i++) {
      v[i] = (i % 16) < 8 ? 0 : 255;
    }
    Path f = dir.resolve("j.jpg");
    ImageIO.write(grey(16, 16, v), "jpg", f.toFile());
    BinaryMask m = MaskFiles.readMask(f, Threshold.DEFAULT);
    assertThat(m.count()).isEqualTo(128);
    assertThat(m.get(15, 0)).isTrue();
    assertThat(m.get(0, 15)).isFalse();
  }

  @Test
  void listsByStemInNaturalOrder() throws Exception {
    for (String name : new String[] {"10.png", "2.jpg", "1.PNG", "notes.txt"}) {
      Files.writeString(dir.resolve(name), "x");
    }
    Files.createDirectory(dir.resolve("sub.png"));
    Map<String, Path> files = MaskFiles.byStem(dir);
    assertThat(files.keySet()).containsExactly("1", "2", "10").inOrder();
    assertThat(files.get("2").getFileName().toString()).isEqualTo("2.jpg");
  }

  @Test
  void duplicateStemsAreAnError() throws Exception {
    Files.writeString(dir.resolve("3.png"), "x");
    Files.writeString(dir.resolve("3.jpg"), "x");
    EvaluationInputException e =
        assertThrows(EvaluationInputException.class, () -> MaskFiles.byStem(dir));
    assertThat(e).hasMessageThat().contains("3.jpg");
  }

  @Test
  void unreadableFileIsNamed() throws Exception {
    Path f = dir.resolve("bad.png");
    Files.writeString(f, "not an image");
    EvaluationInputException e =
        assertThrows(EvaluationInputException.class, () -> MaskFiles.readGrey(f));
    assertThat(e).hasMessageThat().contains("bad.png");
  }

  @Test
  void naturalOrder() {
    assertThat(MaskFiles.compareNatural("2", "10")).isLessThan(0);
    assertThat(MaskFiles.compareNatural("a10b", "a9b")).isGreaterThan(0);
    assertThat(MaskFiles.compareNatural("img", "img1")).isLessThan(0);
    assertThat(MaskFiles.compareNatural("x", "x")).isEqualTo(0);
  }
}
