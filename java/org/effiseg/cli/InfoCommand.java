package org.effiseg.cli;

import com.google.gson.GsonBuilder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.effiseg.nativeapi.Backend;
import org.effiseg.nativeapi.NativeMemory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code effiseg info}: versions, and which backends this machine can use (or exactly why not). */
@Command(
    name = "info",
    description = "Show versions and the available backends (and why one is unavailable).")
final class InfoCommand implements Callable<Integer> {
  @Option(names = "--json", description = "Print one JSON object instead of text.")
  boolean json;

  @Override
  public Integer call() {
    Map<String, Object> info = new LinkedHashMap<>();
    info.put("effiseg", new VersionProvider().getVersion()[0]);
    info.put("native_core", NativeMemory.version());
    info.put("java", System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")");
    info.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
    info.put("cpu_cores", Runtime.getRuntime().availableProcessors());
    List<Map<String, Object>> backends = new java.util.ArrayList<>();
    for (Backend b : Backend.values()) {
      Map<String, Object> entry = new LinkedHashMap<>();
      String reason = b.unavailableReason();
      entry.put("name", b.name().toLowerCase(java.util.Locale.ROOT));
      entry.put("available", reason == null);
      if (reason != null) {
        entry.put("reason", reason);
      } else {
        entry.put("devices", b.devices());
      }
      backends.add(entry);
    }
    info.put("backends", backends);
    if (json) {
      System.out.println(new GsonBuilder().disableHtmlEscaping().create().toJson(info));
      return 0;
    }
    info.forEach(
        (k, v) -> {
          if (!k.equals("backends")) {
            System.out.printf("%-12s %s%n", k, v);
          }
        });
    for (Map<String, Object> b : backends) {
      boolean ok = (Boolean) b.get("available");
      System.out.printf(
          "backend %-4s %s%n", b.get("name"), ok ? "available" : "unavailable: " + b.get("reason"));
      if (ok) {
        List<?> devices = (List<?>) b.get("devices");
        for (int d = 0; d < devices.size(); d++) {
          System.out.printf("  device %d   %s%n", d, devices.get(d));
        }
      }
    }
    return 0;
  }
}
