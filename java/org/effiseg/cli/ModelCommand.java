package org.effiseg.cli;

import java.util.concurrent.Callable;
import org.effiseg.model.EffiSegNet;
import org.effiseg.model.EffiSegNetConfig;
import org.effiseg.model.EfficientNetVariant;
import org.effiseg.model.ParameterLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code effiseg model --variant b4}: the parameter counts of an EffiSegNet (shape arithmetic;
 * nothing is allocated). The reference implementation keeps EfficientNet's unused classifier head
 * conv/BN in its encoder, so its (and the paper's) encoder count is ours plus that head; both
 * are printed.
 */
@Command(
    name = "model",
    description = "Print the parameter counts of an EffiSegNet variant.")
public final class ModelCommand implements Callable<Integer> {
  @Option(
      names = "--variant",
      defaultValue = "b0",
      description = "EfficientNet variant b0..b7 (default: ${DEFAULT-VALUE}).")
  String variant;

  @Option(
      names = "--channels",
      defaultValue = "32",
      description = "Decoder width ch (default: ${DEFAULT-VALUE}).")
  int channels;

  @Option(names = "--deep-supervision", description = "Count the five auxiliary heads too.")
  boolean deepSupervision;

  @Option(names = "--json", description = "Print one JSON object.")
  boolean json;

  @Override
  public Integer call() {
    EfficientNetVariant v = EfficientNetVariant.parse(variant);
    EffiSegNetConfig cfg =
        EffiSegNetConfig.of(v)
            .withDeepSupervision(deepSupervision)
            .withChannels(channels);
    ParameterLayout layout = EffiSegNet.layout(cfg);
    long encoder = layout.trainableCount("encoder.");
    long decoder = layout.trainableSize() - encoder;
    long head = EffiSegNet.unusedReferenceHeadCount(v);
    long buffers = layout.bufferSize();
    if (json) {
      System.out.printf(
          "{\"variant\": \"%s\", \"resolution\": %d, \"channels\": %d, \"deep_supervision\": %b,"
              + " \"encoder\": %d, \"unused_reference_head\": %d, \"reference_encoder\": %d,"
              + " \"decoder\": %d, \"total\": %d, \"reference_total\": %d,"
              + " \"bn_running_stats\": %d}%n",
          v.modelName(), v.resolution(), cfg.channels(), deepSupervision, encoder, head,
          encoder + head, decoder, encoder + decoder, encoder + head + decoder, buffers);
    } else {
      System.out.printf("EffiSegNet-%s (%s, %dx%d, ch=%d%s)%n", v.name(), v.modelName(),
          v.resolution(), v.resolution(), cfg.channels(), deepSupervision ? ", deep supervision" : "");
      System.out.printf("  encoder                      %,12d%n", encoder);
      System.out.printf("  unused head (reference only) %,12d%n", head);
      System.out.printf("  encoder as in the reference  %,12d%n", encoder + head);
      System.out.printf("  decoder                      %,12d%n", decoder);
      System.out.printf("  total (trainable)            %,12d%n", encoder + decoder);
      System.out.printf("  total as in the reference    %,12d%n", encoder + head + decoder);
      System.out.printf("  BN running statistics        %,12d (not trainable)%n", buffers);
    }
    return 0;
  }
}
