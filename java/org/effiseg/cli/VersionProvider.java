package org.effiseg.cli;

import picocli.CommandLine;

/** Reports the jar's version (from the manifest when packaged). */
final class VersionProvider implements CommandLine.IVersionProvider {
  @Override
  public String[] getVersion() {
    String v = Main.class.getPackage().getImplementationVersion();
    return new String[] {"effiseg " + (v == null ? "(development build)" : v)};
  }
}
