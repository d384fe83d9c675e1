package org.effiseg.weights;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.util.Errors;

/**
 * Reads and writes the safetensors format: an 8-byte little-endian header length n, n bytes of
 * JSON header {@code {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}},
 * then the raw little-endian tensor data (offsets relative to the start of the data).
 *
 * <p>Reading accepts F32, F16, BF16 and F64 tensors (all converted to float); PyTorch's integer
 * {@code num_batches_tracked} buffers are dropped; any other dtype is rejected. Validation is as
 * strict as the reference implementation: the header must fit in the file, be a JSON object,
 * every tensor's byte range must equal dtype size x shape, and the ranges must tile the data area
 * exactly (no overlap, no gap, nothing after the last tensor). Writing always produces F32.
 */
public final class Safetensors {
  /** Headers beyond this size are rejected before allocating (the reference reader uses 100 MB). */
  static final long MAX_HEADER_BYTES = 100L << 20;
  /**
   * Tensor data beyond this is refused before reading: more than any EfficientNet or EffiSegNet
   * file holds (a B7 training checkpoint with its AdamW moments is about 770 MB).
   */
  static final long MAX_DATA_BYTES = 1L << 30;

  private static final String METADATA_KEY = "__metadata__";

  private Safetensors() {}

  /** What a file holds: its float tensors in file order and its string metadata. */
  public record Contents(StateDict tensors, Map<String, String> metadata) {}

  /** The element types of the format, with their sizes in bytes. */
  enum DType {
    F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U64(8), U32(4), U16(2),
    U8(1), BOOL(1), F8_E4M3(1), F8_E5M2(1);

    final int bytes;

    DType(int bytes) {
      this.bytes = bytes;
    }

    boolean isFloat() {
      return this == F64 || this == F32 || this == F16 || this == BF16;
    }
  }

  private record Entry(String name, DType dtype, long[] shape, long begin, long end) {}

  /** Reads a whole file. */
  public static Contents read(Path file) throws IOException {
    String where = file.toString();
    try (FileChannel ch = open(file)) {
      long size = ch.size();
      byte[] header = readHeader(ch, where);
      long dataStart = 8 + header.length;
      Parsed parsed = parseHeader(header, size - dataStart, where);
      if (size - dataStart > MAX_DATA_BYTES) {
        throw new WeightsFormatException(where + ": " + (size - dataStart) + " bytes of tensors,"
            + " more than an EfficientNet file holds (at most " + MAX_DATA_BYTES + " read)");
      }
      StateDict sd = new StateDict();
      ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
      for (Entry e : parsed.entries) {
        if (!e.dtype.isFloat()) {
          continue; // only num_batches_tracked gets here (checked while parsing)
        }
        long bytes = e.end - e.begin;
        if (bytes > Integer.MAX_VALUE - 8) {
          throw new WeightsFormatException(where + ": tensor '" + e.name + "' is too large");
        }
        float[] values = e.dtype == DType.F32
            ? readFloats(ch, dataStart + e.begin, (int) (bytes / 4), chunk, where)
            : decode(readFully(ch, dataStart + e.begin, (int) bytes, where), e.dtype);
        sd.put(e.name, new TensorData(e.shape.clone(), values));
      }
      return new Contents(sd, parsed.metadata);
    }
  }

  /** The string metadata of a file, read from its header alone (the tensors are not read). */
  public static Map<String, String> readMetadata(Path file) throws IOException {
    String where = file.toString();
    try (FileChannel ch = open(file)) {
      byte[] header = readHeader(ch, where);
      return parseHeader(header, ch.size() - 8 - header.length, where).metadata;
    }
  }

  /** The JSON header of an open file, its length checked against the file's size. */
  private static byte[] readHeader(FileChannel ch, String where) throws IOException {
    long size = ch.size();
    if (size < 8) {
      throw new WeightsFormatException(
          where + ": not a safetensors file: " + size + " bytes, shorter than the 8-byte header"
              + " length");
    }
    long headerLen = readFully(ch, 0, 8, where).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    checkHeaderLength(headerLen, size, where);
    byte[] header = new byte[(int) headerLen];
    readFully(ch, 8, (int) headerLen, where).get(header);
    return header;
  }

  /** Parses an in-memory file; {@code where} names it in messages. */
  public static Contents read(byte[] file, String where) throws WeightsFormatException {
    if (file.length < 8) {
      throw new WeightsFormatException(
          where + ": not a safetensors file: " + file.length
              + " bytes, shorter than the 8-byte header length");
    }
    ByteBuffer buf = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
    long headerLen = buf.getLong(0);
    checkHeaderLength(headerLen, file.length, where);
    byte[] header = Arrays.copyOfRange(file, 8, 8 + (int) headerLen);
    int dataStart = 8 + (int) headerLen;
    Parsed parsed = parseHeader(header, file.length - dataStart, where);
    StateDict sd = new StateDict();
    for (Entry e : parsed.entries) {
      if (e.dtype.isFloat()) {
        ByteBuffer slice =
            ByteBuffer.wrap(file, dataStart + (int) e.begin, (int) (e.end - e.begin)).slice();
        sd.put(e.name, new TensorData(e.shape.clone(), decode(slice, e.dtype)));
      }
    }
    return new Contents(sd, parsed.metadata);
  }

  /** Writes {@code tensors} as F32 with {@code metadata} (may be empty) to {@code out}. */
  public static void write(OutputStream out, StateDict tensors, Map<String, String> metadata)
      throws IOException {
    out.write(header(tensors, metadata));
    byte[] chunk = new byte[1 << 16];
    FloatBuffer floats = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    for (String name : tensors.names()) {
      float[] data = tensors.get(name).data();
      for (int at = 0; at < data.length; at += floats.capacity()) {
        int n = Math.min(floats.capacity(), data.length - at);
        floats.clear();
        floats.put(data, at, n); // a bulk copy, not one call per value
        out.write(chunk, 0, 4 * n);
      }
    }
  }

  /** Writes a file (not atomically; {@link Checkpoint#write} is the atomic writer). */
  public static void write(Path file, StateDict tensors, Map<String, String> metadata)
      throws IOException {
    try (OutputStream out =
        new java.io.BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
      write(out, tensors, metadata);
    }
  }

  /** The whole file as bytes (tests, small files). */
  public static byte[] toBytes(StateDict tensors, Map<String, String> metadata) {
    var out = new java.io.ByteArrayOutputStream();
    try {
      write(out, tensors, metadata);
    } catch (IOException e) {
      throw new AssertionError(e); // a ByteArrayOutputStream does not fail
    }
    return out.toByteArray();
  }

  /** The 8-byte length plus the JSON header, padded with spaces to a multiple of 8 bytes. */
  private static byte[] header(StateDict tensors, Map<String, String> metadata) {
    JsonObject root = new JsonObject();
    if (metadata != null && !metadata.isEmpty()) {
      JsonObject meta = new JsonObject();
      metadata.forEach(meta::addProperty);
      root.add(METADATA_KEY, meta);
    }
    long offset = 0;
    for (String name : tensors.names()) {
      if (name.equals(METADATA_KEY)) {
        throw new IllegalArgumentException("a tensor may not be named " + METADATA_KEY);
      }
      TensorData t = tensors.get(name);
      JsonObject e = new JsonObject();
      e.addProperty("dtype", "F32");
      JsonArray shape = new JsonArray();
      for (long d : t.shape()) {
        shape.add(d);
      }
      e.add("shape", shape);
      JsonArray offsets = new JsonArray();
      offsets.add(offset);
      offset += 4L * t.data().length;
      offsets.add(offset);
      e.add("data_offsets", offsets);
      root.add(name, e);
    }
    byte[] json = new Gson().toJson(root).getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer bb = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    bb.putLong(padded).put(json);
    while (bb.hasRemaining()) {
      bb.put((byte) ' ');
    }
    return bb.array();
  }

  private static void checkHeaderLength(long headerLen, long fileSize, String where)
      throws WeightsFormatException {
    if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES) {
      throw new WeightsFormatException(
          where + ": not a safetensors file: header length " + headerLen
              + " is not in 1.." + MAX_HEADER_BYTES);
    }
    if (8 + headerLen > fileSize) {
      throw new WeightsFormatException(
          where + ": truncated or not a safetensors file: the header claims " + headerLen
              + " bytes but the file has only " + (fileSize - 8) + " after the length field");
    }
  }

  private record Parsed(List<Entry> entries, Map<String, String> metadata) {}

  private static Parsed parseHeader(byte[] header, long dataBytes, String where)
      throws WeightsFormatException {
    JsonElement rootEl;
    try {
      rootEl = JsonParser.parseString(new String(header, StandardCharsets.UTF_8));
    } catch (JsonParseException e) {
      throw new WeightsFormatException(
          where + ": the safetensors header is not valid JSON: " + Errors.oneLine(e), e);
    }
    if (!rootEl.isJsonObject()) {
      throw new WeightsFormatException(where + ": the safetensors header is not a JSON object");
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    List<Entry> entries = new ArrayList<>();
    for (Map.Entry<String, JsonElement> kv : rootEl.getAsJsonObject().entrySet()) {
      String name = kv.getKey();
      if (name.equals(METADATA_KEY)) {
        if (!kv.getValue().isJsonObject()) {
          throw new WeightsFormatException(where + ": " + METADATA_KEY + " is not a JSON object");
        }
        for (Map.Entry<String, JsonElement> m : kv.getValue().getAsJsonObject().entrySet()) {
          JsonElement v = m.getValue();
          if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
            throw new WeightsFormatException(
                where + ": " + METADATA_KEY + " value for '" + m.getKey() + "' is not a string");
          }
          metadata.put(m.getKey(), v.getAsString());
        }
        continue;
      }
      try {
        entries.add(parseEntry(name, kv.getValue(), where));
      } catch (ArithmeticException e) {
        throw new WeightsFormatException(where + ": tensor '" + name + "': shape or offsets too"
            + " large: " + kv.getValue());
      }
    }
    // The byte ranges must tile the data area exactly, as in the reference implementation.
    List<Entry> byOffset = new ArrayList<>(entries);
    byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
    long expected = 0;
    Entry previous = null;
    for (Entry e : byOffset) {
      if (e.begin < expected) {
        throw new WeightsFormatException(
            where + ": tensor '" + e.name + "' bytes [" + e.begin + ", " + e.end
                + ") overlap tensor '" + previous.name + "' [" + previous.begin + ", "
                + previous.end + ")");
      }
      if (e.begin > expected) {
        throw new WeightsFormatException(
            where + ": gap in the data area: bytes [" + expected + ", " + e.begin
                + ") belong to no tensor (before '" + e.name + "')");
      }
      expected = e.end;
      previous = e;
    }
    if (expected > dataBytes) {
      throw new WeightsFormatException(
          where + ": truncated: tensor '" + previous.name + "' ends at data byte " + expected
              + " but the file holds only " + dataBytes + " data bytes");
    }
    if (expected < dataBytes) {
      throw new WeightsFormatException(
          where + ": " + (dataBytes - expected) + " bytes after the last tensor belong to no"
              + " tensor");
    }
    for (Entry e : entries) {
      if (!e.dtype.isFloat() && !e.name.endsWith("num_batches_tracked")) {
        throw new WeightsFormatException(
            where + ": tensor '" + e.name + "' has dtype " + e.dtype
                + "; only floating-point weights (F32, F16, BF16, F64) are supported");
      }
    }
    return new Parsed(entries, metadata);
  }

  private static Entry parseEntry(String name, JsonElement el, String where)
      throws WeightsFormatException {
    String prefix = where + ": tensor '" + name + "': ";
    if (!el.isJsonObject()) {
      throw new WeightsFormatException(prefix + "header entry is not a JSON object");
    }
    JsonObject o = el.getAsJsonObject();
    for (String key : new String[] {"dtype", "shape", "data_offsets"}) {
      if (!o.has(key)) {
        throw new WeightsFormatException(prefix + "header entry has no '" + key + "'");
      }
    }
    DType dtype;
    try {
      dtype = DType.valueOf(o.get("dtype").getAsString());
    } catch (RuntimeException e) {
      throw new WeightsFormatException(
          prefix + "unknown dtype " + o.get("dtype") + " (known: "
              + Arrays.toString(DType.values()) + ")");
    }
    long[] shape = longArray(o.get("shape"), prefix + "shape");
    long numel = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new WeightsFormatException(prefix + "negative dimension in shape "
            + Arrays.toString(shape));
      }
      numel = Math.multiplyExact(numel, d);
    }
    long[] offsets = longArray(o.get("data_offsets"), prefix + "data_offsets");
    if (offsets.length != 2 || offsets[0] < 0 || offsets[1] < offsets[0]) {
      throw new WeightsFormatException(
          prefix + "data_offsets " + Arrays.toString(offsets) + " is not [begin, end] with"
              + " 0 <= begin <= end");
    }
    long bytes = offsets[1] - offsets[0];
    if (bytes != Math.multiplyExact(numel, (long) dtype.bytes)) {
      throw new WeightsFormatException(
          prefix + "data_offsets " + Arrays.toString(offsets) + " span " + bytes + " bytes but "
              + dtype + " " + Arrays.toString(shape) + " needs " + numel * dtype.bytes);
    }
    return new Entry(name, dtype, shape, offsets[0], offsets[1]);
  }

  private static long[] longArray(JsonElement el, String what) throws WeightsFormatException {
    if (el == null || !el.isJsonArray()) {
      throw new WeightsFormatException(what + " is not a JSON array");
    }
    JsonArray a = el.getAsJsonArray();
    long[] out = new long[a.size()];
    for (int i = 0; i < out.length; i++) {
      JsonElement v = a.get(i);
      try {
        if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
          throw new NumberFormatException();
        }
        out[i] = new java.math.BigDecimal(v.getAsString()).longValueExact();
      } catch (ArithmeticException | NumberFormatException e) {
        throw new WeightsFormatException(what + " holds " + v + ", not an integer");
      }
    }
    return out;
  }

  /** Opens a regular file for reading; a folder or device is refused by name. */
  private static FileChannel open(Path file) throws IOException {
    if (Files.isDirectory(file)) {
      throw new WeightsFormatException(file + ": is a folder, not a safetensors file");
    }
    if (Files.exists(file) && !Files.isRegularFile(file)) {
      throw new WeightsFormatException(file + ": not a regular file");
    }
    return FileChannel.open(file, StandardOpenOption.READ);
  }

  private static ByteBuffer readFully(FileChannel ch, long position, int length, String where)
      throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(length);
    while (buf.hasRemaining()) {
      int n = ch.read(buf, position + buf.position());
      if (n < 0) {
        throw new WeightsFormatException(where + ": truncated at byte " + (position
            + buf.position()));
      }
    }
    buf.flip();
    return buf;
  }

  /** {@code n} little-endian floats from {@code position}, through one reused direct buffer. */
  private static float[] readFloats(FileChannel ch, long position, int n, ByteBuffer chunk,
      String where) throws IOException {
    float[] out = new float[n];
    for (int done = 0; done < n; ) {
      int count = Math.min(n - done, chunk.capacity() / 4);
      chunk.clear().limit(4 * count);
      long at = position + 4L * done;
      while (chunk.hasRemaining()) {
        if (ch.read(chunk, at + chunk.position()) < 0) {
          throw new WeightsFormatException(where + ": truncated at byte " + (at + chunk.position()));
        }
      }
      chunk.flip();
      chunk.asFloatBuffer().get(out, done, count);
      done += count;
    }
    return out;
  }

  private static float[] decode(ByteBuffer bytes, DType dtype) {
    ByteBuffer b = bytes.order(ByteOrder.LITTLE_ENDIAN);
    int n = b.remaining() / dtype.bytes;
    float[] out = new float[n];
    switch (dtype) {
      case F32 -> b.asFloatBuffer().get(out);
      case F64 -> {
        for (int i = 0; i < n; i++) {
          out[i] = (float) b.getDouble(b.position() + 8 * i);
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          out[i] = halfToFloat(b.getShort(b.position() + 2 * i));
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          out[i] = Float.intBitsToFloat((b.getShort(b.position() + 2 * i) & 0xffff) << 16);
        }
      }
      default -> throw new IllegalStateException("not a float dtype: " + dtype);
    }
    return out;
  }

  /** IEEE 754 binary16 to float (exact: every half value is a float). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13)); // inf / NaN
    }
    if (exp == 0) {
      float v = mant * 0x1p-24f; // zero or subnormal
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }
}
