package org.effiseg.build;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.effiseg.build.NativeDependencyCheck.NativeFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The native dependency check on this build's own files, and on libraries compiled here to need
 * a library that nobody ships (the class of bug where libopenblas.so.0's libgfortran.so.5 was
 * found only because the build machine had it installed).
 */
class NativeDependencyCheckTest {
  /** Folders the build fills (pom.xml passes them): what the jar ships, and what CMake builds. */
  private static Path buildFolder(String property) {
    String value = System.getProperty(property);
    assertThat(value).isNotNull();
    return Path.of(value);
  }

  @Test
  void everyNativeFileOfTheBuildResolves() throws IOException {
    List<Path> roots = new ArrayList<>(List.of(
        buildFolder("effiseg.native.dir"), buildFolder("effiseg.openblas.dir"),
        buildFolder("effiseg.cmake.dir").resolve("bin")));
    Path emulator = buildFolder("effiseg.cuda.emu.dir");
    if (Files.isDirectory(emulator)) {
      roots.add(emulator); // test-only, but built by the project all the same
    }
    List<NativeFile> files = NativeDependencyCheck.collect(roots);

    assertThat(files.stream().map(NativeFile::fileName).toList()).containsAtLeast(
        "libeffiseg.so", "libjniEffisegNative.so", "effiseg_kernel_bench",
        "libopenblas.so.0", "libgfortran.so.5", "libquadmath.so.0");
    assertThat(NativeDependencyCheck.unresolved(files)).isEmpty();
  }

  @Test
  void openBlasAloneLacksItsFortranRuntime() throws IOException {
    Path openblas = buildFolder("effiseg.openblas.dir").resolve("libopenblas.so.0");
    List<String> problems = NativeDependencyCheck.unresolved(NativeDependencyCheck.collect(List.of(openblas)));

    assertThat(problems).containsExactly(openblas + " needs libgfortran.so.5, which effiseg does not"
        + " ship and a base system does not have (it has glibc, libstdc++, libgcc_s, libgomp)");
  }

  @Test
  void libraryNeedingAnUnshippedLibraryFailsNamingBoth(@TempDir Path dir) throws Exception {
    // libthrowaway (soname libeffiseg_throwaway.so.1) exists only while linking libuses.so
    Files.writeString(dir.resolve("throwaway.c"), "int throwaway(void) { return 7; }\n");
    Files.writeString(dir.resolve("uses.c"), "int throwaway(void);\nint uses(void) { return throwaway(); }\n");
    Path link = dir.resolve("link");
    Files.createDirectory(link);
    run(dir, "gcc", "-shared", "-fPIC", "-o", "link/libthrowaway.so",
        "-Wl,-soname,libeffiseg_throwaway.so.1", "throwaway.c");
    Path uses = dir.resolve("out").resolve("libuses.so");
    Files.createDirectory(uses.getParent());
    run(dir, "gcc", "-shared", "-fPIC", "-o", "out/libuses.so", "uses.c", "-Llink", "-lthrowaway");

    List<NativeFile> alone = NativeDependencyCheck.collect(List.of(uses.getParent()));
    assertThat(alone.get(0).dynamic().needed()).contains("libeffiseg_throwaway.so.1");
    assertThat(NativeDependencyCheck.unresolved(alone)).containsExactly(uses + " needs"
        + " libeffiseg_throwaway.so.1, which effiseg does not ship and a base system does not have"
        + " (it has glibc, libstdc++, libgcc_s, libgomp)");

    // shipped beside it, it resolves by its soname although the file is named otherwise
    List<NativeFile> together = NativeDependencyCheck.collect(List.of(uses.getParent(), link));
    assertThat(NativeDependencyCheck.unresolved(together)).isEmpty();

    // the command the build runs: exit 1, one line naming file and library
    Process p = new ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
            Path.of(NativeDependencyCheck.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .toString(),
            NativeDependencyCheck.class.getName(),
            uses.getParent().toString())
        .redirectErrorStream(true)
        .start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isEqualTo(1);
    assertThat(output).isEqualTo("native dependency check: " + uses
        + " needs libeffiseg_throwaway.so.1, which effiseg does not ship and a base system does"
        + " not have (it has glibc, libstdc++, libgcc_s, libgomp)\n");
  }

  @Test
  void gpuHostAndBaseSystemLibrariesAreNotTheProjectsToShip() {
    NativeFile cudaBackend = new NativeFile("libeffiseg_cuda.so", "libeffiseg_cuda.so",
        new ElfDynamicSection(List.of("libcudnn.so.9", "libcublas.so.13", "libcublasLt.so.13",
            "libcuda.so.1", "libcudart.so.13", "libcudnn_cnn.so.9", "libstdc++.so.6", "libgomp.so.1",
            "libc.so.6", "ld-linux-x86-64.so.2", "libnccl.so.2", "libgfortran.so.5"), Optional.empty()));

    assertThat(NativeDependencyCheck.unresolved(List.of(cudaBackend))).containsExactly(
        "libeffiseg_cuda.so needs libnccl.so.2, which effiseg does not ship and a base system does"
            + " not have (it has glibc, libstdc++, libgcc_s, libgomp)",
        "libeffiseg_cuda.so needs libgfortran.so.5, which effiseg does not ship and a base system"
            + " does not have (it has glibc, libstdc++, libgcc_s, libgomp)");
  }

  @Test
  void truncatedLibraryIsReportedByName(@TempDir Path dir) throws IOException {
    byte[] real = Files.readAllBytes(buildFolder("effiseg.native.dir").resolve("libeffiseg.so"));
    Path cut = dir.resolve("libcut.so");
    Files.write(cut, Arrays.copyOf(real, 4096)); // headers, not the dynamic section

    IOException e = assertThrows(IOException.class, () -> NativeDependencyCheck.collect(List.of(cut)));
    assertThat(e).hasMessageThat().startsWith(cut + ": ");
  }

  private static void run(Path dir, String... command) throws Exception {
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(output).isEmpty();
    assertThat(p.exitValue()).isEqualTo(0);
  }
}
