package org.effiseg.bench;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@code effiseg_lib_ab} (bench/lib_ab.cpp), the A/B harness for CPU kernel changes, run on the
 * build's own library as both A and B: every op family times its layer and prints its line, the
 * B0 tables cover their layers and the step's total, and bad arguments are refused. One image,
 * one pair, warm: this checks the harness, not the timings.
 */
class LibAbTest {

  private record Run(int exit, List<String> lines) {}

  private static Run libAb(String... args) throws IOException, InterruptedException {
    Path exe =
        Path.of(System.getProperty("effiseg.native.bin", "target/cmake/bin"), "effiseg_lib_ab");
    assertWithMessage("%s is built with the native library (CMake target effiseg_lib_ab)", exe)
        .that(Files.isExecutable(exe)).isTrue();
    Path lib = Path.of(System.getProperty("effiseg.native.dir", "target/classes"), "libeffiseg.so")
        .toAbsolutePath();
    List<String> cmd = new ArrayList<>(List.of(exe.toString(), lib.toString(), lib.toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
    return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8).lines().toList());
  }

  private static final String[] QUICK = {
    "--images", "1", "--pairs", "1", "--threads", "1", "--warm"
  };

  private static String[] with(String... args) {
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of(QUICK));
    return all.toArray(String[]::new);
  }

  private static final String TIMES = ": A \\d+\\.\\d{3} ms, B \\d+\\.\\d{3} ms, B/A \\d+\\.\\d{3} "
      + "\\[\\d+\\.\\d{3}\\.\\.\\d+\\.\\d{3}\\]";

  /** Runs one layer and checks its one line: the layer described as {@code label}, both times. */
  private static void timesOneLayer(String label, String... args) throws Exception {
    Run run = libAb(with(args));
    assertThat(run.exit()).isEqualTo(0);
    assertThat(run.lines()).hasSize(1);
    assertThat(run.lines().get(0)).matches(label + TIMES);
  }

  @Test
  void timesOneLayerOfEachOp() throws Exception {
    timesOneLayer("bwd 3x3 s2 20x20x24", "bwd", "3", "2", "20", "24");
    timesOneLayer("bn-pooled 14x14x80", "bn-pooled", "14", "80");
    timesOneLayer("pw-bn 12x12 48->16 gated", "pw-bn", "48", "16", "12", "1");
    timesOneLayer("pw-bn 12x12 16->96", "pw-bn", "16", "96", "12", "0");
  }

  @Test
  void withoutAGeometryTimesEveryB0LayerAndTheStepsTotal() throws Exception {
    Run run = libAb(with("bn-pooled"));
    assertThat(run.exit()).isEqualTo(0);
    // the ten distinct squeeze-excite batch norms of B0, then the total of the step's 16 calls
    assertThat(run.lines()).hasSize(11);
    for (String line : run.lines().subList(0, 10)) {
      assertThat(line).matches("bn-pooled \\d+x\\d+x\\d+" + TIMES);
    }
    assertThat(run.lines().get(0)).startsWith("bn-pooled 112x112x32:");
    assertThat(run.lines().get(10))
        .matches("bn-pooled, B0 training step's calls: A \\d+\\.\\d{2} ms, B \\d+\\.\\d{2} ms .*");
  }

  @Test
  void refusesBadArguments() throws Exception {
    assertThat(libAb(with("pw-bn", "16", "96", "12", "2")).exit()).isEqualTo(2); // GATED 0 or 1
    assertThat(libAb(with("bn-pooled", "14")).exit()).isEqualTo(2); // half a geometry
    assertThat(libAb(with("conv", "3", "1", "8", "8")).exit()).isEqualTo(2); // no such op
    assertThat(libAb(with("fwd", "3", "0", "8", "8")).exit()).isEqualTo(2); // stride 0
  }
}
