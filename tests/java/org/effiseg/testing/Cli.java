package org.effiseg.testing;

import static com.google.common.truth.Truth.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.effiseg.cli.Main;
import picocli.CommandLine;

/** Runs the {@code effiseg} command line in this JVM, capturing everything it prints. */
public final class Cli {
  private Cli() {}

  /** Exit status, and all of stdout / stderr (picocli's writers and System.out/err). */
  public record Outcome(int exit, String out, String err) {
    /**
     * Asserts a failure a user can act on: the exit status, no stack trace, and exactly one
     * error line ({@code effiseg COMMAND: ...}) on stderr that contains each of {@code named}
     * (the file or flag at fault). Returns that line.
     */
    public String failsNaming(int status, String... named) {
      assertThat(exit).isEqualTo(status);
      assertThat(err + out).doesNotContain("\tat ");
      assertThat(err + out).doesNotContain("Exception in thread");
      List<String> errors = err.lines().filter(l -> l.startsWith("effiseg ")).toList();
      assertThat(errors).hasSize(1);
      for (String n : named) {
        assertThat(errors.get(0)).contains(n);
      }
      return errors.get(0);
    }
  }

  public static synchronized Outcome run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    PrintStream savedOut = System.out;
    PrintStream savedErr = System.err;
    ByteArrayOutputStream sysOut = new ByteArrayOutputStream();
    ByteArrayOutputStream sysErr = new ByteArrayOutputStream();
    System.setOut(new PrintStream(sysOut, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(sysErr, true, StandardCharsets.UTF_8));
    try {
      CommandLine cl = Main.commandLine();
      cl.setOut(new PrintWriter(out, true));
      cl.setErr(new PrintWriter(err, true));
      int exit = cl.execute(args);
      return new Outcome(exit, out + sysOut.toString(StandardCharsets.UTF_8),
          err + sysErr.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(savedOut);
      System.setErr(savedErr);
    }
  }
}
