package org.effiseg.export;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.ImageNetNormalization;
import org.effiseg.model.InferenceGraph;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.util.AtomicFiles;
import org.effiseg.weights.Checkpoint;
import org.effiseg.weights.CheckpointModel;

/**
 * A checkpoint's EffiSegNet as a standard ONNX model for inference: input {@value #INPUT}
 * float32 [N,3,H,W] (RGB scaled to [0, 1], normalised with effiseg's mean and std), output
 * {@value #OUTPUT} float32 [N,1,H,W]; eval mode, batch norm folded, the deep-supervision heads
 * left out; the graph is {@link EffiSegNet#describe} written by {@link OnnxGraphBuilder}. The
 * file's {@code metadata_props} say what the model expects ({@link Contract#metadata()}).
 */
public final class OnnxExport {
  public static final String INPUT = "image";
  public static final String OUTPUT = "logits";
  public static final int DEFAULT_OPSET = 17;
  public static final int MIN_OPSET = 13;
  public static final int MAX_OPSET = 21;
  public static final int MIN_IMAGE_SIZE = 32;
  public static final int MAX_IMAGE_SIZE = 4096;
  public static final int MAX_BATCH = 4096;

  private OnnxExport() {}

  /**
   * What to export.
   *
   * @param imageSize square input size; 0: the size the checkpoint was trained at
   * @param batch a fixed batch size; 0: dynamic (any batch size)
   * @param opset the ONNX opset, {@value #MIN_OPSET} to {@value #MAX_OPSET}
   */
  public record Options(int imageSize, int batch, int opset) {
    public Options {
      if (imageSize != 0 && (imageSize < MIN_IMAGE_SIZE || imageSize > MAX_IMAGE_SIZE)) {
        throw new IllegalArgumentException("image size " + imageSize + ": the network takes " + MIN_IMAGE_SIZE
            + " to " + MAX_IMAGE_SIZE + " pixels (0: the checkpoint's)");
      }
      if (batch < 0 || batch > MAX_BATCH) {
        throw new IllegalArgumentException("batch " + batch + ": must be 1 to " + MAX_BATCH + ", or dynamic");
      }
      if (opset < MIN_OPSET || opset > MAX_OPSET) {
        throw new IllegalArgumentException("opset " + opset + " is not supported (" + MIN_OPSET + " to " + MAX_OPSET + ")");
      }
    }

    /** The checkpoint's image size, dynamic batch, opset {@value #DEFAULT_OPSET}. */
    public static Options defaults() {
      return new Options(0, 0, DEFAULT_OPSET);
    }
  }

  /**
   * What an exported model expects and where it came from; {@link #metadata()} is what the file's
   * metadata_props hold.
   *
   * @param batch the fixed batch size, or 0: dynamic
   */
  public record Contract(String variant, int imageSize, int batch, int opset, float[] mean, float[] std,
      double thresholdLogit, String preset, String effisegVersion, String checkpointSha256) {

    /** The metadata_props entries. */
    public Map<String, String> metadata() {
      Map<String, String> m = new LinkedHashMap<>();
      m.put("variant", variant);
      m.put("image_size", Integer.toString(imageSize));
      m.put("mean", join(mean));
      m.put("std", join(std));
      m.put("threshold_logit", Double.toString(thresholdLogit));
      m.put("preset", preset);
      m.put("effiseg_version", effisegVersion);
      m.put("checkpoint_sha256", checkpointSha256);
      return m;
    }

    /** The contract in a few lines (printed by {@code effiseg export}, kept as the model's doc_string). */
    public String describe() {
      String n = batch == 0 ? "N" : Integer.toString(batch);
      String shape = "[" + n + ",%d," + imageSize + "," + imageSize + "]";
      return String.format(Locale.ROOT,
          "EffiSegNet-%s, ONNX opset %d, batch %s%n"
              + "  input  %s float32 %s: RGB resized to %dx%d, scaled to [0,1], then (x - mean) / std per channel,%n"
              + "         mean %s, std %s%n"
              + "  output %s float32 %s: polyp where the logit > %s (probability = sigmoid(logit))%n"
              + "  metadata: preset '%s', effiseg %s, checkpoint sha256 %s",
          variant.toUpperCase(Locale.ROOT), opset, batch == 0 ? "dynamic (N)" : n, INPUT, String.format(Locale.ROOT, shape, 3),
          imageSize, imageSize, join(mean), join(std), OUTPUT, String.format(Locale.ROOT, shape, 1),
          Double.toString(thresholdLogit), preset, effisegVersion, checkpointSha256);
    }

    private static String join(float[] v) {
      StringBuilder s = new StringBuilder();
      for (float x : v) {
        s.append(s.length() == 0 ? "" : ",").append(x);
      }
      return s.toString();
    }
  }

  /** The file written, its size in bytes and its contract. */
  public record Result(Path file, long bytes, Contract contract) {}

  /** An exported model in memory and its contract. */
  record Exported(ModelProto model, Contract contract) {}

  /**
   * Exports {@code checkpoint} to {@code out}, written atomically (a temporary file renamed into
   * place: a failure leaves no file behind, and an existing {@code out} unchanged).
   *
   * @throws IOException an unreadable or invalid checkpoint, or {@code out} cannot be written
   * @throws IllegalArgumentException the network cannot be exported at the requested size
   */
  public static Result export(Path checkpoint, Path out, Options options) throws IOException {
    if (Files.isDirectory(out)) {
      throw new IOException(out + " is a folder; name the .onnx file to write");
    }
    Checkpoint c = Checkpoint.read(checkpoint);
    Exported e = build(c, CheckpointModel.of(c, checkpoint), sha256(checkpoint), options);
    AtomicFiles.write(out, e.model()::writeTo); // its errors name the file and why
    return new Result(out, Files.size(out), e.contract());
  }

  /** The model of {@code c} (described by {@code spec}, its file hashing to {@code sha256}) and its contract. */
  static Exported build(Checkpoint c, CheckpointModel spec, String sha256, Options options) {
    int size = options.imageSize() == 0 ? spec.imageSize() : options.imageSize();
    String variant = spec.variant().name().toLowerCase(Locale.ROOT);
    Contract contract = new Contract(variant, size, options.batch(), options.opset(),
        perChannel(ImageNetNormalization::mean), perChannel(ImageNetNormalization::std), spec.thresholdLogit(),
        spec.preset(), version(), sha256);

    GraphProto.Builder graph = GraphProto.newBuilder().setName("EffiSegNet-" + spec.variant().name());
    graph.addInput(tensorInfo(INPUT, options.batch(), 3, size));
    InferenceGraph.Value logits;
    try (Context ctx = Context.cpu(1)) {
      OnnxGraphBuilder builder = new OnnxGraphBuilder(graph, c.model(),
          (in, out) -> effisegNearestSources(ctx, in, out), INPUT, options.batch());
      logits = EffiSegNet.describe(spec.network(), builder, new InferenceGraph.Value(INPUT, 3, size, size));
    } catch (UnsupportedSizeException e) {
      throw new IllegalArgumentException("image size " + size + " cannot be exported: " + e.getMessage()
          + "; multiples of 32 and each variant's native size can", e);
    }
    // The last node writes the output under its own name; rename it to the contract's.
    int last = graph.getNodeCount() - 1;
    if (!graph.getNode(last).getOutput(0).equals(logits.name()) || logits.channels() != 1
        || logits.height() != size || logits.width() != size) {
      throw new IllegalStateException("the network did not end in a " + size + "x" + size + " logit map: " + logits);
    }
    graph.setNode(last, graph.getNode(last).toBuilder().setOutput(0, OUTPUT));
    graph.addOutput(tensorInfo(OUTPUT, options.batch(), 1, size));

    ModelProto.Builder model = ModelProto.newBuilder()
        .setIrVersion(irVersion(options.opset()))
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(options.opset()))
        .setProducerName("effiseg")
        .setProducerVersion(contract.effisegVersion())
        .setDocString(contract.describe())
        .setGraph(graph);
    contract.metadata().forEach((k, v) -> model.addMetadataProps(StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
    return new Exported(model.build(), contract);
  }

  /**
   * The lowest IR version that carries {@code opset} (onnx/onnx docs/Versioning.md): readers
   * older than the opset need not be turned away by a newer IR.
   */
  static int irVersion(int opset) {
    if (opset <= 14) {
      return 7;
    }
    if (opset <= 18) {
      return 8;
    }
    return opset <= 20 ? 9 : 10;
  }

  /** Which source each of {@code out} destinations reads: asked of effiseg's own upsampling op. */
  private static int[] effisegNearestSources(Context ctx, int in, int out) {
    float[] ramp = new float[in];
    for (int i = 0; i < in; i++) {
      ramp[i] = i;
    }
    try (Tensor x = ctx.tensor(ramp, 1, in, 1, 1);
        Tensor y = ctx.tensor(1, out, 1, 1)) {
      Ops.upsampleNearestForward(ctx, x, y, false);
      float[] read = y.read();
      int[] sources = new int[out];
      for (int d = 0; d < out; d++) {
        sources[d] = (int) read[d];
      }
      return sources;
    }
  }

  private static ValueInfoProto tensorInfo(String name, int batch, int channels, int size) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    shape.addDim(batch == 0 ? TensorShapeProto.Dimension.newBuilder().setDimParam("N")
        : TensorShapeProto.Dimension.newBuilder().setDimValue(batch));
    for (long d : new long[] {channels, size, size}) {
      shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
    }
    return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
        TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
  }

  static String sha256(Path file) throws IOException {
    MessageDigest digest;
    try {
      digest = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JVM has no SHA-256", e);
    }
    try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
      in.transferTo(java.io.OutputStream.nullOutputStream());
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  private static float[] perChannel(java.util.function.IntToDoubleFunction value) {
    return new float[] {(float) value.applyAsDouble(0), (float) value.applyAsDouble(1), (float) value.applyAsDouble(2)};
  }

  /** effiseg's version from the jar's manifest. */
  static String version() {
    String v = OnnxExport.class.getPackage().getImplementationVersion();
    return v == null ? "development build" : v;
  }
}
