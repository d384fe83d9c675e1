package org.effiseg.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.effiseg.data.DatasetPreparer;
import org.effiseg.data.RandomSplit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code effiseg data prepare}: a published dataset (Kvasir-SEG's zip, or any folder with an
 * images and a masks folder) to the train/validation/test layout, split at random from a seed or
 * as a split file says. See docs/data-pipeline.md, "Preparing a published dataset".
 */
@Command(
    name = "prepare",
    sortOptions = false,
    description = {
      "Write the train/validation/test layout effiseg reads from a dataset as published: Kvasir-SEG's"
          + " kvasir-seg.zip (read in place) or its unpacked folder, or any folder with an images and a"
          + " masks folder whose files pair by stem (JPEG, PNG, BMP or TIFF).",
      "",
      "Images are copied unchanged; masks are binarised (grey > 127) and written as PNG. The split"
          + " used goes to OUT/split.csv and how it was made to OUT/prepare.json. The source is never"
          + " modified; bad or unpaired files are all listed, and then nothing is written.",
      "Exit codes: 0 prepared, 1 bad input (message on stderr), 2 usage error."
    })
final class DataPrepareCommand implements Callable<Integer> {
  private static final long DEFAULT_SEED = 42;
  private static final String DEFAULT_RATIOS = "0.8,0.1,0.1";

  @Spec CommandSpec spec;

  @Option(names = "--source", required = true, paramLabel = "ZIP_OR_DIR",
      description = "The dataset as published: a zip archive or a folder (kvasir-seg.zip, Kvasir-SEG/).")
  Path source;

  @Option(names = "--out", required = true, paramLabel = "DIR",
      description = "New folder to write (an existing one must be empty; never inside --source).")
  Path out;

  @Option(names = "--images", defaultValue = "images", paramLabel = "FOLDER",
      description = "Images folder below the dataset's top (default: ${DEFAULT-VALUE}; CVC-ClinicDB: Original).")
  String imagesFolder;

  @Option(names = "--masks", defaultValue = "masks", paramLabel = "FOLDER",
      description = "Masks folder below the dataset's top (default: ${DEFAULT-VALUE}; CVC-ClinicDB: 'Ground Truth').")
  String masksFolder;

  @Option(names = "--split", paramLabel = "random",
      description = "Split method: random (the default; seeded, identical on every machine).")
  String split;

  @Option(names = "--seed", paramLabel = "N",
      description = "Seed of the random split, >= 0 (default: " + DEFAULT_SEED + ").")
  Long seed;

  @Option(names = "--ratios", paramLabel = "TRAIN,VAL,TEST",
      description = "Fractions of the pairs for train, validation and test (default: " + DEFAULT_RATIOS
          + "); 0,0,1 makes a test-only set.")
  String ratios;

  @Option(names = "--split-file", paramLabel = "FILE",
      description = "Use exactly this split instead: CSV lines 'name,split' (name = image stem or file"
          + " name; split = train, validation or test), every image listed once.")
  Path splitFile;

  @Option(names = "--threads", defaultValue = "0",
      description = "Decoding threads (0: one per core).")
  int threads;

  @Override
  public Integer call() throws IOException {
    DatasetPreparer.SplitPlan plan;
    if (splitFile != null) {
      if (split != null || seed != null || ratios != null) {
        throw new ParameterException(spec.commandLine(),
            "--split-file gives the split; drop --split, --seed and --ratios");
      }
      plan = new DatasetPreparer.FilePlan(splitFile);
    } else {
      if (split != null && !split.equals("random")) {
        throw new ParameterException(spec.commandLine(),
            "--split must be random (or give --split-file FILE), got '" + split + "'");
      }
      if (seed != null && seed < 0) {
        throw new ParameterException(spec.commandLine(), "--seed must be >= 0, got " + seed);
      }
      try {
        plan = new DatasetPreparer.RandomPlan(seed == null ? DEFAULT_SEED : seed,
            RandomSplit.parseRatios(ratios == null ? DEFAULT_RATIOS : ratios));
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), e.getMessage());
      }
    }
    if (threads < 0) {
      throw new ParameterException(spec.commandLine(), "--threads must be >= 0, got " + threads);
    }
    DatasetPreparer.prepare(
        new DatasetPreparer.Options(source, out, imagesFolder, masksFolder, plan, threads), System.out);
    return 0;
  }
}
