// effiseg data prepare: turns a dataset as published (a folder or zip of images/ + masks/, no
// split) into the train/validation/test layout SplitIndex reads.
//
// The source is only read. Every pair is decoded completely, as SplitIndex would, and every bad
// or unpaired file is collected, so one run names all of them; then nothing is kept. Images are
// copied byte for byte; masks are binarised (grey > 127, as the reference code does) and written
// as 8-bit PNG, 0 or 255, so no lossy re-encoding can move a pixel across the threshold. The
// layout is built in a hidden sibling folder and renamed into place at the end: a prepare that is
// killed leaves `.NAME.partial-*` beside --out, never a half-filled --out.
package org.effiseg.data;

import com.google.gson.GsonBuilder;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.effiseg.util.AtomicFiles;
import org.effiseg.util.ProgressBar;

/** Builds a dataset root (train/, validation/, test/) from a published dataset. */
public final class DatasetPreparer {
  /** The split written into the prepared folder, in {@link SplitFile}'s format. */
  public static final String SPLIT_FILE = "split.csv";
  /** How the folder was made: source, split method and its parameters, pair counts. */
  public static final String RECORD_FILE = "prepare.json";

  /** How pairs are assigned to splits. */
  public sealed interface SplitPlan permits RandomPlan, FilePlan {}

  /** {@link RandomSplit} with this seed and (train, validation, test) ratios. */
  public record RandomPlan(long seed, double[] ratios) implements SplitPlan {}

  /** Exactly the assignment of a {@link SplitFile}. */
  public record FilePlan(Path file) implements SplitPlan {}

  /**
   * What to prepare.
   *
   * @param imagesFolder the images folder below the dataset's top ({@code images})
   * @param threads decoding threads; 0 means one per core
   */
  public record Options(Path source, Path out, String imagesFolder, String masksFolder,
      SplitPlan split, int threads) {}

  /** The prepared folder and which stems went to which split. */
  public record Result(Path out, Map<Split, List<String>> assignment) {}

  private DatasetPreparer() {}

  /**
   * Prepares {@code options.out()}; progress goes to {@code log}.
   *
   * @throws DatasetException naming every bad or unpaired file, or every bad split-file line
   * @throws IllegalArgumentException when --out or --source is unusable (the message says which)
   */
  public static Result prepare(Options options, PrintStream log) throws IOException {
    Path source = options.source();
    Path out = options.out();
    checkPlaces(source, out);
    try (DatasetSource data = DatasetSource.open(source, options.imagesFolder(), options.masksFolder())) {
      List<BadInput> problems = new ArrayList<>(data.listingProblems());
      List<String> paired = pairStems(data, problems);
      Map<Split, List<String>> assignment = assign(options.split(), data, paired);
      if (paired.isEmpty() && problems.isEmpty()) {
        throw new DatasetException(new BadInput(data.imagesLocation(), "no image/mask pairs found"));
      }
      Path target = out.toAbsolutePath().normalize(); // "--out ." names the current folder
      Path parent = target.getParent();
      Files.createDirectories(parent);
      Path staging = Files.createTempDirectory(parent, "." + target.getFileName() + ".partial-");
      try {
        Files.setPosixFilePermissions(staging, PosixFilePermissions.fromString("rwxr-xr-x"));
      } catch (UnsupportedOperationException e) {
        // not a POSIX file system: keep its default
      }
      try {
        convertPairs(data, assignment, paired, staging, options.threads(), problems, log);
        for (DatasetSource.Entry extra : data.extras()) {
          if (extra.name().equals(RECORD_FILE)) {
            problems.add(new BadInput(extra.location(), "has the name of the " + RECORD_FILE + " that prepare writes"));
          }
        }
        if (!problems.isEmpty()) {
          problems.sort(Comparator.comparing(problem -> problem.file().toString()));
          throw new DatasetException(problems.size() + " bad or unpaired file(s) in " + source
              + "; nothing was written:", problems);
        }
        for (DatasetSource.Entry extra : data.extras()) {
          writeNew(staging.resolve(extra.name()), data.read(extra));
        }
        writeNew(staging.resolve(SPLIT_FILE), SplitFile.format(assignment).getBytes(StandardCharsets.UTF_8));
        writeNew(staging.resolve(RECORD_FILE), record(options, data, assignment).getBytes(StandardCharsets.UTF_8));
        syncTree(staging);
        Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        AtomicFiles.syncDirectory(parent);
      } finally {
        deleteTree(staging);
      }
      log.println(String.format(Locale.ROOT, "prepared %d pairs: %d train, %d validation, %d test in %s (split in %s)",
          paired.size(), assignment.get(Split.TRAIN).size(), assignment.get(Split.VALIDATION).size(),
          assignment.get(Split.TEST).size(), out, out.resolve(SPLIT_FILE)));
      return new Result(out, assignment);
    }
  }

  /** Refuses an --out that exists with content, or that overlaps the source either way. */
  private static void checkPlaces(Path source, Path out) throws IOException {
    if (!Files.exists(source)) {
      throw new IllegalArgumentException("--source " + source + " does not exist");
    }
    if (Files.exists(out)) {
      if (!Files.isDirectory(out)) {
        throw new IllegalArgumentException("--out " + out + " exists and is not a folder");
      }
      try (Stream<Path> entries = Files.list(out)) {
        if (entries.findAny().isPresent()) {
          throw new IllegalArgumentException("--out " + out
              + " already exists and is not empty; prepare only writes a new (or empty) folder");
        }
      }
    }
    Path sourceReal = source.toRealPath();
    Path outReal = realPathOfMaybeMissing(out);
    if (outReal.startsWith(sourceReal)) {
      throw new IllegalArgumentException("--out " + out + " is inside --source " + source
          + "; prepare never writes into its source");
    }
    if (sourceReal.startsWith(outReal)) {
      throw new IllegalArgumentException("--source " + source + " is inside --out " + out);
    }
    // the finished layout is renamed over --out: a shell standing in it would be left in a
    // deleted folder
    Path here = Path.of("").toAbsolutePath().normalize();
    if (Files.exists(here) && here.toRealPath().startsWith(outReal)) {
      throw new IllegalArgumentException("--out " + out + " is the current folder (or holds it);"
          + " name a new folder, e.g. --out kvasir-seg");
    }
  }

  /** The real path of the deepest existing ancestor, with the missing rest appended. */
  private static Path realPathOfMaybeMissing(Path path) throws IOException {
    Path absolute = path.toAbsolutePath().normalize();
    Path existing = absolute;
    while (existing != null && !Files.exists(existing)) {
      existing = existing.getParent();
    }
    if (existing == null) {
      return absolute;
    }
    return existing.toRealPath().resolve(existing.relativize(absolute));
  }

  /** Stems with both an image and a mask, in code-point order; the others become problems. */
  private static List<String> pairStems(DatasetSource data, List<BadInput> problems) {
    List<String> paired = new ArrayList<>();
    data.images().forEach((stem, image) -> {
      if (!data.masks().containsKey(stem)) {
        problems.add(new BadInput(image.location(), "no mask with stem '" + stem + "' in " + data.masksLocation()));
      } else if (!SplitFile.representable(stem)) {
        problems.add(new BadInput(image.location(),
            "a name with a comma, a line break, a leading '#' or surrounding spaces cannot be listed in " + SPLIT_FILE));
      } else {
        paired.add(stem);
      }
    });
    data.masks().forEach((stem, mask) -> {
      if (!data.images().containsKey(stem)) {
        problems.add(new BadInput(mask.location(), "no image with stem '" + stem + "' in " + data.imagesLocation()));
      }
    });
    return paired;
  }

  private static Map<Split, List<String>> assign(SplitPlan plan, DatasetSource data, List<String> paired) {
    if (plan instanceof RandomPlan random) {
      return RandomSplit.split(paired, random.seed(), random.ratios());
    }
    FilePlan file = (FilePlan) plan;
    Map<String, String> stemsByName = new HashMap<>();
    data.images().forEach((stem, image) -> {
      stemsByName.put(stem, stem);
      stemsByName.put(image.name(), stem);
    });
    return SplitFile.read(file.file(), stemsByName, data.imagesLocation().toString());
  }

  /**
   * Decodes every pair and, while no problem has been found, writes it into its split's folder
   * under {@code staging}; problems are added to {@code problems}.
   */
  private static void convertPairs(DatasetSource data, Map<Split, List<String>> assignment,
      List<String> paired, Path staging, int threads, List<BadInput> problems, PrintStream log)
      throws IOException {
    Map<String, Path> folderOf = new HashMap<>();
    for (Map.Entry<Split, List<String>> split : assignment.entrySet()) {
      Path folder = staging.resolve(split.getKey().folder());
      if (!split.getValue().isEmpty()) {
        Files.createDirectories(folder.resolve("images"));
        Files.createDirectories(folder.resolve("masks"));
      }
      split.getValue().forEach(stem -> folderOf.put(stem, folder));
    }
    AtomicBoolean failing = new AtomicBoolean(!problems.isEmpty());
    ProgressBar bar = new ProgressBar(log, "preparing", paired.size());
    AtomicInteger done = new AtomicInteger();
    int workers = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    ExecutorService pool = Executors.newFixedThreadPool(workers, task -> {
      Thread thread = new Thread(task, "effiseg-prepare");
      thread.setDaemon(true);
      return thread;
    });
    try {
      List<Future<BadInput>> results = new ArrayList<>();
      for (String stem : paired) {
        results.add(pool.submit(() -> {
          BadInput problem = convertPair(data, data.images().get(stem), data.masks().get(stem),
              folderOf.get(stem), stem, failing);
          if (problem != null) {
            failing.set(true);
          }
          int count = done.incrementAndGet();
          synchronized (bar) {
            bar.update(count, "pairs");
          }
          return problem;
        }));
      }
      for (Future<BadInput> result : results) {
        BadInput problem = result.get();
        if (problem != null) {
          problems.add(problem);
        }
      }
    } catch (ExecutionException e) {
      if (e.getCause() instanceof UncheckedIOException io) {
        throw io.getCause();
      }
      throw new IllegalStateException("preparing a pair failed: " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while preparing " + data.source());
    } finally {
      pool.shutdownNow();
    }
  }

  /** Returns the pair's problem, or null; writes it unless a problem has been found anywhere. */
  private static BadInput convertPair(DatasetSource data, DatasetSource.Entry image,
      DatasetSource.Entry mask, Path folder, String stem, AtomicBoolean failing) {
    byte[] imageBytes;
    RgbImage rgb;
    Mask binary;
    try {
      imageBytes = data.read(image);
    } catch (IOException e) {
      return new BadInput(image.location(), "cannot be read: " + e.getMessage());
    }
    try {
      rgb = ImageDecoder.readRgb(imageBytes);
    } catch (ImageDecodeException e) {
      return new BadInput(image.location(), e.getMessage());
    }
    try {
      binary = ImageDecoder.readMask(data.read(mask));
    } catch (ImageDecodeException e) {
      return new BadInput(mask.location(), e.getMessage());
    } catch (IOException e) {
      return new BadInput(mask.location(), "cannot be read: " + e.getMessage());
    }
    if (rgb.width() != binary.width() || rgb.height() != binary.height()) {
      return new BadInput(mask.location(), "mask is " + binary.width() + "x" + binary.height()
          + " but its image " + image.name() + " is " + rgb.width() + "x" + rgb.height());
    }
    if (!failing.get()) {
      try {
        writeNew(folder.resolve("images").resolve(image.name()), imageBytes);
        writeNew(folder.resolve("masks").resolve(stem + ".png"), maskPng(binary));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return null;
  }

  /** An 8-bit grey PNG: 255 where the mask is 1, else 0. */
  static byte[] maskPng(Mask mask) throws IOException {
    BufferedImage image = new BufferedImage(mask.width(), mask.height(), BufferedImage.TYPE_BYTE_GRAY);
    byte[] grey = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
    byte[] values = mask.values();
    for (int p = 0; p < grey.length; p++) {
      grey[p] = (byte) (values[p] != 0 ? 255 : 0);
    }
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    if (!ImageIO.write(image, "png", png)) {
      throw new IOException("no PNG writer in this Java runtime");
    }
    return png.toByteArray();
  }

  /** prepare.json: what was read, how it was split, what was written. */
  private static String record(Options options, DatasetSource data, Map<Split, List<String>> assignment)
      throws IOException {
    Map<String, Object> split = new LinkedHashMap<>();
    if (options.split() instanceof RandomPlan random) {
      split.put("method", "random");
      split.put("algorithm", RandomSplit.ALGORITHM + " (docs/data-pipeline.md)");
      split.put("seed", random.seed());
      split.put("ratios", random.ratios());
    } else {
      Path file = ((FilePlan) options.split()).file();
      split.put("method", "file");
      split.put("file", file.toAbsolutePath().normalize().toString());
      split.put("sha256", sha256(Files.readAllBytes(file)));
    }
    Map<String, Integer> counts = new LinkedHashMap<>();
    assignment.forEach((which, stems) -> counts.put(which.folder(), stems.size()));
    Map<String, Object> record = new LinkedHashMap<>();
    record.put("source", options.source().toAbsolutePath().normalize().toString());
    record.put("dataset_folder", data.root());
    record.put("images_folder", options.imagesFolder());
    record.put("masks_folder", options.masksFolder());
    record.put("split", split);
    record.put("pairs", counts);
    record.put("images", "copied unchanged");
    record.put("masks", "grey > 127 written as 255, else 0: 8-bit greyscale PNG <stem>.png");
    record.put("copied_files", data.extras().stream().map(DatasetSource.Entry::name).toList());
    String version = DatasetPreparer.class.getPackage().getImplementationVersion();
    record.put("effiseg_version", version == null ? "development build" : version);
    return new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(record) + "\n";
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the Java runtime lacks SHA-256", e);
    }
  }

  /** Writes a file that must not exist yet, and flushes it to disk. */
  private static void writeNew(Path file, byte[] bytes) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer buffer = ByteBuffer.wrap(bytes);
      while (buffer.hasRemaining()) {
        channel.write(buffer);
      }
      channel.force(false);
    }
  }

  /** Flushes every folder's entries, deepest first, so the rename publishes a complete tree. */
  private static void syncTree(Path top) throws IOException {
    List<Path> folders;
    try (Stream<Path> walk = Files.walk(top)) {
      folders = walk.filter(Files::isDirectory).sorted(Comparator.reverseOrder()).toList();
    }
    folders.forEach(AtomicFiles::syncDirectory);
  }

  private static void deleteTree(Path top) throws IOException {
    if (!Files.exists(top)) {
      return;
    }
    List<Path> paths;
    try (Stream<Path> walk = Files.walk(top)) {
      paths = walk.sorted(Comparator.reverseOrder()).toList();
    }
    for (Path path : paths) {
      Files.deleteIfExists(path);
    }
  }
}
