/**
 * {@code effiseg sweep}: a grid of presets × seeds trained into one sweep directory, one
 * {@code effiseg train} child process per run ({@link org.effiseg.sweep.RunLauncher}), on this
 * machine ({@link org.effiseg.sweep.LocalExecutor}) or as one Slurm job array ({@link
 * org.effiseg.sweep.SlurmExecutor}). The sweep keeps no progress state of its own: each run's
 * directory says whether it finished ({@link org.effiseg.sweep.RunStatus}), so any executor can
 * pick up where another stopped. The layout: {@link org.effiseg.sweep.SweepDirectory}; the guide:
 * docs/sweeps.md.
 */
package org.effiseg.sweep;
