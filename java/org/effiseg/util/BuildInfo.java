package org.effiseg.util;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * What this build of effiseg is: the project version and the source commit ({@code git describe
 * --always --dirty}, so a build from uncommitted changes ends in {@code -dirty}), written into
 * {@code org/effiseg/build.properties} by the Maven build. Run directories record both.
 */
public final class BuildInfo {
  private static final Properties PROPERTIES = load();

  private BuildInfo() {}

  /** The project version, e.g. {@code 0.1.0-SNAPSHOT}; "unknown" in a build without the file. */
  public static String version() {
    return PROPERTIES.getProperty("version", "unknown");
  }

  /** The source commit, e.g. {@code e09043e1a2b3-dirty}; "unknown" outside a git checkout. */
  public static String commit() {
    return PROPERTIES.getProperty("commit", "unknown");
  }

  private static Properties load() {
    Properties p = new Properties();
    try (InputStream in = BuildInfo.class.getResourceAsStream("/org/effiseg/build.properties")) {
      if (in != null) {
        p.load(in);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read org/effiseg/build.properties", e);
    }
    return p;
  }
}
