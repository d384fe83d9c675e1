package org.effiseg.export;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.effiseg.model.BatchNormFolding;
import org.effiseg.model.InferenceGraph;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.ConvSpec;

/**
 * Writes the ops {@link org.effiseg.model.EffiSegNet#describe} names as standard ONNX nodes (NCHW,
 * default domain, opset 13 and later) with their weights from a state dict: convolutions with
 * explicit (possibly asymmetric) pads and the following batch norm folded in, a batch norm on
 * its own as Mul + Add, swish as Sigmoid + Mul, squeeze-excite as GlobalAveragePool, 1x1 Convs
 * and Mul, nearest upsampling as Resize (nearest, asymmetric, floor) to fixed sizes, the Ghost
 * module's concatenation as Concat (+ Slice).
 */
final class OnnxGraphBuilder implements InferenceGraph {
  /** Which source row (or column) effiseg reads for each of {@code out} destinations. */
  @FunctionalInterface
  interface NearestRule {
    int[] sources(int in, int out);
  }

  private final GraphProto.Builder graph;
  private final StateDict weights;
  private final NearestRule effisegNearest;
  private final String imageName;
  private final long fixedBatch; // 0: dynamic
  private final Map<String, String> resizeSizes = new HashMap<>();
  private final Set<String> names = new HashSet<>();
  private int counter;

  /**
   * @param imageName the graph input the batch size is read from when the batch is dynamic
   * @param fixedBatch the batch size, or 0 for a dynamic one
   */
  OnnxGraphBuilder(GraphProto.Builder graph, StateDict weights, NearestRule effisegNearest,
      String imageName, long fixedBatch) {
    this.graph = graph;
    this.weights = weights;
    this.effisegNearest = effisegNearest;
    this.imageName = imageName;
    this.fixedBatch = fixedBatch;
  }

  @Override
  public Value conv(Value x, String weight, String bias, int outChannels, int kernel, ConvSpec spec,
      String foldedBatchNorm, double eps) {
    int inPerGroup = x.channels() / spec.groups();
    float[] w = tensor(weight, outChannels, inPerGroup, kernel, kernel);
    float[] b = bias == null ? null : tensor(bias, outChannels);
    if (foldedBatchNorm != null) {
      BatchNormFolding.Affine bn = BatchNormFolding.affine(weights, foldedBatchNorm, eps);
      w = BatchNormFolding.foldWeights(w, bn);
      b = BatchNormFolding.foldBias(b, bn);
    }
    String name = unique(weight.substring(0, weight.length() - ".weight".length()));
    NodeProto.Builder node = node("Conv", name, x.name(), floats(name + ".weight", w, outChannels, inPerGroup, kernel, kernel));
    if (b != null) {
      node.addInput(floats(name + ".bias", b, outChannels));
    }
    node.addAttribute(ints("kernel_shape", kernel, kernel))
        .addAttribute(ints("strides", spec.strideH(), spec.strideW()))
        .addAttribute(ints("pads", spec.padTop(), spec.padLeft(), spec.padBottom(), spec.padRight()))
        .addAttribute(ints("dilations", 1, 1))
        .addAttribute(AttributeProto.newBuilder().setName("group").setType(AttributeProto.AttributeType.INT).setI(spec.groups()));
    graph.addNode(node);
    return new Value(name, outChannels, spec.outH(x.height(), kernel), spec.outW(x.width(), kernel));
  }

  @Override
  public Value batchNorm(Value x, String prefix, double eps) {
    BatchNormFolding.Affine bn = BatchNormFolding.affine(weights, prefix, eps);
    int c = x.channels();
    String name = unique(prefix);
    String scaled = unique(name + ".scaled");
    graph.addNode(node("Mul", scaled, x.name(), floats(name + ".scale", bn.scale(), c, 1, 1)));
    graph.addNode(node("Add", name, scaled, floats(name + ".shift", bn.shift(), c, 1, 1)));
    return like(x, name);
  }

  @Override
  public Value activation(Value x, Activation activation) {
    return switch (activation) {
      case NONE -> x;
      case RELU -> unary("Relu", x);
      case SIGMOID -> unary("Sigmoid", x);
      case SWISH -> {
        Value gate = unary("Sigmoid", x);
        String name = unique(x.name() + ".swish");
        graph.addNode(node("Mul", name, x.name(), gate.name()));
        yield like(x, name);
      }
    };
  }

  @Override
  public Value add(Value a, Value b) {
    requireSameShape(a, b);
    String name = unique("add");
    graph.addNode(node("Add", name, a.name(), b.name()));
    return like(a, name);
  }

  @Override
  public Value globalAveragePool(Value x) {
    String name = unique(x.name() + ".pool");
    graph.addNode(node("GlobalAveragePool", name, x.name()));
    return new Value(name, x.channels(), 1, 1);
  }

  @Override
  public Value scaleChannels(Value x, Value gate) {
    if (gate.channels() != x.channels() || gate.height() != 1 || gate.width() != 1) {
      throw new IllegalArgumentException("gate " + gate + " does not scale the channels of " + x);
    }
    String name = unique(x.name() + ".excited");
    graph.addNode(node("Mul", name, x.name(), gate.name()));
    return like(x, name);
  }

  /**
   * ONNX Resize with mode nearest, coordinate mode asymmetric and floor rounding reads source
   * row floor(d * in / out) for destination row d. effiseg follows PyTorch's rule, which rounds
   * the ratio to float first and differs at a few sizes; the graph is only written where the two
   * pick the same rows, so the model computes what effiseg computes.
   */
  @Override
  public Value upsampleNearest(Value x, int height, int width) {
    requireResizeMatches(x.height(), height);
    requireResizeMatches(x.width(), width);
    String name = unique(x.name() + ".upsampled");
    graph.addNode(node("Resize", name, x.name(), "", "", sizes(x.channels(), height, width))
        .addAttribute(string("mode", "nearest"))
        .addAttribute(string("coordinate_transformation_mode", "asymmetric"))
        .addAttribute(string("nearest_mode", "floor")));
    return new Value(name, x.channels(), height, width);
  }

  @Override
  public Value concatChannels(Value a, Value b, int keep) {
    if (a.height() != b.height() || a.width() != b.width() || keep < 1 || keep > a.channels() + b.channels()) {
      throw new IllegalArgumentException("cannot concatenate " + a + " and " + b + " keeping " + keep + " channels");
    }
    String name = unique(a.name() + ".concat");
    graph.addNode(node("Concat", name, a.name(), b.name()).addAttribute(integer("axis", 1)));
    if (keep == a.channels() + b.channels()) {
      return new Value(name, keep, a.height(), a.width());
    }
    String kept = unique(name + ".kept");
    graph.addNode(node("Slice", kept, name, longs(kept + ".starts", 0), longs(kept + ".ends", keep),
        longs(kept + ".axes", 1)));
    return new Value(kept, keep, a.height(), a.width());
  }

  private void requireResizeMatches(int in, int out) {
    int[] effiseg = effisegNearest.sources(in, out);
    for (int d = 0; d < out; d++) {
      long onnx = Math.min((long) d * in / out, in - 1);
      if (effiseg[d] != onnx) {
        throw new UnsupportedSizeException("effiseg's nearest upsampling from " + in + " to " + out
            + " pixels reads source " + effiseg[d] + " for pixel " + d + " where ONNX Resize reads " + onnx
            + " (effiseg rounds the ratio to float as PyTorch does)");
      }
    }
  }

  /** The Resize target [N, c, h, w]: a constant, or the image's batch size joined to [c, h, w]. */
  private String sizes(int c, int h, int w) {
    String key = c + "x" + h + "x" + w;
    String existing = resizeSizes.get(key);
    if (existing != null) {
      return existing;
    }
    String name;
    if (fixedBatch > 0) {
      name = longs("resize_sizes_" + key, fixedBatch, c, h, w);
    } else {
      name = unique("resize_sizes_" + key);
      String batch = resizeSizes.get("batch");
      if (batch == null) {
        String shape = unique("image_shape");
        graph.addNode(node("Shape", shape, imageName));
        batch = unique("batch_size");
        graph.addNode(node("Slice", batch, shape, longs(batch + ".starts", 0), longs(batch + ".ends", 1),
            longs(batch + ".axes", 0)));
        resizeSizes.put("batch", batch);
      }
      graph.addNode(node("Concat", name, batch, longs(name + ".chw", c, h, w)).addAttribute(integer("axis", 0)));
    }
    resizeSizes.put(key, name);
    return name;
  }

  private float[] tensor(String name, long... shape) {
    TensorData t = weights.get(name);
    if (t == null) {
      throw new IllegalArgumentException("the checkpoint has no " + name);
    }
    if (!Arrays.equals(t.shape(), shape)) {
      throw new IllegalArgumentException(name + " has shape " + Arrays.toString(t.shape()) + ", the network needs "
          + Arrays.toString(shape));
    }
    return t.data();
  }

  private Value unary(String op, Value x) {
    String name = unique(x.name() + "." + op.toLowerCase(java.util.Locale.ROOT));
    graph.addNode(node(op, name, x.name()));
    return like(x, name);
  }

  private static Value like(Value x, String name) {
    return new Value(name, x.channels(), x.height(), x.width());
  }

  private static void requireSameShape(Value a, Value b) {
    if (a.channels() != b.channels() || a.height() != b.height() || a.width() != b.width()) {
      throw new IllegalArgumentException("shapes differ: " + a + ", " + b);
    }
  }

  /** A node whose one output and whose node name are {@code output}. */
  private static NodeProto.Builder node(String op, String output, String... inputs) {
    return NodeProto.newBuilder().setOpType(op).setName(output).addOutput(output).addAllInput(List.of(inputs));
  }

  /** {@code base}, or {@code base} with a counter where the name is taken. */
  private String unique(String base) {
    String name = base;
    while (!names.add(name)) {
      name = base + "_" + (++counter);
    }
    return name;
  }

  /** A float32 initializer (little-endian raw data); returns its name. */
  private String floats(String name, float[] values, long... shape) {
    String unique = unique(name);
    ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    raw.asFloatBuffer().put(values);
    graph.addInitializer(TensorProto.newBuilder().setName(unique).setDataType(TensorProto.DataType.FLOAT_VALUE)
        .addAllDims(dims(shape)).setRawData(ByteString.copyFrom(raw.array())));
    return unique;
  }

  /** An int64 vector initializer; returns its name. */
  private String longs(String name, long... values) {
    String unique = unique(name);
    TensorProto.Builder t = TensorProto.newBuilder().setName(unique).setDataType(TensorProto.DataType.INT64_VALUE)
        .addDims(values.length);
    for (long v : values) {
      t.addInt64Data(v);
    }
    graph.addInitializer(t);
    return unique;
  }

  private static List<Long> dims(long... shape) {
    return Arrays.stream(shape).boxed().toList();
  }

  private static AttributeProto.Builder ints(String name, long... values) {
    AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
    for (long v : values) {
      a.addInts(v);
    }
    return a;
  }

  private static AttributeProto.Builder integer(String name, long value) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value);
  }

  private static AttributeProto.Builder string(String name, String value) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING)
        .setS(ByteString.copyFromUtf8(value));
  }
}
