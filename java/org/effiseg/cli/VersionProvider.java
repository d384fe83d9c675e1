package org.effiseg.cli;

import org.effiseg.util.BuildInfo;
import picocli.CommandLine;

/** Reports the build's version and source commit. */
final class VersionProvider implements CommandLine.IVersionProvider {
  @Override
  public String[] getVersion() {
    return new String[] {"effiseg " + BuildInfo.version() + " (commit " + BuildInfo.commit() + ")"};
  }
}
