package org.effiseg.eval;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.effiseg.data.ImageDecodeException;
import org.effiseg.data.ImageDecoder;

/**
 * Reading mask and image files: any format ImageIO decodes (PNG, JPEG, BMP, GIF, TIFF), matched by
 * file stem ({@code 12.png} and {@code 12.jpg} are both image {@code 12}).
 */
public final class MaskFiles {
  /** Extensions considered image files (case-insensitive). */
  public static final List<String> EXTENSIONS =
      List.of("png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff");

  private MaskFiles() {}

  /** A row-major 8-bit grey image. */
  public record GreyImage(int width, int height, int[] values) {}

  /** The file name without its extension. */
  public static String stem(Path file) {
    String name = file.getFileName().toString();
    int dot = name.lastIndexOf('.');
    return dot > 0 ? name.substring(0, dot) : name;
  }

  static boolean isImageFile(Path file) {
    String name = file.getFileName().toString();
    int dot = name.lastIndexOf('.');
    return dot > 0
        && Files.isRegularFile(file)
        && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
  }

  /**
   * The image files directly in {@code dir}, by stem, sorted naturally (2 before 10). Two files
   * with the same stem are an error: which one to score would be a guess.
   */
  public static Map<String, Path> byStem(Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new EvaluationInputException("not a directory: " + dir);
    }
    Map<String, Path> out = new TreeMap<>(MaskFiles::compareNatural);
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : (Iterable<Path>) files.sorted()::iterator) {
        if (!isImageFile(f)) {
          continue;
        }
        Path previous = out.put(stem(f), f);
        if (previous != null) {
          throw new EvaluationInputException(
              "two files with the stem '" + stem(f) + "': " + previous + " and " + f);
        }
      }
    } catch (IOException e) {
      throw new EvaluationInputException("cannot list " + dir + ": " + e.getMessage(), e);
    }
    return out;
  }

  /** Compares names so that digit runs sort by value: "2" before "10". */
  static int compareNatural(String a, String b) {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      char ca = a.charAt(i);
      char cb = b.charAt(j);
      if (Character.isDigit(ca) && Character.isDigit(cb)) {
        int ei = i;
        int ej = j;
        while (ei < a.length() && Character.isDigit(a.charAt(ei))) {
          ei++;
        }
        while (ej < b.length() && Character.isDigit(b.charAt(ej))) {
          ej++;
        }
        String da = a.substring(i, ei).replaceFirst("^0+(?=.)", "");
        String db = b.substring(j, ej).replaceFirst("^0+(?=.)", "");
        int c =
            da.length() != db.length()
                ? Integer.compare(da.length(), db.length())
                : da.compareTo(db);
        if (c != 0) {
          return c;
        }
        i = ei;
        j = ej;
      } else {
        if (ca != cb) {
          return Character.compare(ca, cb);
        }
        i++;
        j++;
      }
    }
    int c = Integer.compare(a.length() - i, b.length() - j);
    return c != 0 ? c : a.compareTo(b);
  }

  /** Decodes an image file; fails with a message naming the file. */
  public static BufferedImage readImage(Path file) {
    try {
      return ImageDecoder.readImage(file);
    } catch (ImageDecodeException e) {
      throw new EvaluationInputException("cannot read image " + e.getMessage(), e);
    }
  }

  /**
   * Reads a file as 8-bit grey. Single-channel images give their samples unchanged (scaled to 8
   * bits), not colour-managed; colour images give their luma (0.299 R + 0.587 G + 0.114 B).
   */
  public static GreyImage readGrey(Path file) {
    return toGrey(readImage(file));
  }

  /** Converts a decoded image to 8-bit grey, as {@link #readGrey(Path)} does. */
  public static GreyImage toGrey(BufferedImage img) {
    int w = img.getWidth();
    int h = img.getHeight();
    int[] out = new int[w * h];
    Raster raster = img.getRaster();
    if (raster.getNumBands() == 1 && !(img.getColorModel() instanceof IndexColorModel)) {
      long max = (1L << raster.getSampleModel().getSampleSize(0)) - 1;
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          out[y * w + x] = (int) (raster.getSample(x, y, 0) * 255L / max);
        }
      }
    } else {
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          int rgb = img.getRGB(x, y);
          int r = (rgb >> 16) & 0xff;
          int g = (rgb >> 8) & 0xff;
          int b = rgb & 0xff;
          out[y * w + x] = (int) Math.round(0.299 * r + 0.587 * g + 0.114 * b);
        }
      }
    }
    return new GreyImage(w, h, out);
  }

  /** Reads a mask file and binarises it with {@code threshold} on grey / 255. */
  public static BinaryMask readMask(Path file, Threshold threshold) {
    GreyImage g = readGrey(file);
    return threshold.binarizeGrey(g.values(), g.width(), g.height());
  }
}
