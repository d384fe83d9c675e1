// Checks that a JPEG or PNG file is complete: decoders may turn a file cut short into an image
// without complaint (a PNG missing its IEND chunk decodes, so may a JPEG whose scan data
// happens to end on a boundary), so the container's own end marker is looked for.
package org.effiseg.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** The end-of-stream checks for JPEG (EOI marker) and PNG (IEND chunk), on a file or its bytes. */
final class ImageContainer {
  private ImageContainer() {}

  /** Random access to an encoded image: a file or bytes in memory. */
  private interface Encoded {
    long size() throws IOException;

    /** Fills {@code buf} from {@code position} (the range lies inside the data). */
    void read(ByteBuffer buf, long position) throws IOException;
  }

  /** Throws where {@code file}, a {@code format} ("JPEG", "PNG", ...) file, ends early. */
  static void checkComplete(Path file, String format) throws IOException {
    if (!format.equals("JPEG") && !format.equals("PNG")) {
      return; // BMP and TIFF decoders fail on short files themselves
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      check(new Encoded() {
        @Override
        public long size() throws IOException {
          return ch.size();
        }

        @Override
        public void read(ByteBuffer buf, long position) throws IOException {
          while (buf.hasRemaining()) {
            if (ch.read(buf, position + buf.position()) < 0) {
              throw new IOException("unexpected end of file");
            }
          }
        }
      }, file, format);
    }
  }

  /** As {@link #checkComplete(Path, String)}, for an image's bytes in memory. */
  static void checkComplete(byte[] encoded, String format) throws IOException {
    check(new Encoded() {
      @Override
      public long size() {
        return encoded.length;
      }

      @Override
      public void read(ByteBuffer buf, long position) {
        buf.put(encoded, (int) position, buf.remaining());
      }
    }, null, format);
  }

  private static void check(Encoded data, Path file, String format) throws IOException {
    switch (format) {
      case "JPEG" -> checkJpegEnd(data, file);
      case "PNG" -> checkPngChunks(data, file);
      default -> {
        // BMP and TIFF decoders fail on short files themselves
      }
    }
  }

  /** The last bytes, past any zero padding some writers add, must be the EOI marker FF D9. */
  private static void checkJpegEnd(Encoded data, Path file) throws IOException {
    long size = data.size();
    int tail = (int) Math.min(size, 4096);
    ByteBuffer end = ByteBuffer.allocate(tail);
    data.read(end, size - tail);
    int i = tail - 1;
    while (i >= 0 && end.get(i) == 0) {
      i--;
    }
    if (i < 1 || (end.get(i - 1) & 0xFF) != 0xFF || (end.get(i) & 0xFF) != 0xD9) {
      throw new ImageDecodeException(file, "truncated JPEG: the file does not end with the"
          + " end-of-image marker (FF D9)");
    }
  }

  /** Walks the chunk list (length, type, data, CRC) from the signature to IEND. */
  private static void checkPngChunks(Encoded data, Path file) throws IOException {
    long size = data.size();
    long at = 8;
    ByteBuffer header = ByteBuffer.allocate(8);
    while (at + 12 <= size) {
      header.clear();
      data.read(header, at);
      long length = header.getInt(0) & 0xFFFFFFFFL;
      String type = new String(header.array(), 4, 4, StandardCharsets.ISO_8859_1);
      if (type.equals("IEND")) {
        return;
      }
      at += 12 + length;
    }
    throw new ImageDecodeException(file, "truncated PNG: the file ends before its IEND chunk");
  }
}
