/**
 * The embedding API: load a checkpoint written by {@code effiseg train} and segment polyps in
 * colonoscopy images from Java.
 *
 * <p>This package is effiseg's public, stable API ({@code docs/api.md}): {@link
 * org.effiseg.api.Segmenter} and its {@link org.effiseg.api.Segmenter.Builder}, {@link
 * org.effiseg.api.Device}, {@link org.effiseg.api.Tta}, {@link org.effiseg.api.Prediction}, and {@link
 * org.effiseg.api.SegmentationException} with its subclasses. Its methods throw only these
 * exceptions, {@link java.io.IOException} for files that cannot be read, and the usual {@link
 * IllegalArgumentException}, {@link NullPointerException} and {@link IndexOutOfBoundsException}
 * for arguments outside their contracts. Every other package of effiseg is internal and may
 * change between versions.
 */
package org.effiseg.api;
