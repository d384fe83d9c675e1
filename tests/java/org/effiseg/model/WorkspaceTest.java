package org.effiseg.model;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.NativeMemory;
import org.effiseg.nativeapi.Tensor;
import org.junit.jupiter.api.Test;

/** The buffer pool: reuse by element count within {@link Workspace#MAX_WASTE}, give-back checks. */
class WorkspaceTest {

  private static final long[] PASS = {1, 8, 8, 3};

  /** Starts a pass on {@code ws} with one free buffer of 4x8x8x16 floats in its pool: that one. */
  private static Tensor withOneFreeBuffer(Workspace ws) {
    ws.beginPass(PASS);
    Tensor big = ws.take(4, 8, 8, 16);
    ws.give(big);
    return big;
  }

  @Test
  void aSmallerShapeReusesAFreeBufferAsAView() {
    try (Context ctx = Context.cpu(1);
        Workspace ws = new Workspace(ctx)) {
      Tensor big = withOneFreeBuffer(ws);
      long live = ctx.memory().live();
      Tensor half = ws.take(2, 8, 8, 16); // half the elements: within MAX_WASTE
      assertThat(ctx.memory().live()).isEqualTo(live);
      assertThat(half.shape()).isEqualTo(new long[] {2, 8, 8, 16});
      half.fill(2f);
      float[] values = half.read();
      assertThat(values[values.length - 1]).isEqualTo(2f);
      ws.give(half);
      Tensor again = ws.take(4, 8, 8, 16); // the buffer is back in the pool, at its own shape
      assertThat(again).isSameInstanceAs(big);
      assertThat(ctx.memory().live()).isEqualTo(live);
      ws.give(again);
    }
  }

  @Test
  void aMuchSmallerShapeGetsABufferOfItsOwn() {
    try (Context ctx = Context.cpu(1);
        Workspace ws = new Workspace(ctx)) {
      withOneFreeBuffer(ws);
      long live = ctx.memory().live();
      Tensor quarter = ws.take(1, 8, 8, 16); // a quarter: more than MAX_WASTE times smaller
      assertThat(ctx.memory().live()).isEqualTo(live + 4L * quarter.numel());
      ws.give(quarter);
    }
  }

  @Test
  void aTensorOrAViewGivenBackTwiceThrows() {
    try (Context ctx = Context.cpu(1);
        Workspace ws = new Workspace(ctx)) {
      ws.beginPass(PASS);
      Tensor t = ws.take(2, 3);
      ws.give(t);
      assertThrows(IllegalStateException.class, () -> ws.give(t));
      Tensor view = ws.take(1, 5); // 5 of the free buffer's 6 elements: a view
      assertThat(view).isNotSameInstanceAs(t);
      ws.give(view);
      assertThrows(IllegalStateException.class, () -> ws.give(view));
    }
  }

  @Test
  void aViewClosedWithoutAGiveReturnsItsBufferAtTheNextPass() {
    long before = NativeMemory.liveBytes();
    try (Context ctx = Context.cpu(1);
        Workspace ws = new Workspace(ctx)) {
      Tensor big = withOneFreeBuffer(ws);
      long live = ctx.memory().live();
      Tensor view = ws.take(3, 8, 8, 16);
      view.close(); // its holder closes it instead of giving it back (the logits a caller closes)
      Tensor fresh = ws.take(3, 8, 8, 16); // the buffer is still lent: a new one
      assertThat(ctx.memory().live()).isGreaterThan(live);
      ws.give(fresh);
      ws.beginPass(PASS);
      assertThat(ws.take(4, 8, 8, 16)).isSameInstanceAs(big); // back in the pool
    }
    assertThat(NativeMemory.liveBytes()).isEqualTo(before);
  }

  @Test
  void closingTheWorkspaceFreesTheBuffersOfLentViewsButNotTheirData() {
    long before = NativeMemory.liveBytes();
    try (Context ctx = Context.cpu(1)) {
      Tensor kept;
      try (Workspace ws = new Workspace(ctx)) {
        withOneFreeBuffer(ws);
        kept = ws.take(3, 8, 8, 16); // a view that outlives the workspace (returned logits)
        kept.fill(5f);
      }
      assertThat(kept.read()[0]).isEqualTo(5f); // its storage is still there
      kept.close();
      assertThat(ctx.memory().live()).isEqualTo(0L);
    }
    assertThat(NativeMemory.liveBytes()).isEqualTo(before);
  }

  @Test
  void closingTheWorkspaceFreesTheViewsOfABufferLentAtItsOwnShape() {
    long before = NativeMemory.liveBytes();
    try (Context ctx = Context.cpu(1)) {
      Tensor kept;
      try (Workspace ws = new Workspace(ctx)) {
        Tensor big = withOneFreeBuffer(ws);
        ws.give(ws.take(3, 8, 8, 16)); // the buffer now has a view of that shape, resting
        kept = ws.take(4, 8, 8, 16); // lent again at its own shape, and kept past the close
        assertThat(kept).isSameInstanceAs(big);
      }
      kept.close();
      assertThat(ctx.memory().live()).isEqualTo(0L);
    }
    assertThat(NativeMemory.liveBytes()).isEqualTo(before);
  }
}
