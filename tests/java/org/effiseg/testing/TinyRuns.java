package org.effiseg.testing;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.effiseg.data.Split;
import org.effiseg.data.SyntheticData;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;

/**
 * The smallest real runs: synthetic disk images (6 training, 2 validation, 2 test pairs of
 * 48x48, JPEG images and PNG masks) and EffiSegNet-B0 at 32x32, batch 2, one native thread, no augmentation.
 */
public final class TinyRuns {
  private TinyRuns() {}

  /**
   * Writes the dataset under {@code root} and returns it. The disks cover about a third of each
   * image, so that validation Dice moves within a few epochs at 32x32: with {@link #config} (its
   * seed, 31, chosen for this) it is best at epochs 1 and 3 of 3 (epoch 2 does not improve),
   * which exercises every path of the checkpoint protocol; checked on the portable, avx2 and
   * avx512 kernel paths (validation Dice 0, 0, 0.84 on the two AVX paths, 0, 0, 0.96 on the
   * portable one).
   */
  public static Path dataset(Path root) {
    write(root, Split.TRAIN, 6);
    write(root, Split.VALIDATION, 2);
    write(root, Split.TEST, 2);
    return root;
  }

  private static void write(Path root, Split split, int count) {
    int size = 48;
    Path images = root.resolve(split.folder()).resolve("images");
    Path masks = root.resolve(split.folder()).resolve("masks");
    for (int i = 0; i < count; i++) {
      int cx = size / 4 + (i * 7) % (size / 2);
      int cy = size / 3 + (i * 5) % (size / 3);
      int radius = size / 3 + i % 3;
      try {
        Files.createDirectories(images);
        Files.createDirectories(masks);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      SyntheticData.writeRgb(SyntheticData.diskImage(size, size, cx, cy, radius), images.resolve(i + ".jpg"));
      SyntheticData.writeMask(SyntheticData.diskMask(size, size, cx, cy, radius), masks.resolve(i + ".png"));
    }
  }

  /** The settings as {@code train} flags (after {@code --preset smoke}). */
  public static List<String> flags(int epochs) {
    return List.of("--preset", "smoke", "--seed", "31", "--image-size", "32",
        "--epochs", Integer.toString(epochs),
        "--lr", "0.01", "--min-lr", "0.01", "--augment", "none", "--threads", "1",
        "--workers", "1", "--train-limit", "0", "--val-limit", "0");
  }

  /** The same settings as a configuration. */
  public static TrainConfig config(int epochs) {
    TrainConfig c = TrainConfig.preset("smoke");
    c.apply(Map.of("seed", 31, "image_size", 32, "epochs", epochs, "lr", 1e-2, "min_lr", 1e-2,
        "augment", "none", "threads", 1, "workers", 1, "train_limit", 0, "val_limit", 0), "test");
    return c.validate();
  }

  /** A tiny dataset, a random-weights checkpoint for it, and one of its test images. */
  public record Inputs(Path data, Path checkpoint, Path image) {}

  /** {@link #dataset} in {@code dir}/data, {@link #checkpoint} as {@code dir}/model.safetensors. */
  public static Inputs inputs(Path dir) throws IOException {
    Path data = dataset(dir.resolve("data"));
    return new Inputs(data, checkpoint(dir.resolve("model.safetensors"), false),
        data.resolve("test/images/0.jpg"));
  }

  /**
   * Writes an untrained checkpoint of {@link #config}'s model; with {@code poisoned}, one weight
   * of {@link #poisonedTensor()} is then overwritten with NaN in the file (as a corrupted or
   * foreign file would hold; {@link Checkpoint#write} itself refuses non-finite tensors).
   */
  public static Path checkpoint(Path file, boolean poisoned) throws IOException {
    TrainConfig c = config(1);
    try (Context ctx = Context.cpu(1);
        EffiSegNet model = EffiSegNet.create(ctx, c.modelConfig())) {
      Checkpoint.write(file, new Checkpoint(model.stateDict(), null, c.variant, c.toJson(), 1, 3, "{}", Map.of()));
    }
    if (poisoned) {
      byte[] bytes = Files.readAllBytes(file);
      ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
      int headerLength = (int) buf.getLong(0);
      JsonObject header = JsonParser.parseString(
          new String(bytes, 8, headerLength, StandardCharsets.UTF_8)).getAsJsonObject();
      long begin = header.getAsJsonObject(poisonedTensor()).getAsJsonArray("data_offsets").get(0).getAsLong();
      buf.putFloat(8 + headerLength + (int) begin + 8, Float.NaN);
      Files.write(file, bytes);
    }
    return file;
  }

  public static String poisonedTensor() {
    return "encoder._conv_stem.weight";
  }
}
