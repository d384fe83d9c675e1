package org.effiseg.nativeapi;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.reflect.Field;
import org.junit.jupiter.api.Test;

/** Closing a context destroys it even when closing one of its tensors fails. */
class ContextCloseTest {
  @Test
  void theContextIsDestroyedWhenATensorFailsToClose() throws Exception {
    long handlesBefore = NativeMemory.liveHandles();
    long bytesBefore = NativeMemory.liveBytes();
    Context ctx = Context.cpu(1);
    Tensor good = ctx.tensor(16);
    Tensor broken = ctx.tensor(8);
    // a handle the core never issued: destroying it fails, as a corrupted wrapper would
    Field handle = Tensor.class.getDeclaredField("handle");
    handle.setAccessible(true);
    long real = (long) handle.get(broken);
    handle.set(broken, Long.MAX_VALUE);
    EffisegException e = assertThrows(EffisegException.class, ctx::close);
    assertThat(e).hasMessageThat().isNotEmpty();
    assertThat(ctx.isClosed()).isTrue();
    assertThat(good.isClosed()).isTrue();
    assertThrows(EffisegException.class, () -> ctx.tensor(4));
    // the broken wrapper lost its tensor; give it back and free it, and nothing is left
    handle.set(broken, real);
    broken.close();
    assertThat(NativeMemory.liveHandles()).isEqualTo(handlesBefore);
    assertThat(NativeMemory.liveBytes()).isEqualTo(bytesBefore);
  }
}
