package org.effiseg.testing;

import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.CRC32;
import java.util.zip.DeflaterOutputStream;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

/** Image files a decoder must refuse: cut short, in a colour space we do not read, too large. */
public final class BadImages {
  private BadImages() {}

  /** A valid PNG of {@code jpeg}'s pixels, cut just before its IEND chunk. */
  public static byte[] withoutIend(Path jpeg) throws IOException {
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    ImageIO.write(ImageIO.read(jpeg.toFile()), "png", png);
    byte[] bytes = png.toByteArray();
    return Arrays.copyOf(bytes, bytes.length - 12);
  }

  /** A four-channel (CMYK/YCCK) JPEG, which ImageIO decodes only as a raster. */
  public static Path cmykJpeg(Path file) throws IOException {
    WritableRaster r = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, 32, 24, 4, null);
    for (int y = 0; y < 24; y++) {
      for (int x = 0; x < 32; x++) {
        for (int b = 0; b < 4; b++) {
          r.setSample(x, y, b, (x * 8 + y * b * 5) & 255);
        }
      }
    }
    ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
    try (ImageOutputStream out = ImageIO.createImageOutputStream(file.toFile())) {
      w.setOutput(out);
      w.write(new IIOImage(r, null, null));
    } finally {
      w.dispose();
    }
    return file;
  }

  /** A small PNG whose header claims {@code width} x {@code height} RGB pixels. */
  public static byte[] hugePng(int width, int height) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
    chunk(out, "IHDR", ByteBuffer.allocate(13).putInt(width).putInt(height)
        .put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0).array());
    ByteArrayOutputStream pixels = new ByteArrayOutputStream();
    try (DeflaterOutputStream z = new DeflaterOutputStream(pixels)) {
      z.write(new byte[1 << 16]);
    }
    chunk(out, "IDAT", pixels.toByteArray());
    chunk(out, "IEND", new byte[0]);
    return bytes.toByteArray();
  }

  private static void chunk(DataOutputStream out, String type, byte[] data) throws IOException {
    byte[] t = type.getBytes(StandardCharsets.US_ASCII);
    CRC32 crc = new CRC32();
    crc.update(t);
    crc.update(data);
    out.writeInt(data.length);
    out.write(t);
    out.write(data);
    out.writeInt((int) crc.getValue());
  }
}
