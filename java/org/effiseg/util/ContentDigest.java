package org.effiseg.util;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * A SHA-256 over named files: each file adds its name, its length and its bytes, in the order
 * added, so the digest changes when a file is added, removed, renamed, reordered or edited.
 */
public final class ContentDigest {
  private final MessageDigest sha256;
  private final byte[] buffer = new byte[1 << 16];

  public ContentDigest() {
    try {
      sha256 = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this Java has no SHA-256", e); // every Java SE has it
    }
  }

  /** Adds {@code file} under {@code name} (a name independent of where the files lie). */
  public ContentDigest add(String name, Path file) throws IOException {
    byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
    sha256.update(ByteBuffer.allocate(4).putInt(nameBytes.length).array());
    sha256.update(nameBytes);
    sha256.update(ByteBuffer.allocate(8).putLong(Files.size(file)).array());
    try (InputStream in = Files.newInputStream(file)) {
      for (int n; (n = in.read(buffer)) > 0; ) {
        sha256.update(buffer, 0, n);
      }
    }
    return this;
  }

  /** The digest as 64 hex digits. */
  public String hex() {
    return HexFormat.of().formatHex(sha256.digest());
  }

  /** The digest of one file, or of every regular file under a folder by relative path. */
  public static String of(Path fileOrFolder) throws IOException {
    ContentDigest digest = new ContentDigest();
    if (!Files.isDirectory(fileOrFolder)) {
      return digest.add(fileOrFolder.getFileName().toString(), fileOrFolder).hex();
    }
    List<Path> files;
    try (Stream<Path> walk = Files.walk(fileOrFolder)) {
      files = walk.filter(Files::isRegularFile).sorted().toList();
    }
    for (Path f : files) {
      digest.add(fileOrFolder.relativize(f).toString(), f);
    }
    return digest.hex();
  }
}
