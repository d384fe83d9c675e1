package org.effiseg.model;

import org.effiseg.nativeapi.Tensor;

/**
 * Sees the input of every batch norm of an eval-mode pass ({@link
 * EffiSegNet#observeEncoderBatchNorms}, {@link EfficientNetClassifier#observeBatchNorms}),
 * before it is normalised: what BN calibration needs ({@code weights.BnCalibration}).
 */
@FunctionalInterface
public interface BatchNormObserver {
  /**
   * @param name the batch norm's state-dict prefix (e.g. {@code encoder._blocks.3._bn1})
   * @param input its input [N,H,W,C], valid only during the call
   */
  void beforeBatchNorm(String name, Tensor input);
}
