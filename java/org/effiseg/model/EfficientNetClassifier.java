package org.effiseg.model;

import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.ConvSpec;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/**
 * EfficientNet as an ImageNet classifier, inference only: the encoder, then head conv 1x1 →
 * BN → swish → global average pool → FC (a 1x1 conv on [N,1,1,C]). Used to check imported
 * weights. State-dict names are efficientnet_pytorch's, without prefix ({@code _conv_stem.weight},
 * ..., {@code _conv_head.weight}, {@code _bn1.*}, {@code _fc.weight} [classes, C], {@code
 * _fc.bias}).
 */
public final class EfficientNetClassifier implements AutoCloseable {
  public static final int IMAGENET_CLASSES = 1000;

  private final Context ctx;
  private final EfficientNetVariant variant;
  private final int classes;
  private final ParameterBlock parameters;
  private final EfficientNetEncoder encoder;
  private final Conv2dLayer headConv;
  private final BatchNormLayer headBn;
  private final Tensor fcWeight;
  private final Tensor fcBias;
  private final Workspace workspace;

  private EfficientNetClassifier(Context ctx, EfficientNetVariant variant, int classes, long seed) {
    this.ctx = ctx;
    this.variant = variant;
    this.classes = classes;
    ParameterLayout layout = new ParameterLayout();
    encoder = new EfficientNetEncoder(variant, layout, "", 0f);
    int last = variant.stages()[variant.stages().length - 1].outChannels();
    int head = variant.headChannels();
    headConv =
        new Conv2dLayer(
            layout, "_conv_head", last, head, 1, 1, 1, 0, ParameterLayout.Init.NORMAL_FAN_OUT, null);
    headBn =
        new BatchNormLayer(
            layout, "_bn1", head, BatchNormLayer.ENCODER_EPS, BatchNormLayer.ENCODER_MOMENTUM,
            Activation.SWISH);
    layout.addLinear("_fc.weight", classes, head, ParameterLayout.Init.UNIFORM_FAN_OUT);
    layout.addVector("_fc.bias", classes, ParameterLayout.Init.ZEROS, head);
    parameters = new ParameterBlock(ctx, layout, seed);
    encoder.bind(parameters);
    headConv.bind(parameters);
    headBn.bind(parameters);
    fcWeight = parameters.weight("_fc.weight");
    fcBias = parameters.weight("_fc.bias");
    workspace = new Workspace(ctx);
  }

  /** A randomly initialised classifier with ImageNet's 1000 classes. */
  public static EfficientNetClassifier create(Context ctx, EfficientNetVariant variant) {
    return new EfficientNetClassifier(ctx, variant, IMAGENET_CLASSES, 0L);
  }

  public static EfficientNetClassifier create(
      Context ctx, EfficientNetVariant variant, int classes, long seed) {
    return new EfficientNetClassifier(ctx, variant, classes, seed);
  }

  public Context context() {
    return ctx;
  }

  public EfficientNetVariant variant() {
    return variant;
  }

  public ParameterBlock parameters() {
    return parameters;
  }

  /**
   * Class logits [N, classes] (a new tensor, the caller's) for normalised images [N,H,W,3], in
   * eval mode (BN running statistics, no dropout).
   */
  public Tensor logits(Tensor images) {
    Tensor a = headActivations(images, false);
    long n = images.dim(0);
    Tensor pooled = ctx.tensor(n, 1, 1, a.dim(3));
    Ops.globalAvgPoolForward(ctx, a, pooled);
    workspace.give(a);
    Tensor out = ctx.tensor(n, 1, 1, classes);
    Ops.conv2dForward(ctx, pooled, fcWeight, fcBias, out, ConvSpec.symmetric(0, 1, 1));
    pooled.close();
    Tensor logits = out.view(0, n, classes);
    out.close(); // the view keeps the storage
    return logits;
  }

  /**
   * Runs the encoder and the head's conv and BN on {@code images} [N,H,W,3] and shows {@code
   * observer} every batch norm's input (BN calibration); nothing is kept. In eval mode unless
   * {@code batchStatistics}: then every BN normalises with the batch's own statistics (and moves
   * its running ones, as training does), which is how a calibration is checked.
   */
  public void observeBatchNorms(Tensor images, boolean batchStatistics, BatchNormObserver observer) {
    workspace.observeBatchNorms(observer);
    try {
      workspace.give(headActivations(images, batchStatistics));
    } finally {
      workspace.observeBatchNorms(null);
    }
  }

  /**
   * swish(BN(head conv(encoder features))) [N, H/32, W/32, head channels], a new tensor (the
   * caller's), with batch statistics as in {@link #observeBatchNorms}.
   */
  public Tensor headActivationsCopy(Tensor images, boolean batchStatistics) {
    Tensor a = headActivations(images, batchStatistics);
    Tensor copy = ctx.tensor(a.shape());
    copy.copyFrom(a);
    workspace.give(a);
    return copy;
  }

  /** The head's activations, a workspace tensor. */
  private Tensor headActivations(Tensor images, boolean batchStatistics) {
    workspace.beginPass(images.shape());
    Tensor[] features = encoder.forward(workspace, images, batchStatistics, 0L);
    Tensor h;
    try {
      h = headConv.forward(workspace, features[features.length - 1]);
    } finally {
      encoder.release(workspace);
    }
    Tensor a = headBn.forward(workspace, h, batchStatistics);
    workspace.give(h);
    return a;
  }

  public StateDict stateDict() {
    return parameters.stateDict();
  }

  /** As {@link EffiSegNet#loadStateDict}; {@code num_batches_tracked} entries are skipped. */
  public void loadStateDict(StateDict sd, boolean strict) {
    parameters.load(sd, strict, name -> name.endsWith("num_batches_tracked"));
  }

  @Override
  public void close() {
    if (!ctx.isClosed()) {
      encoder.release(workspace);
      workspace.close();
      parameters.close();
    }
  }
}
