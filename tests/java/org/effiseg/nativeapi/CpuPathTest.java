package org.effiseg.nativeapi;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The CPU kernel paths (portable, avx2, avx512; native/cpu/backend.cpp): the one in use is named
 * in the device description, EFFISEG_CPU_ISA forces one, a path the CPU cannot run is refused
 * with a sentence, the choice follows CPUID (simulated with EFFISEG_CPUID_LEVEL), and the
 * library runs on a CPU without AVX: {@code effiseg_cpu_path_smoke} (every kernel once, through
 * the C ABI) under qemu-x86_64's qemu64 model, which raises SIGILL on any AVX instruction.
 */
class CpuPathTest {
  private static final Pattern DEVICE =
      Pattern.compile("device .*, (portable|avx2|avx512) kernels \\(this CPU runs ([a-z0-9, ]+)\\)");

  @Test
  void theDeviceNamesThePathInUseAndAForcedPathIsHonoured() {
    String device = Backend.CPU.devices().get(0);
    Matcher m = DEVICE.matcher("device " + device);
    assertWithMessage(device).that(m.matches()).isTrue();
    String forced = System.getenv("EFFISEG_CPU_ISA");
    if (forced != null && !forced.isEmpty()) { // the extra surefire executions of pom.xml
      assertThat(m.group(1)).isEqualTo(forced);
    } else { // the fastest path this CPU runs
      List<String> runnable = List.of(m.group(2).split(", "));
      assertThat(m.group(1)).isEqualTo(runnable.get(runnable.size() - 1));
    }
  }

  @Test
  void withoutAvx2InCpuidThePortablePathRuns() throws Exception {
    Run r = smoke(List.of(), Map.of("EFFISEG_CPUID_LEVEL", "1"));
    assertWithMessage(r.output).that(r.exit).isEqualTo(0);
    assertThat(r.device()).endsWith("portable kernels (this CPU runs portable)");
  }

  @Test
  void forcingAPathTheCpuCannotRunIsAClearError() throws Exception {
    Run r = smoke(List.of(), Map.of("EFFISEG_CPUID_LEVEL", "1", "EFFISEG_CPU_ISA", "avx2"));
    assertThat(r.exit).isEqualTo(1);
    assertThat(r.output)
        .contains("EFFISEG_CPU_ISA=avx2 needs an x86-64-v3 CPU (AVX2, FMA, BMI2); this CPU runs portable");
    Run unknown = smoke(List.of(), Map.of("EFFISEG_CPU_ISA", "sse9"));
    assertThat(unknown.exit).isEqualTo(1);
    assertThat(unknown.output).contains("EFFISEG_CPU_ISA=sse9 is not one of this build's paths (portable");
  }

  @Test
  void everyPathThisCpuRunsGivesTheSameResults() throws Exception {
    Run best = smoke(List.of(), Map.of());
    assertWithMessage(best.output).that(best.exit).isEqualTo(0);
    Matcher m = DEVICE.matcher(best.device());
    assertThat(m.matches()).isTrue();
    for (String path : m.group(2).split(", ")) {
      Run r = smoke(List.of(), Map.of("EFFISEG_CPU_ISA", path));
      assertWithMessage(r.output).that(r.exit).isEqualTo(0);
      assertThat(r.device()).contains(path + " kernels");
      assertAgree(best, r);
    }
  }

  @Test
  void runsOnACpuWithoutAvxUnderQemu() throws Exception {
    Assumptions.assumeTrue(onPath("qemu-x86_64"),
        "qemu-x86_64 is not installed (Debian: apt-get install qemu-user): the CPU without AVX is not emulated here");
    Run r = smoke(List.of("qemu-x86_64", "-cpu", "qemu64"), Map.of());
    assertWithMessage(r.output).that(r.exit).isEqualTo(0); // 132 would be SIGILL
    assertThat(r.device()).endsWith("portable kernels (this CPU runs portable)");
    assertAgree(smoke(List.of(), Map.of()), r);
  }

  /** Every checksum of {@code b} within 1e-4 (relative to the larger) of {@code a}'s. */
  private static void assertAgree(Run a, Run b) {
    Map<String, double[]> x = a.sums();
    Map<String, double[]> y = b.sums();
    assertThat(y.keySet()).containsExactlyElementsIn(x.keySet()).inOrder();
    for (String op : x.keySet()) {
      for (int i = 0; i < 2; i++) {
        double p = x.get(op)[i];
        double q = y.get(op)[i];
        assertWithMessage("%s checksum %s: %s vs %s", op, i, p, q)
            .that(Math.abs(p - q))
            .isAtMost(1e-4 * Math.max(1.0, Math.max(Math.abs(p), Math.abs(q))));
      }
    }
  }

  private record Run(int exit, String output) {
    String device() {
      return output.lines().filter(l -> l.startsWith("device ")).findFirst().orElse("(no device line)");
    }

    Map<String, double[]> sums() {
      Map<String, double[]> m = new LinkedHashMap<>();
      output.lines().filter(l -> !l.startsWith("device ") && !l.startsWith("qemu")).forEach(l -> {
        String[] f = l.trim().split(" ");
        m.put(f[0], new double[] {Double.parseDouble(f[1]), Double.parseDouble(f[2])});
      });
      return m;
    }
  }

  private static Run smoke(List<String> prefix, Map<String, String> env)
      throws IOException, InterruptedException {
    Path exe = Path.of(System.getProperty("effiseg.native.bin", "target/cmake/bin"), "effiseg_cpu_path_smoke");
    assertWithMessage("%s is built with the native library (CMake target effiseg_cpu_path_smoke)", exe)
        .that(Files.isExecutable(exe)).isTrue();
    List<String> cmd = new ArrayList<>(prefix);
    cmd.add(exe.toString());
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().remove("EFFISEG_CPU_ISA");
    pb.environment().putAll(env);
    Process p = pb.start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
  }

  private static boolean onPath(String program) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
        return true;
      }
    }
    return false;
  }
}
