#!/usr/bin/env bash
# gpu-bundle.sh — prepares, on a machine without a GPU, what scripts/gpu-check.sh needs on a
# bare GPU machine of the device tool (which may have neither Maven nor a JDK, and reaches
# no registry):
#   local/gpu-bundle/classes        target/classes: Java classes, libeffiseg.so, the JNI glue
#   local/gpu-bundle/test-classes   target/test-classes: the GPU suite and its runner
#   local/gpu-bundle/lib/*.jar      runtime + test dependencies, minus DJL/PyTorch, JMH, ONNX
#                                   Runtime (75 MB) and the ONNX export's protobuf classes
#                                   (the GPU suite's oracle is the CPU backend; gpu-check runs
#                                   its classes by name and never exports, so nothing loads
#                                   them) and annotation-only jars
#   local/gpu-bundle/COMMIT         the commit these were built from
#   local/gpu-jre.tar.gz            a jlink-ed Java runtime, used there only if it has no java
# Both are ignored by git (/local/); name them in the device tool's `carry`. Prints the sizes:
# together with the working tree they must stay under the tool's 64 MiB.
# Usage: scripts/gpu-bundle.sh [--no-package]   (--no-package: reuse target/ as it is)
set -euo pipefail
cd "$(dirname "$0")/.."

bundle=local/gpu-bundle
jre_tgz=local/gpu-jre.tar.gz
mvn_args=(-o -B -q -ntp)

if [ "${1:-}" != "--no-package" ]; then
  mvn "${mvn_args[@]}" -DskipTests package
fi
[ -d target/classes ] && [ -d target/test-classes ] || {
  echo "gpu-bundle: target/classes or target/test-classes missing: run without --no-package" >&2
  exit 1
}

rm -rf "$bundle"
mkdir -p "$bundle/lib"
cp -r target/classes "$bundle/classes"
cp -r target/test-classes "$bundle/test-classes"
mvn "${mvn_args[@]}" dependency:copy-dependencies -DincludeScope=test \
  -DoutputDirectory="$bundle/lib" \
  -DexcludeArtifactIds=api,pytorch-engine,pytorch-native-cpu,pytorch-jni,slf4j-api,jmh-core,jmh-generator-annprocess,commons-math3,jopt-simple,jna,commons-compress,commons-io,commons-codec,onnxruntime,protobuf-java,tribuo-util-onnx,checker-qual,j2objc-annotations,error_prone_annotations
git rev-parse --short HEAD >"$bundle/COMMIT" 2>/dev/null || echo unknown >"$bundle/COMMIT"
# effiseg loads libopenblas.so.0 itself; the presets' JNI bindings (48 MB) are dead weight here.
# gpu-check builds the CUDA backend against cblas.h and openblas_config.h from this jar: those
# stay; the LAPACK headers go.
zip -q -d "$bundle"/lib/openblas-*-linux-x86_64.jar 'org/bytedeco/openblas/linux-x86_64/libjniopenblas*' \
  'org/bytedeco/openblas/linux-x86_64/include/lapack*' 'org/bytedeco/openblas/linux-x86_64/include/f77blas.h' \
  'org/bytedeco/openblas/linux-x86_64/lib/*' >/dev/null

# JCuda observes device memory in the GPU suite through its runtime API alone; its driver, NVRTC
# and PTX-compiler bindings (24 MB of the natives jar) are not needed there.
zip -q -d "$bundle"/lib/jcuda-natives-*.jar 'lib/libJNvPTXCompiler*' 'lib/libJCudaDriver*' 'lib/libJNvrtc*' >/dev/null

# gpu-check builds libeffiseg_cuda.so on the GPU machine itself; this copy would only take room.
rm -f "$bundle"/classes/org/effiseg/nativeapi/*/libeffiseg_cuda.so
# Symbols only a debugger reads (the dynamic ones, which dlopen and JNI use, stay).
strip --strip-unneeded "$bundle"/classes/org/effiseg/nativeapi/*/*.so

# A slice of Kvasir-SEG for gpu-check's training step: the first 64 training and the first 64
# validation pairs (~3 MB; the whole train split would not fit the 64 MiB the tool carries).
kvasir=../shared/data/kvasir-seg
if [ -d "$kvasir/train/images" ]; then
  dst=$bundle/shared/data/kvasir-seg
  for part in images masks; do
    mkdir -p "$dst/train/$part" "$dst/validation/$part"
    for split in train validation; do
      ls "$kvasir/$split/$part" | sort -n | head -64 | while read -r f; do cp "$kvasir/$split/$part/$f" "$dst/$split/$part/"; done
    done
  done
  for split in train validation; do
    n_img=$(ls "$dst/$split/images" | wc -l)
    n_msk=$(ls "$dst/$split/masks" | wc -l)
    if [ "$n_img" -eq 0 ] || [ "$n_img" -ne "$n_msk" ]; then
      echo "gpu-bundle: the Kvasir slice is incomplete ($split: $n_img images, $n_msk masks)" >&2
      exit 1
    fi
  done
fi

# java.desktop: ImageIO and BufferedImage, which data loading needs (training, predict). Debian's
# OpenJDK links the system's libjpeg and Little CMS into its JPEG decoder and colour management
# (libjavajpeg.so, liblcms.so); the GPU machine has neither (its training step failed loading
# libjpeg.so.62, 2026-12-04), so both go into the runtime's lib/, which those two libraries
# search first ($ORIGIN).
jre_libs=(libjpeg.so.62 liblcms2.so.2)
if [ ! -f "$jre_tgz" ] || ! tar -xzOf "$jre_tgz" jre/release | grep -q java.desktop ||
  ! tar -tzf "$jre_tgz" | grep -q "jre/lib/${jre_libs[0]}$"; then
  jlink=${JAVA_HOME:+$JAVA_HOME/bin/}jlink
  tmp=$(mktemp -d)
  "$jlink" --add-modules java.base,java.desktop,java.logging,java.management,java.xml,jdk.unsupported \
    --strip-debug --no-header-files --no-man-pages --compress=2 --output "$tmp/jre"
  for lib in "${jre_libs[@]}"; do
    for needer in libjavajpeg.so liblcms.so; do
      path=$(ldd "$tmp/jre/lib/$needer" | awk -v l="$lib" '$1 == l {print $3}')
      [ -n "$path" ] && cp -L "$path" "$tmp/jre/lib/$lib"
    done
    [ -f "$tmp/jre/lib/$lib" ] || { echo "gpu-bundle: $lib not found for the runtime" >&2; exit 1; }
  done
  tar -C "$tmp" -czf "$jre_tgz" jre
  rm -rf "$tmp"
fi

du -sh "$bundle" "$jre_tgz"
carried_kib=$(du -sk "$bundle" "$jre_tgz" | awk '{s += $1} END {print s}')
tree_kib=$(git ls-files -co --exclude-standard -z | du -ck --files0-from=- | tail -n 1 | cut -f1)
total_kib=$((carried_kib + tree_kib))
echo "gpu-bundle: ${carried_kib} KiB carried + ${tree_kib} KiB working tree = ${total_kib} KiB of the 65536 KiB the device tool takes"
if [ "$total_kib" -gt 65536 ]; then
  echo "gpu-bundle: too large for the device tool" >&2
  exit 1
fi
