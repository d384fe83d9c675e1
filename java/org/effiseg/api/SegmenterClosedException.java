package org.effiseg.api;

/** A {@link Segmenter} used after {@link Segmenter#close()}. */
public class SegmenterClosedException extends SegmentationException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message.
   *
   * @param message which segmenter was used after close
   */
  public SegmenterClosedException(String message) {
    super(message);
  }
}
