package org.effiseg.nativeapi;

/** Activations the core knows (es_activation); SWISH is x * sigmoid(x). */
public enum Activation {
  NONE,
  RELU,
  SWISH,
  SIGMOID
}
