// Decodes image and mask files with javax.imageio into RgbImage / Mask, the way cv2.imread does.
//
// Any decoder warning (a truncated JPEG, "corrupt JPEG data") is an error: libjpeg would otherwise
// pad a truncated file with grey and training would silently see a broken image. Masks are read
// as grey (RGB masks through OpenCV's fixed-point BT.601 weights) and binarised with value > 127,
// like the reference code's cv2.threshold(mask, 127, 1, THRESH_BINARY).
package org.effiseg.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/** Reads RGB images and binary masks from files. Thread-safe. */
public final class ImageDecoder {
  /** File extensions treated as images (lower case); anything else in images/ or masks/ is bad. */
  public static final Set<String> IMAGE_EXTENSIONS =
      Set.of("jpg", "jpeg", "png", "bmp", "tif", "tiff");

  /**
   * The largest image read: 16384 pixels per side, 32 Mi pixels in all (96 MiB as RGB; decoding
   * may hold a few times that at once). Endoscopy frames are a few megapixels.
   */
  public static final int MAX_SIDE = 16384;
  public static final long MAX_PIXELS = 32L << 20;

  static {
    // Decoding from files needs no disk cache; without this ImageIO may write temp files.
    ImageIO.setUseCache(false);
  }

  private ImageDecoder() {}

  /**
   * Decodes {@code file} as it is stored, with the checks every read here makes: size bounded
   * from the header, the file complete, no decoder warning; errors name the file.
   */
  public static BufferedImage readImage(Path file) throws ImageDecodeException {
    return decode(file);
  }

  /** Decodes {@code file} to 8-bit RGB (grey images are replicated, alpha is dropped). */
  public static RgbImage readRgb(Path file) throws ImageDecodeException {
    return toRgb(decode(file), file);
  }

  /** As {@link #readRgb(Path)}, from a file's bytes (an entry of a zip archive, say). */
  public static RgbImage readRgb(byte[] encoded) throws ImageDecodeException {
    return toRgb(decode(encoded), null);
  }

  /** Converts a decoded image to 8-bit RGB (grey replicated, alpha dropped). */
  public static RgbImage toRgb(BufferedImage image) {
    try {
      return toRgb(image, null);
    } catch (ImageDecodeException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
  }

  private static RgbImage toRgb(BufferedImage image, Path file) throws ImageDecodeException {
    int width = image.getWidth();
    int height = image.getHeight();
    byte[] rgb = new byte[width * height * 3];
    if (image.getType() == BufferedImage.TYPE_3BYTE_BGR) {
      byte[] bgr = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
      for (int i = 0; i < rgb.length; i += 3) {
        rgb[i] = bgr[i + 2];
        rgb[i + 1] = bgr[i + 1];
        rgb[i + 2] = bgr[i];
      }
      return new RgbImage(width, height, rgb);
    }
    int[][] bands = readBands(image, file);
    int[] red = bands[0];
    int[] green = bands.length >= 3 ? bands[1] : red;
    int[] blue = bands.length >= 3 ? bands[2] : red;
    for (int p = 0, i = 0; p < red.length; p++, i += 3) {
      rgb[i] = (byte) red[p];
      rgb[i + 1] = (byte) green[p];
      rgb[i + 2] = (byte) blue[p];
    }
    return new RgbImage(width, height, rgb);
  }

  /** Decodes {@code file} as grey and binarises it: 1 where the grey value is above 127. */
  public static Mask readMask(Path file) throws ImageDecodeException {
    return toMask(decode(file), file);
  }

  /** As {@link #readMask(Path)}, from a file's bytes (an entry of a zip archive, say). */
  public static Mask readMask(byte[] encoded) throws ImageDecodeException {
    return toMask(decode(encoded), null);
  }

  private static Mask toMask(BufferedImage image, Path file) throws ImageDecodeException {
    int width = image.getWidth();
    int height = image.getHeight();
    byte[] values = new byte[width * height];
    if (image.getType() == BufferedImage.TYPE_BYTE_GRAY) {
      byte[] grey = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
      for (int p = 0; p < values.length; p++) {
        values[p] = (byte) ((grey[p] & 0xFF) > 127 ? 1 : 0);
      }
      return new Mask(width, height, values);
    }
    int[][] bands = readBands(image, file);
    for (int p = 0; p < values.length; p++) {
      int grey = bands.length >= 3 ? greyOf(bands[0][p], bands[1][p], bands[2][p]) : bands[0][p];
      values[p] = (byte) (grey > 127 ? 1 : 0);
    }
    return new Mask(width, height, values);
  }

  /** OpenCV's 8-bit RGB to grey (15-bit fixed point, BT.601 weights), used by masks and jitter. */
  public static int greyOf(int red, int green, int blue) {
    return (red * 9798 + green * 19235 + blue * 3735 + (1 << 14)) >> 15;
  }

  /** Lower-case extension of a file name, or "" when it has none. */
  public static String extensionOf(String fileName) {
    int dot = fileName.lastIndexOf('.');
    return dot <= 0 ? "" : fileName.substring(dot + 1).toLowerCase(Locale.ROOT);
  }

  /** Where the encoded image lies, for the completeness check after its header is read. */
  @FunctionalInterface
  private interface CompletenessCheck {
    void check(String format) throws IOException;
  }

  private static BufferedImage decode(Path file) throws ImageDecodeException {
    if (!Files.isRegularFile(file)) {
      throw new ImageDecodeException(file, Files.isDirectory(file) ? "is a folder, not an image"
          : Files.exists(file) ? "not a regular file" : "no such file");
    }
    try (ImageInputStream input = ImageIO.createImageInputStream(file.toFile())) {
      return decode(input, file, format -> ImageContainer.checkComplete(file, format));
    } catch (ImageDecodeException e) {
      throw e;
    } catch (IOException e) {
      throw new ImageDecodeException(file, "corrupt or unreadable image: " + describe(e), e);
    }
  }

  private static BufferedImage decode(byte[] encoded) throws ImageDecodeException {
    try (ImageInputStream input =
        ImageIO.createImageInputStream(new ByteArrayInputStream(encoded))) {
      return decode(input, null, format -> ImageContainer.checkComplete(encoded, format));
    } catch (ImageDecodeException e) {
      throw e;
    } catch (IOException e) {
      throw new ImageDecodeException(null, "corrupt or unreadable image: " + describe(e), e);
    }
  }

  /** Decodes one image; {@code file} (null for bytes in memory) names it in errors. */
  private static BufferedImage decode(ImageInputStream input, Path file, CompletenessCheck complete)
      throws ImageDecodeException {
    try {
      if (input == null) {
        throw new ImageDecodeException(file, "cannot be opened for reading");
      }
      Iterator<ImageReader> readers = ImageIO.getImageReaders(input);
      if (!readers.hasNext()) {
        throw new ImageDecodeException(file, "not an image (no decoder recognises its contents)");
      }
      ImageReader reader = readers.next();
      List<String> warnings = new ArrayList<>();
      reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
      try {
        reader.setInput(input, true, true);
        String format = reader.getFormatName().toUpperCase(Locale.ROOT);
        checkSize(file, reader.getWidth(0), reader.getHeight(0));
        complete.check(format);
        BufferedImage image = reader.read(0);
        if (!warnings.isEmpty()) {
          throw new ImageDecodeException(file, "corrupt or truncated " + format + ": " + warnings.get(0));
        }
        return image;
      } finally {
        reader.dispose();
      }
    } catch (ImageDecodeException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      // Decoders report corrupt data with IIOException, EOFException or runtime exceptions alike.
      throw new ImageDecodeException(file, "corrupt or unreadable image: " + describe(e), e);
    }
  }

  /** Checks the header's size before any pixel is decoded: a few bytes can claim gigapixels. */
  private static void checkSize(Path file, int width, int height) throws ImageDecodeException {
    if (width <= 0 || height <= 0) {
      throw new ImageDecodeException(file, "image has no pixels");
    }
    if (width > MAX_SIDE || height > MAX_SIDE || (long) width * height > MAX_PIXELS) {
      throw new ImageDecodeException(file, width + "x" + height + " pixels is more than this"
          + " program reads (at most " + MAX_SIDE + " per side and " + (MAX_PIXELS >> 20)
          + " Mi pixels)");
    }
  }

  /** Per-pixel 8-bit samples of each colour band (palette images expanded to RGB). */
  private static int[][] readBands(BufferedImage image, Path file) throws ImageDecodeException {
    int width = image.getWidth();
    int height = image.getHeight();
    if (image.getColorModel() instanceof IndexColorModel) {
      int[] argb = image.getRGB(0, 0, width, height, null, 0, width);
      int[][] bands = new int[3][argb.length];
      for (int p = 0; p < argb.length; p++) {
        bands[0][p] = (argb[p] >> 16) & 0xFF;
        bands[1][p] = (argb[p] >> 8) & 0xFF;
        bands[2][p] = argb[p] & 0xFF;
      }
      return bands;
    }
    int colourSpace = image.getColorModel().getColorSpace().getType();
    if (colourSpace != ColorSpace.TYPE_RGB && colourSpace != ColorSpace.TYPE_GRAY) {
      throw new ImageDecodeException(file, "unsupported colour space "
          + colourSpaceName(colourSpace) + " (only RGB and grey are read)");
    }
    Raster raster = image.getRaster();
    int colourBands = colourSpace == ColorSpace.TYPE_RGB ? 3 : 1;
    if (raster.getNumBands() < colourBands) {
      throw new ImageDecodeException(file, "has " + raster.getNumBands() + " bands, expected "
          + colourBands);
    }
    // 16-bit samples are scaled to 8 bits with rounding, as cv2.imread does for 8-bit output.
    boolean sixteenBit = raster.getTransferType() == DataBuffer.TYPE_USHORT;
    int[][] bands = new int[colourBands][];
    for (int band = 0; band < colourBands; band++) {
      int[] samples = raster.getSamples(0, 0, width, height, band, (int[]) null);
      if (sixteenBit) {
        for (int p = 0; p < samples.length; p++) {
          samples[p] = Math.min(255, (samples[p] + 128) >> 8);
        }
      }
      bands[band] = samples;
    }
    return bands;
  }

  private static String colourSpaceName(int type) {
    return switch (type) {
      case ColorSpace.TYPE_CMYK -> "CMYK";
      case ColorSpace.TYPE_YCbCr -> "YCbCr";
      case ColorSpace.TYPE_Lab -> "Lab";
      default -> "type " + type;
    };
  }

  private static String describe(Throwable e) {
    String message = e.getMessage();
    return message == null || message.isBlank() ? e.getClass().getSimpleName() : message;
  }
}
