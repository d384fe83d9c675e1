package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A TF.js model.json names its weight files; those names are untrusted. Every shard must be a
 * regular file inside the model's folder, and the shards' sizes must be what the manifest's
 * shapes and dtypes need, checked before a byte is read.
 */
class TfjsConfinementTest {
  @TempDir Path dir;

  /** A copy of the shared B0's model.json in {@code dir/model} whose group reads {@code paths}. */
  private Path modelReading(List<String> paths) throws IOException {
    JsonObject model = JsonParser.parseString(Files.readString(TfjsImporterTest.B0.resolve("model.json")))
        .getAsJsonObject();
    JsonArray array = new JsonArray();
    paths.forEach(array::add);
    model.getAsJsonArray("weightsManifest").get(0).getAsJsonObject().add("paths", array);
    Path folder = Files.createDirectories(dir.resolve("model"));
    Files.writeString(folder.resolve("model.json"), model.toString());
    return folder;
  }

  private List<String> shardNames() throws IOException {
    try (var files = Files.list(TfjsImporterTest.B0)) {
      return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".bin")).sorted().toList();
    }
  }

  @Test
  void shardsOutsideTheModelFolderAreRefused() throws IOException {
    Path outside = Files.createDirectories(dir.resolve("outside"));
    for (String shard : shardNames()) {
      Files.copy(TfjsImporterTest.B0.resolve(shard), outside.resolve(shard));
    }
    Path folder = modelReading(shardNames().stream().map(n -> "../outside/" + n).toList());
    WeightsFormatException e = assertThrows(WeightsFormatException.class,
        () -> PretrainedWeights.load(folder, null, true));
    assertThat(e).hasMessageThat().contains("../outside/group1-shard1of6.bin");
    assertThat(e).hasMessageThat().contains(folder.resolve("model.json").toString());

    for (String path : List.of("/dev/zero", "../../../../../../../etc/passwd")) {
      Path f = modelReading(List.of(path));
      WeightsFormatException refused = assertThrows(WeightsFormatException.class,
          () -> PretrainedWeights.load(f, null, true));
      assertThat(refused).hasMessageThat().contains(path);
    }
  }

  @Test
  void aSymlinkOutOfTheModelFolderIsRefused() throws IOException {
    Path folder = modelReading(shardNames());
    for (String shard : shardNames()) {
      Files.createSymbolicLink(folder.resolve(shard), TfjsImporterTest.B0.resolve(shard).toAbsolutePath());
    }
    WeightsFormatException e = assertThrows(WeightsFormatException.class,
        () -> PretrainedWeights.load(folder, null, true));
    assertThat(e).hasMessageThat().contains("group1-shard1of6.bin");
  }

  @Test
  void shardSizesAreCheckedAgainstTheManifestBeforeReading() throws IOException {
    Path folder = modelReading(List.of("huge.bin"));
    try (RandomAccessFile sparse = new RandomAccessFile(folder.resolve("huge.bin").toFile(), "rw")) {
      sparse.setLength(3L << 30); // 3 GiB of holes: no disk used, but no array can hold it
    }
    WeightsFormatException e = assertThrows(WeightsFormatException.class,
        () -> PretrainedWeights.load(folder, null, true));
    assertThat(e).hasMessageThat().contains("huge.bin");
    assertThat(e).hasMessageThat().contains("manifest");
  }
}
