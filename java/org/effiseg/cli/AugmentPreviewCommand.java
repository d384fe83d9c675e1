// `effiseg augment-preview`: renders a grid of augmented training samples with each mask's outline
// drawn in green, so a person can check the pipeline (alignment, ranges, black rectangle) by eye.
// It validates the split first, exactly like training, and the same seed gives the same PNG bytes.
package org.effiseg.cli;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import org.effiseg.augment.AugmentPipeline;
import org.effiseg.augment.AugmentPresets;
import org.effiseg.augment.Sample;
import org.effiseg.data.BadInput;
import org.effiseg.data.BadInputPolicy;
import org.effiseg.data.DatasetException;
import org.effiseg.data.EpochOrder;
import org.effiseg.data.ImageDecodeException;
import org.effiseg.data.ImageDecoder;
import org.effiseg.data.SamplePair;
import org.effiseg.data.Split;
import org.effiseg.data.SplitIndex;
import org.effiseg.train.TrainConfig;
import org.effiseg.util.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Writes a PNG grid of augmented samples of one split. */
@Command(
    name = "augment-preview",
    description = "Write a grid of augmented samples (mask outline in green) to a PNG.")
public final class AugmentPreviewCommand implements Callable<Integer> {
  private static final int GAP = 4;
  private static final int MAX_COUNT = 1024;
  private static final byte OUTLINE_RED = 0;
  private static final byte OUTLINE_GREEN = (byte) 255;
  private static final byte OUTLINE_BLUE = 0;

  @Spec CommandSpec spec;

  @Option(names = "--data", required = true, description = "Dataset root (train/ validation/ test/).")
  Path data;

  @Option(names = "--split", defaultValue = "train", description = "Split to sample (default: ${DEFAULT-VALUE}).")
  String split;

  @Option(names = "--preset", defaultValue = "original",
      description = "none, original or improved, plus +modifiers: p08, no-elastic, weak-jitter, "
          + "black-rect, symmetric-affine (default: ${DEFAULT-VALUE}).")
  String preset;

  @Option(names = "--count", defaultValue = "16", description = "Samples in the grid (default: ${DEFAULT-VALUE}).")
  int count;

  @Option(names = "--seed", defaultValue = "0", description = "Run seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--epoch", defaultValue = "0", description = "Epoch whose order and draws to show (default: ${DEFAULT-VALUE}).")
  int epoch;

  @Option(names = "--size", defaultValue = "352", description = "Model input side in pixels (default: ${DEFAULT-VALUE}).")
  int size;

  @Option(names = "--skip-bad", description = "Leave out bad pairs (each is reported) instead of stopping.")
  boolean skipBad;

  @Option(names = "--out", required = true, description = "PNG file to write.")
  Path out;

  @Override
  public Integer call() {
    try {
      if (count < 1 || count > MAX_COUNT || size < 1 || size > TrainConfig.MAX_IMAGE_SIZE
          || epoch < 0) {
        throw new IllegalArgumentException("--count must be in 1.." + MAX_COUNT + ", --size in 1.."
            + TrainConfig.MAX_IMAGE_SIZE + ", --epoch ≥ 0");
      }
      AugmentPipeline pipeline = new AugmentPipeline(AugmentPresets.parse(preset), size);
      SplitIndex index = SplitIndex.open(data, Split.parse(split),
          skipBad ? BadInputPolicy.SKIP_BAD : BadInputPolicy.FAIL);
      for (BadInput bad : index.quarantined()) {
        spec.commandLine().getErr().println("skipped " + bad);
      }
      BufferedImage grid = render(index, pipeline);
      AtomicFiles.write(out, o -> {
        if (!ImageIO.write(grid, "png", o)) {
          throw new IOException("no PNG writer available");
        }
      });
      spec.commandLine().getOut().printf("wrote %s: %d samples of %s, preset %s, seed %d, epoch %d%n",
          out, count, index.split().folder(), preset, seed, epoch);
      return 0;
    } catch (DatasetException | IllegalArgumentException e) {
      spec.commandLine().getErr().println("augment-preview: " + e.getMessage());
      return Main.EXIT_FAILURE; // bad input, like every command; 2 is for usage errors
    } catch (IOException e) {
      spec.commandLine().getErr().println("augment-preview: " + e.getMessage());
      return Main.EXIT_FAILURE;
    }
  }

  /** The first {@code count} samples of the epoch's order, as training would see them. */
  private BufferedImage render(SplitIndex index, AugmentPipeline pipeline) throws IOException {
    int columns = (int) Math.ceil(Math.sqrt(count));
    int rows = (count + columns - 1) / columns;
    int width = columns * size + (columns + 1) * GAP;
    int height = rows * size + (rows + 1) * GAP;
    BufferedImage grid = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
    byte[] pixels = ((DataBufferByte) grid.getRaster().getDataBuffer()).getData();
    Arrays.fill(pixels, (byte) 48);
    int[] order = EpochOrder.shuffled(seed, epoch, index.size());
    Sample sample = pipeline.newSample();
    for (int i = 0; i < count; i++) {
      int datasetIndex = order[i % order.length];
      SamplePair pair = index.pairs().get(datasetIndex);
      try {
        pipeline.prepare(ImageDecoder.readRgb(pair.image()), ImageDecoder.readMask(pair.mask()),
            seed, epoch, datasetIndex, sample);
      } catch (ImageDecodeException e) {
        throw new DatasetException(new BadInput(pair.image(), e.reason()));
      }
      int left = GAP + (i % columns) * (size + GAP);
      int top = GAP + (i / columns) * (size + GAP);
      drawTile(sample, pixels, width, left, top);
    }
    return grid;
  }

  /** Copies the sample (RGB to the grid's BGR) and paints mask pixels on the mask's edge green. */
  private void drawTile(Sample sample, byte[] pixels, int gridWidth, int left, int top) {
    byte[] rgb = sample.rgb();
    byte[] mask = sample.mask();
    for (int y = 0; y < size; y++) {
      for (int x = 0; x < size; x++) {
        int p = y * size + x;
        int o = ((top + y) * gridWidth + left + x) * 3;
        boolean edge = mask[p] != 0 && (x == 0 || y == 0 || x == size - 1 || y == size - 1
            || mask[p - 1] == 0 || mask[p + 1] == 0 || mask[p - size] == 0 || mask[p + size] == 0);
        pixels[o] = edge ? OUTLINE_BLUE : rgb[p * 3 + 2];
        pixels[o + 1] = edge ? OUTLINE_GREEN : rgb[p * 3 + 1];
        pixels[o + 2] = edge ? OUTLINE_RED : rgb[p * 3];
      }
    }
  }
}
