package org.effiseg.util;

import java.io.IOException;
import java.net.InetAddress;

/** This machine's name, for records of where something ran. */
public final class HostName {
  private HostName() {}

  /** The host name, or "unknown" where it cannot be had. */
  public static String get() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "unknown";
    }
  }
}
