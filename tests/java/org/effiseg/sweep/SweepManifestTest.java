package org.effiseg.sweep;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SweepManifestTest {
  @Test
  void eachGridCellGetsItsCommandAndResumeCommand(@TempDir Path dir) throws Exception {
    SweepDirectory sweep = new SweepDirectory(dir.resolve("sweep"));
    SweepManifest m = SweepManifest.plan(null, sweep, dir, Path.of("data"), "test",
        List.of("study-original", "study-mod4"), List.of(1L, 2L), List.of("--epochs", "3", "--skip-bad"));
    assertThat(m.runs().stream().map(SweepManifest.Run::name).toList()).containsExactly(
        "study-original-seed1", "study-original-seed2", "study-mod4-seed1", "study-mod4-seed2").inOrder();
    SweepManifest.Run run = m.run(2);
    String data = dir.resolve("data").toString();
    String out = sweep.root().resolve("runs/study-mod4-seed1").toString();
    assertThat(run.args()).containsExactly("train", "--preset", "study-mod4", "--seed", "1", "--data", data,
        "--out", out, "--eval-split", "test", "--epochs", "3", "--skip-bad").inOrder();
    assertThat(run.resumeArgs()).containsExactly("train", "--resume", "--data", data, "--out", out,
        "--eval-split", "test", "--skip-bad").inOrder();
    assertThat(run.command()).startsWith("effiseg train --preset study-mod4 --seed 1 --data ");
    assertThat(m.presets()).containsExactly("study-original", "study-mod4").inOrder();

    sweep.writeManifest(m);
    assertThat(sweep.readManifest()).isEqualTo(m);
  }

  @Test
  void aGridGrowsWithoutRenumberingButKeepsItsSetting(@TempDir Path dir) {
    SweepDirectory sweep = new SweepDirectory(dir);
    SweepManifest m = SweepManifest.plan(null, sweep, dir, dir, "test", List.of("smoke"), List.of(1L, 2L), List.of());
    SweepManifest grown = SweepManifest.plan(m, sweep, dir, dir, "test", List.of("quick", "smoke"), List.of(3L, 1L), List.of());
    assertThat(grown.runs().subList(0, 2)).isEqualTo(m.runs());
    assertThat(grown.runs().stream().map(r -> r.index() + " " + r.name()).toList()).containsExactly(
        "0 smoke-seed1", "1 smoke-seed2", "2 quick-seed3", "3 quick-seed1", "4 smoke-seed3").inOrder();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SweepManifest.plan(m, sweep, dir, dir, "test", List.of("smoke"), List.of(4L), List.of("--epochs", "9")));
    assertThat(e).hasMessageThat().contains("training flags");
    assertThat(e).hasMessageThat().contains("sweep.json");
    assertThrows(IllegalArgumentException.class,
        () -> SweepManifest.plan(m, sweep, dir, dir, "validation", List.of("smoke"), List.of(4L), List.of()));
  }

  @Test
  void shellQuotingKeepsEveryWordOneWord() {
    assertThat(Shell.join(List.of("--out", "/a/b-c_1.x", "--epochs=3"))).isEqualTo("--out /a/b-c_1.x --epochs=3");
    assertThat(Shell.quote("two words")).isEqualTo("'two words'");
    assertThat(Shell.quote("it's")).isEqualTo("'it'\\''s'");
    assertThat(Shell.quote("")).isEqualTo("''");
    assertThat(Shell.quote("$HOME")).isEqualTo("'$HOME'");
  }
}
