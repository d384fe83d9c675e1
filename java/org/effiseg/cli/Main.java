package org.effiseg.cli;

import java.util.concurrent.Callable;
import org.effiseg.util.ParentWatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code effiseg} command line: {@code java -jar target/effiseg.jar <command> --help}.
 *
 * <p>Exit codes scripts can rely on: 0 success, 1 failure (bad input, a failed run; the
 * message goes to stderr), 2 usage error (unknown option, missing argument).
 */
@Command(
    name = "effiseg",
    // --help, --version and the version provider, inherited by every command
    scope = CommandLine.ScopeType.INHERIT,
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "EffiSegNet polyp segmentation: train, evaluate, predict.",
    subcommands = {
      CommandLine.HelpCommand.class,
      InfoCommand.class,
      TrainCommand.class,
      PredictCommand.class,
      ExportCommand.class,
      ModelCommand.class,
      ClassifyCommand.class,
      AugmentPreviewCommand.class,
      EvaluateCommand.class,
      BenchCommand.class,
      DataCommand.class,
      SweepCommand.class,
    })
public final class Main implements Callable<Integer> {
  /** Failure of the command itself (as opposed to a usage error). */
  public static final int EXIT_FAILURE = 1;
  /** A usage error: unknown option, missing argument or command. */
  public static final int EXIT_USAGE = 2;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  /** {@code effiseg} without a command is a usage error: the usage goes to stderr. */
  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return EXIT_USAGE;
  }

  /** Builds the command line with effiseg's error handling; tests call this directly. */
  public static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
    cli.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          commandLine.getErr().println(commandLine.getCommandSpec().qualifiedName() + ": " + describe(e));
          if (Boolean.getBoolean("effiseg.debug")) {
            e.printStackTrace(commandLine.getErr());
          }
          return EXIT_FAILURE;
        });
    return cli;
  }

  private static String describe(Throwable e) {
    String message = e.getMessage();
    if (e instanceof java.nio.file.NoSuchFileException) {
      return "no such file or folder: " + message;
    }
    if (e instanceof java.nio.file.AccessDeniedException) {
      return "permission denied: " + message;
    }
    return message == null || message.isBlank() ? e.toString() : message;
  }

  public static void main(String[] args) {
    ParentWatch.startIfAsked();
    System.exit(commandLine().execute(args));
  }
}
