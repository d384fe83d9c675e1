package org.effiseg.cuda;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.util.Map;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.StateDict;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.ModelWeights;
import org.effiseg.testing.Rand;
import org.effiseg.train.LossTerms;
import org.effiseg.train.TrainConfig;
import org.effiseg.train.TrainStep;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Whole-model EffiSegNet-B0 on the CUDA backend against the CPU backend: the same weights and
 * batches through the trainer's own step ({@link TrainStep}) on both. Checks the logits of both
 * modes, the loss terms, every parameter gradient and the BN running statistics after one step
 * (deep supervision and the near-pixel-diff term on, so every head and loss path counts), then
 * a short training run whose losses must agree step by step; and that a short training run on
 * CUDA repeats bit for bit. 72x72 inputs make the deeper feature maps odd (9, 5, 3), as at
 * 380x380. Skipped, with the reason, without CUDA.
 */
@Tag("cuda")
class CudaModelParityTest extends CudaUnderTest.Base {
  private static final int N = 2;
  private static final int SIZE = 72;
  /**
   * The decoder's scale BNs' biases: their outputs reach the loss only through training-mode BNs
   * (bn6 of the sum, and with deep supervision the auxiliary heads' BNs), which subtract each
   * channel's batch mean, so a constant shift of them has no effect and their gradient is 0.
   */

  private static TrainConfig config(boolean deepSupervision) {
    TrainConfig c = TrainConfig.preset("paper");
    // lr 1e-4 (the paper's): AdamW's first steps move each weight by about lr whatever the
    // gradient's size, so a gradient of ~0 whose sign differs between backends costs 2 lr.
    c.apply(Map.of("variant", "b0", "batch_size", N, "npd_weight", 0.5,
        "deep_supervision", deepSupervision, "seed", 7), "test");
    return c.validate();
  }

  /** One model per backend with the same (random, every-path-matters) weights. */
  private static final class Twin implements AutoCloseable {
    final EffiSegNet cpu;
    final EffiSegNet gpu;

    Twin(TrainConfig config, long seed) {
      cpu = EffiSegNet.create(pair.cpu, config.modelConfig());
      gpu = EffiSegNet.create(pair.gpu, config.modelConfig());
      StateDict sd = ModelWeights.randomize(cpu.stateDict(), seed);
      cpu.loadStateDict(sd, true);
      gpu.loadStateDict(sd, true);
    }

    @Override
    public void close() {
      gpu.close();
      cpu.close();
    }
  }

  private static void assertTermsAgree(String what, LossTerms gpu, LossTerms cpu, double rel) {
    double[] g = {gpu.total(), gpu.dice(), gpu.bce(), gpu.npd()};
    double[] c = {cpu.total(), cpu.dice(), cpu.bce(), cpu.npd()};
    String[] names = {"total", "dice", "bce", "npd"};
    for (int i = 0; i < 4; i++) {
      assertWithMessage("%s: loss term %s (cuda %s, cpu %s)", what, names[i], g[i], c[i])
          .that(g[i]).isWithin(rel * Math.abs(c[i]) + 1e-6).of(c[i]);
    }
  }

  @Test
  void b0LogitsLossGradientsAndRunningStatsMatchTheCpu() {
    TrainConfig config = config(true);
    Rand rand = new Rand(21);
    float[] img = rand.normal(N * SIZE * SIZE * 3, 1);
    float[] msk = rand.binary(N * SIZE * SIZE);
    long liveBefore = pair.gpu.memory().live();
    try (Twin twin = new Twin(config, 3);
        Tensor xc = pair.cpu.tensor(img, N, SIZE, SIZE, 3);
        Tensor xg = pair.gpu.tensor(img, N, SIZE, SIZE, 3);
        Tensor mc = pair.cpu.tensor(msk, N, SIZE, SIZE, 1);
        Tensor mg = pair.gpu.tensor(msk, N, SIZE, SIZE, 1)) {
      try (Tensor lc = twin.cpu.forward(xc, false); Tensor lg = twin.gpu.forward(xg, false)) {
        ModelWeights.assertNear("eval-mode logits", lg.read(), lc.read(), 2e-3);
      }
      try (TrainStep sc = new TrainStep(twin.cpu, config);
          TrainStep sg = new TrainStep(twin.gpu, config)) {
        LossTerms tc = sc.forwardBackward(xc, mc, 0);
        LossTerms tg = sg.forwardBackward(xg, mg, 0);
        assertTermsAgree("first step", tg, tc, 1e-3);
      }
      StateDict gc = twin.cpu.parameters().gradStateDict();
      StateDict gg = twin.gpu.parameters().gradStateDict();
      assertThat(gg.names()).containsExactlyElementsIn(gc.names());
      // A gradient that is analytically zero (the bias of a batch norm whose output the loss
      // sees only through a shift-invariant path) is float rounding on both backends, so it
      // cannot be compared against its own size: its error is bounded by the rounding of the
      // largest gradients it was computed from.
      double gradientScale = 0;
      for (String name : gc.names()) {
        for (float v : gc.get(name).data()) {
          gradientScale = Math.max(gradientScale, Math.abs(v));
        }
      }
      for (String name : gc.names()) {
        ModelWeights.assertNear("d " + name, gg.get(name).data(), gc.get(name).data(), 2e-2,
            1e-5 * gradientScale);
      }
      StateDict ac = twin.cpu.stateDict();
      StateDict ag = twin.gpu.stateDict();
      int stats = 0;
      for (String name : ac.names()) {
        if (name.endsWith("running_mean") || name.endsWith("running_var")) {
          ModelWeights.assertNear(name, ag.get(name).data(), ac.get(name).data(), 2e-3);
          stats++;
        }
      }
      assertThat(stats).isGreaterThan(50);
    }
    assertWithMessage("CUDA context memory after the models and tensors are closed")
        .that(pair.gpu.memory().live()).isEqualTo(liveBefore);
  }

  /**
   * The CUDA backend's determinism (docs/reproducibility.md): the same weights, batches and
   * settings trained twice on the same device give bit-identical losses, weights and BN running
   * statistics. What could break it: atomics in a reduction, or a cuDNN algorithm that is not
   * deterministic (EFFISEG_CUDA_VERBOSE=1 names every choice).
   */
  @Test
  void b0TrainingOnCudaIsBitIdenticalWhenRepeated() {
    TrainConfig config = config(true);
    int steps = 3;
    Trained first = trainOnGpu(config, steps);
    Trained second = trainOnGpu(config, steps);
    assertWithMessage("losses of each step").that(second.losses()).isEqualTo(first.losses());
    assertThat(second.state().names()).containsExactlyElementsIn(first.state().names());
    for (String name : first.state().names()) {
      assertWithMessage("after %s steps, run 2 against run 1: %s", steps, name)
          .that(second.state().get(name).data()).isEqualTo(first.state().get(name).data());
    }
  }

  private record Trained(double[] losses, StateDict state) {}

  /** A fresh B0 on the GPU, the same random weights and batches every call, `steps` steps. */
  private static Trained trainOnGpu(TrainConfig config, int steps) {
    Rand rand = new Rand(29);
    double[] losses = new double[steps];
    try (EffiSegNet model = EffiSegNet.create(pair.gpu, config.modelConfig())) {
      model.loadStateDict(ModelWeights.randomize(model.stateDict(), 5), true);
      try (TrainStep step = new TrainStep(model, config)) {
        for (int s = 0; s < steps; s++) {
          float[] img = rand.normal(N * SIZE * SIZE * 3, 1);
          float[] msk = rand.binary(N * SIZE * SIZE);
          try (Tensor x = pair.gpu.tensor(img, N, SIZE, SIZE, 3);
              Tensor m = pair.gpu.tensor(msk, N, SIZE, SIZE, 1)) {
            losses[s] = step.forwardBackward(x, m, s).total();
            step.update(config.lr, s + 1);
          }
        }
      }
      return new Trained(losses, model.stateDict());
    }
  }

  @Test
  void b0TrainingLossesMatchTheCpuStepByStep() {
    TrainConfig config = config(false);
    int steps = 6;
    Rand rand = new Rand(23);
    try (Twin twin = new Twin(config, 4);
        TrainStep sc = new TrainStep(twin.cpu, config);
        TrainStep sg = new TrainStep(twin.gpu, config)) {
      for (int step = 0; step < steps; step++) {
        float[] img = rand.normal(N * SIZE * SIZE * 3, 1);
        float[] msk = rand.binary(N * SIZE * SIZE);
        LossTerms tc;
        LossTerms tg;
        try (Tensor xc = pair.cpu.tensor(img, N, SIZE, SIZE, 3);
            Tensor mc = pair.cpu.tensor(msk, N, SIZE, SIZE, 1);
            Tensor xg = pair.gpu.tensor(img, N, SIZE, SIZE, 3);
            Tensor mg = pair.gpu.tensor(msk, N, SIZE, SIZE, 1)) {
          tc = sc.forwardBackward(xc, mc, step);
          tg = sg.forwardBackward(xg, mg, step);
          sc.update(config.lr, step + 1);
          sg.update(config.lr, step + 1);
        }
        System.out.printf("step %d: loss cpu %.6f cuda %.6f%n", step + 1, tc.total(), tg.total());
        assertTermsAgree("step " + (step + 1), tg, tc, 2e-3);
      }
      StateDict wc = twin.cpu.stateDict();
      StateDict wg = twin.gpu.stateDict();
      for (String name : wc.names()) {
        ModelWeights.assertNear("after " + steps + " steps: " + name, wg.get(name).data(),
            wc.get(name).data(), 5e-3);
      }
    }
  }
}
