package org.effiseg.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.effiseg.export.OnnxExport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code effiseg export}: a checkpoint as an ONNX model (docs/deploy.md). */
@Command(
    name = "export",
    sortOptions = false,
    description = {
      "Export a checkpoint's EffiSegNet as an ONNX model for inference (ONNX Runtime, TensorRT, OpenVINO, ...).",
      "Input 'image' float32 [N,3,H,W]: RGB in [0,1] normalised with the ImageNet mean and std as effiseg does;"
          + " output 'logits' float32 [N,1,H,W]. Batch norm folded, deep-supervision heads left out, standard"
          + " ops only; the file's metadata says what it expects (docs/deploy.md)."
    })
final class ExportCommand implements Callable<Integer> {
  @Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A checkpoint from effiseg train.")
  Path checkpoint;

  @Option(names = "--out", required = true, paramLabel = "FILE", description = "The .onnx file to write (replaced atomically if it exists).")
  Path out;

  @Option(names = "--image-size", defaultValue = "0", paramLabel = "N",
      description = "Square input size (default: the size the checkpoint was trained at).")
  int imageSize;

  @Option(names = "--batch", defaultValue = "dynamic", paramLabel = "N|dynamic",
      description = "A fixed batch size, or dynamic (default: ${DEFAULT-VALUE}).")
  String batch;

  @Option(names = "--opset", defaultValue = "" + OnnxExport.DEFAULT_OPSET,
      description = "ONNX opset, " + OnnxExport.MIN_OPSET + " to " + OnnxExport.MAX_OPSET + " (default: ${DEFAULT-VALUE}).")
  int opset;

  @Override
  public Integer call() throws IOException {
    OnnxExport.Options options = new OnnxExport.Options(imageSize, parseBatch(batch), opset);
    OnnxExport.Result r = OnnxExport.export(checkpoint, out, options);
    System.out.printf(Locale.ROOT, "wrote %s (%.1f MB)%n%s%n", r.file(), r.bytes() / 1e6, r.contract().describe());
    return 0;
  }

  private int parseBatch(String text) {
    if (text.equalsIgnoreCase("dynamic")) {
      return 0;
    }
    try {
      int n = Integer.parseInt(text);
      if (n >= 1) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new CommandLine.ParameterException(spec.commandLine(), "--batch " + text + ": a batch size of at least 1, or dynamic");
  }
}
