package org.effiseg.cuda;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Which GPUs the CUDA backend accepts, and what it says, per compute capability: under the CUDA
 * emulator (tests/native/cuda_emu), whose device reports the capability that
 * EFFISEG_CUDA_EMU_COMPUTE names and loads the shipped build's code (sm_75 … sm_120 and
 * compute_120 PTX) by the CUDA runtime's rule. The probe runs once per process, so each case is
 * `effiseg info --json` in a fresh JVM: exactly what a user with that GPU would see.
 */
class CudaProbeTest {
  private static final String CARD = "CUDA emulator (host C++, tests only; not a GPU)";

  @ParameterizedTest(name = "compute capability {0} runs {1}")
  @CsvSource(
      delimiter = '|',
      value = {
        "7.5  | sm_75 code", // T4, RTX 20: the oldest CUDA 13 supports
        "8.6  | sm_86 code", // A10, A40, RTX 30
        "8.7  | sm_86 code", // a higher minor runs the same major's SASS
        "9.0  | sm_90 code", // H100, H200
        "12.0 | sm_120 code", // RTX 50, RTX PRO 6000
        "13.0 | 'compute_120 PTX, JIT-compiled for sm_130'", // newer than the build: PTX
      })
  void acceptedGpuIsDescribedWithTheCodeItRuns(String capability, String code) throws Exception {
    JsonObject cuda = cudaBackendSeenWith(capability);

    assertWithMessage("the cuda entry of effiseg info: %s", cuda)
        .that(cuda.get("available").getAsBoolean()).isTrue();
    List<String> devices = cuda.getAsJsonArray("devices").asList().stream()
        .map(d -> d.getAsString()).toList();
    assertThat(devices).hasSize(1);
    assertThat(devices.get(0)).startsWith(CARD + ", compute " + capability + ", ");
    assertThat(devices.get(0)).endsWith(", runs " + code);
  }

  @ParameterizedTest(name = "compute capability {0} is refused")
  @CsvSource(
      delimiter = '|',
      value = {
        "7.0  | 'GPU 0 (" + CARD + ", compute capability 7.0) is older than CUDA 13 supports: it"
            + " needs compute capability 7.5 (Turing) or newer'", // V100
        "11.0 | 'GPU 0 (" + CARD + ", compute capability 11.0) cannot run this build''s GPU code"
            + " (sm_75 sm_80 sm_86 sm_89 sm_90 sm_100 sm_120 compute_120): add 110 to"
            + " EFFISEG_CUDA_ARCHITECTURES and rebuild (docs/cuda.md)'", // no SASS, PTX too new
      })
  void refusedGpuIsNamedWithTheReason(String capability, String reason) throws Exception {
    JsonObject cuda = cudaBackendSeenWith(capability);

    assertWithMessage("the cuda entry of effiseg info: %s", cuda)
        .that(cuda.get("available").getAsBoolean()).isFalse();
    assertThat(cuda.get("reason").getAsString()).isEqualTo(reason);
  }

  /**
   * A CUDA backend library built from another effiseg version (its kernel table laid out from
   * another kernel list) is refused with that reason, not called through the wrong slots.
   */
  @Test
  void backendLibraryOfAnotherVersionIsRefused() throws Exception {
    Path library = testLibrary("libeffiseg_cuda_other_version.so");
    JsonObject cuda = cudaBackendSeenWith(library, "9.0");

    assertWithMessage("the cuda entry of effiseg info: %s", cuda)
        .that(cuda.get("available").getAsBoolean()).isFalse();
    assertThat(cuda.get("reason").getAsString()).isEqualTo("EFFISEG_CUDA_LIBRARY=" + library
        + " was built from another effiseg version (its kernel table does not match this core's):"
        + " rebuild it from the same sources");
  }

  /** The "cuda" entry of `effiseg info --json` in a JVM whose emulated GPU has this capability. */
  private static JsonObject cudaBackendSeenWith(String capability) throws IOException, InterruptedException {
    return cudaBackendSeenWith(testLibrary("libeffiseg_cuda_emu.so"), capability);
  }

  /** One of the test-only libraries built with the CUDA emulator (skips the test without them). */
  private static Path testLibrary(String name) {
    Path library = Path.of(System.getProperty("effiseg.cuda.emu.dir"), name);
    Assumptions.assumeTrue(Files.isRegularFile(library), () -> "the CUDA emulator is not built ("
        + library + " is missing): run with -Deffiseg.cuda.emu=true (tests/native/cuda_emu/README.md)");
    return library;
  }

  /** The "cuda" entry of `effiseg info --json` in a JVM that loads this CUDA backend library. */
  private static JsonObject cudaBackendSeenWith(Path emulator, String capability)
      throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
        "org.effiseg.cli.Main", "info", "--json");
    pb.environment().put("EFFISEG_CUDA_LIBRARY", emulator.toString());
    pb.environment().put("EFFISEG_CUDA_EMU_COMPUTE", capability);
    pb.redirectError(ProcessBuilder.Redirect.INHERIT);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isEqualTo(0);
    JsonObject cuda = JsonParser.parseString(out).getAsJsonObject().getAsJsonArray("backends")
        .asList().stream().map(b -> b.getAsJsonObject())
        .filter(b -> b.get("name").getAsString().equals("cuda")).findFirst().orElseThrow();
    return cuda;
  }
}
