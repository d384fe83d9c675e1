package org.effiseg.sweep;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The layout of a sweep directory:
 *
 * <pre>
 * sweep.json                 the grid and each run's command ({@link SweepManifest})
 * runs/&lt;preset&gt;-seed&lt;seed&gt;/  one effiseg run directory per grid cell (train --out)
 * logs/&lt;run&gt;.log             every attempt's output, appended
 * logs/&lt;run&gt;.attempt.json    the last attempt: how it started, where, its exit code
 * logs/&lt;run&gt;.lock            held while an attempt runs
 * slurm/                     job scripts, jobs.json (submitted job ids), Slurm's task output
 * study.md, study.csv, study-runs.csv, study.html   the study table (--collect)
 * </pre>
 *
 * Logs and locks live beside the run directories, not in them: a run directory holds only
 * what {@code effiseg train} writes.
 */
public final class SweepDirectory {
  private final Path root;

  public SweepDirectory(Path root) {
    this.root = root.toAbsolutePath().normalize();
  }

  public Path root() {
    return root;
  }

  public Path manifest() {
    return root.resolve("sweep.json");
  }

  public boolean exists() {
    return Files.isRegularFile(manifest());
  }

  public SweepManifest readManifest() throws IOException {
    if (!exists()) {
      throw new IllegalArgumentException(root + " holds no sweep (no sweep.json); start one with"
          + " --presets, --seeds and --data");
    }
    return SweepManifest.read(manifest());
  }

  public void writeManifest(SweepManifest manifest) throws IOException {
    manifest.write(manifest());
  }

  public Path runDir(String run) {
    return root.resolve("runs").resolve(run);
  }

  public Path log(String run) {
    return root.resolve("logs").resolve(run + ".log");
  }

  Path attempt(String run) {
    return root.resolve("logs").resolve(run + ".attempt.json");
  }

  Path lock(String run) {
    return root.resolve("logs").resolve(run + ".lock");
  }

  Path slurm() {
    return root.resolve("slurm");
  }

  /** Where the study table goes: {@code study.md}, {@code .csv}, {@code -runs.csv}, {@code .html}. */
  public Path studyBase() {
    return root.resolve("study");
  }
}
