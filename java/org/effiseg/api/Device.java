package org.effiseg.api;

import java.util.Locale;

/** Where a {@link Segmenter} runs. */
public enum Device {
  /** CUDA where a usable GPU, driver and cuDNN are present, else the CPU. */
  AUTO,
  /** The CPU backend (always available). */
  CPU,
  /** The first CUDA GPU; never falls back to the CPU ({@link DeviceUnavailableException}). */
  CUDA;

  /**
   * The device a command-line or configuration value names.
   *
   * @param name "auto", "cpu" or "cuda", in any case
   * @return the device
   * @throws IllegalArgumentException for any other name
   */
  public static Device parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("device must be auto, cpu or cuda, got '" + name + "'");
    }
  }

  /**
   * The name as the command line spells it.
   *
   * @return "auto", "cpu" or "cuda"
   */
  public String cliName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
