package org.effiseg.build;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The dynamic section of a 64-bit little-endian ELF file (x86-64 Linux shared libraries and
 * executables): the libraries it needs (DT_NEEDED) and its soname, read the way
 * the dynamic loader reads them, from the PT_DYNAMIC segment and the string table it points to.
 * Section headers are not used, so stripped files read the same. Plain Java, so the check does
 * not depend on binutils or on what the build machine has installed.
 */
record ElfDynamicSection(List<String> needed, Optional<String> soname) {
  private static final int PT_LOAD = 1;
  private static final int PT_DYNAMIC = 2;
  private static final long DT_NULL = 0;
  private static final long DT_NEEDED = 1;
  private static final long DT_STRTAB = 5;
  private static final long DT_SONAME = 14;

  /** Whether these bytes start like an ELF file of any kind. */
  static boolean isElf(byte[] head) {
    return head.length >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F';
  }

  /**
   * Reads the dynamic section of {@code elf}; a file without one (statically linked) needs
   * nothing. {@code name} only labels errors.
   *
   * @throws MalformedElfException if the file is not a well-formed 64-bit little-endian ELF file
   */
  static ElfDynamicSection read(String name, byte[] elf) throws MalformedElfException {
    if (!isElf(elf) || elf.length < 64) {
      throw new MalformedElfException(name + ": not an ELF file");
    }
    if (elf[4] != 2 || elf[5] != 1) {
      throw new MalformedElfException(name + ": not a 64-bit little-endian ELF file (class "
          + elf[4] + ", data " + elf[5] + ")");
    }
    ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
    long phoff = b.getLong(0x20);
    int phentsize = Short.toUnsignedInt(b.getShort(0x36));
    int phnum = Short.toUnsignedInt(b.getShort(0x38));
    if (phnum > 0 && phentsize < 56) {
      throw new MalformedElfException(name + ": program header entries of " + phentsize + " bytes");
    }
    List<long[]> loads = new ArrayList<>(); // {vaddr, offset, filesz}
    long dynOffset = -1;
    long dynSize = 0;
    for (int i = 0; i < phnum; i++) {
      int at = checkedOffset(name, elf, phoff + (long) i * phentsize, 56, "program header " + i);
      int type = b.getInt(at);
      long offset = b.getLong(at + 8);
      long vaddr = b.getLong(at + 16);
      long filesz = b.getLong(at + 32);
      if (type == PT_LOAD) {
        loads.add(new long[] {vaddr, offset, filesz});
      } else if (type == PT_DYNAMIC) {
        dynOffset = offset;
        dynSize = filesz;
      }
    }
    if (dynOffset < 0) {
      return new ElfDynamicSection(List.of(), Optional.empty());
    }
    List<Long> neededAt = new ArrayList<>();
    long strtab = -1;
    long sonameAt = -1;
    for (long e = 0; e + 16 <= dynSize; e += 16) {
      int at = checkedOffset(name, elf, dynOffset + e, 16, "dynamic entry");
      long tag = b.getLong(at);
      long val = b.getLong(at + 8);
      if (tag == DT_NULL) {
        break;
      } else if (tag == DT_NEEDED) {
        neededAt.add(val);
      } else if (tag == DT_STRTAB) {
        strtab = val;
      } else if (tag == DT_SONAME) {
        sonameAt = val;
      }
    }
    if (strtab < 0) {
      throw new MalformedElfException(name + ": dynamic section without a string table");
    }
    long strtabOffset = fileOffset(name, loads, strtab);
    List<String> needed = new ArrayList<>();
    for (long at : neededAt) {
      needed.add(string(name, elf, strtabOffset + at));
    }
    return new ElfDynamicSection(
        List.copyOf(needed),
        sonameAt < 0 ? Optional.empty() : Optional.of(string(name, elf, strtabOffset + sonameAt)));
  }

  /** The file offset of a virtual address, through the PT_LOAD segment that maps it. */
  private static long fileOffset(String name, List<long[]> loads, long vaddr)
      throws MalformedElfException {
    for (long[] load : loads) {
      if (vaddr >= load[0] && vaddr < load[0] + load[2]) {
        return vaddr - load[0] + load[1];
      }
    }
    throw new MalformedElfException(
        name + ": string table address 0x" + Long.toHexString(vaddr) + " is in no loaded segment");
  }

  private static String string(String name, byte[] elf, long offset) throws MalformedElfException {
    int start = checkedOffset(name, elf, offset, 1, "string");
    int end = start;
    while (end < elf.length && elf[end] != 0) {
      end++;
    }
    if (end == elf.length) {
      throw new MalformedElfException(name + ": unterminated string at offset " + offset);
    }
    return new String(elf, start, end - start, StandardCharsets.UTF_8);
  }

  private static int checkedOffset(String name, byte[] elf, long offset, int size, String what)
      throws MalformedElfException {
    if (offset < 0 || offset > elf.length - (long) size) {
      throw new MalformedElfException(
          name + ": " + what + " at offset " + offset + " lies outside the file (" + elf.length + " bytes)");
    }
    return (int) offset;
  }

  /** A file that claims to be ELF but cannot be read as one. */
  static final class MalformedElfException extends Exception {
    MalformedElfException(String message) {
      super(message);
    }
  }
}
