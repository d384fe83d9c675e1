package org.effiseg.train;

/**
 * PyTorch's CosineAnnealingLR stepped once per epoch, in its closed form:
 * lr(e) = min + (max - min) · (1 + cos(π·e / T)) / 2 for epoch e = 0 … T-1, T = total epochs.
 * Being a pure function of the epoch, it resumes exactly from a checkpoint.
 */
public record LrSchedule(double maxLr, double minLr, int epochs) {
  public LrSchedule {
    if (epochs < 1 || maxLr <= 0 || minLr < 0 || minLr > maxLr) {
      throw new IllegalArgumentException("bad schedule: " + maxLr + " → " + minLr + " over " + epochs);
    }
  }

  public double lr(int epoch) {
    return minLr + (maxLr - minLr) * (1 + Math.cos(Math.PI * epoch / epochs)) / 2;
  }
}
