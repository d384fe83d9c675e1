package org.effiseg.weights;

import static com.google.common.truth.Truth.assertThat;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.effiseg.cli.Main;
import org.junit.jupiter.api.Test;

/** The end-to-end check: the shared B0 labels car.jpg and panda.jpg correctly. */
class ClassifyCommandTest {
  @Test
  void classifiesTheSamplePhotosWithTheSharedB0() {
    String car = TfjsImporterTest.B0.resolve("car.jpg").toString();
    String panda = TfjsImporterTest.B0.resolve("panda.jpg").toString();
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    PrintStream old = System.out;
    int rc;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      rc = Main.commandLine().execute("classify", "--weights", TfjsImporterTest.B0.toString(),
          "--json", car, panda);
    } finally {
      System.setOut(old);
    }
    String out = buf.toString(StandardCharsets.UTF_8);
    System.out.print(out);
    assertThat(rc).isEqualTo(0);
    String[] lines = out.strip().split("\n");
    assertThat(lines).hasLength(2);
    assertThat(lines[0]).startsWith("{\"image\": \"" + car + "\", \"top5\": [{\"index\": 817, "
        + "\"label\": \"sports car\", \"probability\": 0.");
    JsonObject first = JsonParser.parseString(lines[0]).getAsJsonObject();
    JsonObject second = JsonParser.parseString(lines[1]).getAsJsonObject();
    assertThat(first.getAsJsonArray("top5")).hasSize(5);
    JsonObject pandaTop = second.getAsJsonArray("top5").get(0).getAsJsonObject();
    assertThat(pandaTop.get("label").getAsString()).isEqualTo("giant panda");
    assertThat(pandaTop.get("index").getAsInt()).isEqualTo(388);
    assertThat(pandaTop.get("probability").getAsDouble()).isGreaterThan(0.5);
    assertThat(first.getAsJsonArray("top5").get(0).getAsJsonObject().get("probability")
        .getAsDouble()).isGreaterThan(0.5);
  }
}
