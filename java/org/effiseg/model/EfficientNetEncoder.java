package org.effiseg.model;

import java.util.ArrayList;
import java.util.List;
import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * The EfficientNet trunk: stem conv 3x3/2 (TF SAME) → BN → swish, then the MBConv blocks of
 * {@link EfficientNetVariant#stages()}. Returns the five feature maps MONAI's
 * EfficientNetBNFeatures returns (the outputs of stages 0, 1, 2, 4, 6: strides 2, 4, 8, 16, 32).
 *
 * <p>Parameter names follow efficientnet_pytorch ({@code _conv_stem}, {@code _bn0}, {@code
 * _blocks.i.*} with one global block index), prefixed by the owner's prefix.
 *
 * <p>SAME padding is computed from the actual input size (TensorFlow semantics). MONAI computes
 * it once from the variant's native resolution; the two agree at that resolution (and at any
 * size whose stages stay even).
 */
final class EfficientNetEncoder {
  /** The stages whose outputs are the five features. */
  static final int[] FEATURE_STAGES = {0, 1, 2, 4, 6};

  private final Conv2dLayer stem;
  private final BatchNormLayer stemBn;
  private final List<MBConvBlock> blocks = new ArrayList<>();
  /** featureAfterBlock[j] = k if block j's output is feature k, else -1. */
  private final int[] featureAfterBlock;

  private EvalConv stemEval; // prepareEval: the stem with its BN folded in
  private Tensor image; // the caller's input, needed for the stem's weight gradient
  private Tensor stemOut; // stem conv output (BN input)
  private final List<Tensor> activations = new ArrayList<>(); // h0 = stem act, h(j+1) = block j out
  private boolean training;

  EfficientNetEncoder(
      EfficientNetVariant variant, ParameterLayout layout, String prefix, float dropConnectRate) {
    int stemCh = variant.stemChannels();
    stem =
        new Conv2dLayer(
            layout, prefix + "_conv_stem", 3, stemCh, 3, 2, 1, -1,
            ParameterLayout.Init.NORMAL_FAN_OUT, null);
    stemBn =
        new BatchNormLayer(
            layout, prefix + "_bn0", stemCh, BatchNormLayer.ENCODER_EPS,
            BatchNormLayer.ENCODER_MOMENTUM, Activation.SWISH);
    BlockArgs[] stages = variant.stages();
    int numBlocks = variant.numBlocks();
    featureAfterBlock = new int[numBlocks];
    java.util.Arrays.fill(featureAfterBlock, -1);
    int idx = 0;
    int feature = 0;
    for (int s = 0; s < stages.length; s++) {
      BlockArgs b = stages[s];
      for (int r = 0; r < b.repeats(); r++) {
        int in = r == 0 ? b.inChannels() : b.outChannels();
        int stride = r == 0 ? b.stride() : 1;
        float rate = dropConnectRate * idx / numBlocks;
        blocks.add(
            new MBConvBlock(
                layout, prefix + "_blocks." + idx, in, b.outChannels(), b.kernel(), stride,
                b.expandRatio(), rate));
        idx++;
      }
      if (feature < FEATURE_STAGES.length && FEATURE_STAGES[feature] == s) {
        featureAfterBlock[idx - 1] = feature++;
      }
    }
  }

  void bind(ParameterBlock p) {
    stem.bind(p);
    stemBn.bind(p);
    for (MBConvBlock b : blocks) {
      b.bind(p);
    }
  }

  int numBlocks() {
    return blocks.size();
  }

  /**
   * Runs the trunk on {@code x} [N,H,W,3] (left to the caller, who keeps it open until backward)
   * and returns the five features. They belong to the encoder: valid until {@link #backward} or
   * {@link #release}.
   */
  Tensor[] forward(Workspace ws, Tensor x, boolean training, long seed) {
    release(ws);
    this.training = training;
    this.image = x;
    Tensor[] features = new Tensor[FEATURE_STAGES.length];
    stemOut = stem.forward(ws, x);
    Tensor h = stemBn.forward(ws, stemOut, training);
    if (!training) {
      ws.give(stemOut);
      stemOut = null;
    }
    activations.add(h);
    for (int j = 0; j < blocks.size(); j++) {
      Tensor next = blocks.get(j).forward(ws, h, training, seed + 0x9E3779B97F4A7C15L * (j + 1));
      if (!training && (j == 0 || featureAfterBlock[j - 1] < 0)) {
        ws.give(h); // eval: an input that is not a feature is done with
        activations.set(j, null);
      }
      h = next;
      activations.add(h);
      if (featureAfterBlock[j] >= 0) {
        features[featureAfterBlock[j]] = h;
      }
    }
    return features;
  }

  /** The trunk in eval mode in {@code g}: the five features of the image {@code x}. */
  InferenceGraph.Value[] describe(InferenceGraph g, InferenceGraph.Value x) {
    InferenceGraph.Value[] features = new InferenceGraph.Value[FEATURE_STAGES.length];
    InferenceGraph.Value h = stem.describe(g, x, stemBn);
    for (int j = 0; j < blocks.size(); j++) {
      h = blocks.get(j).describe(g, h);
      if (featureAfterBlock[j] >= 0) {
        features[featureAfterBlock[j]] = h;
      }
    }
    return features;
  }

  /** Makes the eval-mode weights of the stem and every block from the current parameters. */
  void prepareEval(Context ctx) {
    closeEval();
    stemEval = EvalConv.foldBefore(ctx, stem, stemBn);
    for (MBConvBlock b : blocks) {
      b.prepareEval(ctx);
    }
  }

  void closeEval() {
    if (stemEval != null) {
      stemEval.close();
      stemEval = null;
    }
    for (MBConvBlock b : blocks) {
      b.closeEval();
    }
  }

  /**
   * Eval (after {@link #prepareEval}): the trunk with fused convolutions ({@link
   * MBConvBlock#forwardEval}); only the five features are kept (until {@link #release}).
   */
  Tensor[] forwardEval(Workspace ws, Tensor x) {
    release(ws);
    training = false;
    Tensor[] features = new Tensor[FEATURE_STAGES.length];
    Tensor h = stem.forward(ws, x, stemEval, Activation.SWISH, null);
    boolean kept = false; // h is a feature
    for (int j = 0; j < blocks.size(); j++) {
      Tensor next = blocks.get(j).forwardEval(ws, h);
      if (!kept) {
        ws.give(h);
      }
      h = next;
      kept = featureAfterBlock[j] >= 0;
      if (kept) {
        features[featureAfterBlock[j]] = h;
        activations.add(h);
      }
    }
    if (!kept) {
      ws.give(h);
    }
    return features;
  }

  /**
   * Backward from the gradients of the five features (left to the caller); writes every encoder
   * gradient and frees what forward kept. The image gradient is not computed.
   */
  void backward(Workspace ws, Tensor[] dFeatures) {
    if (!training) {
      throw new IllegalStateException("backward needs a forward pass with training = true");
    }
    Tensor g = null;
    for (int j = blocks.size() - 1; j >= 0; j--) {
      int k = featureAfterBlock[j];
      if (k >= 0) {
        if (g == null) {
          g = ws.take(dFeatures[k].shape());
          g.copyFrom(dFeatures[k]);
        } else {
          Ops.axpby(ws.ctx(), 1f, dFeatures[k], 1f, g);
        }
      }
      Tensor dIn = blocks.get(j).backward(ws, g);
      ws.give(g, activations.get(j + 1));
      activations.set(j + 1, null);
      g = dIn;
    }
    Tensor dStem = stemBn.backward(ws, stemOut, g);
    ws.give(g);
    stem.backward(ws, image, dStem, false);
    ws.give(dStem);
    release(ws);
  }

  /** Frees every activation kept from the last forward pass. */
  void release(Workspace ws) {
    for (MBConvBlock b : blocks) {
      b.release(ws);
    }
    for (Tensor t : activations) {
      ws.give(t);
    }
    activations.clear();
    ws.give(stemOut);
    stemOut = null;
    image = null;
  }
}
