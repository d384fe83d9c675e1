// Validation of dataset folders: every kind of bad input is reported with the file it concerns,
// skip-bad quarantines and reports, and nothing is ever written into the dataset.
package org.effiseg.data;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SplitIndexTest {
  @TempDir Path root;

  private Path images() {
    return root.resolve("train").resolve("images");
  }

  private Path masks() {
    return root.resolve("train").resolve("masks");
  }

  private DatasetException failure() {
    return assertThrows(DatasetException.class,
        () -> SplitIndex.open(root, Split.TRAIN, BadInputPolicy.FAIL));
  }

  @Test
  void validDatasetListsPairsInNaturalStemOrder() {
    SyntheticData.dataset(root, Split.TRAIN, 12, 32);
    SplitIndex index = SplitIndex.open(root, Split.TRAIN, BadInputPolicy.FAIL);
    assertThat(index.size()).isEqualTo(12);
    assertThat(index.pairs().stream().map(SamplePair::stem).toList())
        .containsExactly("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11").inOrder();
    assertThat(index.quarantined()).isEmpty();
    assertThat(index.pairs().get(10).mask()).isEqualTo(masks().resolve("10.jpg"));
  }

  @Test
  void missingMaskNamesTheImage() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 3, 32);
    Files.delete(masks().resolve("1.jpg"));
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(images().resolve("1.jpg").toString());
    assertThat(e).hasMessageThat().contains("no mask");
  }

  @Test
  void extraMaskNamesTheMask() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 3, 32);
    Files.copy(masks().resolve("0.jpg"), masks().resolve("7.jpg"));
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(masks().resolve("7.jpg").toString());
    assertThat(e).hasMessageThat().contains("no image");
  }

  @Test
  void sizeMismatchNamesTheMaskAndBothSizes() {
    SyntheticData.dataset(root, Split.TRAIN, 2, 32);
    SyntheticData.writeMask(SyntheticData.diskMask(30, 32, 10, 10, 4), masks().resolve("1.jpg"));
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(masks().resolve("1.jpg").toString());
    assertThat(e).hasMessageThat().contains("30x32");
    assertThat(e).hasMessageThat().contains("32x32");
  }

  @Test
  void truncatedJpegNamesTheFile() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 2, 64);
    Path image = images().resolve("0.jpg");
    byte[] bytes = Files.readAllBytes(image);
    Files.write(image, Arrays.copyOf(bytes, bytes.length / 2));
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(image.toString());
    assertThat(e).hasMessageThat().containsMatch("(?i)truncated|premature|corrupt");
  }

  @Test
  void corruptJpegNamesTheFile() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 2, 64);
    Path mask = masks().resolve("1.jpg");
    byte[] bytes = Files.readAllBytes(mask);
    // Damage the segments after the SOI marker (tables, frame header): no decoder can read past.
    Arrays.fill(bytes, 2, 40, (byte) 0x5A);
    Files.write(mask, bytes);
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(mask.toString());
    assertThat(e).hasMessageThat().containsMatch("(?i)corrupt|unreadable|truncated");
  }

  @Test
  void truncatedPngNamesTheFile() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 2, 32);
    Files.delete(images().resolve("1.jpg"));
    Path png = images().resolve("1.png");
    SyntheticData.writeRgb(SyntheticData.diskImage(32, 32, 9, 9, 5), png);
    byte[] bytes = Files.readAllBytes(png);
    Files.write(png, Arrays.copyOf(bytes, bytes.length - 40));
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(png.toString());
  }

  @Test
  void nonImageFileNamesTheFile() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 2, 32);
    Path notes = images().resolve("notes.txt");
    Files.writeString(notes, "not an image");
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(notes.toString());
    assertThat(e).hasMessageThat().contains("not an image file");
  }

  @Test
  void textWithImageExtensionNamesTheFile() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 2, 32);
    Path fake = images().resolve("1.jpg");
    Files.writeString(fake, "this is text, not a JPEG");
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(fake.toString());
    assertThat(e).hasMessageThat().contains("not an image");
  }

  @Test
  void emptySplitNamesTheFolder() throws IOException {
    Files.createDirectories(images());
    Files.createDirectories(masks());
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(root.resolve("train").toString());
    assertThat(e).hasMessageThat().contains("empty split");
  }

  @Test
  void missingSplitFolderIsNamed() {
    SyntheticData.dataset(root, Split.TRAIN, 1, 32);
    DatasetException e = assertThrows(DatasetException.class,
        () -> SplitIndex.open(root, Split.VALIDATION, BadInputPolicy.FAIL));
    assertThat(e).hasMessageThat().contains(root.resolve("validation").toString());
    assertThat(e).hasMessageThat().contains("does not exist");
  }

  @Test
  void imagesFolderThatIsAFileIsNamed() throws IOException {
    Files.createDirectories(masks());
    Files.writeString(images(), "a file where a folder should be");
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(images().toString());
    assertThat(e).hasMessageThat().contains("not a directory");
  }

  @Test
  void unreadableFolderIsNamed() throws IOException {
    // Permission bits do not stop root, so this case can only be shown as an ordinary user.
    assumeTrue(!"root".equals(System.getProperty("user.name")),
        "running as root: permission bits do not stop root, so an unreadable folder cannot be made");
    SyntheticData.dataset(root, Split.TRAIN, 1, 32);
    assumeTrue(masks().toFile().setReadable(false, false),
        "this file system would not take the read permission away");
    try {
      DatasetException e = failure();
      assertThat(e).hasMessageThat().contains(masks().toString());
      assertThat(e).hasMessageThat().contains("not readable");
    } finally {
      masks().toFile().setReadable(true, false);
    }
  }

  @Test
  void duplicateStemIsAmbiguous() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 2, 32);
    Path png = images().resolve("0.png");
    SyntheticData.writeRgb(SyntheticData.diskImage(32, 32, 9, 9, 5), png);
    DatasetException e = failure();
    assertThat(e).hasMessageThat().contains(png.toString());
    assertThat(e).hasMessageThat().contains("same stem");
  }

  @Test
  void skipBadQuarantinesEachBadPairAndKeepsTheRest() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 5, 32);
    Files.delete(masks().resolve("1.jpg"));
    Files.writeString(images().resolve("3.jpg"), "garbage");
    Files.writeString(images().resolve("readme.md"), "hello");
    SplitIndex index = SplitIndex.open(root, Split.TRAIN, BadInputPolicy.SKIP_BAD);
    assertThat(index.pairs().stream().map(SamplePair::stem).toList())
        .containsExactly("0", "2", "4").inOrder();
    assertThat(index.quarantined().stream().map(BadInput::file).toList()).containsExactly(
        images().resolve("1.jpg"), images().resolve("3.jpg"), images().resolve("readme.md"));
  }

  @Test
  void skipBadWithNothingLeftStillFails() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 1, 32);
    Files.writeString(masks().resolve("0.jpg"), "garbage");
    DatasetException e = assertThrows(DatasetException.class,
        () -> SplitIndex.open(root, Split.TRAIN, BadInputPolicy.SKIP_BAD));
    assertThat(e).hasMessageThat().contains(masks().resolve("0.jpg").toString());
    assertThat(e).hasMessageThat().contains("no usable");
  }

  @Test
  void validationNeverWritesIntoTheDataset() throws IOException {
    SyntheticData.dataset(root, Split.TRAIN, 3, 32);
    Files.writeString(images().resolve("bad.txt"), "x");
    Map<Path, FileTime> before = snapshot();
    SplitIndex.open(root, Split.TRAIN, BadInputPolicy.SKIP_BAD);
    assertThrows(DatasetException.class,
        () -> SplitIndex.open(root, Split.TRAIN, BadInputPolicy.FAIL));
    assertThat(snapshot()).isEqualTo(before);
  }

  @Test
  void realKvasirValidationSplitIsClean() {
    Path kvasir = Path.of(System.getProperty("effiseg.shared", "../shared"), "data", "kvasir-seg");
    assumeTrue(Files.isDirectory(kvasir), "needs ../shared/data/kvasir-seg");
    SplitIndex index = SplitIndex.open(kvasir, Split.VALIDATION, BadInputPolicy.FAIL);
    assertThat(index.size()).isEqualTo(100);
  }

  private Map<Path, FileTime> snapshot() throws IOException {
    Map<Path, FileTime> files = new TreeMap<>();
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path path : walk.toList()) {
        files.put(path, Files.getLastModifiedTime(path));
      }
    }
    return files;
  }
}
