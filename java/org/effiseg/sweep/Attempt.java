package org.effiseg.sweep;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.effiseg.util.AtomicFiles;

/**
 * The last attempt at a run ({@code logs/<run>.attempt.json}): written when it starts (exit code
 * null) and again when it ends. An attempt that never ended was killed with its sweep.
 *
 * @param how "train" (a fresh start) or "resume"
 * @param executor "local", or "slurm job J task I"
 * @param exitCode the {@code effiseg train} process's exit status; null while it runs or when the
 *     attempt was killed
 */
record Attempt(String how, String executor, String host, String started, String ended,
    Integer exitCode, Double seconds) {

  private static final Gson GSON = new GsonBuilder()
      .setPrettyPrinting()
      .serializeNulls()
      .setFieldNamingPolicy(com.google.gson.FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES)
      .create();

  boolean failed() {
    return exitCode != null && exitCode != 0;
  }

  void write(Path file) throws IOException {
    AtomicFiles.writeString(file, GSON.toJson(this) + "\n");
  }

  /** The attempt recorded in {@code file}, or null where there is none (or it is unreadable). */
  static Attempt read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      return null;
    }
    try {
      return GSON.fromJson(Files.readString(file), Attempt.class);
    } catch (JsonParseException e) {
      return null;
    }
  }
}
