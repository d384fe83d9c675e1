package org.effiseg.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code effiseg} command line: {@code java -jar effiseg.jar <command> --help}. */
@Command(
    name = "effiseg",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "EffiSegNet polyp segmentation: train, evaluate, predict.",
    subcommands = {CommandLine.HelpCommand.class, AugmentPreviewCommand.class})
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** Builds the command line with effiseg's error handling; tests call this directly. */
  public static CommandLine commandLine() {
    return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
  }

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }
}
