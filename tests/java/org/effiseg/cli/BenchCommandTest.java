package org.effiseg.cli;

import static com.google.common.truth.Truth.assertThat;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** {@code effiseg bench}: what bench/e2e_compare.py reads from it, on the CPU. */
class BenchCommandTest {
  private record Run(int exit, String stdout) {}

  private static Run run(String... args) {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    PrintStream old = System.out;
    System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
    try {
      int exit = Main.commandLine().execute(args);
      return new Run(exit, buf.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(old);
    }
  }

  @Test
  void trainingStepsAtASizeTrainingWouldRefuseGiveOneJsonRecordWithAProfile() {
    // 70 is no multiple of 32, like B4's native 380: bench takes any size the network takes
    Run r = run("bench", "--variant", "b0", "--size", "70", "--batch", "2", "--steps", "2", "--warmup", "1",
        "--device", "cpu", "--threads", "2", "--profile", "1", "--json");
    assertThat(r.exit()).isEqualTo(0);
    JsonObject o = JsonParser.parseString(r.stdout().strip()).getAsJsonObject();
    assertThat(o.get("impl").getAsString()).isEqualTo("effiseg");
    assertThat(o.get("size").getAsInt()).isEqualTo(70);
    assertThat(o.get("mode").getAsString()).isEqualTo("train");
    assertThat(o.get("device_name").getAsString()).startsWith("cpu:0 (");
    double ms = o.get("ms_median").getAsDouble();
    assertThat(ms).isGreaterThan(0.0);
    assertThat(o.get("images_per_s").getAsDouble()).isWithin(1e-9).of(2 * 1000.0 / ms);
    // each timed step's time (the median and p10 are theirs) and each warm-up step's
    JsonArray steps = o.getAsJsonArray("ms_steps");
    assertThat(steps.size()).isEqualTo(2);
    double a = steps.get(0).getAsDouble();
    double b = steps.get(1).getAsDouble();
    assertThat(Math.min(a, b)).isGreaterThan(0.0);
    assertThat(ms).isWithin(1e-9 * ms).of((a + b) / 2);
    assertThat(o.get("ms_p10").getAsDouble())
        .isWithin(1e-9 * ms)
        .of(Math.min(a, b) + 0.1 * Math.abs(a - b));
    JsonArray warm = o.getAsJsonArray("ms_warmup");
    assertThat(warm.size()).isEqualTo(1);
    assertThat(warm.get(0).getAsDouble()).isGreaterThan(0.0);
    // the JIT compilers' milliseconds during each warm-up and each timed step
    JsonArray jitWarm = o.getAsJsonArray("jit_ms_warmup");
    JsonArray jitSteps = o.getAsJsonArray("jit_ms_steps");
    assertThat(jitWarm.size()).isEqualTo(1);
    assertThat(jitSteps.size()).isEqualTo(2);
    for (JsonElement v : jitSteps) {
      assertThat(v.getAsLong()).isAtLeast(0L);
    }
    assertThat(jitWarm.get(0).getAsLong()).isAtLeast(0L);
    // weights, gradients and two AdamW moments of B0's 3.7 M parameters at least
    assertThat(o.get("peak_allocated_bytes").getAsLong()).isAtLeast(4L * 4 * 3_700_000);
    assertThat(Double.isFinite(o.get("last_loss").getAsDouble())).isTrue();
    JsonObject profile = o.getAsJsonObject("profile");
    JsonArray kernels = profile.getAsJsonArray("by_kernel");
    double share = 0;
    double floor = 0;
    double typical = 0;
    boolean conv = false;
    for (JsonElement k : kernels) {
      JsonObject row = k.getAsJsonObject();
      share += row.get("share").getAsDouble();
      floor += row.get("floor_ms_per_step").getAsDouble();
      typical += row.get("typical_ms_per_step").getAsDouble();
      if (row.get("kernel").getAsString().equals("conv2d_backward")) {
        conv = true;
        assertThat(row.get("gflop_s").getAsDouble()).isGreaterThan(0.0);
        assertThat(row.get("flop_peak_share").getAsDouble()).isGreaterThan(0.0);
        assertThat(row.get("bw_peak_share").getAsDouble()).isGreaterThan(0.0);
      }
    }
    assertThat(share).isWithin(1e-6).of(1.0);
    assertThat(conv).isTrue();
    // the typical time (every call at its row's median call) adds up the same way
    double stepTypical = profile.get("typical_ms_per_step").getAsDouble();
    assertThat(stepTypical).isGreaterThan(0.0);
    assertThat(typical).isWithin(1e-9 * stepTypical).of(stepTypical);
    assertThat(profile.get("peak_gflop_s").getAsDouble()).isGreaterThan(1.0);
    assertThat(profile.get("peak_gb_s").getAsDouble()).isGreaterThan(1.0);
    // The roofline floor: the kernels' floors add up to the step's, and the rows said to be most
    // above their floor come in descending order of (typical time - floor).
    double stepFloor = profile.get("floor_ms_per_step").getAsDouble();
    assertThat(stepFloor).isGreaterThan(0.0);
    assertThat(floor).isWithin(1e-9 * stepFloor).of(stepFloor);
    JsonArray above = profile.getAsJsonArray("most_above_floor");
    assertThat(above.size()).isGreaterThan(1);
    double previous = Double.POSITIVE_INFINITY;
    for (JsonElement k : above) {
      JsonObject row = k.getAsJsonObject();
      assertThat(row.get("kernel").getAsString()).isNotEmpty();
      double excess =
          row.get("typical_ms_per_step").getAsDouble() - row.get("floor_ms_per_step").getAsDouble();
      assertThat(excess).isAtMost(previous + 1e-9 * Math.abs(previous) + 1e-12); // per-step rounding
      previous = excess;
    }
  }

  @Test
  void theJitNoteSpeaksUpAboveOnePercentOfTheTimedStepsTime() {
    double[] steps = {100, 100, 100, 100};
    assertThat(BenchCommand.jitNote(steps, null)).isNull();
    assertThat(BenchCommand.jitNote(steps, new long[] {0, 0, 0, 0})).isNull();
    assertThat(BenchCommand.jitNote(steps, new long[] {1, 0, 3, 0})).isNull(); // 1 %: not above
    assertThat(BenchCommand.jitNote(steps, new long[] {0, 266, 0, 73}))
        .isEqualTo("note: the JIT compiled for 339 ms during 2 of the 4 timed steps (84.8 % of their"
            + " time): not the steady state yet; a larger --warmup gets there");
  }

  @Test
  void anUnimplementedPrecisionIsAJsonErrorAndExitOne() {
    Run r = run("bench", "--precision", "bf16", "--device", "cpu", "--json");
    assertThat(r.exit()).isEqualTo(1);
    JsonObject o = JsonParser.parseString(r.stdout().strip()).getAsJsonObject();
    assertThat(o.get("error").getAsString()).contains("bf16");
  }
}
