package org.effiseg.build;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.effiseg.build.ElfDynamicSection.MalformedElfException;

/**
 * The GPU code images in a CUDA fat binary: what `cuobjdump --list-elf --list-ptx` lists, read
 * in plain Java because cuobjdump is not part of the nvcc installation on our build machines.
 * A host library keeps its fat binary in the `.nv_fatbin` section: one or more containers (a
 * 16-byte header: magic 0xBA55ED50, version, header size, size of the entries), each a
 * sequence of entries whose header gives the kind (1 PTX, 2 ELF = SASS), the header and
 * payload sizes and the architecture (75 = sm_75 / compute_75). The layout is NVIDIA's,
 * undocumented but stable (read the same way by cuobjdump re-implementations); CudaFatbinaryTest
 * checks this reader against a fat binary that nvcc makes for known architectures.
 */
record CudaFatbinary(List<Image> images) {
  private static final int CONTAINER_MAGIC = 0xBA55ED50;
  private static final int KIND_PTX = 1;
  private static final int KIND_ELF = 2;

  /** One code image: SASS (ELF) for one architecture, or PTX for one virtual architecture. */
  record Image(boolean ptx, int arch) {
    @Override
    public String toString() {
      return (ptx ? "compute_" : "sm_") + arch;
    }
  }

  /** The images in the `.nv_fatbin` section of a host ELF file (none if it has no such section). */
  static CudaFatbinary ofElf(String name, byte[] elf) throws MalformedElfException {
    ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
    if (!ElfDynamicSection.isElf(elf) || elf.length < 64 || elf[4] != 2 || elf[5] != 1) {
      throw new MalformedElfException(name + ": not a 64-bit little-endian ELF file");
    }
    long shoff = b.getLong(0x28);
    int shentsize = Short.toUnsignedInt(b.getShort(0x3A));
    int shnum = Short.toUnsignedInt(b.getShort(0x3C));
    int shstrndx = Short.toUnsignedInt(b.getShort(0x3E));
    if (shnum == 0) {
      return new CudaFatbinary(List.of());
    }
    if (shentsize < 64 || shoff < 0 || shoff + (long) shnum * shentsize > elf.length || shstrndx >= shnum) {
      throw new MalformedElfException(name + ": section headers lie outside the file");
    }
    long names = b.getLong((int) (shoff + (long) shstrndx * shentsize) + 24);
    for (int i = 0; i < shnum; i++) {
      int at = (int) (shoff + (long) i * shentsize);
      long nameAt = names + Integer.toUnsignedLong(b.getInt(at));
      long offset = b.getLong(at + 24);
      long size = b.getLong(at + 32);
      if (sectionNameIs(elf, nameAt, ".nv_fatbin")) {
        if (offset < 0 || size < 0 || offset + size > elf.length) {
          throw new MalformedElfException(name + ": .nv_fatbin lies outside the file");
        }
        return ofContainers(name, elf, (int) offset, (int) size);
      }
    }
    return new CudaFatbinary(List.of());
  }

  /** The images in bytes [start, start + length) holding fat binary containers back to back. */
  static CudaFatbinary ofContainers(String name, byte[] bytes, int start, int length)
      throws MalformedElfException {
    ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    List<Image> images = new ArrayList<>();
    long end = (long) start + length;
    long container = start;
    while (container + 16 <= end) {
      if (b.getInt((int) container) != CONTAINER_MAGIC) {
        if (b.getLong((int) container) != 0) {
          throw new MalformedElfException(name + ": no fat binary container at " + container);
        }
        container += 8; // zeros that align the next container
        continue;
      }
      int headerSize = Short.toUnsignedInt(b.getShort((int) container + 6));
      long entriesEnd = container + headerSize + b.getLong((int) container + 8);
      if (headerSize < 16 || entriesEnd > end) {
        throw new MalformedElfException(name + ": fat binary container at " + container + " overruns its section");
      }
      for (long entry = container + headerSize; entry + 32 <= entriesEnd; ) {
        int kind = Short.toUnsignedInt(b.getShort((int) entry));
        long entryHeader = Integer.toUnsignedLong(b.getInt((int) entry + 4));
        long payload = b.getLong((int) entry + 8);
        int arch = b.getInt((int) entry + 28);
        if (entryHeader < 32 || payload < 0) {
          throw new MalformedElfException(name + ": fat binary entry at " + entry + " has sizes "
              + entryHeader + " + " + payload);
        }
        if (kind == KIND_PTX || kind == KIND_ELF) {
          images.add(new Image(kind == KIND_PTX, arch));
        }
        entry += entryHeader + payload;
      }
      container = entriesEnd;
    }
    return new CudaFatbinary(List.copyOf(images));
  }

  /** "sm_75", "sm_80", …, "compute_120": each distinct image, SASS first, by architecture. */
  List<String> names() {
    return images.stream().distinct()
        .sorted(Comparator.comparing(Image::ptx).thenComparingInt(Image::arch))
        .map(Image::toString).toList();
  }

  private static boolean sectionNameIs(byte[] elf, long at, String wanted) {
    byte[] w = wanted.getBytes(StandardCharsets.US_ASCII);
    if (at < 0 || at + w.length + 1 > elf.length) {
      return false;
    }
    for (int i = 0; i < w.length; i++) {
      if (elf[(int) at + i] != w[i]) {
        return false;
      }
    }
    return elf[(int) at + w.length] == 0;
  }
}
