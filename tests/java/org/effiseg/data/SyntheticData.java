// Builds small synthetic datasets and images for tests: a textured background with a bright disk,
// and a mask marking exactly that disk, written with javax.imageio into a temp folder.
package org.effiseg.data;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Test fixtures: synthetic image/mask pairs and dataset folders. */
public final class SyntheticData {
  private SyntheticData() {}

  /** An RGB image: smooth colour gradient, plus a saturated disk where {@link #diskMask} is 1. */
  public static RgbImage diskImage(int width, int height, int cx, int cy, int radius) {
    byte[] rgb = new byte[width * height * 3];
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int i = (y * width + x) * 3;
        boolean inside = inDisk(x, y, cx, cy, radius);
        rgb[i] = (byte) (inside ? 250 : 40 + (x * 120) / width);
        rgb[i + 1] = (byte) (inside ? 230 : 30 + (y * 100) / height);
        rgb[i + 2] = (byte) (inside ? 20 : 90);
      }
    }
    return new RgbImage(width, height, rgb);
  }

  public static Mask diskMask(int width, int height, int cx, int cy, int radius) {
    byte[] values = new byte[width * height];
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        values[y * width + x] = (byte) (inDisk(x, y, cx, cy, radius) ? 1 : 0);
      }
    }
    return new Mask(width, height, values);
  }

  private static boolean inDisk(int x, int y, int cx, int cy, int radius) {
    return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= radius * radius;
  }

  /** Writes an RGB image in the format named by the file extension (jpg or png). */
  public static void writeRgb(RgbImage image, Path file) {
    BufferedImage out =
        new BufferedImage(image.width(), image.height(), BufferedImage.TYPE_3BYTE_BGR);
    byte[] bgr = ((DataBufferByte) out.getRaster().getDataBuffer()).getData();
    byte[] rgb = image.rgb();
    for (int i = 0; i < rgb.length; i += 3) {
      bgr[i] = rgb[i + 2];
      bgr[i + 1] = rgb[i + 1];
      bgr[i + 2] = rgb[i];
    }
    write(out, file);
  }

  /** Writes a mask as an 8-bit grey image, 0 and 255. */
  public static void writeMask(Mask mask, Path file) {
    BufferedImage out =
        new BufferedImage(mask.width(), mask.height(), BufferedImage.TYPE_BYTE_GRAY);
    byte[] grey = ((DataBufferByte) out.getRaster().getDataBuffer()).getData();
    for (int p = 0; p < grey.length; p++) {
      grey[p] = (byte) (mask.values()[p] != 0 ? 255 : 0);
    }
    write(out, file);
  }

  /**
   * Creates {@code root/<split>/images|masks} with {@code count} valid pairs named 0..count-1
   * (JPEG images and masks, like Kvasir-SEG), each with its disk somewhere else.
   */
  public static Path dataset(Path root, Split split, int count, int size) {
    Path images = root.resolve(split.folder()).resolve("images");
    Path masks = root.resolve(split.folder()).resolve("masks");
    try {
      Files.createDirectories(images);
      Files.createDirectories(masks);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    for (int i = 0; i < count; i++) {
      int cx = size / 4 + (i * 7) % (size / 2);
      int cy = size / 3 + (i * 5) % (size / 3);
      int radius = size / 6 + i % 3;
      writeRgb(diskImage(size, size, cx, cy, radius), images.resolve(i + ".jpg"));
      writeMask(diskMask(size, size, cx, cy, radius), masks.resolve(i + ".jpg"));
    }
    return root;
  }

  private static void write(BufferedImage image, Path file) {
    String name = file.getFileName().toString();
    String format = name.endsWith(".png") ? "png" : "jpg";
    try {
      if (!ImageIO.write(image, format, file.toFile())) {
        throw new IOException("no writer for " + format);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
