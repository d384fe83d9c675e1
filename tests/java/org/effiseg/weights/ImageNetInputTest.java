package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;

import java.awt.image.BufferedImage;
import org.junit.jupiter.api.Test;

class ImageNetInputTest {
  @Test
  void resizeKeepsConstantsAndAveragesWhenShrinking() {
    float[] flat = new float[10 * 6 * 3];
    java.util.Arrays.fill(flat, 77f);
    for (float v : ImageNetInput.resize(flat, 10, 6, 4, 3)) {
      assertThat(v).isWithin(1e-4f).of(77f);
    }
    // A 2:1 shrink of alternating columns 0/255 averages them.
    float[] stripes = new float[8 * 2 * 3];
    for (int i = 0; i < 16; i++) {
      java.util.Arrays.fill(stripes, 3 * i, 3 * i + 3, (i % 8) % 2 == 0 ? 0f : 255f);
    }
    float[] half = ImageNetInput.resize(stripes, 8, 2, 4, 2);
    assertThat(half[3 * 1]).isWithin(1f).of(127.5f);
  }

  @Test
  void centreCropUsesImagesAtTheResolutionAsIsAndCropsOthers() {
    BufferedImage exact = new BufferedImage(224, 224, BufferedImage.TYPE_INT_RGB);
    exact.setRGB(5, 7, 0xff8000);
    float[] x = ImageNetInput.centreCrop(exact, 224);
    assertThat(x).hasLength(224 * 224 * 3);
    int at = (7 * 224 + 5) * 3;
    assertThat(x[at]).isWithin(1e-5f).of((1f - 0.485f) / 0.229f);
    assertThat(x[at + 1]).isWithin(1e-5f).of((128f / 255f - 0.456f) / 0.224f);
    assertThat(x[at + 2]).isWithin(1e-5f).of((0f - 0.406f) / 0.225f);

    BufferedImage wide = new BufferedImage(960, 540, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 540; y++) {
      for (int c = 0; c < 960; c++) {
        wide.setRGB(c, y, c < 480 ? 0x000000 : 0xffffff); // left half black, right half white
      }
    }
    float[] crop = ImageNetInput.centreCrop(wide, 224);
    assertThat(crop).hasLength(224 * 224 * 3);
    assertThat(crop[(100 * 224 + 2) * 3]).isWithin(1e-4f).of(-0.485f / 0.229f);
    assertThat(crop[(100 * 224 + 221) * 3]).isWithin(1e-4f).of((1 - 0.485f) / 0.229f);
  }

  @Test
  void labelsAndTop5() throws Exception {
    ImageNetLabels labels = ImageNetLabels.bundled();
    assertThat(labels.size()).isEqualTo(1000);
    assertThat(labels.label(817)).isEqualTo("sports car");
    assertThat(labels.label(388)).isEqualTo("giant panda");
    float[] logits = new float[1000];
    logits[817] = 10;
    logits[388] = 8;
    logits[3] = 7;
    var top = labels.top5(logits);
    assertThat(top).hasSize(5);
    assertThat(top.get(0).index()).isEqualTo(817);
    assertThat(top.get(1).label()).isEqualTo("giant panda");
    assertThat(top.get(0).probability()).isWithin(1e-9)
        .of(Math.exp(10) / (Math.exp(10) + Math.exp(8) + Math.exp(7) + 997));
  }
}
