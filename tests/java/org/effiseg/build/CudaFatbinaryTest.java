package org.effiseg.build;

import static com.google.common.truth.Truth.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which GPUs the CUDA backend this build made has code for (cuda/, CMakeLists.txt). */
class CudaFatbinaryTest {
  @Test
  void cudaBackendHasSassForEveryArchitectureOfCuda13AndPtxOfTheNewest() throws Exception {
    Path library = Path.of(System.getProperty("effiseg.native.dir"), "libeffiseg_cuda.so");
    Assumptions.assumeTrue(Files.isRegularFile(library), () -> library + " was not built here (it"
        + " needs nvcc, cuDNN and cuBLAS: .ci/run builds it wherever nvcc is installed)");

    CudaFatbinary code = CudaFatbinary.ofElf(library.toString(), Files.readAllBytes(library));

    assertThat(code.names()).containsExactly(
        "sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120", "compute_120").inOrder();
  }

  @Test
  void readsWhatNvccWrites(@TempDir Path dir) throws Exception {
    String nvcc = Stream.of(System.getenv("PATH").split(":"))
        .map(p -> Path.of(p, "nvcc")).filter(Files::isExecutable).map(Path::toString).findFirst()
        .orElse(Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc")) ? "/usr/local/cuda/bin/nvcc" : null);
    Assumptions.assumeTrue(nvcc != null, "no nvcc on PATH or in /usr/local/cuda/bin");
    Files.writeString(dir.resolve("k.cu"), "__global__ void k(float* x) { x[threadIdx.x] = 1.0f; }\n");
    Process p = new ProcessBuilder(nvcc, "-fatbin", "-o", "k.fatbin",
            "-gencode", "arch=compute_75,code=sm_75", "-gencode", "arch=compute_89,code=sm_89",
            "-gencode", "arch=compute_120,code=compute_120", "k.cu")
        .directory(dir.toFile()).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
    assertThat(output).isEmpty();
    byte[] fatbin = Files.readAllBytes(dir.resolve("k.fatbin"));

    CudaFatbinary code = CudaFatbinary.ofContainers("k.fatbin", fatbin, 0, fatbin.length);

    assertThat(code.names()).containsExactly("sm_75", "sm_89", "compute_120").inOrder();
  }
}
