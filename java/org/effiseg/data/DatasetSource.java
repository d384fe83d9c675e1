// A dataset as its publisher ships it, read and never written: a folder or a zip archive holding
// an images folder and a masks folder (images/ and masks/ unless named otherwise), at its top or
// one folder below it (kvasir-seg.zip holds Kvasir-SEG/images/ and Kvasir-SEG/masks/; an
// unpacked CVC-ClinicDB holds Original/ and Ground Truth/). A zip is read in place, not unpacked.
package org.effiseg.data;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/** The image and mask files of a published dataset, keyed by stem. */
public final class DatasetSource implements Closeable {
  /** Larger files are refused rather than read (a polyp photograph is a few MB at most). */
  static final long MAX_FILE_BYTES = 256L << 20;

  /** A file of the source: its path inside the source, its file name, and where it is. */
  public record Entry(String path, String name, Path location) {}

  private final Path source;
  private final Tree tree;
  private final String root;
  private final Path imagesLocation;
  private final Path masksLocation;
  private final Map<String, Entry> images;
  private final Map<String, Entry> masks;
  private final List<Entry> extras;
  private final List<BadInput> problems;

  private DatasetSource(Path source, Tree tree, String root, String imagesFolder, String masksFolder,
      Map<String, Entry> images, Map<String, Entry> masks, List<Entry> extras, List<BadInput> problems) {
    this.source = source;
    this.tree = tree;
    this.root = root;
    this.imagesLocation = tree.location(join(root, imagesFolder));
    this.masksLocation = tree.location(join(root, masksFolder));
    this.images = images;
    this.masks = masks;
    this.extras = extras;
    this.problems = problems;
  }

  /**
   * Opens a folder or zip archive and lists its images and masks folders.
   *
   * @param imagesFolder the images folder's path below the dataset's top ({@code images},
   *     {@code Original}, {@code PNG/Original})
   * @throws DatasetException when the source cannot be read or the folders are not found
   */
  public static DatasetSource open(Path source, String imagesFolder, String masksFolder) {
    requireRelativeFolder(imagesFolder, "--images");
    requireRelativeFolder(masksFolder, "--masks");
    Tree tree = openTree(source);
    try {
      String root = locateRoot(source, tree, imagesFolder, masksFolder);
      List<BadInput> problems = new ArrayList<>();
      Map<String, Entry> images = filesByStem(tree, join(root, imagesFolder), problems);
      Map<String, Entry> masks = filesByStem(tree, join(root, masksFolder), problems);
      List<Entry> extras = new ArrayList<>();
      tree.list(root).forEach((name, folder) -> {
        if (!folder && !name.startsWith(".") && name.toLowerCase(Locale.ROOT).endsWith(".json")) {
          String path = join(root, name);
          extras.add(new Entry(path, name, tree.location(path)));
        }
      });
      return new DatasetSource(source, tree, root, imagesFolder, masksFolder, images, masks, extras, problems);
    } catch (IOException e) {
      closeQuietly(tree);
      throw new DatasetException(new BadInput(source, "cannot be read: " + e));
    } catch (RuntimeException e) {
      closeQuietly(tree);
      throw e;
    }
  }

  /** The folder or zip archive this was opened from. */
  public Path source() {
    return source;
  }

  /** The dataset's top inside the source: "" or the one folder it sits in ("Kvasir-SEG"). */
  public String root() {
    return root;
  }

  /** Where the images folder is (for a zip: {@code archive.zip!/Kvasir-SEG/images}). */
  public Path imagesLocation() {
    return imagesLocation;
  }

  /** Where the masks folder is. */
  public Path masksLocation() {
    return masksLocation;
  }

  /** Image files keyed by stem (file name without extension). */
  public Map<String, Entry> images() {
    return images;
  }

  /** Mask files keyed by stem. */
  public Map<String, Entry> masks() {
    return masks;
  }

  /** JSON files beside the two folders (Kvasir-SEG's kavsir_bboxes.json). */
  public List<Entry> extras() {
    return extras;
  }

  /** Sub-folders, non-image files and clashing stems found in the two folders. */
  public List<BadInput> listingProblems() {
    return problems;
  }

  /** The bytes of a file of this source. */
  public byte[] read(Entry entry) throws IOException {
    return tree.read(entry.path());
  }

  @Override
  public void close() throws IOException {
    tree.close();
  }

  private static Tree openTree(Path source) {
    if (Files.isDirectory(source)) {
      return new FolderTree(source);
    }
    if (!Files.exists(source)) {
      throw new DatasetException(new BadInput(source, "does not exist"));
    }
    try {
      return new ZipTree(source);
    } catch (ZipException e) {
      throw new DatasetException(new BadInput(source, "neither a folder nor a zip archive (" + e.getMessage() + ")"));
    } catch (IOException e) {
      throw new DatasetException(new BadInput(source, "cannot be read: " + e));
    }
  }

  /** The top folder, or the one folder below it, that holds both the images and masks folders. */
  private static String locateRoot(Path source, Tree tree, String imagesFolder, String masksFolder)
      throws IOException {
    Map<String, Boolean> top = tree.list("");
    List<String> candidates = new ArrayList<>();
    candidates.add("");
    top.forEach((name, folder) -> {
      if (folder && !name.startsWith(".") && !name.equals("__MACOSX")) {
        candidates.add(name);
      }
    });
    List<String> found = new ArrayList<>();
    for (String candidate : candidates) {
      if (tree.list(join(candidate, imagesFolder)) != null && tree.list(join(candidate, masksFolder)) != null) {
        found.add(candidate);
      }
    }
    if (found.size() == 1) {
      return found.get(0);
    }
    if (found.isEmpty()) {
      List<String> seen = top.entrySet().stream().limit(12)
          .map(e -> e.getKey() + (e.getValue() ? "/" : "")).toList();
      throw new DatasetException(new BadInput(source, "no '" + imagesFolder + "' and '" + masksFolder
          + "' folders at its top or one folder below (it holds " + (seen.isEmpty() ? "nothing" : String.join(", ", seen))
          + (top.size() > seen.size() ? ", ..." : "") + "); name the folders with --images and --masks"));
    }
    throw new DatasetException(new BadInput(source, "holds more than one dataset ("
        + String.join(", ", found.stream().map(f -> f.isEmpty() ? "its top" : f + "/").toList())
        + "); point --source at one of them"));
  }

  private static Map<String, Entry> filesByStem(Tree tree, String folder, List<BadInput> problems)
      throws IOException {
    List<StemListing.Child<Entry>> children = new ArrayList<>();
    tree.list(folder).forEach((name, isFolder) -> {
      String path = join(folder, name);
      Path location = tree.location(path);
      children.add(new StemListing.Child<>(name, isFolder, location, new Entry(path, name, location)));
    });
    Map<String, Entry> byStem = new TreeMap<>(RandomSplit.CODE_POINT_ORDER);
    byStem.putAll(StemListing.byStem(children, problems));
    return byStem;
  }

  private static void requireRelativeFolder(String folder, String flag) {
    boolean bad = folder.isBlank() || folder.startsWith("/") || folder.endsWith("/")
        || Stream.of(folder.split("/")).anyMatch(part -> part.isEmpty() || part.equals(".") || part.equals(".."));
    if (bad) {
      throw new IllegalArgumentException(flag + " must name a folder below the dataset's top"
          + " (like images, 'Ground Truth' or PNG/Original), got '" + folder + "'");
    }
  }

  private static String join(String folder, String name) {
    return folder.isEmpty() ? name : folder + "/" + name;
  }

  private static void closeQuietly(Tree tree) {
    try {
      tree.close();
    } catch (IOException ignored) {
      // already failing with a better message
    }
  }

  /** Read-only view of a folder tree, by '/'-separated paths relative to its top. */
  private interface Tree extends Closeable {
    /** The children of a folder ("" is the top), name to is-a-folder, sorted; null if no such folder. */
    Map<String, Boolean> list(String folder) throws IOException;

    byte[] read(String path) throws IOException;

    /** Where a path is, for messages. */
    Path location(String path);
  }

  private static byte[] readBounded(InputStream in, String path) throws IOException {
    byte[] bytes = in.readNBytes((int) MAX_FILE_BYTES + 1);
    if (bytes.length > MAX_FILE_BYTES) {
      throw new IOException(path + " is larger than " + (MAX_FILE_BYTES >> 20) + " MiB");
    }
    return bytes;
  }

  private static final class FolderTree implements Tree {
    private final Path top;

    FolderTree(Path top) {
      this.top = top;
    }

    @Override
    public Map<String, Boolean> list(String folder) throws IOException {
      Path dir = location(folder);
      if (!Files.isDirectory(dir)) {
        return null;
      }
      Map<String, Boolean> children = new TreeMap<>(RandomSplit.CODE_POINT_ORDER);
      try (Stream<Path> listing = Files.list(dir)) {
        listing.forEach(child -> children.put(child.getFileName().toString(), Files.isDirectory(child)));
      }
      return children;
    }

    @Override
    public byte[] read(String path) throws IOException {
      try (InputStream in = Files.newInputStream(location(path))) {
        return readBounded(in, path);
      }
    }

    @Override
    public Path location(String path) {
      return path.isEmpty() ? top : top.resolve(path);
    }

    @Override
    public void close() {}
  }

  /** A zip archive's entries as a tree; folders are implied by entry names where not stored. */
  private static final class ZipTree implements Tree {
    private final Path archive;
    private final ZipFile zip;
    private final Map<String, Map<String, Boolean>> folders = new HashMap<>();
    private final Map<String, ZipEntry> files = new HashMap<>();

    ZipTree(Path archive) throws IOException {
      this.archive = archive;
      this.zip = new ZipFile(archive.toFile());
      folders.put("", new TreeMap<>(RandomSplit.CODE_POINT_ORDER));
      Enumeration<? extends ZipEntry> entries = zip.entries();
      while (entries.hasMoreElements()) {
        ZipEntry entry = entries.nextElement();
        String[] parts = Stream.of(entry.getName().split("/")).filter(p -> !p.isEmpty()).toArray(String[]::new);
        String parent = "";
        for (int i = 0; i < parts.length; i++) {
          boolean folder = i < parts.length - 1 || entry.isDirectory();
          String path = join(parent, parts[i]);
          folders.get(parent).merge(parts[i], folder, Boolean::logicalOr);
          if (folder) {
            folders.computeIfAbsent(path, p -> new TreeMap<>(RandomSplit.CODE_POINT_ORDER));
          } else {
            files.put(path, entry);
          }
          parent = path;
        }
      }
    }

    @Override
    public Map<String, Boolean> list(String folder) {
      return folders.get(folder);
    }

    @Override
    public byte[] read(String path) throws IOException {
      ZipEntry entry = files.get(path);
      if (entry == null) {
        throw new IOException(location(path) + ": no such entry");
      }
      try (InputStream in = zip.getInputStream(entry)) {
        return readBounded(in, path);
      }
    }

    @Override
    public Path location(String path) {
      return Path.of(archive + "!", path);
    }

    @Override
    public void close() throws IOException {
      zip.close();
    }
  }
}
