package org.effiseg.nativeapi;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import java.io.IOException;
import java.lang.annotation.Annotation;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Parameter;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.junit.jupiter.api.Test;

/**
 * The C ABI (native/include/effiseg/effiseg.h) and its JavaCPP binding ({@link EffisegNative})
 * cannot drift: every {@code ES_API} function is bound with the same arity and compatible
 * parameter and return types, every binding names a declared function, and a JavaCPP
 * {@code @Cast} on a parameter spells the C type it stands for.
 */
class AbiBindingTest {
  static final Path HEADER = Path.of("native/include/effiseg/effiseg.h");

  /** One declared C function: name, return type, parameter types (normalised spelling). */
  record CFunction(String name, String returnType, List<String> parameterTypes) {}

  private static final Pattern DECLARATION =
      Pattern.compile("ES_API\\s+([^;(]*?)\\b(es_\\w+)\\s*\\(([^)]*)\\)\\s*;");

  static Map<String, CFunction> parseHeader(String header) {
    String code = header.replaceAll("/\\*.*?\\*/", " ").replaceAll("//[^\\n]*", " ");
    Map<String, CFunction> out = new TreeMap<>();
    Matcher m = DECLARATION.matcher(code);
    while (m.find()) {
      List<String> params = new ArrayList<>();
      String list = m.group(3).trim();
      if (!list.equals("void") && !list.isEmpty()) {
        for (String p : list.split(",")) {
          // drop the parameter's name: the last identifier
          params.add(normalise(p.trim().replaceAll("\\b\\w+$", "")));
        }
      }
      out.put(m.group(2), new CFunction(m.group(2), normalise(m.group(1)), params));
    }
    return out;
  }

  static String normalise(String cType) {
    return cType.replaceAll("\\s+", " ").replaceAll(" ?\\* ?", "*").trim();
  }

  /** The Java types a C type may be bound as. */
  private static final Map<String, Set<Class<?>>> JAVA_TYPES = Map.ofEntries(
      Map.entry("es_status", Set.of(int.class)),
      Map.entry("int", Set.of(int.class)),
      Map.entry("float", Set.of(float.class)),
      Map.entry("double", Set.of(double.class)),
      Map.entry("double*", Set.of(double[].class)),
      Map.entry("es_handle", Set.of(long.class)),
      Map.entry("int64_t", Set.of(long.class)),
      Map.entry("uint64_t", Set.of(long.class)),
      Map.entry("int*", Set.of(int[].class)),
      Map.entry("int64_t*", Set.of(long[].class)),
      Map.entry("const int64_t*", Set.of(long[].class)),
      Map.entry("es_handle*", Set.of(long[].class)),
      Map.entry("float*", Set.of(float[].class, FloatBuffer.class)),
      Map.entry("const float*", Set.of(float[].class, FloatBuffer.class)),
      Map.entry("char*", Set.of(byte[].class)),
      Map.entry("const char*", Set.of(BytePointer.class)),
      Map.entry("const char**", Set.of(PointerPointer.class)));

  static List<String> mismatches(Map<String, CFunction> declared, List<Method> bound) {
    List<String> problems = new ArrayList<>();
    Set<String> boundNames = new TreeSet<>();
    for (Method method : bound) {
      boundNames.add(method.getName());
      CFunction c = declared.get(method.getName());
      if (c == null) {
        problems.add(method.getName() + " is bound but not declared in " + HEADER);
        continue;
      }
      problems.addAll(signatureMismatches(c, method));
    }
    for (String name : declared.keySet()) {
      if (!boundNames.contains(name)) {
        problems.add(name + " is declared in " + HEADER + " but not bound in EffisegNative");
      }
    }
    return problems;
  }

  private static List<String> signatureMismatches(CFunction c, Method method) {
    List<String> problems = new ArrayList<>();
    String where = c.name() + " (" + method + ")";
    if (!accepts(c.returnType(), method.getReturnType(), method.getAnnotatedReturnType().getAnnotations(), method.getAnnotations())) {
      problems.add(where + ": returns " + c.returnType() + " in C, " + method.getReturnType().getSimpleName() + " in Java");
    }
    Parameter[] params = method.getParameters();
    if (params.length != c.parameterTypes().size()) {
      problems.add(where + ": " + c.parameterTypes().size() + " parameters in C, " + params.length + " in Java");
      return problems;
    }
    for (int i = 0; i < params.length; i++) {
      String cType = c.parameterTypes().get(i);
      if (!accepts(cType, params[i].getType(), params[i].getAnnotations(), new Annotation[0])) {
        problems.add(where + ": parameter " + (i + 1) + " is " + cType + " in C, "
            + params[i].getType().getSimpleName() + castOf(params[i].getAnnotations()) + " in Java");
      }
    }
    return problems;
  }

  private static boolean accepts(String cType, Class<?> javaType, Annotation[] annotations, Annotation[] more) {
    Set<Class<?>> allowed = JAVA_TYPES.get(cType);
    if (allowed == null || !allowed.contains(javaType)) {
      return false;
    }
    for (Annotation[] list : new Annotation[][] {annotations, more}) {
      for (Annotation a : list) {
        if (a instanceof Cast cast && !normalise(String.join(" ", cast.value())).equals(cType)) {
          return false;
        }
      }
    }
    return true;
  }

  private static String castOf(Annotation[] annotations) {
    for (Annotation a : annotations) {
      if (a instanceof Cast cast) {
        return " @Cast(\"" + String.join(" ", cast.value()) + "\")";
      }
    }
    return "";
  }

  static List<Method> nativeMethods() {
    List<Method> out = new ArrayList<>();
    for (Method m : EffisegNative.class.getDeclaredMethods()) {
      if (Modifier.isNative(m.getModifiers())) {
        out.add(m);
      }
    }
    return out;
  }

  @Test
  void everyDeclaredFunctionIsBoundWithAMatchingSignature() throws IOException {
    Map<String, CFunction> declared = parseHeader(Files.readString(HEADER));
    assertWithMessage("functions parsed from %s", HEADER).that(declared.size()).isAtLeast(40);
    assertThat(mismatches(declared, nativeMethods())).isEmpty();
  }

  @Test
  void aFunctionDeclaredButNotBoundIsReported() throws IOException {
    String header = Files.readString(HEADER)
        + "\nES_API es_status es_new_op(es_handle ctx, es_handle x, float alpha);\n";
    assertThat(mismatches(parseHeader(header), nativeMethods()))
        .containsExactly("es_new_op is declared in " + HEADER + " but not bound in EffisegNative");
  }

  @Test
  void aParameterOfAnotherTypeIsReported() throws IOException {
    String header = Files.readString(HEADER).replace(
        "es_axpby(es_handle ctx, float alpha,", "es_axpby(es_handle ctx, int64_t alpha,");
    List<String> problems = mismatches(parseHeader(header), nativeMethods());
    assertThat(problems).hasSize(1);
    assertThat(problems.get(0)).contains("es_axpby");
    assertThat(problems.get(0)).contains("parameter 2 is int64_t in C, float in Java");
  }
}
