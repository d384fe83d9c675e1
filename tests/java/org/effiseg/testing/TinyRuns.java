package org.effiseg.testing;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.data.SyntheticData;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.train.TrainConfig;
import org.effiseg.train.Trainer;
import org.effiseg.weights.Checkpoint;

/**
 * The smallest real runs: synthetic disk images (6 training, 2 validation, 2 test pairs of
 * 48x48, JPEG images and PNG masks) and EffiSegNet-B0 at 32x32, batch 2, one native thread, no augmentation.
 */
public final class TinyRuns {
  private TinyRuns() {}

  /**
   * Writes the dataset under {@code root} and returns it. The disks cover about a third of each
   * image, so that validation Dice moves within a few epochs at 32x32 (with {@link #seed}, a run
   * of {@link #config}(3) is best at epochs 1 and 3).
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

  /** Tried in this order by {@link #seed}. */
  private static final List<Long> CANDIDATE_SEEDS =
      List.of(31L, 42L, 7L, 11L, 13L, 17L, 19L, 23L, 29L, 37L, 41L, 43L, 47L, 53L, 59L, 61L, 67L,
          71L, 73L, 79L, 83L, 89L, 97L);

  /**
   * Tried in this order, for each candidate seed, by {@link #seed}: low decays first, since with 3
   * steps an epoch an average of decay 0.6 or more often still predicts no polyp at epoch 3 when
   * the raw model has just begun to (measured on the avx512, avx2 and portable paths).
   */
  private static final List<Double> CANDIDATE_DECAYS =
      List.of(0.3, 0.4, 0.2, 0.5, 0.1, 0.6, 0.7, 0.8, 0.9);

  /** A seed and a decay that together give the runs {@link #seed} describes. */
  private record Choice(long seed, double decay) {}

  private static Choice choice;

  /**
   * The seed of {@link #config} and {@link #flags}: the first of {@link #CANDIDATE_SEEDS} whose
   * 3-epoch run is best at epochs 1 and 3 of 3 (validation Dice d2 &lt;= d1 &lt; d3), so that a
   * run reaches every path of the checkpoint protocol (a best epoch, an epoch that is not, a
   * later best), and for which one of {@link #CANDIDATE_DECAYS} gives a weight average that is
   * best at epochs 1 and 3 too ({@link #emaDecay}). Found once per JVM by running the candidates
   * (about a second a run) on the kernel path in use: at 32x32 a kernel's rounding, or the GEMM
   * kernel OpenBLAS picks for the CPU, moves validation Dice enough to change which seeds and
   * decays qualify, so no fixed pair holds on every machine.
   */
  public static synchronized long seed() {
    return choice().seed();
  }

  /**
   * The decay for {@link #emaConfig}, found with {@link #seed}: the 3-epoch run's average, too,
   * is best at epochs 1 and 3 of 3 (its validation Dice d2 &lt;= d1 &lt; d3, and at epoch 3 not
   * the raw model's), so that {@code best-ema.safetensors} goes through every path of the
   * checkpoint protocol and holds something else than the raw model would.
   */
  public static synchronized double emaDecay() {
    return choice().decay();
  }

  private static Choice choice() {
    if (choice != null) {
      return choice;
    }
    Path dir = null;
    try {
      dir = Files.createTempDirectory("effiseg-tiny-candidates");
      Path data = dataset(dir.resolve("data"));
      SplitIndex train = SplitIndex.open(data, Split.TRAIN, BadInputPolicy.FAIL);
      SplitIndex validation = SplitIndex.open(data, Split.VALIDATION, BadInputPolicy.FAIL);
      PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
      StringBuilder tried = new StringBuilder();
      for (long seed : CANDIDATE_SEEDS) {
        Path raw = dir.resolve("seed-" + seed);
        new Trainer(config(3, seed), train, validation, raw, quiet).train();
        double[] dice = column(raw, "val_dice");
        tried.append(String.format("%n seed %d: val_dice %s", seed, Arrays.toString(dice)));
        if (!bestAtEpochs1And3(dice)) {
          continue;
        }
        for (double decay : CANDIDATE_DECAYS) {
          Path averaged = dir.resolve("seed-" + seed + "-ema-" + decay);
          new Trainer(emaConfig(3, seed, decay), train, validation, averaged, quiet).train();
          double[] ema = column(averaged, "val_dice_ema");
          tried.append(String.format(";  ema %s: %s", decay, Arrays.toString(ema)));
          if (bestAtEpochs1And3(ema) && ema[2] != dice[2]) {
            choice = new Choice(seed, decay);
            System.out.printf("TinyRuns: seed %d, weight average decay %s on this kernel path:%s%n",
                seed, decay, tried);
            return choice;
          }
        }
      }
      throw new IllegalStateException("no candidate seed gives a tiny run that is best at epochs 1"
          + " and 3 with a weight average (one of the candidate decays) best at epochs 1 and 3 and"
          + " other than the raw model at 3; validation Dice per epoch:" + tried);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      if (dir != null) {
        deleteTree(dir);
      }
    }
  }

  /** d2 &lt;= d1 &lt; d3 for a 3-epoch curve. */
  private static boolean bestAtEpochs1And3(double[] dice) {
    return dice.length == 3 && dice[1] <= dice[0] && dice[2] > dice[0];
  }

  private static double[] column(Path run, String name) throws IOException {
    return Files.readAllLines(run.resolve("epochs.jsonl")).stream()
        .filter(line -> !line.isBlank())
        .mapToDouble(line -> JsonParser.parseString(line).getAsJsonObject().get(name).getAsDouble())
        .toArray();
  }

  private static void deleteTree(Path dir) {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The settings as {@code train} flags (after {@code --preset smoke}). */
  public static List<String> flags(int epochs) {
    return List.of("--preset", "smoke", "--seed", Long.toString(seed()), "--image-size", "32",
        "--epochs", Integer.toString(epochs),
        "--lr", "0.01", "--min-lr", "0.01", "--augment", "none", "--threads", "1",
        "--workers", "1", "--train-limit", "0", "--val-limit", "0");
  }

  /** The same settings as a configuration. */
  public static TrainConfig config(int epochs) {
    return config(epochs, seed());
  }

  /**
   * {@link #config} with a weight average of decay {@code ema} ({@code --ema}): the same raw run
   * (best at epochs 1 and 3 of 3), 3 optimizer steps per epoch.
   */
  public static TrainConfig emaConfig(int epochs, double ema) {
    return emaConfig(epochs, seed(), ema);
  }

  private static TrainConfig emaConfig(int epochs, long seed, double ema) {
    TrainConfig c = config(epochs, seed);
    c.apply(Map.of("ema", ema), "test");
    return c.validate();
  }

  private static TrainConfig config(int epochs, long seed) {
    TrainConfig c = TrainConfig.preset("smoke");
    c.apply(Map.of("seed", seed, "image_size", 32, "epochs", epochs, "lr", 1e-2, "min_lr", 1e-2,
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
