package org.effiseg.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.effiseg.data.SamplePair;
import org.effiseg.data.SplitIndex;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.NativeMemory;
import org.effiseg.util.AtomicFiles;
import org.effiseg.util.BuildInfo;
import org.effiseg.util.ContentDigest;
import org.effiseg.util.HostName;
import org.effiseg.util.ParentWatch;

/**
 * {@code run.json}: what a run's result depends on besides its settings ({@code config.json},
 * which holds the seed): the training and validation data (a {@link ContentDigest} of every
 * image and mask used, by name relative to the dataset root), the pretrained weights' digest,
 * and for every start of the run ({@code train}, then each {@code --resume}) the build (version
 * and commit), the native core, the backend, device and native thread count, the loader's
 * threads, Java, the OS, the host and the environment variables that steer the native
 * libraries. docs/reproducibility.md says which of these change the result.
 *
 * <p>A resume refuses data whose digest differs from the recorded one: the run would no longer
 * be the run its settings describe.
 */
final class RunRecord {
  static final String FILE = "run.json";
  private static final String FORMAT = "effiseg-run";
  private static final int FORMAT_VERSION = 1;
  /** Environment variables recorded when set: they can change what the native code computes. */
  private static final List<String> ENV_PREFIXES = List.of(
      "EFFISEG_", "OMP_", "GOMP_", "OPENBLAS_", "CUDA_", "NVIDIA_", "CUBLAS_", "CUDNN_",
      "GLIBC_TUNABLES", "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID");
  private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().serializeNulls().create();

  private RunRecord() {}

  /**
   * Records a start of the run in {@code runDir/run.json}: a new record for a fresh run
   * ({@code afterEpoch} 0 and no record yet), otherwise one more entry in {@code starts} after
   * checking the data against the record.
   */
  static void recordStart(Path runDir, TrainConfig config, SplitIndex train, SplitIndex validation,
      Context ctx, int loaderThreads, int afterEpoch) throws IOException {
    Path file = runDir.resolve(FILE);
    JsonObject data = data(train, validation);
    JsonObject record;
    if (Files.exists(file)) {
      record = read(file);
      requireSameData(file, record.getAsJsonObject("data"), data, train.root());
    } else {
      record = new JsonObject();
      record.addProperty("format", FORMAT);
      record.addProperty("format_version", FORMAT_VERSION);
      record.add("data", data);
      record.add("weights", weights(config));
      record.add("starts", new JsonArray());
    }
    record.getAsJsonArray("starts").add(start(afterEpoch, ctx, loaderThreads));
    AtomicFiles.writeString(file, GSON.toJson(record) + "\n");
  }

  private static JsonObject data(SplitIndex train, SplitIndex validation) throws IOException {
    JsonObject data = new JsonObject();
    data.addProperty("root", train.root().toAbsolutePath().normalize().toString());
    data.add("train", split(train));
    data.add("validation", split(validation));
    return data;
  }

  private static JsonObject split(SplitIndex split) throws IOException {
    Path root = split.root();
    ContentDigest digest = new ContentDigest();
    for (SamplePair pair : split.pairs()) {
      digest.add(root.relativize(pair.image()).toString(), pair.image());
      digest.add(root.relativize(pair.mask()).toString(), pair.mask());
    }
    JsonObject o = new JsonObject();
    o.addProperty("pairs", split.size());
    o.addProperty("sha256", digest.hex());
    return o;
  }

  private static void requireSameData(Path file, JsonObject recorded, JsonObject now, Path root) {
    for (String split : List.of("train", "validation")) {
      JsonElement before = recorded == null || !recorded.has(split) ? null : recorded.get(split);
      if (before == null || !before.equals(now.get(split))) {
        throw new IllegalArgumentException(file + ": the run started on other " + split + " data ("
            + before + ") than " + root + " holds now (" + now.get(split) + "); resume it with"
            + " the data it started with");
      }
    }
  }

  private static JsonElement weights(TrainConfig config) throws IOException {
    if (config.weights.isEmpty()) {
      return null;
    }
    JsonObject w = new JsonObject();
    Path path = Path.of(config.weights);
    w.addProperty("path", path.toAbsolutePath().normalize().toString());
    w.addProperty("sha256", ContentDigest.of(path));
    return w;
  }

  private static JsonObject start(int afterEpoch, Context ctx, int loaderThreads) {
    JsonObject s = new JsonObject();
    s.addProperty("kind", afterEpoch == 0 ? "train" : "resume");
    s.addProperty("after_epoch", afterEpoch);
    s.addProperty("started", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    s.addProperty("effiseg_version", BuildInfo.version());
    s.addProperty("effiseg_commit", BuildInfo.commit());
    s.addProperty("native_core", NativeMemory.version());
    s.addProperty("backend", ctx.backend().name().toLowerCase(java.util.Locale.ROOT));
    List<String> devices = ctx.backend().devices();
    s.addProperty("device", ctx.device() < devices.size() ? devices.get(ctx.device()) : "device " + ctx.device());
    s.addProperty("threads", ctx.threads());
    s.addProperty("loader_threads", loaderThreads);
    s.addProperty("java", System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")");
    s.addProperty("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
        + System.getProperty("os.arch"));
    s.addProperty("host", HostName.get());
    JsonObject env = new JsonObject();
    Map<String, String> sorted = new TreeMap<>(System.getenv());
    sorted.forEach((k, v) -> {
      if (ENV_PREFIXES.stream().anyMatch(k::startsWith) && !k.equals(ParentWatch.ENV)) {
        env.addProperty(k, v);
      }
    });
    s.add("environment", env);
    return s;
  }

  private static JsonObject read(Path file) throws IOException {
    try {
      JsonObject o = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
      if (!FORMAT.equals(o.has("format") ? o.get("format").getAsString() : null) || !o.has("starts")) {
        throw new IllegalArgumentException(file + " is not an effiseg run record");
      }
      return o;
    } catch (JsonParseException | IllegalStateException e) {
      throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
    }
  }
}
