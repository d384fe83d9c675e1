package org.effiseg.sweep;

import static com.google.common.truth.Truth.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The parts of the executors that need no GPU and no Slurm: slot assignment, squeue's answers. */
class ExecutorsTest {
  @Test
  void oneSlotPerGpuEachSeeingItsOwn() {
    assertThat(LocalExecutor.gpuSlots(0, null)).containsExactly(Map.of());
    assertThat(LocalExecutor.gpuSlots(1, "3")).containsExactly(Map.of());
    assertThat(LocalExecutor.gpuSlots(3, null)).containsExactly(
        Map.of("CUDA_VISIBLE_DEVICES", "0"), Map.of("CUDA_VISIBLE_DEVICES", "1"),
        Map.of("CUDA_VISIBLE_DEVICES", "2")).inOrder();
    // the caller already restricted the GPUs: keep its numbering
    assertThat(LocalExecutor.gpuSlots(2, "5, 7")).containsExactly(
        Map.of("CUDA_VISIBLE_DEVICES", "5"), Map.of("CUDA_VISIBLE_DEVICES", "7")).inOrder();
  }

  @Test
  void squeueLinesGiveEachTaskItsState() {
    String text = String.join("\n",
        "41_[4-6,9%2] PENDING",
        "41_3 RUNNING",
        "41_0 COMPLETED",
        "410_1 RUNNING",   // another job whose id starts alike
        "41 PENDING",      // not an array task
        "");
    Map<Integer, String> states = SlurmExecutor.parseSqueue(text, "41");
    assertThat(states).containsExactly(4, "PENDING", 5, "PENDING", 6, "PENDING", 9, "PENDING",
        3, "RUNNING", 0, "COMPLETED");
    assertThat(SlurmExecutor.parseSqueue("", "41")).isEmpty();
    assertThat(SlurmExecutor.parseSqueue("41_[1,x-2] PENDING", "41")).containsExactly(1, "PENDING");
    assertThat(List.copyOf(SlurmExecutor.parseSqueue("41_[2] PENDING", "41").keySet())).containsExactly(2);
  }
}
