package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.augment.Sample;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.Mask;
import org.effiseg.data.RgbImage;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.Cli;
import org.effiseg.testing.OrtModel;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code effiseg export} on a trained checkpoint: the exported model in ONNX Runtime against
 * effiseg on real Kvasir-SEG images, the deployment example (examples/SegmentPolypsOnnx.java)
 * against {@code effiseg predict}, and bad input.
 */
class ExportCommandTest {
  private static final Path SHARED = Path.of(System.getProperty("effiseg.shared", "../shared"));
  private static final Path DATA = SHARED.resolve("data/kvasir-seg");
  private static final List<String> TEST_IMAGES = List.of("0.jpg", "1.jpg", "10.jpg", "11.jpg", "12.jpg");
  @TempDir static Path dir;
  private static Path checkpoint;
  private static Path model;
  private static String exportOut;

  /**
   * B0 at 64x64 from the ImageNet-pretrained encoder, 18 steps: crude, but trained (real BN
   * statistics) and its masks are neither empty nor full, so mask agreement means something.
   */
  @BeforeAll
  static void trainAndExport() {
    Path run = dir.resolve("run");
    Cli.Outcome train = Cli.run("train", "--preset", "smoke", "--weights", SHARED.resolve("weights/efficientnet-b0-tfjs").toString(),
        "--lr", "1e-3", "--epochs", "3", "--train-limit", "24", "--batch-size", "4", "--calibration-images", "8",
        "--data", DATA.toString(), "--out", run.toString(), "--eval-split", "none", "--threads", "2");
    assertWithMessage(train.err()).that(train.exit()).isEqualTo(0);
    checkpoint = run.resolve("best.safetensors");
    model = dir.resolve("model.onnx");
    Cli.Outcome export = Cli.run("export", "--checkpoint", checkpoint.toString(), "--out", model.toString());
    assertWithMessage(export.err()).that(export.exit()).isEqualTo(0);
    exportOut = export.out();
  }

  @Test
  void exportPrintsTheFileSizeAndTheContract() throws Exception {
    String sha256 = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(checkpoint)));
    assertThat(exportOut).contains("wrote " + model + " (");
    assertThat(exportOut).contains(" MB)");
    assertThat(exportOut).contains("input  image float32 [N,3,64,64]: RGB resized to 64x64, scaled to [0,1]");
    assertThat(exportOut).contains("mean 0.485,0.456,0.406, std 0.229,0.224,0.225");
    assertThat(exportOut).contains("output logits float32 [N,1,64,64]: polyp where the logit > 0.0");
    assertThat(exportOut).contains("preset 'smoke'");
    assertThat(exportOut).contains(sha256);
    assertThat(leftovers()).containsExactly("model.onnx", "run");
  }

  /** The exported model in ORT and effiseg's own forward pass, on effiseg's preprocessing of real images. */
  @Test
  void trainedCheckpointMatchesEffisegOnKvasirImagesInBatchesOfOneAndThree() throws Exception {
    Checkpoint c = Checkpoint.read(checkpoint);
    TrainConfig config = TrainConfig.fromJson(c.configJson());
    int size = config.resolution();
    AugmentPipeline preprocessing = new AugmentPipeline(AugmentPresets.NONE, size);
    Sample sample = preprocessing.newSample();
    int per = size * size * 3;
    float[] nhwc = new float[3 * per];
    float[] image = new float[per];
    for (int i = 0; i < 3; i++) {
      RgbImage rgb = ImageDecoder.readRgb(DATA.resolve("test/images").resolve(TEST_IMAGES.get(i)));
      preprocessing.prepare(rgb, new Mask(rgb.width(), rgb.height(), new byte[rgb.width() * rgb.height()]), 0, 0, i, sample);
      preprocessing.normalize(sample, image, new float[size * size]);
      System.arraycopy(image, 0, nhwc, i * per, per);
    }
    try (OrtModel ort = new OrtModel(Files.readAllBytes(model), 2);
        Context ctx = Context.cpu(2);
        EffiSegNet net = EffiSegNet.create(ctx, config.modelConfig())) {
      net.loadStateDict(c.model(), true);
      for (int n : new int[] {3, 1}) {
        float[] expected;
        try (Tensor x = ctx.tensor(java.util.Arrays.copyOf(nhwc, n * per), n, size, size, 3);
            Tensor y = net.forward(x, false)) {
          expected = y.read();
        }
        float[] onnx = ort.run(OrtModel.nchw(java.util.Arrays.copyOf(nhwc, n * per), n, size, size, 3), n, 3, size, size);
        OrtModel.assertWithinRange("batch " + n, onnx, expected, 1e-4);
      }
    }
  }

  /**
   * The deployment example, which knows nothing of effiseg (its own resize, normalisation from
   * the model's metadata, ORT, bilinear resize back, threshold), against {@code effiseg predict}:
   * at least 99 % of the pixels of every mask agree, at each image's size.
   */
  @Test
  void onnxRuntimeExampleAgreesWithPredict() throws Exception {
    List<String> images = new ArrayList<>();
    for (String name : TEST_IMAGES) {
      images.add(DATA.resolve("test/images").resolve(name).toString());
    }
    Path predicted = dir.resolve("predicted");
    List<String> predict = new ArrayList<>(List.of("predict", "--checkpoint", checkpoint.toString(),
        "--out", predicted.toString(), "--device", "cpu", "--threads", "2"));
    predict.addAll(images);
    assertThat(Cli.run(predict.toArray(String[]::new)).exit()).isEqualTo(0);

    Path classes = Files.createDirectories(dir.resolve("example-classes"));
    javax.tools.JavaCompiler javac = javax.tools.ToolProvider.getSystemJavaCompiler();
    assertThat(javac.run(null, null, null, "-d", classes.toString(), "-cp", System.getProperty("java.class.path"),
        "examples/SegmentPolypsOnnx.java")).isEqualTo(0);
    Path onnxOut = dir.resolve("onnx-masks");
    List<String> args = new ArrayList<>(List.of(model.toString(), onnxOut.toString()));
    args.addAll(images);
    try (java.net.URLClassLoader loader = new java.net.URLClassLoader(
        new java.net.URL[] {classes.toUri().toURL()}, getClass().getClassLoader())) {
      loader.loadClass("SegmentPolypsOnnx").getMethod("main", String[].class)
          .invoke(null, (Object) args.toArray(String[]::new));
    }

    long polyp = 0;
    long pixels = 0;
    for (String name : TEST_IMAGES) {
      String stem = name.replace(".jpg", "");
      BufferedImage a = ImageIO.read(predicted.resolve(stem + ".png").toFile());
      BufferedImage b = ImageIO.read(onnxOut.resolve(stem + "-mask.png").toFile());
      assertThat(b.getWidth()).isEqualTo(a.getWidth());
      assertThat(b.getHeight()).isEqualTo(a.getHeight());
      long agree = 0;
      for (int y = 0; y < a.getHeight(); y++) {
        for (int x = 0; x < a.getWidth(); x++) {
          boolean pa = (a.getRGB(x, y) & 0xFF) > 127;
          boolean pb = (b.getRGB(x, y) & 0xFF) > 127;
          agree += pa == pb ? 1 : 0;
          polyp += pa ? 1 : 0;
        }
      }
      pixels += (long) a.getWidth() * a.getHeight();
      double agreement = (double) agree / ((long) a.getWidth() * a.getHeight());
      assertWithMessage("pixel agreement on " + name).that(agreement).isAtLeast(0.99);
    }
    // Agreement would be empty if the masks were all background or all polyp.
    assertThat((double) polyp / pixels).isIn(com.google.common.collect.Range.open(0.02, 0.98));
  }

  @Test
  void notACheckpointFailsWithOneLineAndNoFile() throws Exception {
    Path text = Files.writeString(dir.resolve("notes.safetensors"), "not a checkpoint");
    Path out = dir.resolve("bad-input/a.onnx");
    assertFailsCleanly(out, text + ": not a safetensors file",
        "export", "--checkpoint", text.toString(), "--out", out.toString());
  }

  @Test
  void unwritableOutputFailsWithOneLineAndNoFile() throws Exception {
    Path file = Files.writeString(Files.createDirectories(dir.resolve("bad-output")).resolve("plain-file"), "x");
    Path out = file.resolve("model.onnx");
    assertFailsCleanly(out, "cannot write " + out + ": " + file + " is a file, not a folder",
        "export", "--checkpoint", checkpoint.toString(), "--out", out.toString());
    Path folder = Files.createDirectories(dir.resolve("bad-output/a-folder.onnx"));
    Cli.Outcome o = Cli.run("export", "--checkpoint", checkpoint.toString(), "--out", folder.toString());
    assertThat(o.exit()).isEqualTo(1);
    assertThat(o.err()).isEqualTo("effiseg export: " + folder + " is a folder; name the .onnx file to write\n");
    try (Stream<Path> files = Files.list(folder.getParent())) {
      assertThat(files.map(p -> p.getFileName().toString()).toList()).containsExactly("plain-file", "a-folder.onnx");
    }
  }

  @Test
  void imageSizesTheNetworkCannotTakeFailWithOneLineAndNoFile() throws Exception {
    Path out = dir.resolve("bad-size/a.onnx");
    assertFailsCleanly(out, "image size 16: the network takes 32 to 4096 pixels",
        "export", "--checkpoint", checkpoint.toString(), "--out", out.toString(), "--image-size", "16");
    assertFailsCleanly(out, "image size 110 cannot be exported: effiseg's nearest upsampling from 4 to 110 pixels",
        "export", "--checkpoint", checkpoint.toString(), "--out", out.toString(), "--image-size", "110");
    Cli.Outcome usage = Cli.run("export", "--checkpoint", checkpoint.toString(), "--out", out.toString(), "--batch", "some");
    assertThat(usage.exit()).isEqualTo(2);
    assertThat(usage.err()).contains("--batch some");
  }

  /** Exit 1, one line on stderr that starts with {@code message}, and nothing at {@code out} or beside it. */
  private static void assertFailsCleanly(Path out, String message, String... args) throws Exception {
    Cli.Outcome o = Cli.run(args);
    assertThat(o.exit()).isEqualTo(1);
    assertThat(o.err()).startsWith("effiseg export: " + message);
    assertThat(o.err().strip().lines().count()).isEqualTo(1);
    assertThat(Files.exists(out)).isFalse();
    if (Files.isDirectory(out.getParent())) {
      try (Stream<Path> left = Files.list(out.getParent())) {
        assertThat(left.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList()).isEmpty();
      }
    }
  }

  private static List<String> leftovers() throws Exception {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).filter(n -> n.equals("model.onnx") || n.equals("run")
          || n.contains("model.onnx")).sorted().toList();
    }
  }
}
