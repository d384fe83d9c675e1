package org.effiseg.weights;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.model.TensorLayouts;
import org.effiseg.util.Errors;

/**
 * Imports the TF.js graph model of EfficientNet (TF-Hub {@code efficientnet/bN/classification},
 * converted by tensorflowjs_converter; the shared B0 is one) into a canonical-name PyTorch-layout
 * {@link StateDict}.
 *
 * <p>The weights: the shards of each manifest group concatenated in {@code paths} order, sliced
 * in manifest order (float32 little-endian; int32/bool constants are skipped by size). The layer
 * of each tensor comes from the graph node that consumes it: {@code _FusedConv2D} /
 * {@code FusedDepthwiseConv2dNative} nodes named {@code stem_bn}, {@code stack_S/block_B/
 * {expand_bn, depthwise_conv2d, se_reduce_conv2d, se_expand_conv2d, project_bn}}, {@code top_bn},
 * and the {@code _FusedMatMul} of the logits (input 1 = weights, input 2 = bias). Stack S block B
 * becomes the flat block index in (S, B) order.
 *
 * <p>Layouts: conv HWIO → OIHW, depthwise [KH,KW,C,1] → [C,1,KH,KW], dense [in,out] → [out,in].
 *
 * <p>BatchNorm un-folding: the graph has each conv's BN folded into (W', b). We emit conv W' and a
 * BN with weight = 1, bias = b, running_mean = 0, running_var = 1 − ε (ε = {@link #BN_EPS}, the
 * efficientnet_pytorch/MONAI value). In eval mode BN(W'x) = 1·(W'x − 0)/√((1 − ε) + ε) + b
 * = W'x + b, and in float32 (1 − ε) + ε rounds to exactly 1, so the imported network computes exactly what
 * the folded graph does. This is the README's γ = √(var + ε), β = b + mean with mean = 0 and
 * var = 1 − ε; {@link BnCalibration} later replaces mean/var by real statistics and γ, β by the
 * matching values, which keeps the eval output unchanged and makes training mode work.
 */
public final class TfjsImporter {
  /** BatchNorm epsilon of efficientnet_pytorch / MONAI / TF EfficientNet. */
  public static final float BN_EPS = 1e-3f;

  private static final Pattern BLOCK_LAYER =
      Pattern.compile(".*/stack_(\\d+)/block_(\\d+)/(expand_bn|depthwise_conv2d|se_reduce_conv2d"
          + "|se_expand_conv2d|project_bn)/.*");

  private TfjsImporter() {}

  /** model.json is the graph and manifest only (the shared B0's is 190 KB). */
  static final long MAX_MODEL_JSON_BYTES = 64L << 20;
  /** Weights read at most: more than any EfficientNet holds (B7's are about 265 MB). */
  static final long MAX_WEIGHT_BYTES = 1L << 30;

  /**
   * The float32 constants of a TF.js model in manifest order, name → (TF shape, data). The
   * manifest's file names are untrusted: each shard must be a regular file inside the model's
   * folder (no "..", no absolute path, no link leading out), and the shards of a group must hold
   * exactly the bytes its tensors' shapes and dtypes need, checked before anything is read.
   */
  static Map<String, TensorData> readWeights(Path modelJson, JsonObject model) throws IOException {
    String where = modelJson.toString();
    JsonElement manifest = model.get("weightsManifest");
    if (manifest == null || !manifest.isJsonArray()) {
      throw new WeightsFormatException(where + ": no weightsManifest array (not a TF.js model)");
    }
    Map<String, TensorData> out = new java.util.LinkedHashMap<>();
    Path dir = modelJson.toAbsolutePath().normalize().getParent();
    long total = 0;
    for (JsonElement groupEl : manifest.getAsJsonArray()) {
      JsonObject group = groupEl.getAsJsonObject();
      List<Path> shards = new ArrayList<>();
      long shardBytes = 0;
      for (JsonElement p : group.getAsJsonArray("paths")) {
        Path shard = confined(dir, p.getAsString(), where);
        shards.add(shard);
        shardBytes += Files.size(shard);
      }
      List<JsonObject> weights = new ArrayList<>();
      long needed = 0;
      for (JsonElement wEl : group.getAsJsonArray("weights")) {
        JsonObject w = wEl.getAsJsonObject();
        weights.add(w);
        needed = Math.addExact(needed, bytesOf(w, where));
      }
      if (needed != shardBytes) {
        throw new WeightsFormatException(where + ": the manifest's tensors need " + needed
            + " bytes but its shards " + group.getAsJsonArray("paths") + " hold " + shardBytes
            + " (truncated, missing or wrong shard)");
      }
      total += needed;
      if (total > MAX_WEIGHT_BYTES) {
        throw new WeightsFormatException(where + ": " + total + " bytes of weights, more than an"
            + " EfficientNet holds (at most " + MAX_WEIGHT_BYTES + " read)");
      }
      ByteBuffer buf = ByteBuffer.wrap(readShards(shards, (int) needed)).order(ByteOrder.LITTLE_ENDIAN);
      long offset = 0;
      for (JsonObject w : weights) {
        long bytes = bytesOf(w, where);
        if (w.get("dtype").getAsString().equals("float32")) {
          JsonArray dims = w.getAsJsonArray("shape");
          long[] shape = new long[dims.size()];
          for (int i = 0; i < shape.length; i++) {
            shape[i] = dims.get(i).getAsLong();
          }
          float[] data = new float[(int) (bytes / 4)];
          buf.position((int) offset);
          buf.slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data);
          out.put(w.get("name").getAsString(), new TensorData(shape, data));
        }
        offset += bytes;
      }
    }
    return out;
  }

  /** {@code name} resolved in {@code dir}, refused unless it is a regular file inside it. */
  private static Path confined(Path dir, String name, String where) throws IOException {
    Path shard = dir.resolve(name).normalize();
    if (Path.of(name).isAbsolute() || !shard.startsWith(dir)) {
      throw new WeightsFormatException(where + ": weight shard path '" + name
          + "' leads out of the model's folder");
    }
    if (!Files.exists(shard)) {
      throw new WeightsFormatException(where + ": weight shard " + shard + " is missing");
    }
    if (!shard.toRealPath().startsWith(dir.toRealPath())) {
      throw new WeightsFormatException(where + ": weight shard '" + name + "' is a link out of"
          + " the model's folder (to " + shard.toRealPath() + ")");
    }
    if (!Files.isRegularFile(shard)) {
      throw new WeightsFormatException(where + ": weight shard '" + name + "' is not a regular file");
    }
    return shard;
  }

  /** Bytes of one manifest entry: shape × dtype size, every dimension ≥ 0, no overflow. */
  private static long bytesOf(JsonObject w, String where) throws WeightsFormatException {
    String name = w.get("name").getAsString();
    if (w.has("quantization")) {
      throw new WeightsFormatException(where + ": tensor '" + name
          + "' is quantized; only unquantized float32 TF.js models are supported");
    }
    int size = switch (w.get("dtype").getAsString()) {
      case "float32", "int32" -> 4;
      case "bool" -> 1;
      default -> throw new WeightsFormatException(
          where + ": tensor '" + name + "' has unsupported dtype " + w.get("dtype"));
    };
    long bytes = size;
    for (JsonElement d : w.getAsJsonArray("shape")) {
      long dim = d.getAsLong();
      if (dim < 0) {
        throw new WeightsFormatException(where + ": tensor '" + name + "' has a negative"
            + " dimension " + dim);
      }
      bytes = Math.multiplyExact(bytes, dim);
    }
    return bytes;
  }

  private static byte[] readShards(List<Path> shards, int total) throws IOException {
    byte[] all = new byte[total];
    int at = 0;
    for (Path shard : shards) {
      try (InputStream in = Files.newInputStream(shard)) {
        at += in.readNBytes(all, at, total - at);
      }
    }
    if (at != total) {
      throw new IOException("the shards changed while being read: " + shards);
    }
    return all;
  }

  /** Reads {@code model.json} and its shards into canonical names and PyTorch layouts. */
  public static StateDict read(Path modelJson) throws IOException {
    String where = modelJson.toString();
    if (!Files.isRegularFile(modelJson)) {
      throw new WeightsFormatException(where + ": not a regular file");
    }
    if (Files.size(modelJson) > MAX_MODEL_JSON_BYTES) {
      throw new WeightsFormatException(where + ": " + Files.size(modelJson) + " bytes, more than"
          + " a model.json holds (" + MAX_MODEL_JSON_BYTES + ")");
    }
    JsonObject model;
    try {
      model = JsonParser.parseString(Files.readString(modelJson, StandardCharsets.UTF_8))
          .getAsJsonObject();
    } catch (JsonParseException | IllegalStateException | java.nio.charset.CharacterCodingException e) {
      throw new WeightsFormatException(where + ": not a JSON object: " + Errors.oneLine(e), e);
    }
    try {
      return read(modelJson, model);
    } catch (ArithmeticException | ClassCastException | IllegalStateException | NullPointerException
        | NumberFormatException | UnsupportedOperationException | IndexOutOfBoundsException e) {
      // a field of the wrong JSON type or missing: Gson's accessors throw these
      throw new WeightsFormatException(where + ": not a TF.js graph model this importer reads ("
          + e.getClass().getSimpleName() + ": " + Errors.oneLine(e)
          + ")", e);
    }
  }

  private static StateDict read(Path modelJson, JsonObject model) throws IOException {
    String where = modelJson.toString();
    Map<String, TensorData> consts = readWeights(modelJson, model);
    JsonObject topology = model.getAsJsonObject("modelTopology");
    if (topology == null || !topology.has("node")) {
      throw new WeightsFormatException(where + ": no modelTopology.node (not a TF.js graph model)");
    }

    // layer name (canonical prefix with a placeholder block key) → (weights, bias, kind)
    record Layer(String target, String blockKey, String kind, TensorData w, TensorData b) {}
    List<Layer> layers = new ArrayList<>();
    TreeMap<Long, String> blockKeys = new TreeMap<>();
    for (JsonElement nodeEl : topology.getAsJsonArray("node")) {
      JsonObject node = nodeEl.getAsJsonObject();
      String op = node.get("op").getAsString();
      if (!op.equals("_FusedConv2D") && !op.equals("FusedDepthwiseConv2dNative")
          && !op.equals("_FusedMatMul")) {
        continue;
      }
      String name = node.get("name").getAsString();
      checkFusedBiasOnly(node, name, where);
      JsonArray inputs = node.getAsJsonArray("input");
      TensorData w = consts.get(inputName(inputs.get(1)));
      TensorData b = consts.get(inputName(inputs.get(2)));
      if (w == null || b == null) {
        throw new WeightsFormatException(where + ": node '" + name
            + "' reads weights that are not in the manifest: " + inputs);
      }
      Matcher m = BLOCK_LAYER.matcher(name);
      if (m.matches()) {
        long s = Long.parseLong(m.group(1));
        long k = Long.parseLong(m.group(2));
        String key = s + "." + k;
        blockKeys.put(s * 1_000_000L + k, key);
        String target = switch (m.group(3)) {
          case "expand_bn" -> "_expand_conv/_bn0";
          case "depthwise_conv2d" -> "_depthwise_conv/_bn1";
          case "se_reduce_conv2d" -> "_se_reduce";
          case "se_expand_conv2d" -> "_se_expand";
          default -> "_project_conv/_bn2";
        };
        layers.add(new Layer(target, key, op, w, b));
      } else if (name.contains("/stem_")) {
        layers.add(new Layer("_conv_stem/_bn0", null, op, w, b));
      } else if (name.contains("/top_")) {
        layers.add(new Layer("_conv_head/_bn1", null, op, w, b));
      } else if (op.equals("_FusedMatMul")) {
        layers.add(new Layer("_fc", null, op, w, b));
      } else {
        throw new WeightsFormatException(where + ": cannot place layer node '" + name + "'");
      }
    }
    Map<String, Integer> flat = new HashMap<>();
    for (String key : blockKeys.values()) {
      flat.put(key, flat.size());
    }

    // Emit in canonical module order: stem, blocks by flat index, head, fc.
    TreeMap<String, StateDict> byBlock = new TreeMap<>();
    StateDict top = new StateDict();
    StateDict tail = new StateDict();
    for (Layer l : layers) {
      String prefix = l.blockKey == null ? "" : "_blocks." + flat.get(l.blockKey) + ".";
      StateDict dst = l.blockKey == null ? (l.target.startsWith("_conv_stem") ? top : tail)
          : byBlock.computeIfAbsent(String.format("%06d", flat.get(l.blockKey)),
              k -> new StateDict());
      if (l.kind.equals("_FusedMatMul")) {
        dst.put(prefix + l.target + ".weight", denseToLinear(l.w, where));
        dst.put(prefix + l.target + ".bias", l.b);
      } else if (!l.target.contains("/")) { // squeeze-excite conv with a real bias
        dst.put(prefix + l.target + ".weight", convToOihw(l.w, where));
        dst.put(prefix + l.target + ".bias", l.b);
      } else {
        String conv = l.target.substring(0, l.target.indexOf('/'));
        String bn = l.target.substring(l.target.indexOf('/') + 1);
        TensorData w = l.kind.equals("FusedDepthwiseConv2dNative")
            ? depthwiseToOihw(l.w, where) : convToOihw(l.w, where);
        dst.put(prefix + conv + ".weight", w);
        putUnfoldedBn(dst, prefix + bn, l.b);
      }
    }
    StateDict out = new StateDict();
    copyInto(top, out);
    // Within a block, keep module order: expand, bn0, depthwise, bn1, se, project, bn2.
    String[] order = {"_expand_conv.", "_bn0.", "_depthwise_conv.", "_bn1.", "_se_reduce.",
        "_se_expand.", "_project_conv.", "_bn2."};
    for (StateDict block : byBlock.values()) {
      for (String part : order) {
        for (String n : block.names()) {
          if (n.substring(n.indexOf('.', "_blocks.".length()) + 1).startsWith(part)) {
            out.put(n, block.get(n));
          }
        }
      }
    }
    for (String part : new String[] {"_conv_head.", "_bn1.", "_fc."}) {
      for (String n : tail.names()) {
        if (n.startsWith(part)) {
          out.put(n, tail.get(n));
        }
      }
    }
    return out;
  }

  private static void copyInto(StateDict from, StateDict to) {
    for (String n : from.names()) {
      to.put(n, from.get(n));
    }
  }

  /** BN that makes BN(y) = y + b exactly in eval mode (see the class comment). */
  static void putUnfoldedBn(StateDict dst, String prefix, TensorData foldedBias) {
    int c = foldedBias.data().length;
    float[] ones = new float[c];
    float[] zeros = new float[c];
    float[] var = new float[c];
    Arrays.fill(ones, 1f);
    Arrays.fill(var, 1f - BN_EPS);
    long[] shape = {c};
    dst.put(prefix + ".weight", new TensorData(shape, ones));
    dst.put(prefix + ".bias", new TensorData(shape.clone(), foldedBias.data().clone()));
    dst.put(prefix + ".running_mean", new TensorData(shape.clone(), zeros));
    dst.put(prefix + ".running_var", new TensorData(shape.clone(), var));
  }

  private static String inputName(JsonElement input) {
    String s = input.getAsString();
    if (s.startsWith("^")) {
      s = s.substring(1);
    }
    int colon = s.lastIndexOf(':');
    return colon > 0 && s.substring(colon + 1).chars().allMatch(Character::isDigit)
        ? s.substring(0, colon) : s;
  }

  /** The fused op must be a plain BiasAdd: anything else (Relu, ...) is not ours to map. */
  private static void checkFusedBiasOnly(JsonObject node, String name, String where)
      throws WeightsFormatException {
    JsonObject attr = node.getAsJsonObject("attr");
    if (attr == null || !attr.has("fused_ops")) {
      return;
    }
    JsonArray s = attr.getAsJsonObject("fused_ops").getAsJsonObject("list").getAsJsonArray("s");
    for (JsonElement e : s) {
      String fused = new String(java.util.Base64.getDecoder().decode(e.getAsString()),
          StandardCharsets.UTF_8);
      if (!fused.equals("BiasAdd")) {
        throw new WeightsFormatException(where + ": node '" + name + "' fuses " + fused
            + "; only BiasAdd is supported");
      }
    }
  }

  /** [KH, KW, I, O] → [O, I, KH, KW]. */
  static TensorData convToOihw(TensorData hwio, String where) throws WeightsFormatException {
    long[] s = requireRank(hwio, 4, where);
    int kh = (int) s[0];
    int kw = (int) s[1];
    int ci = (int) s[2];
    int co = (int) s[3];
    return new TensorData(new long[] {co, ci, kh, kw}, TensorLayouts.hwioToOihw(hwio.data(), kh, kw, ci, co));
  }

  /** Depthwise [KH, KW, C, 1] → [C, 1, KH, KW]. */
  static TensorData depthwiseToOihw(TensorData hwc1, String where) throws WeightsFormatException {
    long[] s = requireRank(hwc1, 4, where);
    if (s[3] != 1) {
      throw new WeightsFormatException(where + ": depthwise weights " + Arrays.toString(s)
          + " have a channel multiplier " + s[3] + ", expected 1");
    }
    TensorData t = convToOihw(hwc1, where); // [1, C, KH, KW]: same element order as [C, 1, KH, KW]
    return new TensorData(new long[] {s[2], 1, s[0], s[1]}, t.data());
  }

  /** Dense [in, out] → linear [out, in]. */
  static TensorData denseToLinear(TensorData inOut, String where) throws WeightsFormatException {
    long[] s = requireRank(inOut, 2, where);
    int in = (int) s[0];
    int out = (int) s[1];
    return new TensorData(new long[] {out, in}, TensorLayouts.transpose(inOut.data(), in, out));
  }

  private static long[] requireRank(TensorData t, int rank, String where)
      throws WeightsFormatException {
    if (t.shape().length != rank) {
      throw new WeightsFormatException(where + ": expected a rank-" + rank + " weight, got "
          + Arrays.toString(t.shape()));
    }
    return t.shape();
  }
}
