package org.effiseg.cli;

import com.google.gson.Gson;
import java.awt.image.BufferedImage;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.effiseg.model.EfficientNetClassifier;
import org.effiseg.model.EfficientNetVariant;
import org.effiseg.nativeapi.Context;
import org.effiseg.nativeapi.Tensor;
import org.effiseg.weights.EfficientNetLayout;
import org.effiseg.weights.ImageNetInput;
import org.effiseg.weights.ImageNetLabels;
import org.effiseg.weights.PretrainedWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code effiseg classify --weights PATH IMAGE...}: the top-5 ImageNet classes of each image with
 * a pretrained EfficientNet classifier, to check imported weights end to end.
 */
@Command(
    name = "classify",
    description = {
      "Print the top-5 ImageNet classes of images with pretrained EfficientNet weights.",
      "An image already at the variant's resolution (224 for B0) is used as is; any other is"
          + " resized (antialiased bilinear) so its shorter side is resolution/0.875 (256 for B0)"
          + " and centre-cropped to resolution x resolution."
    })
public final class ClassifyCommand implements Callable<Integer> {
  @Option(
      names = "--weights",
      required = true,
      paramLabel = "PATH",
      description = "A TF.js model folder (model.json + shards) or a .safetensors state dict"
          + " (efficientnet_pytorch, MONAI or timm names) with the classification head.")
  Path weights;

  @Option(
      names = "--variant",
      paramLabel = "bN",
      description = "EfficientNet variant b0..b7 (default: detected from the weights).")
  String variant;

  @Option(names = "--json", description = "One JSON object per image per line.")
  boolean json;

  @Mixin SharedOptions.ThreadsOption threads;

  @Parameters(arity = "1..*", paramLabel = "IMAGE", description = "Image files (JPEG, PNG, ...).")
  List<Path> images;

  @Override
  public Integer call() throws Exception {
    int threadCount = threads.checked();
    EfficientNetLayout wanted = variant == null ? null : EfficientNetLayout.of(variant);
    PretrainedWeights.Imported imported = PretrainedWeights.load(weights, wanted, true);
    ImageNetLabels labels = ImageNetLabels.near(weights);
    EfficientNetVariant v = imported.layout().efficientNetVariant();
    int size = v.resolution();
    Gson gson = new Gson();
    try (Context ctx = Context.cpu(threadCount);
        EfficientNetClassifier net = EfficientNetClassifier.create(ctx, v)) {
      net.loadStateDict(imported.weights(), true);
      for (Path image : images) {
        BufferedImage img = ImageNetInput.read(image);
        float[] input = ImageNetInput.centreCrop(img, size);
        float[] logits;
        try (Tensor x = ctx.tensor(input, 1, size, size, 3);
            Tensor out = net.logits(x)) {
          logits = out.read();
        }
        List<ImageNetLabels.ClassScore> top = labels.top5(logits);
        if (json) {
          StringBuilder sb = new StringBuilder("{\"image\": ").append(gson.toJson(image.toString()))
              .append(", \"top5\": [");
          for (int i = 0; i < top.size(); i++) {
            ImageNetLabels.ClassScore p = top.get(i);
            sb.append(i == 0 ? "" : ", ").append("{\"index\": ").append(p.index())
                .append(", \"label\": ").append(gson.toJson(p.label()))
                .append(", \"probability\": ").append(format(p.probability())).append('}');
          }
          System.out.println(sb.append("]}"));
        } else {
          System.out.println(image);
          for (ImageNetLabels.ClassScore p : top) {
            System.out.printf("  %6.2f%%  %4d  %s%n", 100 * p.probability(), p.index(), p.label());
          }
        }
      }
    }
    return 0;
  }

  /** A probability with at most 6 decimals and no exponent ("0.883127"). */
  static String format(double probability) {
    BigDecimal d = BigDecimal.valueOf(probability).setScale(6, RoundingMode.HALF_EVEN)
        .stripTrailingZeros();
    return d.signum() == 0 ? "0" : d.toPlainString();
  }
}
