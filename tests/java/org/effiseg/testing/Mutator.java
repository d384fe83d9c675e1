package org.effiseg.testing;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Seeded mutations of valid files for fuzzing parsers: byte-level damage (flips, overwrites with
 * boundary values, cuts, insertions, duplicated ranges) and, for text, token-level changes that
 * keep the syntax plausible (numbers swapped for extreme values, strings for hostile ones).
 */
public final class Mutator {
  private static final byte[] INTERESTING_BYTES = {0, 1, 0x7f, (byte) 0x80, (byte) 0xff};
  private static final List<String> INTERESTING_NUMBERS = List.of("0", "-1", "1", "255", "65536",
      "2147483647", "2147483648", "-2147483649", "9223372036854775807", "99999999999999999999",
      "1e309", "-1e309", "0.5", "NaN", "1e-320", "4294967296");
  private static final List<String> INTERESTING_STRINGS = List.of("", "../../../../etc/passwd",
      "/dev/zero", "x", "nul\u0000", "a/b", "..", "\u00e9\u6f22", "%s%n", "F32", "I64", "BOOL",
      "effiseg-checkpoint");
  private static final Pattern NUMBER = Pattern.compile("-?\\d+(\\.\\d+)?([eE][-+]?\\d+)?");
  private static final Pattern STRING = Pattern.compile("\"([^\"\\\\]|\\\\.)*\"");

  private final SplittableRandom random;

  public Mutator(long seed) {
    this.random = new SplittableRandom(seed);
  }

  public int nextInt(int bound) {
    return random.nextInt(bound);
  }

  /** One to four byte-level mutations of {@code original} (which is not changed). */
  public byte[] bytes(byte[] original) {
    byte[] b = original.clone();
    int mutations = 1 + random.nextInt(4);
    for (int m = 0; m < mutations && b.length > 0; m++) {
      int at = random.nextInt(b.length);
      switch (random.nextInt(7)) {
        case 0 -> b[at] ^= (byte) (1 << random.nextInt(8));
        case 1 -> b[at] = INTERESTING_BYTES[random.nextInt(INTERESTING_BYTES.length)];
        case 2 -> b = Arrays.copyOf(b, at); // cut short
        case 3 -> b = splice(b, at, 0, randomBytes(1 + random.nextInt(16)));
        case 4 -> b = splice(b, at, Math.min(b.length - at, 1 + random.nextInt(64)), new byte[0]);
        case 5 -> { // duplicate a range
          int len = Math.min(b.length - at, 1 + random.nextInt(256));
          b = splice(b, at, 0, Arrays.copyOfRange(b, at, at + len));
        }
        default -> { // a little-endian 32- or 64-bit boundary value
          long[] values = {0, -1, Integer.MAX_VALUE, 1L << 40, Long.MAX_VALUE, 100L << 20};
          long v = values[random.nextInt(values.length)];
          for (int i = 0; i < 8 && at + i < b.length; i++) {
            b[at + i] = (byte) (v >>> (8 * i));
          }
        }
      }
    }
    return b;
  }

  /** One to three token-level mutations of JSON or YAML text, sometimes byte damage too. */
  public String text(String original) {
    String t = original;
    int mutations = 1 + random.nextInt(3);
    for (int m = 0; m < mutations; m++) {
      switch (random.nextInt(5)) {
        case 0 -> t = replaceOne(t, NUMBER, INTERESTING_NUMBERS.get(random.nextInt(INTERESTING_NUMBERS.size())));
        case 1 -> t = replaceOne(t, STRING,
            "\"" + INTERESTING_STRINGS.get(random.nextInt(INTERESTING_STRINGS.size())) + "\"");
        case 2 -> { // a structural character removed or repeated
          int at = random.nextInt(Math.max(1, t.length()));
          t = random.nextBoolean() ? t.substring(0, at) + t.substring(Math.min(t.length(), at + 1))
              : t.substring(0, at) + "[[[[{{" + t.substring(at);
        }
        case 3 -> { // a value swapped for one of another type
          String[] values = {"[]", "{}", "null", "true", "[1, [2, [3]]]", "\"text\"", "-0"};
          t = replaceOne(t, NUMBER, values[random.nextInt(values.length)]);
        }
        default -> t = new String(bytes(t.getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8);
      }
    }
    return t;
  }

  private String replaceOne(String text, Pattern pattern, String replacement) {
    Matcher m = pattern.matcher(text);
    int count = 0;
    while (m.find()) {
      count++;
    }
    if (count == 0) {
      return text;
    }
    int target = random.nextInt(count);
    m.reset();
    for (int i = 0; m.find(); i++) {
      if (i == target) {
        return text.substring(0, m.start()) + replacement + text.substring(m.end());
      }
    }
    return text;
  }

  private byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) random.nextInt(256);
    }
    return b;
  }

  private static byte[] splice(byte[] b, int at, int remove, byte[] insert) {
    byte[] out = new byte[b.length - remove + insert.length];
    System.arraycopy(b, 0, out, 0, at);
    System.arraycopy(insert, 0, out, at, insert.length);
    System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
    return out;
  }
}
