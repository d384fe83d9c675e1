// An image file and the mask file that shares its stem, after validation.
package org.effiseg.data;

import java.nio.file.Path;

/** A validated image/mask pair; {@code stem} is the file name without extension. */
public record SamplePair(String stem, Path image, Path mask) {}
