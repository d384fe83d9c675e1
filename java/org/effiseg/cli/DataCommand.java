package org.effiseg.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code effiseg data}: dataset tools; {@code effiseg data prepare} is the one there is. */
@Command(
    name = "data",
    description = "Dataset tools: 'data prepare' turns a published dataset into the layout effiseg reads.",
    subcommands = {DataPrepareCommand.class})
final class DataCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(), "missing subcommand (try: effiseg data prepare --help)");
  }
}
