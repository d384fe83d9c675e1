package org.effiseg.build;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Would every native file of the build load on a fresh machine? Each ELF file found under the
 * given roots (jars, folders or files) must find each library it needs (DT_NEEDED) among those
 * same files (what effiseg ships or builds), in the base system every Linux machine of ours has
 * (glibc, libstdc++, libgcc_s, libgomp), or — for CUDA's driver, runtime, cuDNN and cuBLAS —
 * on the GPU host. Anything else, such as libgfortran.so.5 needed by libopenblas.so.0 but not
 * shipped beside it, is named with the file that needs it.
 *
 * <p>The verdict depends only on the files, never on what this machine has installed, so a
 * build machine with extra packages cannot hide a gap. Maven runs it on target/effiseg.jar and
 * the kernel benchmark in the package phase (pom.xml); NativeDependencyCheckTest runs it on the
 * build's outputs and on a library made to need something nobody ships.
 *
 * <p>Usage: {@code NativeDependencyCheck [--expect NAME]... ROOT...}; exit 0 when everything
 * resolves, 1 with one line per unresolved library otherwise (or when an expected file is not
 * among the roots), 2 on a usage error.
 */
public final class NativeDependencyCheck {
  /** glibc's libraries and the GCC runtime that every machine of ours has (Debian's base). */
  static final Set<String> BASE_SYSTEM = Set.of(
      "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libresolv.so.2",
      "libutil.so.1", "libmvec.so.1", "ld-linux-x86-64.so.2",
      "libstdc++.so.6", "libgcc_s.so.1", "libgomp.so.1");

  /** The GPU host's: the driver (libcuda), the CUDA runtime, cuDNN and cuBLAS. */
  private static final Pattern GPU_HOST =
      Pattern.compile("lib(cuda|cudart|cudnn(_[a-z_0-9]+)?|cublas|cublasLt)\\.so(\\.[0-9]+)*");

  /** One native file: where it was found, and its dynamic section. */
  record NativeFile(String location, String fileName, ElfDynamicSection dynamic) {}

  private NativeDependencyCheck() {}

  static boolean fromGpuHost(String library) {
    return GPU_HOST.matcher(library).matches();
  }

  /** Every ELF file under the roots: jar entries, files in folders (recursively), plain files. */
  static List<NativeFile> collect(List<Path> roots) throws IOException {
    List<NativeFile> files = new ArrayList<>();
    for (Path root : roots) {
      if (Files.isDirectory(root)) {
        try (Stream<Path> walk = Files.walk(root)) {
          for (Path p : (Iterable<Path>) walk.filter(Files::isRegularFile).sorted()::iterator) {
            addIfElf(files, p.toString(), p.getFileName().toString(), Files.readAllBytes(p));
          }
        }
      } else if (root.getFileName().toString().endsWith(".jar")) {
        try (ZipFile jar = new ZipFile(root.toFile())) {
          Enumeration<? extends ZipEntry> entries = jar.entries();
          while (entries.hasMoreElements()) {
            ZipEntry e = entries.nextElement();
            if (e.isDirectory() || e.getName().endsWith(".class")) {
              continue;
            }
            try (InputStream in = jar.getInputStream(e)) {
              String fileName = e.getName().substring(e.getName().lastIndexOf('/') + 1);
              addIfElf(files, root + "!/" + e.getName(), fileName, in.readAllBytes());
            }
          }
        }
      } else if (Files.isRegularFile(root)) {
        addIfElf(files, root.toString(), root.getFileName().toString(), Files.readAllBytes(root));
      } else {
        throw new IOException(root + ": no such file or folder");
      }
    }
    return files;
  }

  private static void addIfElf(List<NativeFile> files, String location, String fileName, byte[] bytes)
      throws IOException {
    if (!ElfDynamicSection.isElf(bytes)) {
      return;
    }
    try {
      files.add(new NativeFile(location, fileName, ElfDynamicSection.read(location, bytes)));
    } catch (ElfDynamicSection.MalformedElfException e) {
      throw new IOException(e.getMessage(), e);
    }
  }

  /**
   * One line per library that a file needs and nothing provides, naming both; empty when every
   * need resolves. A need is met by any of the files (by file name or soname), as effiseg's
   * jar ships its libraries together and loads them itself (EffisegNative).
   */
  static List<String> unresolved(List<NativeFile> files) {
    Set<String> provided = new LinkedHashSet<>();
    for (NativeFile f : files) {
      provided.add(f.fileName());
      f.dynamic().soname().ifPresent(provided::add);
    }
    List<String> problems = new ArrayList<>();
    for (NativeFile f : files) {
      for (String lib : f.dynamic().needed()) {
        if (!provided.contains(lib) && !BASE_SYSTEM.contains(lib) && !fromGpuHost(lib)) {
          problems.add(f.location() + " needs " + lib + ", which effiseg does not ship and a base"
              + " system does not have (it has glibc, libstdc++, libgcc_s, libgomp)");
        }
      }
    }
    return problems;
  }

  public static void main(String[] args) {
    List<String> expected = new ArrayList<>();
    List<Path> roots = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--expect") && i + 1 < args.length) {
        expected.add(args[++i]);
      } else if (args[i].startsWith("-")) {
        System.err.println("native dependency check: unknown option " + args[i]
            + " (usage: NativeDependencyCheck [--expect NAME]... ROOT...)");
        System.exit(2);
      } else {
        roots.add(Path.of(args[i]));
      }
    }
    if (roots.isEmpty()) {
      System.err.println("native dependency check: no jar or folder to check "
          + "(usage: NativeDependencyCheck [--expect NAME]... ROOT...)");
      System.exit(2);
    }
    List<NativeFile> files;
    try {
      files = collect(roots);
    } catch (IOException e) {
      System.err.println("native dependency check: " + e.getMessage());
      System.exit(1);
      return;
    }
    List<String> problems = new ArrayList<>(unresolved(files));
    for (String name : expected) {
      if (files.stream().noneMatch(f -> f.fileName().equals(name))) {
        problems.add(name + " is not among the native files of " + roots);
      }
    }
    if (!problems.isEmpty()) {
      problems.forEach(p -> System.err.println("native dependency check: " + p));
      System.exit(1);
    }
    System.out.println("native dependency check: every library that the " + files.size()
        + " native files of " + roots + " need is shipped with them, part of the base system "
        + "or the GPU host's");
  }
}
