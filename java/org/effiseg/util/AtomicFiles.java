package org.effiseg.util;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes a file so that a crash at any moment leaves either the old file or the complete new
 * one: write a temporary file {@code .NAME.DIGITS.tmp} in the same folder, fsync it, rename it
 * over the target, fsync the folder. A process killed before the rename leaves the temporary
 * behind; {@link #removeStaleTemporaries} clears those on the next start.
 *
 * <p>Each step is a {@link FaultPoints} point {@code NAME/STAGE}: {@code created} (empty
 * temporary exists), {@code written} (content handed to the OS, not yet on disk), {@code synced}
 * (temporary on disk), {@code renamed} (target replaced, folder not yet synced), {@code done}.
 * Errors name the target file, never the temporary.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** Something that writes the file's content. */
  @FunctionalInterface
  public interface Content {
    void writeTo(OutputStream out) throws IOException;
  }

  public static void write(Path target, Content content) throws IOException {
    Path dir = target.toAbsolutePath().getParent();
    String name = target.getFileName().toString();
    Path tmp;
    try {
      Files.createDirectories(dir);
      tmp = Files.createTempFile(dir, "." + name + ".", ".tmp");
    } catch (IOException e) {
      throw failure(target, e);
    }
    try {
      // createTempFile makes the file private (0600); results are ordinary files.
      Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
    } catch (UnsupportedOperationException e) {
      // not a POSIX file system: keep its default
    }
    try {
      FaultPoints.reach(name + "/created");
      try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.WRITE);
          OutputStream out = new BufferedOutputStream(Channels.newOutputStream(channel), 1 << 20)) {
        content.writeTo(out);
        out.flush();
        FaultPoints.reach(name + "/written");
        channel.force(true);
      }
      FaultPoints.reach(name + "/synced");
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
      FaultPoints.reach(name + "/renamed");
      syncDirectory(dir);
      FaultPoints.reach(name + "/done");
    } catch (IOException e) {
      throw failure(target, e);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  public static void writeString(Path target, String text) throws IOException {
    write(target, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
  }

  /** Whether {@code name} is a temporary this class makes ({@code .TARGET.DIGITS.tmp}). */
  public static boolean isTemporary(String name) {
    return TEMPORARY.matcher(name).matches();
  }

  private static final Pattern TEMPORARY = Pattern.compile("\\..+\\.\\d+\\.tmp");

  private static boolean isTemporaryOf(String name, String target) {
    String prefix = "." + target + ".";
    return name.startsWith(prefix) && name.endsWith(".tmp") && name.length() > prefix.length() + 4
        && name.substring(prefix.length(), name.length() - 4).chars().allMatch(Character::isDigit);
  }

  /**
   * Deletes the temporaries a killed writer left in {@code dir} for any of {@code targets}
   * (file names; null: for any file); returns the names deleted. Only call it where no other
   * process writes.
   */
  public static List<String> removeStaleTemporaries(Path dir, Collection<String> targets)
      throws IOException {
    List<String> removed = new ArrayList<>();
    try (Stream<Path> entries = Files.list(dir)) {
      for (Path entry : entries.toList()) {
        String name = entry.getFileName().toString();
        if (isTemporary(name)
            && (targets == null || targets.stream().anyMatch(t -> isTemporaryOf(name, t)))) {
          Files.deleteIfExists(entry);
          removed.add(name);
        }
      }
    }
    if (!removed.isEmpty()) {
      syncDirectory(dir);
    }
    return removed;
  }

  /** Makes renames and deletions in {@code dir} durable (where the file system allows it). */
  public static void syncDirectory(Path dir) {
    try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException ignored) {
      // Some filesystems cannot open a directory for fsync; the rename itself is still atomic.
    }
  }

  private static IOException failure(Path target, IOException e) {
    return new IOException("cannot write " + target + ": " + reason(e), e);
  }

  /** Why an I/O operation failed, without the (temporary) path the JDK puts in its messages. */
  static String reason(IOException e) {
    if (e instanceof NoSuchFileException) {
      return "no such folder";
    }
    if (e instanceof AccessDeniedException) {
      return "permission denied";
    }
    if (e instanceof java.nio.file.FileAlreadyExistsException exists) {
      // createDirectories met a file where a folder of the path belongs
      return exists.getFile() + " is a file, not a folder";
    }
    if (e instanceof FileSystemException fs && fs.getReason() != null) {
      return fs.getReason();
    }
    String message = e.getMessage();
    return message == null || message.isBlank() ? e.getClass().getSimpleName() : message;
  }
}
