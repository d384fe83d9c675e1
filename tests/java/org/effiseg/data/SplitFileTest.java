// The split file: honoured exactly, every kind of bad line named by its number, every unlisted
// image named, and what format() writes reads back to the same assignment.
package org.effiseg.data;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SplitFileTest {
  @TempDir Path dir;

  /** Images a.jpg, b.jpg, c.png, d.jpg: each known by stem and by file name. */
  private static Map<String, String> images() {
    Map<String, String> byName = new HashMap<>();
    for (String file : List.of("a.jpg", "b.jpg", "c.png", "d.jpg")) {
      String stem = file.substring(0, file.indexOf('.'));
      byName.put(stem, stem);
      byName.put(file, stem);
    }
    return byName;
  }

  private Map<Split, List<String>> read(String text) throws IOException {
    Path file = dir.resolve("split.csv");
    Files.write(file, text.getBytes(StandardCharsets.UTF_8));
    return SplitFile.read(file, images(), "SRC/images");
  }

  private DatasetException failure(String text) {
    return assertThrows(DatasetException.class, () -> read(text));
  }

  @Test
  void assignmentIsHonouredExactly() throws IOException {
    Map<Split, List<String>> split = read(
        "\uFEFFname,split\r\n# a comment\r\nd.jpg,test\r\n a , train \r\n\r\nc.png,validation\r\nb,TRAIN\r\n");
    assertThat(split.get(Split.TRAIN)).containsExactly("a", "b").inOrder();
    assertThat(split.get(Split.VALIDATION)).containsExactly("c");
    assertThat(split.get(Split.TEST)).containsExactly("d");
  }

  @Test
  void formatReadsBackToTheSameAssignment() throws IOException {
    Map<Split, List<String>> split = read("a,train\nb,train\nc,validation\nd,test\n");
    String text = SplitFile.format(split);
    assertThat(text).isEqualTo("name,split\na,train\nb,train\nc,validation\nd,test\n");
    assertThat(read(text)).isEqualTo(split);
  }

  @Test
  void everyBadLineIsNamedByNumber() {
    DatasetException e = failure(
        "name,split\na,train\nb,val\nzz,test\na.jpg,test\nc\nd,validation,extra\n");
    String message = e.getMessage();
    assertThat(message).contains("line 3: unknown split 'val'");
    assertThat(message).contains("line 4: no image 'zz' in SRC/images");
    assertThat(message).contains("line 5: 'a.jpg' is listed again (first on line 2)");
    assertThat(message).contains("line 6: expected 'name,split'");
    assertThat(message).contains("line 7: expected 'name,split'");
    assertThat(e.problems()).hasSize(8); // and images b, c, d are unlisted
  }

  @Test
  void unlistedImagesAreNamed() {
    DatasetException e = failure("a,train\nb,validation\n");
    assertThat(e.getMessage()).contains("image 'c' of SRC/images is not listed");
    assertThat(e.getMessage()).contains("image 'd' of SRC/images is not listed");
    assertThat(e.problems()).hasSize(2);
  }

  @Test
  void missingOrNonUtf8FileIsNamed() throws IOException {
    DatasetException missing = assertThrows(DatasetException.class,
        () -> SplitFile.read(dir.resolve("nope.csv"), images(), "SRC"));
    assertThat(missing).hasMessageThat().contains("nope.csv");
    Path latin1 = dir.resolve("latin1.csv");
    Files.write(latin1, new byte[] {'a', ',', 't', 'r', 'a', 'i', 'n', (byte) 0xE9, '\n'});
    DatasetException binary = assertThrows(DatasetException.class,
        () -> SplitFile.read(latin1, images(), "SRC"));
    assertThat(binary).hasMessageThat().contains("not UTF-8");
  }

  @Test
  void namesThatCannotBeFieldsAreRecognised() {
    assertThat(SplitFile.representable("cju0qkwl35piu0993l0dewei2")).isTrue();
    assertThat(SplitFile.representable("a,b")).isFalse();
    assertThat(SplitFile.representable(" a")).isFalse();
    assertThat(SplitFile.representable("#a")).isFalse();
  }
}
