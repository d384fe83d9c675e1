package org.effiseg.export;

import java.util.Map;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.ParameterLayout;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.testing.ModelWeights;
import org.effiseg.train.TrainConfig;
import org.effiseg.weights.Checkpoint;

/** Checkpoints with random weights (BN statistics and biases random too), as training writes them. */
final class RandomCheckpoints {
  private RandomCheckpoints() {}

  /** The paper preset with another variant and image size (0: the variant's native one). */
  static TrainConfig config(String variant, int imageSize) {
    TrainConfig c = TrainConfig.preset("paper");
    c.apply(Map.of("variant", variant, "image_size", imageSize), "test");
    return c;
  }

  static Checkpoint of(TrainConfig config, long seed) {
    ParameterLayout layout = EffiSegNet.layout(config.modelConfig());
    StateDict zeros = new StateDict();
    for (ParameterLayout.Entry e : layout.entries()) {
      zeros.put(e.name(), new TensorData(e.torchShape(), new float[Math.toIntExact(e.numel())]));
    }
    return new Checkpoint(ModelWeights.randomizeUniform(zeros, seed), null, config.variant, config.toJson(), 1, 1,
        null, null);
  }
}
