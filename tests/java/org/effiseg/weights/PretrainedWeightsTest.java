package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.Map;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;
import org.effiseg.testing.Rand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PretrainedWeightsTest {
  @TempDir Path tmp;

  @Test
  void layoutsMatchTheReferenceParameterCounts() {
    // TOOLCHAIN.md: reference EffiSegNet encoder (no head) and with the unused head conv/BN.
    assertThat(EfficientNetLayout.of(0).parameterCount(false, false)).isEqualTo(3_595_388L);
    assertThat(EfficientNetLayout.of(0).parameterCount(true, false)).isEqualTo(4_007_548L);
    assertThat(EfficientNetLayout.of("b4").parameterCount(false, false)).isEqualTo(16_742_216L);
    assertThat(EfficientNetLayout.of("efficientnet-b4").parameterCount(true, false))
        .isEqualTo(17_548_616L);
    // torchvision/timm ImageNet classifier totals for B0 and B7.
    assertThat(EfficientNetLayout.of(0).parameterCount(true, true)).isEqualTo(5_288_548L);
    assertThat(EfficientNetLayout.of(7).parameterCount(true, true)).isEqualTo(66_347_960L);
    assertThat(EfficientNetLayout.of(0).blocks()).hasSize(16);
    assertThat(EfficientNetLayout.of(4).stageRepeats()).asList()
        .containsExactly(2, 4, 4, 6, 6, 8, 2).inOrder();
    assertThat(EfficientNetLayout.of(4).stemChannels()).isEqualTo(48);
    assertThat(EfficientNetLayout.of(4).headChannels()).isEqualTo(1792);
  }

  /** Random canonical weights for a variant (with the classifier). */
  static StateDict randomCanonical(EfficientNetLayout l, long seed) {
    Rand r = new Rand(seed);
    StateDict sd = new StateDict();
    for (Map.Entry<String, long[]> e : l.canonicalShapes(true).entrySet()) {
      sd.put(e.getKey(), new TensorData(e.getValue(), r.uniform(Rand.size(e.getValue()), -0.1, 0.1)));
    }
    return sd;
  }

  /** The same weights under timm names (the inverse of NamingScheme.TIMM), with BN counters. */
  static StateDict toTimm(StateDict canonical, EfficientNetLayout l) {
    StateDict out = new StateDict();
    for (String n : canonical.names()) {
      String t;
      if (n.startsWith("_blocks.")) {
        String rest = n.substring("_blocks.".length());
        int idx = Integer.parseInt(rest.substring(0, rest.indexOf('.')));
        String part = rest.substring(rest.indexOf('.') + 1);
        EfficientNetLayout.Block b = l.blocks().get(idx);
        String[][] map = b.hasExpansion()
            ? new String[][] {{"_expand_conv.", "conv_pw."}, {"_bn0.", "bn1."},
              {"_depthwise_conv.", "conv_dw."}, {"_bn1.", "bn2."},
              {"_se_reduce.", "se.conv_reduce."}, {"_se_expand.", "se.conv_expand."},
              {"_project_conv.", "conv_pwl."}, {"_bn2.", "bn3."}}
            : new String[][] {{"_depthwise_conv.", "conv_dw."}, {"_bn1.", "bn1."},
              {"_se_reduce.", "se.conv_reduce."}, {"_se_expand.", "se.conv_expand."},
              {"_project_conv.", "conv_pw."}, {"_bn2.", "bn2."}};
        String mapped = null;
        for (String[] m : map) {
          if (part.startsWith(m[0])) {
            mapped = m[1] + part.substring(m[0].length());
          }
        }
        t = "blocks." + b.stage() + "." + b.indexInStage() + "." + mapped;
      } else {
        t = n.replace("_conv_stem.", "conv_stem.").replace("_bn0.", "bn1.")
            .replace("_conv_head.", "conv_head.").replace("_bn1.", "bn2.")
            .replace("_fc.", "classifier.");
      }
      out.put(t, canonical.get(n));
      if (t.endsWith(".running_var")) {
        out.put(t.replace("running_var", "num_batches_tracked"),
            new TensorData(new long[] {}, new float[] {0}));
      }
    }
    return out;
  }

  static StateDict toMonai(StateDict canonical, EfficientNetLayout l, String prefix) {
    StateDict out = new StateDict();
    for (String n : canonical.names()) {
      String t = n;
      if (n.startsWith("_blocks.")) {
        String rest = n.substring("_blocks.".length());
        int idx = Integer.parseInt(rest.substring(0, rest.indexOf('.')));
        t = "_blocks." + l.blocks().get(idx).stage() + "." + rest;
      }
      if (!PretrainedWeights.isHead(n)) {
        out.put(prefix + t, canonical.get(n));
      }
    }
    return out;
  }

  /** The same weights under torchvision's names. */
  static StateDict toTorchvision(StateDict canonical, EfficientNetLayout l) {
    StateDict out = new StateDict();
    for (String n : canonical.names()) {
      String t;
      if (n.startsWith("_blocks.")) {
        String rest = n.substring("_blocks.".length());
        EfficientNetLayout.Block b = l.blocks().get(Integer.parseInt(rest.substring(0,
            rest.indexOf('.'))));
        String part = rest.substring(rest.indexOf('.') + 1);
        int shift = b.hasExpansion() ? 0 : -1;
        String[][] map = {{"_expand_conv.weight", "0.0.weight"}, {"_bn0.", "0.1."},
          {"_depthwise_conv.weight", "1.0.weight"}, {"_bn1.", "1.1."}, {"_se_reduce.", "2.fc1."},
          {"_se_expand.", "2.fc2."}, {"_project_conv.weight", "3.0.weight"}, {"_bn2.", "3.1."}};
        String mapped = null;
        for (String[] m : map) {
          if (part.startsWith(m[0])) {
            String tail = m[1] + part.substring(m[0].length());
            int k = tail.charAt(0) - '0' + shift;
            mapped = k + tail.substring(1);
          }
        }
        t = "features." + (b.stage() + 1) + "." + b.indexInStage() + ".block." + mapped;
      } else {
        t = n.replace("_conv_stem.weight", "features.0.0.weight").replace("_bn0.", "features.0.1.")
            .replace("_conv_head.weight", "features.8.0.weight").replace("_bn1.", "features.8.1.")
            .replace("_fc.", "classifier.1.");
      }
      out.put(t, canonical.get(n));
    }
    return out;
  }

  @Test
  void importsTorchvisionB2() throws Exception {
    EfficientNetLayout b2 = EfficientNetLayout.of(2);
    StateDict canonical = randomCanonical(b2, 22);
    StateDict tv = toTorchvision(canonical, b2);
    assertThat(tv.contains("features.1.1.block.2.0.weight")).isTrue(); // stage 0: no expand
    assertThat(tv.contains("features.2.0.block.3.1.running_var")).isTrue();
    Path f = tmp.resolve("tv-b2.safetensors");
    Safetensors.write(f, tv, Map.of());
    PretrainedWeights.Imported imp = PretrainedWeights.load(f, null, true);
    assertThat(imp.layout().variant()).isEqualTo(2);
    assertThat(imp.description()).startsWith("torchvision");
    for (String n : canonical.names()) {
      assertThat(imp.weights().get(n)).isEqualTo(canonical.get(n));
    }
  }

  @Test
  void importsTimmB4FromSafetensors() throws Exception {
    EfficientNetLayout b4 = EfficientNetLayout.of(4);
    StateDict canonical = randomCanonical(b4, 4);
    Path f = tmp.resolve("timm-b4.safetensors");
    Safetensors.write(f, toTimm(canonical, b4), Map.of());
    assertThat(NamingScheme.detect(Safetensors.read(f).tensors().names()))
        .isEqualTo(NamingScheme.TIMM);
    PretrainedWeights.Imported imp = PretrainedWeights.load(f, b4, true);
    assertThat(imp.description()).startsWith("timm safetensors");
    assertThat(imp.hasClassifier()).isTrue();
    assertThat(imp.weights().names()).containsExactlyElementsIn(canonical.names());
    for (String n : canonical.names()) {
      assertThat(imp.weights().get(n)).isEqualTo(canonical.get(n));
    }
    // Detected without naming the variant.
    assertThat(PretrainedWeights.load(f, null, false).layout().variant()).isEqualTo(4);
    StateDict forSeg = imp.withPrefix("encoder.", false);
    assertThat(forSeg.contains("encoder._blocks.31._bn2.running_var")).isTrue();
    assertThat(forSeg.contains("encoder._fc.weight")).isFalse();
  }

  @Test
  void importsMonaiAndEfficientnetPytorchNamesWithPrefixes() throws Exception {
    EfficientNetLayout b1 = EfficientNetLayout.of(1);
    StateDict canonical = randomCanonical(b1, 1);
    Path f = tmp.resolve("monai-b1.safetensors");
    Safetensors.write(f, toMonai(canonical, b1, "encoder."), Map.of());
    PretrainedWeights.Imported imp = PretrainedWeights.load(f, null, false);
    assertThat(imp.layout().variant()).isEqualTo(1);
    assertThat(imp.description()).startsWith("monai");
    assertThat(imp.hasClassifier()).isFalse();
    assertThat(imp.weights().get("_blocks.22._se_expand.bias"))
        .isEqualTo(canonical.get("_blocks.22._se_expand.bias"));

    StateDict module = new StateDict();
    for (String n : canonical.names()) {
      module.put("module." + n, canonical.get(n));
    }
    PretrainedWeights.Imported imp2 = PretrainedWeights.fromStateDict(module, b1, true, "m");
    assertThat(imp2.description()).startsWith("efficientnet_pytorch");
    assertThat(imp2.weights().size()).isEqualTo(canonical.size());
  }

  @Test
  void canonicalizesTheMonaiEncoderOfAWholeEffiSegNetStateDict() {
    EfficientNetLayout b0 = EfficientNetLayout.of(0);
    StateDict canonical = randomCanonical(b0, 8);
    StateDict reference = toMonai(canonical, b0, "encoder.");
    reference.put("encoder._blocks.1.2._bn2.num_batches_tracked",
        new TensorData(new long[] {}, new float[] {3}));
    TensorData decoder = new TensorData(new long[] {32}, new float[32]);
    reference.put("up1.0.weight", decoder);
    StateDict out = PretrainedWeights.canonicalizeEncoder(reference, "encoder.");
    assertThat(out.get("encoder._blocks.2._bn2.weight"))
        .isEqualTo(canonical.get("_blocks.2._bn2.weight"));
    assertThat(out.get("up1.0.weight")).isEqualTo(decoder);
    assertThat(out.size()).isEqualTo(reference.size() - 1);
    assertThat(out.names().get(out.size() - 1)).isEqualTo("up1.0.weight");
  }

  @Test
  void rejectsWeightsOfAnotherVariantListingTheDifferences() throws Exception {
    EfficientNetLayout b4 = EfficientNetLayout.of(4);
    Path f = tmp.resolve("b4.safetensors");
    Safetensors.write(f, toTimm(randomCanonical(b4, 2), b4), Map.of());
    String m = assertThrows(WeightsFormatException.class,
        () -> PretrainedWeights.load(f, EfficientNetLayout.of(0), false)).getMessage();
    assertThat(m).contains("do not fit EfficientNet-B0");
    assertThat(m).contains("they look like EfficientNet-B4");
    assertThat(m).contains("mis-shaped: _conv_stem.weight [48, 3, 3, 3] (expected [32, 3, 3, 3])");
    assertThat(m).contains("unexpected: _blocks.16.");
  }

  @Test
  void rejectsMisshapedMissingAndUnexpectedTensors() throws Exception {
    EfficientNetLayout b0 = EfficientNetLayout.of(0);
    StateDict sd = randomCanonical(b0, 3);
    sd.put("_blocks.3._se_reduce.weight", new TensorData(new long[] {7, 144, 1, 1},
        new float[7 * 144]));
    sd.remove("_blocks.5._bn1.running_var");
    sd.put("_blocks.5._extra.weight", new TensorData(new long[] {1}, new float[1]));
    sd.remove("_fc.bias");
    Path f = tmp.resolve("bad.safetensors");
    Safetensors.write(f, sd, Map.of());
    String m = assertThrows(WeightsFormatException.class,
        () -> PretrainedWeights.load(f, b0, false)).getMessage();
    assertThat(m).contains(f.toString());
    assertThat(m).contains("2 missing: _blocks.5._bn1.running_var, _fc.bias");
    assertThat(m).contains(
        "1 mis-shaped: _blocks.3._se_reduce.weight [7, 144, 1, 1] (expected [6, 144, 1, 1])");
    assertThat(m).contains("1 unexpected: _blocks.5._extra.weight");

    StateDict headless = randomCanonical(b0, 3);
    for (String n : headless.names()) {
      if (PretrainedWeights.isHead(n)) {
        headless.remove(n);
      }
    }
    assertThat(PretrainedWeights.fromStateDict(headless, b0, false, "h").hasClassifier())
        .isFalse();
    assertThat(assertThrows(WeightsFormatException.class,
        () -> PretrainedWeights.fromStateDict(headless, b0, true, "h")).getMessage())
        .contains("missing: _conv_head.weight");

    StateDict notEffnet = new StateDict();
    notEffnet.put("conv1.weight", new TensorData(new long[] {1}, new float[1]));
    assertThat(assertThrows(WeightsFormatException.class,
        () -> PretrainedWeights.fromStateDict(notEffnet, b0, false, "r")).getMessage())
        .contains("not an EfficientNet state dict");
  }
}
