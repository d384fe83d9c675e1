package org.effiseg.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An insertion-ordered map from parameter name to {@link TensorData}, in PyTorch conventions
 * (conv weight [Cout, Cin/groups, KH, KW], linear [out, in], BatchNorm weight/bias/running_mean/
 * running_var) with efficientnet_pytorch / MONAI names for the encoder. The interchange format
 * between importers, checkpoints and the model.
 */
public final class StateDict {
  private final LinkedHashMap<String, TensorData> entries = new LinkedHashMap<>();

  /** Adds or replaces an entry; a replaced entry keeps its position. */
  public void put(String name, TensorData tensor) {
    if (name == null || tensor == null) {
      throw new IllegalArgumentException("name and tensor must not be null");
    }
    entries.put(name, tensor);
  }

  /** The entry named {@code name}, or null. */
  public TensorData get(String name) {
    return entries.get(name);
  }

  /** All names in insertion order (a copy). */
  public List<String> names() {
    return new ArrayList<>(entries.keySet());
  }

  public int size() {
    return entries.size();
  }

  public boolean contains(String name) {
    return entries.containsKey(name);
  }

  /** Removes and returns the entry named {@code name}, or null. */
  public TensorData remove(String name) {
    return entries.remove(name);
  }

  /** An unmodifiable ordered view of the entries. */
  public Map<String, TensorData> asMap() {
    return java.util.Collections.unmodifiableMap(entries);
  }

  @Override
  public String toString() {
    return "StateDict(" + entries.size() + " entries)";
  }
}
