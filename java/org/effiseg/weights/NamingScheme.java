package org.effiseg.weights;

import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.effiseg.model.StateDict;
import org.effiseg.model.TensorData;

/**
 * The parameter naming schemes of EfficientNet state dicts that users have, and their conversion
 * to the canonical (efficientnet_pytorch) names. Shapes are the same in all three (PyTorch
 * layouts); only names differ.
 *
 * <ul>
 *   <li>{@link #EFFICIENTNET_PYTORCH}: {@code _conv_stem.weight},
 *       {@code _blocks.N._expand_conv.weight}, N the flat block index: canonical.
 *   <li>{@link #MONAI}: the same names, but blocks nested by stage: {@code _blocks.S.N.…} (N is
 *       still the flat index).
 *   <li>{@link #TIMM}: {@code conv_stem}, {@code bn1}, {@code blocks.S.J.{conv_pw, bn1, conv_dw,
 *       bn2, se.conv_reduce, se.conv_expand, conv_pwl, bn3}} (stage-0 DepthwiseSeparable blocks:
 *       {@code conv_dw, bn1, se, conv_pw, bn2}), {@code conv_head}, {@code bn2},
 *       {@code classifier}.
 *   <li>{@link #TORCHVISION}: {@code features.0.{0,1}} (stem conv, BN), {@code
 *       features.S.J.block.K.…} for stage S−1 (K = expand, depthwise, SE {@code fc1/fc2}, project;
 *       no expand in stage 0), {@code features.8.{0,1}} (head), {@code classifier.1}.
 * </ul>
 */
public enum NamingScheme {
  EFFICIENTNET_PYTORCH,
  MONAI,
  TIMM,
  TORCHVISION;

  private static final Pattern MONAI_BLOCK = Pattern.compile("^_blocks\\.(\\d+)\\.(\\d+)\\.(_.*)$");
  private static final Pattern TIMM_BLOCK = Pattern.compile("^blocks\\.(\\d+)\\.(\\d+)\\.(.*)$");
  private static final Pattern TORCHVISION_BLOCK =
      Pattern.compile("^features\\.([1-7])\\.(\\d+)\\.block\\.(\\d)\\.(.*)$");

  /**
   * The scheme of a set of names whose common prefix (e.g. "module.", "encoder.") has already
   * been removed; null if none fits.
   */
  public static NamingScheme detect(Collection<String> names) {
    boolean canonicalStem = names.contains("_conv_stem.weight");
    boolean timmStem = names.contains("conv_stem.weight");
    if (names.contains("features.0.0.weight") && !canonicalStem && !timmStem) {
      return TORCHVISION;
    }
    if (timmStem && !canonicalStem) {
      return TIMM;
    }
    if (canonicalStem) {
      for (String n : names) {
        if (MONAI_BLOCK.matcher(n).matches()) {
          return MONAI;
        }
      }
      return EFFICIENTNET_PYTORCH;
    }
    return null;
  }

  /**
   * The prefix in front of the stem conv's name ("" if none, "module.", "encoder.", ...), or null
   * if no name ends with a known stem conv name.
   */
  public static String detectPrefix(Collection<String> names) {
    for (String stem :
        new String[] {"_conv_stem.weight", "conv_stem.weight", "features.0.0.weight"}) {
      for (String n : names) {
        if (n.endsWith(stem)) {
          String prefix = n.substring(0, n.length() - stem.length());
          if (prefix.isEmpty() || prefix.endsWith(".")) {
            return prefix;
          }
        }
      }
    }
    return null;
  }

  /**
   * Renames every entry of {@code sd} (names without prefix, in this scheme) to canonical names;
   * BN {@code num_batches_tracked} entries are dropped; names the scheme does not know are kept
   * as they are, so validation reports them as unexpected.
   */
  public StateDict toCanonical(StateDict sd) {
    StateDict out = new StateDict();
    Map<String, Integer> flat = switch (this) {
      case TIMM -> flatIndices(sd.asMap().keySet(), TIMM_BLOCK);
      case TORCHVISION -> flatIndices(sd.asMap().keySet(), TORCHVISION_BLOCK);
      default -> Map.of();
    };
    for (Map.Entry<String, TensorData> e : sd.asMap().entrySet()) {
      String name = e.getKey();
      if (name.endsWith("num_batches_tracked")) {
        continue;
      }
      out.put(canonicalName(name, flat, sd), e.getValue());
    }
    return out;
  }

  private String canonicalName(String name, Map<String, Integer> flat, StateDict sd) {
    switch (this) {
      case EFFICIENTNET_PYTORCH:
        return name;
      case MONAI: {
        Matcher m = MONAI_BLOCK.matcher(name);
        return m.matches() ? "_blocks." + m.group(2) + "." + m.group(3) : name;
      }
      case TORCHVISION:
        return torchvisionToCanonical(name, flat, sd);
      case TIMM:
      default:
        return timmToCanonical(name, flat, sd);
    }
  }

  private static String timmToCanonical(String name, Map<String, Integer> flat, StateDict sd) {
    Matcher m = TIMM_BLOCK.matcher(name);
    if (m.matches()) {
      String blockKey = m.group(1) + "." + m.group(2);
      String rest = m.group(3);
      // InvertedResidual blocks have conv_pwl; stage-0 DepthwiseSeparable blocks do not.
      boolean inverted = sd.contains("blocks." + blockKey + ".conv_pwl.weight");
      String mapped = mapBlockPart(rest, inverted);
      return mapped == null ? name : "_blocks." + flat.get(blockKey) + "." + mapped;
    }
    String[][] top = {
      {"conv_stem.", "_conv_stem."}, {"bn1.", "_bn0."}, {"conv_head.", "_conv_head."},
      {"bn2.", "_bn1."}, {"classifier.", "_fc."},
    };
    for (String[] t : top) {
      if (name.startsWith(t[0])) {
        return t[1] + name.substring(t[0].length());
      }
    }
    return name;
  }

  private static String mapBlockPart(String rest, boolean inverted) {
    String[][] table = inverted
        ? new String[][] {
          {"conv_pw.", "_expand_conv."}, {"bn1.", "_bn0."}, {"conv_dw.", "_depthwise_conv."},
          {"bn2.", "_bn1."}, {"se.conv_reduce.", "_se_reduce."}, {"se.conv_expand.", "_se_expand."},
          {"conv_pwl.", "_project_conv."}, {"bn3.", "_bn2."},
        }
        : new String[][] {
          {"conv_dw.", "_depthwise_conv."}, {"bn1.", "_bn1."}, {"se.conv_reduce.", "_se_reduce."},
          {"se.conv_expand.", "_se_expand."}, {"conv_pw.", "_project_conv."}, {"bn2.", "_bn2."},
        };
    for (String[] t : table) {
      if (rest.startsWith(t[0])) {
        return t[1] + rest.substring(t[0].length());
      }
    }
    return null;
  }

  private static String torchvisionToCanonical(String name, Map<String, Integer> flat,
      StateDict sd) {
    Matcher m = TORCHVISION_BLOCK.matcher(name);
    if (m.matches()) {
      String blockKey = m.group(1) + "." + m.group(2);
      // MBConv with expansion has four parts (expand, depthwise, SE, project), stage 0 three.
      boolean expanded = sd.contains("features." + blockKey + ".block.3.0.weight");
      int part = Integer.parseInt(m.group(3)) + (expanded ? 0 : 1);
      String rest = m.group(4);
      String mapped = switch (part) {
        case 0 -> convBn(rest, "_expand_conv", "_bn0");
        case 1 -> convBn(rest, "_depthwise_conv", "_bn1");
        case 2 -> rest.startsWith("fc1.") ? "_se_reduce." + rest.substring(4)
            : rest.startsWith("fc2.") ? "_se_expand." + rest.substring(4) : null;
        case 3 -> convBn(rest, "_project_conv", "_bn2");
        default -> null;
      };
      return mapped == null ? name : "_blocks." + flat.get(blockKey) + "." + mapped;
    }
    String[][] top = {
      {"features.0.", "_conv_stem", "_bn0"}, {"features.8.", "_conv_head", "_bn1"},
    };
    for (String[] t : top) {
      if (name.startsWith(t[0])) {
        String mapped = convBn(name.substring(t[0].length()), t[1], t[2]);
        return mapped == null ? name : mapped;
      }
    }
    if (name.startsWith("classifier.1.")) {
      return "_fc." + name.substring("classifier.1.".length());
    }
    return name;
  }

  /** torchvision's Conv2dNormActivation: "0.weight" is the conv, "1.*" its BN. */
  private static String convBn(String rest, String conv, String bn) {
    if (rest.equals("0.weight")) {
      return conv + ".weight";
    }
    return rest.startsWith("1.") ? bn + "." + rest.substring(2) : null;
  }

  /** "S.J" → flat block index, counting the blocks present in stage order. */
  private static Map<String, Integer> flatIndices(Collection<String> names, Pattern block) {
    TreeMap<Long, String> ordered = new TreeMap<>();
    for (String n : names) {
      Matcher m = block.matcher(n);
      if (m.matches()) {
        long key = Long.parseLong(m.group(1)) * 1_000_000L + Long.parseLong(m.group(2));
        ordered.put(key, m.group(1) + "." + m.group(2));
      }
    }
    Map<String, Integer> flat = new java.util.HashMap<>();
    int i = 0;
    for (String blockKey : ordered.values()) {
      flat.put(blockKey, i++);
    }
    return flat;
  }
}
