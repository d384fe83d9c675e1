package org.effiseg.testing;

import static com.google.common.truth.Truth.assertWithMessage;

import org.effiseg.nativeapi.NativeMemory;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * {@code @ExtendWith(NoNativeLeaks.class)}: every test must leave as many native handles and
 * bytes of tensor storage alive as it found.
 */
public final class NoNativeLeaks implements BeforeEachCallback, AfterEachCallback {
  private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NoNativeLeaks.class);

  private record Live(long handles, long bytes) {
    static Live now() {
      return new Live(NativeMemory.liveHandles(), NativeMemory.liveBytes());
    }
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    context.getStore(NS).put("live", Live.now());
  }

  @Override
  public void afterEach(ExtensionContext context) {
    Live before = context.getStore(NS).get("live", Live.class);
    Live after = Live.now();
    assertWithMessage("native handles left alive").that(after.handles()).isEqualTo(before.handles());
    assertWithMessage("native bytes left allocated").that(after.bytes()).isEqualTo(before.bytes());
  }
}
