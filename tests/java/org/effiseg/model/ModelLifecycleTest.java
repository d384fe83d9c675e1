package org.effiseg.model;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.NativeMemory;
import org.effiseg.nativeapi.Ops;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.testing.Rand;
import org.junit.jupiter.api.Test;

/** Drop-connect, the forward/backward protocol and native memory coming back. */
class ModelLifecycleTest {

  @Test
  void trainingWithDropConnectRunsAndFreesEverything() {
    long before = NativeMemory.liveBytes();
    Rand rand = new Rand(3);
    int n = 2, size = 64;
    try (Context ctx = Context.cpu(2)) {
      EffiSegNetConfig cfg = EffiSegNetConfig.of(EfficientNetVariant.B0).withDropConnectRate(0.5f);
      try (EffiSegNet net = EffiSegNet.create(ctx, cfg);
          Tensor x = ctx.tensor(rand.normal(n * size * size * 3, 1), n, size, size, 3);
          Tensor t = ctx.tensor(rand.binary(n * size * size), n, size, size, 1);
          Tensor terms = ctx.tensor(4)) {
        long afterCreate = NativeMemory.liveBytes();
        long[] liveAfter = new long[4];
        float[][] outs = new float[4][];
        for (int step = 0; step < 4; step++) {
          try (Tensor logits = net.forward(x, true);
              Tensor dl = ctx.tensor(logits.shape())) {
            outs[step] = logits.read();
            Ops.segLoss(ctx, logits, t, terms, dl, 1f, 1f, 0f, 1);
            net.backward(dl);
          }
          for (float g : net.parameters().grads().read()) {
            assertThat(Float.isFinite(g)).isTrue();
          }
          liveAfter[step] = NativeMemory.liveBytes();
        }
        // The pooled buffers are reused: no growth after the second step. (The first step
        // allocates in the order of its requests; the second finds all of them free, and the
        // smallest free buffer that fits can pair them differently once.)
        assertThat(liveAfter[2]).isEqualTo(liveAfter[1]);
        assertThat(liveAfter[3]).isEqualTo(liveAfter[1]);
        net.releaseBuffers();
        assertThat(NativeMemory.liveBytes()).isEqualTo(afterCreate);
        // Different drop-connect masks each step (rate 0.5 so that the skip blocks see drops).
        assertThat(outs[0]).isNotEqualTo(outs[1]);
        assertThat(outs[1]).isNotEqualTo(outs[2]);
        // Eval is deterministic and needs no backward.
        try (Tensor a = net.forward(x, false);
            Tensor b = net.forward(x, false)) {
          assertThat(a.read()).isEqualTo(b.read());
        }
        try (Tensor dl = ctx.tensor(n, size, size, 1)) {
          assertThrows(IllegalStateException.class, () -> net.backward(dl));
        }
      }
    }
    assertThat(NativeMemory.liveBytes()).isEqualTo(before);
  }

  @Test
  void deepSupervisionMapsOfAnEarlierPassAreFreedByTheNextAndOnClose() {
    Rand rand = new Rand(4);
    int n = 1, size = 64;
    try (Context ctx = Context.cpu(2)) {
      long start = ctx.memory().live();
      EffiSegNetConfig cfg = EffiSegNetConfig.of(EfficientNetVariant.B0).withDeepSupervision(true);
      try (EffiSegNet net = EffiSegNet.create(ctx, cfg);
          Tensor x = ctx.tensor(rand.normal(n * size * size * 3, 1), n, size, size, 3)) {
        net.forward(x, false).close();
        long afterOne = ctx.memory().live();
        assertThat(net.auxLogits()).hasLength(5);
        for (int i = 0; i < 3; i++) {
          net.forward(x, false).close(); // the caller leaves the auxiliary maps open
        }
        assertThat(ctx.memory().live()).isEqualTo(afterOne);
      }
      assertThat(ctx.memory().live()).isEqualTo(start);
    }
  }

  /**
   * The eval pass runs on weights derived from the parameters (BN folded into the convolutions):
   * after a training pass (new running statistics) and after loading other weights, it must
   * give exactly what a model freshly loaded with the same parameters gives.
   */
  @Test
  void evalWeightsFollowEveryChangeOfTheParameters() {
    Rand rand = new Rand(5);
    int size = 64;
    try (Context ctx = Context.cpu(2)) {
      EffiSegNetConfig cfg = EffiSegNetConfig.of(EfficientNetVariant.B0).withDropConnectRate(0f);
      try (EffiSegNet a = EffiSegNet.create(ctx, cfg);
          EffiSegNet other = EffiSegNet.create(ctx, cfg.withSeed(99));
          Tensor x = ctx.tensor(rand.normal(2 * size * size * 3, 1), 2, size, size, 3)) {
        float[] before = eval(a, x);
        a.forward(x, true).close(); // a training pass: the running statistics move
        float[] afterTraining = eval(a, x);
        assertThat(afterTraining).isNotEqualTo(before);
        assertThat(afterTraining).isEqualTo(evalOfCopy(ctx, cfg, a.stateDict(), x));
        a.loadStateDict(other.stateDict(), true);
        assertThat(eval(a, x)).isEqualTo(eval(other, x));
      }
    }
  }

  private static float[] eval(EffiSegNet net, Tensor x) {
    try (Tensor y = net.forward(x, false)) {
      return y.read();
    }
  }

  private static float[] evalOfCopy(Context ctx, EffiSegNetConfig cfg, StateDict sd, Tensor x) {
    try (EffiSegNet copy = EffiSegNet.create(ctx, cfg)) {
      copy.loadStateDict(sd, true);
      return eval(copy, x);
    }
  }
}
