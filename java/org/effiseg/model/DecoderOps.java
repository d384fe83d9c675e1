package org.effiseg.model;

import org.effiseg.nativeapi.Activation;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;

/** Small helpers shared by the decoder's layers. */
final class DecoderOps {
  private DecoderOps() {}

  /**
   * The gradient through a ReLU given its output {@code y}: y > 0 exactly where the input was,
   * so the output can stand in for the input and the input need not be kept.
   */
  static Tensor reluBackward(Workspace ws, Tensor y, Tensor dy) {
    Tensor dx = ws.take(y.shape());
    Ops.activationBackward(ws.ctx(), Activation.RELU, y, dy, dx);
    return dx;
  }
}
