package org.effiseg.model;

import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;

/**
 * EffiSegNet (Vezakis et al. 2024): an EfficientNet encoder and the reference decoder, on the
 * native core. Forward and backward are explicit layer by layer; all parameters live in one
 * {@link ParameterBlock}.
 *
 * <p>State-dict names are those of the reference {@code EffiSegNetBN}: {@code encoder.} plus
 * efficientnet_pytorch names for the encoder, {@code conv1..6}, {@code bn1..6}, {@code ghost1},
 * {@code ghost2} (and {@code conv7..11}, {@code bn7..11} with deep supervision) for the decoder.
 * The reference keeps the classifier's head conv and BN ({@code encoder._conv_head},
 * {@code encoder._bn1}) although it never uses them; this model leaves them out, and {@link
 * #loadStateDict} skips them (and {@code _fc}, {@code num_batches_tracked}) when present.
 *
 * <p>Not thread-safe: one forward/backward at a time.
 */
public final class EffiSegNet implements AutoCloseable {
  /** The prefix of the encoder's names in the state dict (the reference code's). */
  public static final String ENCODER_PREFIX = "encoder.";

  private final Context ctx;
  private final EffiSegNetConfig config;
  private final ParameterLayout layout;
  private final ParameterBlock parameters;
  private final EfficientNetEncoder encoder;
  private final EffiSegDecoder decoder;
  private final Workspace workspace;
  private Tensor[] auxLogits;
  private boolean pendingBackward;
  private long step;
  private long evalVersion = -1; // the parameters' version the eval-mode weights were made from

  private EffiSegNet(Context ctx, EffiSegNetConfig config) {
    this.ctx = ctx;
    this.config = config;
    this.layout = new ParameterLayout();
    this.encoder =
        new EfficientNetEncoder(config.variant(), layout, ENCODER_PREFIX, config.dropConnectRate());
    this.decoder =
        new EffiSegDecoder(
            layout, config.variant().featureChannels(), config.channels(), config.deepSupervision());
    this.parameters = new ParameterBlock(ctx, layout, config.seed());
    this.workspace = new Workspace(ctx);
    encoder.bind(parameters);
    decoder.bind(parameters);
  }

  /** A freshly initialised network on {@code ctx}. */
  public static EffiSegNet create(Context ctx, EffiSegNetConfig config) {
    return new EffiSegNet(ctx, config);
  }

  /** The names and shapes of {@code config}'s network, without allocating it. */
  public static ParameterLayout layout(EffiSegNetConfig config) {
    ParameterLayout l = new ParameterLayout();
    new EfficientNetEncoder(config.variant(), l, ENCODER_PREFIX, config.dropConnectRate());
    new EffiSegDecoder(
        l, config.variant().featureChannels(), config.channels(), config.deepSupervision());
    return l;
  }

  /**
   * Trainable parameters of the classifier head (conv 1x1 + BN) that the reference EffiSegNet
   * keeps in its encoder without using it: counted in the paper's encoder size.
   */
  public static long unusedReferenceHeadCount(EfficientNetVariant v) {
    int last = v.stages()[v.stages().length - 1].outChannels();
    return (long) last * v.headChannels() + 2L * v.headChannels();
  }

  /**
   * Writes {@code config}'s network, eval mode, into {@code g}: the logits [1, H, W] of the image
   * {@code image} [3, H, W] (normalised as in training), computed exactly as {@link #forward}
   * computes them with {@code training = false}, deep-supervision heads left out. Needs no
   * weights: {@code g} reads them by the state-dict names it is given.
   */
  public static InferenceGraph.Value describe(
      EffiSegNetConfig config, InferenceGraph g, InferenceGraph.Value image) {
    if (image.channels() != 3) {
      throw new IllegalArgumentException("the image must have 3 channels, got " + image.channels());
    }
    ParameterLayout l = new ParameterLayout();
    EfficientNetEncoder encoder =
        new EfficientNetEncoder(config.variant(), l, ENCODER_PREFIX, config.dropConnectRate());
    EffiSegDecoder decoder =
        new EffiSegDecoder(l, config.variant().featureChannels(), config.channels(), false);
    return decoder.describe(g, encoder.describe(g, image), image.height(), image.width());
  }

  public EffiSegNetConfig config() {
    return config;
  }

  public Context context() {
    return ctx;
  }

  public ParameterBlock parameters() {
    return parameters;
  }

  /** Trainable encoder parameters this model has (the reference's unused head excluded). */
  public long encoderParameterCount() {
    return layout.trainableCount(ENCODER_PREFIX);
  }

  public long decoderParameterCount() {
    return layout.trainableSize() - encoderParameterCount();
  }

  /**
   * Runs the encoder on {@code images} [N,H,W,3] in eval mode and shows {@code observer} every
   * encoder batch norm's input (BN calibration, {@code weights.BnCalibration}); nothing is kept.
   */
  public void observeEncoderBatchNorms(Tensor images, BatchNormObserver observer) {
    releaseActivations();
    closeAuxLogits();
    workspace.beginPass(images.shape());
    workspace.observeBatchNorms(observer);
    try {
      encoder.forward(workspace, images, false, 0L);
    } finally {
      workspace.observeBatchNorms(null);
      encoder.release(workspace);
    }
  }

  /**
   * Logits [N,H,W,1] (a new tensor, the caller's to close) for images [N,H,W,3]. With {@code
   * training}, BN uses batch statistics (and updates its running ones), drop-connect is active,
   * and the activations for {@link #backward} are kept: {@code images} must then stay open until
   * backward. With deep supervision, {@link #auxLogits()} holds the five auxiliary maps.
   */
  public Tensor forward(Tensor images, boolean training) {
    step++;
    return forward(images, training, config.seed() * 0x2545F4914F6CDD1DL + step);
  }

  /**
   * As {@link #forward(Tensor, boolean)}, with the drop-connect masks drawn from {@code
   * dropConnectSeed}: a training loop that derives it from its step makes a resumed run draw the
   * same masks as an uninterrupted one.
   */
  public Tensor forward(Tensor images, boolean training, long dropConnectSeed) {
    if (images.rank() != 4 || images.dim(3) != 3) {
      throw new IllegalArgumentException(
          "images must be [N,H,W,3], got " + java.util.Arrays.toString(images.shape()));
    }
    releaseActivations();
    closeAuxLogits(); // the last pass's maps: nobody can use them once a new pass starts
    workspace.beginPass(images.shape());
    if (!training && !decoder.deepSupervision()) {
      prepareEval();
      Tensor[] features = encoder.forwardEval(workspace, images);
      Tensor[] scales = decoder.scalesEval(workspace, features);
      encoder.release(workspace); // the features are read: their buffers serve the decoder
      Tensor logits = decoder.forwardEval(workspace, scales, images.dim(0), images.dim(1), images.dim(2));
      pendingBackward = false;
      return logits;
    }
    if (training) {
      parameters.markChanged(); // the running statistics move
    }
    Tensor[] features = encoder.forward(workspace, images, training, dropConnectSeed);
    auxLogits = decoder.deepSupervision() ? new Tensor[EffiSegDecoder.SCALES] : null;
    Tensor logits =
        decoder.forward(
            workspace, features, images.dim(0), images.dim(1), images.dim(2), training, auxLogits);
    if (!training) {
      encoder.release(workspace);
    }
    pendingBackward = training;
    return logits;
  }

  /**
   * The five auxiliary logit maps [N,H,W,1] of the last forward pass (deep supervision only,
   * else null). They live until the next forward pass, {@link #closeAuxLogits()} or close.
   */
  public Tensor[] auxLogits() {
    return auxLogits;
  }

  /** Closes the auxiliary maps of the last forward pass, if any (safe to call more than once). */
  public void closeAuxLogits() {
    if (auxLogits != null) {
      for (Tensor t : auxLogits) {
        if (t != null) {
          t.close();
        }
      }
      auxLogits = null;
    }
  }

  /**
   * Back-propagates d(loss)/d(logits) of the last training forward pass; the gradients are
   * written (not added) into {@link ParameterBlock#grads()}.
   */
  public void backward(Tensor dLogits) {
    backward(dLogits, null);
  }

  /** As {@link #backward(Tensor)}, with the auxiliary maps' gradients (deep supervision). */
  public void backward(Tensor dLogits, Tensor[] dAux) {
    if (!pendingBackward) {
      throw new IllegalStateException("backward needs a preceding forward(images, true)");
    }
    pendingBackward = false;
    Tensor[] dFeatures = decoder.backward(workspace, dLogits, dAux);
    try {
      encoder.backward(workspace, dFeatures);
    } finally {
      workspace.give(dFeatures);
    }
  }

  /** Every parameter and running statistic, PyTorch layout, reference names. */
  public StateDict stateDict() {
    return parameters.stateDict();
  }

  /**
   * Loads weights. Throws IllegalArgumentException listing missing, unexpected and mis-shaped
   * names (missing/unexpected only when {@code strict}); the reference's unused encoder head,
   * {@code _fc} and {@code num_batches_tracked} entries are skipped.
   */
  public void loadStateDict(StateDict sd, boolean strict) {
    parameters.load(sd, strict, EffiSegNet::ignorable);
  }

  static boolean ignorable(String name) {
    return name.endsWith("num_batches_tracked")
        || name.startsWith(ENCODER_PREFIX + "_conv_head.")
        || name.startsWith(ENCODER_PREFIX + "_bn1.")
        || name.startsWith(ENCODER_PREFIX + "_fc.");
  }

  /**
   * Frees the pooled activation buffers kept for reuse between steps (they are also dropped
   * whenever the input shape changes, and on close).
   */
  public void releaseBuffers() {
    releaseActivations();
    workspace.clear();
  }

  /**
   * Makes the eval-mode weights (BN folded into the convolutions, or kept as their epilogues:
   * {@link EvalConv}) unless they are up to date with the parameters.
   */
  private void prepareEval() {
    if (evalVersion == parameters.version()) {
      return;
    }
    encoder.prepareEval(ctx);
    decoder.prepareEval(ctx);
    evalVersion = parameters.version();
  }

  private void releaseActivations() {
    encoder.release(workspace);
    decoder.release(workspace);
    pendingBackward = false;
  }

  @Override
  public void close() {
    if (!ctx.isClosed()) {
      releaseActivations();
      closeAuxLogits();
      workspace.close();
      encoder.closeEval();
      decoder.closeEval();
      parameters.close();
    }
  }
}
