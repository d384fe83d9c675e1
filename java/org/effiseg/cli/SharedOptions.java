package org.effiseg.cli;

import java.nio.file.Path;
import java.util.function.Function;
import org.effiseg.api.Device;
import org.effiseg.api.Tta;
import org.effiseg.nativeapi.Context;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/**
 * Options that several commands take, each written once and added to a command with
 * {@code @Mixin}. A value picocli cannot convert is a usage error (exit 2) naming the option;
 * a thread count out of the native core's range is refused when the command starts (exit 1).
 */
final class SharedOptions {
  private SharedOptions() {}

  /** {@code --device}: where the model runs. */
  static final class DeviceOption {
    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
        converter = DeviceConverter.class,
        description = "cpu, cuda or auto (CUDA where it is usable; default: ${DEFAULT-VALUE});"
            + " cuda never falls back to the CPU.")
    Device device;
  }

  /** {@code --threads}: the native core's CPU threads. */
  static final class ThreadsOption {
    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
        description = "CPU threads (0: all cores, the default; at most 4 per processor).")
    int threads;

    /** The count, checked against the native core's bound before anything is started. */
    int checked() {
      return Context.checkThreads("--threads", threads);
    }
  }

  /** {@code --tta}: test-time augmentation. */
  static final class TtaOption {
    @Option(names = "--tta", paramLabel = "MODE", defaultValue = "none", converter = TtaConverter.class,
        description = "Test-time augmentation: none or flip (the mean probability over the image and"
            + " its left-right, top-bottom and both-ways mirror images; 4 forward passes per image)"
            + " (default: ${DEFAULT-VALUE}).")
    Tta tta;
  }

  /** {@code --data}: a dataset root as {@code effiseg data prepare} writes it. */
  static final class DataOption {
    @Option(names = "--data", paramLabel = "DIR",
        description = "Dataset root with train/, validation/ and test/, each holding images/ and"
            + " masks/ (effiseg data prepare makes one from the published Kvasir-SEG).")
    Path data;
  }

  /** A value the API's own parser takes, or a conversion error saying which values those are. */
  private abstract static class ParsedBy<T> implements ITypeConverter<T> {
    private final Function<String, T> parse;
    private final String choices;

    ParsedBy(Function<String, T> parse, String choices) {
      this.parse = parse;
      this.choices = choices;
    }

    @Override
    public T convert(String value) {
      try {
        return parse.apply(value);
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException(choices + ", got '" + value + "'");
      }
    }
  }

  static final class DeviceConverter extends ParsedBy<Device> {
    DeviceConverter() {
      super(Device::parse, "auto, cpu or cuda");
    }
  }

  static final class TtaConverter extends ParsedBy<Tta> {
    TtaConverter() {
      super(Tta::parse, "none or flip");
    }
  }
}
