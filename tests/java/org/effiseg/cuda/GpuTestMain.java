package org.effiseg.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import org.effiseg.nativeapi.Backend;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs JUnit tests from prebuilt classes, for machines without Maven (the GPU machine of
 * scripts/gpu-check.sh). Arguments: fully qualified class names, and/or {@code tag:NAME} to run
 * every test of package org.effiseg carrying that tag. Prints one line per test (PASS, FAIL with
 * the message, SKIP with the reason) and JUnit's summary. Exits 0 only if tests ran, none failed
 * and at least one passed: a run where the CUDA backend did not load skips every test, and that
 * is a failed GPU check, not a green one. Without {@code -Deffiseg.cuda.selftest=true} (where a
 * CPU context plays the GPU) an unavailable CUDA backend fails at once with its reason.
 */
public final class GpuTestMain {
  private GpuTestMain() {}

  public static void main(String[] args) {
    // Load the native library before any test asks Backend.unavailableReason() (which needs it
    // loaded already), and show which build runs.
    System.out.println("effiseg native " + org.effiseg.nativeapi.NativeMemory.version());
    String cudaMissing = Backend.CUDA.unavailableReason();
    if (cudaMissing != null && !CudaUnderTest.selfTest()) {
      System.out.println("FAIL the CUDA backend is unavailable, so no GPU test can run: " + cudaMissing);
      System.exit(1);
    }
    List<DiscoverySelector> selectors = new ArrayList<>();
    List<String> tags = new ArrayList<>();
    for (String a : args) {
      if (a.startsWith("tag:")) {
        tags.add(a.substring(4));
      } else {
        selectors.add(selectClass(a));
      }
    }
    if (selectors.isEmpty()) {
      selectors.add(selectPackage("org.effiseg"));
    }
    LauncherDiscoveryRequestBuilder builder = LauncherDiscoveryRequestBuilder.request().selectors(selectors);
    if (!tags.isEmpty()) {
      builder.filters(TagFilter.includeTags(tags));
    }
    LauncherDiscoveryRequest request = builder.build();

    TestExecutionListener printer =
        new TestExecutionListener() {
          @Override
          public void executionSkipped(TestIdentifier id, String reason) {
            System.out.println("SKIP " + id.getDisplayName() + " [" + id.getUniqueId() + "]: " + reason);
          }

          @Override
          public void executionFinished(TestIdentifier id, TestExecutionResult result) {
            if (!id.isTest() && result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
              return;
            }
            String name = id.getDisplayName() + " [" + id.getUniqueId() + "]";
            switch (result.getStatus()) {
              case SUCCESSFUL -> System.out.println("PASS " + name);
              case ABORTED -> System.out.println(
                  "SKIP " + name + ": " + result.getThrowable().map(Throwable::getMessage).orElse(""));
              case FAILED -> {
                System.out.println("FAIL " + name);
                result.getThrowable().ifPresent(t -> t.printStackTrace(System.out));
              }
            }
            System.out.flush();
          }
        };
    SummaryGeneratingListener summary = new SummaryGeneratingListener();
    Launcher launcher = LauncherFactory.create();
    launcher.execute(request, printer, summary);
    TestExecutionSummary s = summary.getSummary();
    s.printTo(new PrintWriter(System.out, true));
    if (s.getTestsSucceededCount() == 0) {
      System.out.println("FAIL no test passed (" + s.getTestsFoundCount() + " found, "
          + s.getTestsAbortedCount() + " aborted, " + s.getTestsSkippedCount() + " skipped)");
    }
    boolean ok = s.getTestsSucceededCount() > 0 && s.getTotalFailureCount() == 0;
    System.exit(ok ? 0 : 1);
  }
}
