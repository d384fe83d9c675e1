package org.effiseg.train;

import org.effiseg.data.Batch;
import org.effiseg.data.BatchLoader;
import org.effiseg.eval.BinaryMask;
import org.effiseg.eval.MetricSummary;
import org.effiseg.eval.SegmentationMetrics;
import org.effiseg.eval.Threshold;
import org.effiseg.model.EffiSegNet;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;

/**
 * One pass of the model in eval mode over a split: the mean loss and the segmentation metrics
 * (MONAI conventions, at the model's resolution like the reference code's validation).
 */
final class Validation {
  private Validation() {}

  record Result(LossTerms loss, MetricSummary summary, SegmentationMetrics metrics) {}

  static Result run(Context ctx, EffiSegNet model, BatchLoader loader, TrainConfig config, int epoch,
      Tensor terms) {
    LossFunction loss = new LossFunction(config);
    Threshold threshold = Threshold.logit(config.thresholdLogit);
    SegmentationMetrics metrics = new SegmentationMetrics();
    LossTerms sum = LossTerms.ZERO;
    long images = 0;
    try (BatchLoader.EpochBatches batches = loader.epoch(epoch);
        InputTensors input = new InputTensors(ctx, loader.imageSize())) {
      while (batches.hasNext()) {
        Batch batch = batches.next();
        input.load(batch);
        try (Tensor logits = model.forward(input.images(), false)) {
          model.closeAuxLogits();
          sum = sum.plus(loss.value(ctx, logits, input.masks(), terms).times(batch.size()));
          images += batch.size();
          float[] z = logits.read();
          float[] gt = input.masks().read();
          int w = batch.width();
          int h = batch.height();
          int[] indices = batch.sampleIndices();
          for (int i = 0; i < batch.size(); i++) {
            BinaryMask predicted = threshold.binarizeLogits(z, i * w * h, w, h);
            BinaryMask truth = BinaryMask.fromTargets(gt, i * w * h, w, h);
            metrics.add(predicted, truth, loader.split().pairs().get(indices[i]).stem());
          }
        }
      }
    }
    return new Result(sum.times(1.0 / Math.max(images, 1)), metrics.summary(), metrics);
  }
}
