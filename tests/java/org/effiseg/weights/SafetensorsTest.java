package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
  @TempDir Path tmp;

  /** A file with the given header text and data bytes. */
  static byte[] raw(String header, byte[] data) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(data);
    return b.array();
  }

  static String rejection(byte[] file) {
    return assertThrows(WeightsFormatException.class, () -> Safetensors.read(file, "f"))
        .getMessage();
  }

  @Test
  void roundTripKeepsOrderShapesValuesAndMetadata() throws Exception {
    Rand r = new Rand(1);
    StateDict sd = new StateDict();
    sd.put("b.weight", new TensorData(new long[] {3, 2, 1, 1}, r.normal(6, 1)));
    sd.put("a.scalar", new TensorData(new long[] {}, new float[] {7f}));
    sd.put("c.empty", new TensorData(new long[] {0, 4}, new float[0]));
    sd.put("d.bias", new TensorData(new long[] {5}, r.normal(5, 1)));
    Path f = tmp.resolve("x.safetensors");
    Safetensors.write(f, sd, Map.of("k", "v", "json", "{\"a\": 1}"));
    assertThat(Files.size(f) % 8).isEqualTo(0); // header padded to 8-byte alignment
    Safetensors.Contents c = Safetensors.read(f);
    assertThat(c.tensors().names()).containsExactly("b.weight", "a.scalar", "c.empty", "d.bias")
        .inOrder();
    for (String n : sd.names()) {
      assertThat(c.tensors().get(n)).isEqualTo(sd.get(n));
    }
    assertThat(c.metadata()).containsExactly("k", "v", "json", "{\"a\": 1}");
    // The byte-array reader agrees with the file reader.
    assertThat(Safetensors.read(Files.readAllBytes(f), "f").tensors().get("b.weight"))
        .isEqualTo(sd.get("b.weight"));
  }

  @Test
  void readsHalfBfloatDoubleAndDropsNumBatchesTracked() throws Exception {
    ByteBuffer d = ByteBuffer.allocate(2 * 3 + 2 * 2 + 8 + 8).order(ByteOrder.LITTLE_ENDIAN);
    d.putShort((short) 0x3c00).putShort((short) 0xc000).putShort((short) 0x0001); // 1, -2, 2^-24
    d.putShort((short) 0x3fc0).putShort((short) 0xbf80); // bf16 1.5, -1
    d.putDouble(0.25);
    d.putLong(12345L);
    String h = "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]},"
        + "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[10,18]},"
        + "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[18,26]}}";
    StateDict sd = Safetensors.read(raw(h, d.array()), "f").tensors();
    assertThat(sd.names()).containsExactly("h", "b", "d").inOrder();
    assertThat(sd.get("h").data()).usingExactEquality().containsExactly(1f, -2f, 0x1p-24f)
        .inOrder();
    assertThat(sd.get("b").data()).usingExactEquality().containsExactly(1.5f, -1f).inOrder();
    assertThat(sd.get("d").data()).usingExactEquality().containsExactly(0.25f);
    assertThat(Safetensors.halfToFloat((short) 0x7bff)).isEqualTo(65504f);
    assertThat(Safetensors.halfToFloat((short) 0xfc00)).isEqualTo(Float.NEGATIVE_INFINITY);
  }

  @Test
  void rejectsTruncatedFiles() throws Exception {
    StateDict sd = new StateDict();
    sd.put("w", new TensorData(new long[] {4}, new float[] {1, 2, 3, 4}));
    byte[] good = Safetensors.toBytes(sd, Map.of());
    assertThat(rejection(Arrays.copyOf(good, good.length - 3))).contains("truncated");
    assertThat(rejection(Arrays.copyOf(good, 20))).contains("truncated");
    assertThat(rejection(new byte[] {1, 2, 3})).contains("shorter than the 8-byte header");
    Path f = tmp.resolve("cut.safetensors");
    Files.write(f, Arrays.copyOf(good, good.length - 1));
    String m = assertThrows(WeightsFormatException.class, () -> Safetensors.read(f)).getMessage();
    assertThat(m).contains(f.toString());
    assertThat(m).contains("truncated");
  }

  @Test
  void rejectsBadHeaders() {
    byte[] four = new byte[16];
    assertThat(rejection(raw("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], ", four)))
        .contains("not valid JSON");
    assertThat(rejection(raw("[1, 2]", new byte[0]))).contains("not a JSON object");
    ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40);
    assertThat(rejection(huge.array())).contains("header length");
    ByteBuffer beyond = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(100);
    assertThat(rejection(beyond.array())).contains("header claims 100 bytes");
    assertThat(rejection(raw("{\"w\":{\"dtype\":\"Q7\",\"shape\":[4],\"data_offsets\":[0,16]}}",
        four))).contains("unknown dtype");
    assertThat(rejection(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", four)))
        .contains("no 'data_offsets'");
    assertThat(rejection(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}",
        four))).contains("needs 12");
    assertThat(rejection(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
        four))).contains("gap");
    assertThat(rejection(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        + "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", four)))
        .contains("overlap");
    assertThat(rejection(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        four))).contains("8 bytes after the last tensor");
    assertThat(rejection(raw("{\"w\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
        four))).contains("only floating-point");
    assertThat(rejection(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904, 4],"
        + "\"data_offsets\":[0,16]}}", four))).contains("too large");
    assertThat(rejection(raw("{\"__metadata__\":{\"a\":1}}", new byte[0])))
        .contains("not a string");
  }
}
