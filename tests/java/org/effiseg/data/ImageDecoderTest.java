// Decoding: masks binarised with value > 127 (like cv2.threshold(mask, 127, 1)), RGB masks through
// OpenCV's grey weights, grey images replicated to RGB, palette PNGs expanded.
package org.effiseg.data;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageDecoderTest {
  @TempDir Path dir;

  @Test
  void maskThresholdIsAbove127() throws Exception {
    BufferedImage grey = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_GRAY);
    int[] levels = {0, 127, 128, 255};
    for (int x = 0; x < 4; x++) {
      grey.getRaster().setSample(x, 0, 0, levels[x]);
    }
    Path file = dir.resolve("m.png");
    ImageIO.write(grey, "png", file.toFile());
    assertThat(ImageDecoder.readMask(file).values()).isEqualTo(new byte[] {0, 0, 1, 1});
  }

  @Test
  void rgbMaskUsesOpenCvGreyWeights() throws Exception {
    // Pure red 255 is grey 76, pure green 255 is grey 150: only green is polyp.
    RgbImage rgb = new RgbImage(2, 1, new byte[] {(byte) 255, 0, 0, 0, (byte) 255, 0});
    Path file = dir.resolve("m.png");
    SyntheticData.writeRgb(rgb, file);
    assertThat(ImageDecoder.readMask(file).values()).isEqualTo(new byte[] {0, 1});
    assertThat(ImageDecoder.greyOf(255, 0, 0)).isEqualTo(76);
  }

  @Test
  void pngRgbRoundTripsExactlyAndGreyIsReplicated() throws Exception {
    RgbImage rgb = SyntheticData.diskImage(9, 7, 4, 3, 2);
    Path file = dir.resolve("i.png");
    SyntheticData.writeRgb(rgb, file);
    assertThat(ImageDecoder.readRgb(file).rgb()).isEqualTo(rgb.rgb());

    BufferedImage grey = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_GRAY);
    grey.getRaster().setSample(1, 0, 0, 200);
    Path greyFile = dir.resolve("g.png");
    ImageIO.write(grey, "png", greyFile.toFile());
    assertThat(ImageDecoder.readRgb(greyFile).rgb())
        .isEqualTo(new byte[] {0, 0, 0, (byte) 200, (byte) 200, (byte) 200});
  }

  @Test
  void palettePngIsExpanded() throws Exception {
    byte[] reds = {10, (byte) 250};
    byte[] greens = {20, 5};
    byte[] blues = {30, 6};
    BufferedImage indexed = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_INDEXED,
        new IndexColorModel(1, 2, reds, greens, blues));
    indexed.getRaster().setSample(1, 0, 0, 1);
    Path file = dir.resolve("p.png");
    ImageIO.write(indexed, "png", file.toFile());
    assertThat(ImageDecoder.readRgb(file).rgb()).isEqualTo(new byte[] {10, 20, 30, (byte) 250, 5, 6});
  }

  @Test
  void bytesDecodeLikeTheFileTheyCameFrom() throws Exception {
    Path jpeg = dir.resolve("disk.jpg");
    SyntheticData.writeRgb(SyntheticData.diskImage(200, 150, 90, 70, 40), jpeg);
    byte[] bytes = Files.readAllBytes(jpeg);
    assertThat(ImageDecoder.readRgb(bytes).rgb()).isEqualTo(ImageDecoder.readRgb(jpeg).rgb());
    assertThat(ImageDecoder.readMask(bytes).values()).isEqualTo(ImageDecoder.readMask(jpeg).values());

    Path truncated = dir.resolve("truncated.jpg");
    Files.write(truncated, Arrays.copyOf(bytes, bytes.length * 3 / 4));
    ImageDecodeException fromFile =
        assertThrows(ImageDecodeException.class, () -> ImageDecoder.readRgb(truncated));
    ImageDecodeException fromBytes = assertThrows(ImageDecodeException.class,
        () -> ImageDecoder.readRgb(Arrays.copyOf(bytes, bytes.length * 3 / 4)));
    assertThat(fromFile).hasMessageThat().startsWith(truncated + ": truncated JPEG");
    assertThat(fromBytes.reason()).isEqualTo(fromFile.reason());
    assertThat(fromBytes).hasMessageThat().isEqualTo(fromFile.reason());
  }
}
