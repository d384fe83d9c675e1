package org.effiseg.data;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.effiseg.testing.BadImages;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files the decoder refuses, each error naming the file. */
class ImageDecoderLimitsTest {
  @TempDir Path dir;

  private Path jpeg() {
    return SyntheticData.dataset(dir.resolve("data"), Split.TEST, 1, 48)
        .resolve("test/images/0.jpg");
  }

  private static ImageDecodeException refused(Path file) {
    ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> ImageDecoder.readRgb(file));
    assertThat(e).hasMessageThat().contains(file.toString());
    return e;
  }

  @Test
  void aFileTooShortToBeAnImageIsNamed() throws IOException {
    refused(Files.write(dir.resolve("ten.jpg"), Arrays.copyOf(Files.readAllBytes(jpeg()), 10)));
  }

  @Test
  void aPngCutBeforeItsEndChunkIsTruncated() throws IOException {
    Path png = Files.write(dir.resolve("cut.png"), BadImages.withoutIend(jpeg()));
    assertThat(refused(png)).hasMessageThat().contains("truncated");
  }

  @Test
  void aJpegWithoutItsEndMarkerIsTruncated() throws IOException {
    byte[] bytes = Files.readAllBytes(jpeg());
    Path cut = Files.write(dir.resolve("cut.jpg"), Arrays.copyOf(bytes, bytes.length - 2));
    assertThat(refused(cut)).hasMessageThat().contains("truncated");
  }

  @Test
  void aCmykJpegIsRefusedByName() throws IOException {
    assertThat(refused(BadImages.cmykJpeg(dir.resolve("cmyk.jpg")))).hasMessageThat().contains("colour");
  }

  @Test
  void dimensionsAreBoundedFromTheHeaderBeforeDecoding() throws IOException {
    Path png = Files.write(dir.resolve("large.png"), BadImages.hugePng(20000, 20000));
    assertThat(refused(png)).hasMessageThat().contains("20000x20000");
  }
}
