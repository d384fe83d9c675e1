package org.effiseg.cuda;

import static com.google.common.truth.Truth.assertWithMessage;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.effiseg.nativeapi.Backend;
import org.junit.jupiter.api.Test;

/** The GPU machine's test runner must fail loudly when it cannot test the GPU at all. */
class GpuTestMainTest {
  private record Run(int exitCode, String output) {}

  private static Run runGpuTestMain(String jvmOption, String testClass)
      throws IOException, InterruptedException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> command = new ArrayList<>(List.of(java.toString(), "--enable-native-access=ALL-UNNAMED"));
    if (!jvmOption.isEmpty()) {
      command.add(jvmOption);
    }
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), GpuTestMain.class.getName(), testClass));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertWithMessage("GpuTestMain finished within 2 minutes").that(p.waitFor(2, TimeUnit.MINUTES)).isTrue();
    return new Run(p.exitValue(), out);
  }

  @Test
  void failsWithTheReasonWhenTheCudaBackendIsUnavailable() throws Exception {
    String reason = Backend.CUDA.unavailableReason();
    assumeTrue(reason != null, "this machine has a usable CUDA backend: the failure path cannot be shown here");
    Run run = runGpuTestMain("", CudaVsCpuTest.class.getName());
    assertWithMessage(run.output()).that(run.exitCode()).isEqualTo(1);
    assertWithMessage(run.output()).that(run.output())
        .contains("FAIL the CUDA backend is unavailable, so no GPU test can run: " + reason);
  }

  @Test
  void failsWhenEveryTestIsAborted() throws Exception {
    // Self-test mode gets past the backend check, and aborts every test of the memory observer
    // (there is no device to observe), on any machine.
    Run run = runGpuTestMain("-Deffiseg.cuda.selftest=true", CudaMemoryObserverTest.class.getName());
    assertWithMessage(run.output()).that(run.output()).contains("FAIL no test passed");
    assertWithMessage(run.output()).that(run.exitCode()).isEqualTo(1);
  }
}
