package org.effiseg.fuzz;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.effiseg.data.DatasetException;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.eval.EvaluationInputException;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.testing.Cli;
import org.effiseg.testing.Mutator;
import org.effiseg.testing.TinyRuns;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;
import org.effiseg.weights.PretrainedWeights;
import org.effiseg.weights.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded, bounded fuzzing of every parser a user can feed: safetensors, checkpoints, TF.js
 * tiny.checkpoint().json with its shard, YAML settings, images, mask folders. Each case is a valid file
 * mutated by {@link Mutator}; the parser must either accept it or refuse it with an expected
 * exception whose one-line message names the file — never another exception type, an
 * OutOfMemoryError or a JVM crash. Every tenth case (every thirtieth tiny.image()) also goes through the
 * command line, which must answer with exit status 0 or 1, one error line, and no stack trace.
 */
class ParserFuzzTest {
  private static final long SEED = 20261202L;
  static final int SAFETENSORS_CASES = 300;
  static final int CHECKPOINT_CASES = 150;
  static final int TFJS_CASES = 200;
  static final int YAML_CASES = 300;
  static final int IMAGE_CASES = 300;
  static final int MASK_FOLDER_CASES = 60;
  private static final Path SHARED = Path.of(System.getProperty("effiseg.shared", "../shared"));

  @TempDir static Path dir;
  private static TinyRuns.Inputs tiny;

  @BeforeAll
  static void fixtures() throws IOException {
    tiny = TinyRuns.inputs(dir);
  }

  /** What a parser did with one case: accepted it, or refused it with this exception. */
  @FunctionalInterface
  private interface Parse {
    void run(Path file) throws Exception;
  }

  /** Parses {@code file}; a refusal must be an expected type, one line, naming {@code named}. */
  private static void expectAcceptedOrNamed(String fuzzCase, Path file, Path named, Parse parse) {
    try {
      parse.run(file);
    } catch (IOException | IllegalArgumentException | EvaluationInputException e) {
      String message = String.valueOf(e.getMessage());
      assertWithMessage(fuzzCase + ": " + e).that(message).contains(named.toString());
      assertWithMessage(fuzzCase + ": one line").that(message).doesNotContain("\n");
    } catch (DatasetException e) {
      assertWithMessage(fuzzCase + ": " + e).that(e.problems()).isNotEmpty();
    } catch (Throwable t) {
      throw new AssertionError(fuzzCase + ": unexpected " + t, t);
    }
  }

  /** The command line on a fuzzed file: exit 0 or 1, at most one error line, no stack trace. */
  private static void expectCleanCli(String fuzzCase, String... args) {
    Cli.Outcome o = Cli.run(args);
    assertWithMessage(fuzzCase + ": exit").that(o.exit()).isAnyOf(0, 1);
    assertWithMessage(fuzzCase).that(o.err() + o.out()).doesNotContain("\tat ");
    assertWithMessage(fuzzCase).that(o.err() + o.out()).doesNotContain("Exception in thread");
    assertWithMessage(fuzzCase + ": error lines in " + o.err())
        .that(o.err().lines().filter(l -> l.startsWith("effiseg ")).count())
        .isEqualTo(o.exit() == 1 ? 1 : 0);
  }

  @Test
  void safetensors() throws IOException {
    StateDict sd = new StateDict();
    sd.put("_conv_stem.weight", new TensorData(new long[] {2, 3, 1, 1}, new float[] {1, 2, 3, 4, 5, 6}));
    sd.put("_bn0.bias", new TensorData(new long[] {2}, new float[] {0.5f, -0.5f}));
    byte[] valid = Safetensors.toBytes(sd, Map.of("format", "pt"));
    Mutator m = new Mutator(SEED);
    for (int i = 0; i < SAFETENSORS_CASES; i++) {
      Path file = Files.write(dir.resolve("fuzz-" + i + ".safetensors"), m.bytes(valid));
      expectAcceptedOrNamed("safetensors case " + i, file, file, Safetensors::read);
      expectAcceptedOrNamed("safetensors case " + i + " (metadata)", file, file, Safetensors::readMetadata);
      if (i % 10 == 0) {
        expectCleanCli("safetensors case " + i, "classify", "--weights", file.toString(), tiny.image().toString());
      }
      Files.delete(file);
    }
  }

  @Test
  void checkpoints() throws IOException {
    // small, with every part a checkpoint has: tiny.checkpoint() tensors, AdamW moments, config, metrics
    StateDict sd = new StateDict();
    sd.put("encoder._conv_stem.weight", new TensorData(new long[] {2, 3, 1, 1}, new float[] {1, 2, 3, 4, 5, 6}));
    sd.put("decoder.head.bias", new TensorData(new long[] {1}, new float[] {0.5f}));
    Path small = dir.resolve("small.safetensors");
    Checkpoint.write(small, new Checkpoint(sd, new Checkpoint.OptimizerState(new float[7], new float[7]),
        "b0", TinyRuns.config(3).toJson(), 2, 6, "{\"best_epoch\": 1, \"best_val_dice\": 0.5}", Map.of()));
    byte[] valid = Files.readAllBytes(small);
    int headerEnd = 8 + (int) (valid[0] & 0xff | (valid[1] & 0xff) << 8 | (valid[2] & 0xff) << 16);
    Mutator m = new Mutator(SEED + 1);
    for (int i = 0; i < CHECKPOINT_CASES; i++) {
      byte[] bytes;
      if (i % 2 == 0) { // the header: metadata, names, shapes, offsets
        byte[] header = new String(valid, 8, headerEnd - 8, StandardCharsets.UTF_8).transform(m::text)
            .getBytes(StandardCharsets.UTF_8);
        bytes = join(lengthPrefix(header.length), header, Arrays.copyOfRange(valid, headerEnd, valid.length));
      } else {
        bytes = m.bytes(valid);
      }
      Path file = Files.write(dir.resolve("fuzz-" + i + ".ckpt.safetensors"), bytes);
      expectAcceptedOrNamed("checkpoint case " + i, file, file, Checkpoint::read);
      if (i % 10 == 1) {
        expectCleanCli("checkpoint case " + i, "predict", "--checkpoint", file.toString(), "--out",
            dir.resolve("fuzz-out-" + i).toString(), "--threads", "1", tiny.image().toString());
      }
      Files.delete(file);
    }
  }

  @Test
  void tfjsModels() throws IOException {
    // the shared B0 cut down to its stem convolution: one node, two tensors, one shard
    Path b0 = SHARED.resolve("weights/efficientnet-b0-tfjs");
    JsonObject full = JsonParser.parseString(Files.readString(b0.resolve("model.json"))).getAsJsonObject();
    JsonObject group = full.getAsJsonArray("weightsManifest").get(0).getAsJsonObject();
    JsonArray weights = new JsonArray();
    weights.add(group.getAsJsonArray("weights").get(0));
    weights.add(group.getAsJsonArray("weights").get(1));
    group.add("weights", weights);
    JsonArray paths = new JsonArray();
    paths.add("group1-shard1of1.bin");
    group.add("paths", paths);
    JsonArray stem = new JsonArray();
    for (JsonElement node : full.getAsJsonObject("modelTopology").getAsJsonArray("node")) {
      String name = node.getAsJsonObject().get("name").getAsString();
      if (name.contains("stem_conv2d") && node.getAsJsonObject().get("op").getAsString().startsWith("_Fused")) {
        stem.add(node);
      }
    }
    full.getAsJsonObject("modelTopology").add("node", stem);
    String validJson = full.toString();
    byte[] validShard = Arrays.copyOf(Files.readAllBytes(b0.resolve("group1-shard1of6.bin")), (864 + 32) * 4);
    Mutator m = new Mutator(SEED + 2);
    for (int i = 0; i < TFJS_CASES; i++) {
      Path folder = Files.createDirectories(dir.resolve("tfjs-" + i));
      Files.writeString(folder.resolve("model.json"), i % 3 == 2 ? validJson : m.text(validJson));
      Files.write(folder.resolve("group1-shard1of1.bin"), i % 3 == 0 ? validShard : m.bytes(validShard));
      expectAcceptedOrNamed("tfjs case " + i, folder, folder, f -> PretrainedWeights.load(f, null, false));
      if (i % 10 == 3) {
        expectCleanCli("tfjs case " + i, "classify", "--weights", folder.toString(), tiny.image().toString());
      }
    }
  }

  @Test
  void yamlSettings() throws IOException {
    String valid = String.join("\n", "variant: b0", "image_size: 64", "epochs: 3", "batch_size: 2",
        "lr: 1.0e-3", "min_lr: 1.0e-5", "weight_decay: 0.01", "augment: improved",
        "augment_mods: [p08, black-rect]", "threshold_logit: 0.5", "deep_supervision: false",
        "weights: \"\"", "threads: 1", "seed: 7", "") ;
    String anchors = "shared: &s [1, 2]\n";
    Mutator m = new Mutator(SEED + 3);
    for (int i = 0; i < YAML_CASES; i++) {
      String text = m.text(i % 7 == 0 ? anchors + valid : valid);
      Path file = Files.writeString(dir.resolve("fuzz-" + i + ".yaml"), text);
      expectAcceptedOrNamed("yaml case " + i, file, file, f -> TrainConfig.preset("smoke").applyFile(f));
      if (i % 10 == 4) {
        expectCleanCli("yaml case " + i, "train", "--data", dir.resolve("no-data").toString(),
            "--out", dir.resolve("no-run").toString(), "--config", file.toString());
      }
      Files.delete(file);
    }
    assertThat(Files.exists(dir.resolve("no-run"))).isFalse();
  }

  @Test
  void images() throws IOException {
    List<byte[]> valid = new ArrayList<>();
    valid.add(Files.readAllBytes(tiny.image()));
    valid.add(Files.readAllBytes(tiny.data().resolve("test/masks/0.png")));
    java.io.ByteArrayOutputStream bmp = new java.io.ByteArrayOutputStream();
    javax.imageio.ImageIO.write(javax.imageio.ImageIO.read(tiny.image().toFile()), "bmp", bmp);
    valid.add(bmp.toByteArray());
    String[] extensions = {"jpg", "png", "bmp"};
    Mutator m = new Mutator(SEED + 4);
    for (int i = 0; i < IMAGE_CASES; i++) {
      int kind = i % valid.size();
      Path file = Files.write(dir.resolve("fuzz-" + i + "." + extensions[kind]), m.bytes(valid.get(kind)));
      expectAcceptedOrNamed("image case " + i, file, file, ImageDecoder::readRgb);
      expectAcceptedOrNamed("mask case " + i, file, file, ImageDecoder::readMask);
      if (i % 30 == 5) { // predict runs the tiny.checkpoint(): fewer of these
        expectCleanCli("image case " + i, "predict", "--checkpoint", tiny.checkpoint().toString(), "--out",
            dir.resolve("fuzz-masks-" + i).toString(), "--threads", "1", file.toString());
      }
      Files.delete(file);
    }
  }

  @Test
  void maskFolders() throws IOException {
    Mutator m = new Mutator(SEED + 5);
    byte[] mask = Files.readAllBytes(tiny.data().resolve("test/masks/0.png"));
    for (int i = 0; i < MASK_FOLDER_CASES; i++) {
      Path root = TinyRuns.dataset(dir.resolve("masks-" + i));
      Path masks = root.resolve("test/masks");
      Path predictions = Files.createDirectories(dir.resolve("predictions-" + i));
      for (String id : List.of("0", "1")) {
        Files.write(predictions.resolve(id + ".png"), mask);
      }
      // damage: a corrupt mask or prediction, a stray file or folder, a file removed
      Path victim = (i % 2 == 0 ? masks : predictions).resolve("1.png");
      switch (m.nextInt(4)) {
        case 0 -> Files.write(victim, m.bytes(mask));
        case 1 -> Files.writeString(victim.resolveSibling("notes.txt"), "stray");
        case 2 -> Files.createDirectories(victim.resolveSibling("sub"));
        default -> Files.delete(victim);
      }
      expectAcceptedOrNamed("split case " + i, root, root,
          f -> SplitIndex.open(f, Split.TEST, BadInputPolicy.FAIL));
      expectCleanCli("mask folder case " + i, "evaluate", "--predictions", predictions.toString(),
          "--data", root.toString(), "--split", "test");
    }
  }

  private static byte[] lengthPrefix(long n) {
    byte[] b = new byte[8];
    for (int i = 0; i < 8; i++) {
      b[i] = (byte) (n >>> (8 * i));
    }
    return b;
  }

  private static byte[] join(byte[]... parts) {
    int total = 0;
    for (byte[] p : parts) {
      total += p.length;
    }
    byte[] out = new byte[total];
    int at = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, out, at, p.length);
      at += p.length;
    }
    return out;
  }
}
