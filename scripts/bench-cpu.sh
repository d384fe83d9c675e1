#!/usr/bin/env bash
# CPU benchmarks against PyTorch (DJL, same process, same machine, same run): the heaviest ops
# (convolutions, batch norm + swish, the fused loss) and the whole EffiSegNet-B0 (inference
# batch 1 and 8, one training step); and inference against ONNX Runtime running effiseg's ONNX
# export of the same weights (B0 224 batch 1 and 8, B4 380 batch 1). Writes each benchmark's table to OUT_DIR (default
# target/bench) and prints them. Quiet machines give meaningful numbers: the script refuses to
# start while the 1-minute load average is above 1 unless FORCE=1.
#   scripts/bench-cpu.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/bench}
mkdir -p "$out"
load=$(cut -d' ' -f1 /proc/loadavg)
if [[ "${FORCE:-0}" != 1 ]] && awk -v l="$load" 'BEGIN { exit !(l > 1.0) }'; then
  echo "bench-cpu: load average $load > 1: other work would distort the timings (FORCE=1 to run anyway)" >&2
  exit 1
fi
mvn -B -q -DskipTests test-compile
mvn -B -q dependency:build-classpath -Dmdep.outputFile=target/test.cp -Dmdep.includeScope=test
cp="target/classes:target/test-classes:$(cat target/test.cp)"
# Same allocator settings for both peers: glibc returning big blocks to the OS every iteration
# would otherwise charge page faults to whichever side allocates per call (see TOOLCHAIN notes).
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
jvm=(java --enable-native-access=ALL-UNNAMED -Xmx8g -DPYTORCH_VERSION=2.7.1 -DPYTORCH_FLAVOR=cpu
     -Dai.djl.offline=true -DENGINE_CACHE_DIR=target/djl-cache -DDJL_CACHE_DIR=target/djl-cache -cp "$cp")
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%Y-%m-%dT%H:%MZ); load before: $load"
} | tee "$out/machine.txt"
run() {
  local name=$1; shift
  echo "== $name"
  /usr/bin/time -v "${jvm[@]}" "$@" > "$out/$name.txt" 2> "$out/$name.time" || { cat "$out/$name.time"; exit 1; }
  cat "$out/$name.txt"
  grep -E "Maximum resident set size" "$out/$name.time"
}
run conv org.effiseg.bench.ConvBench
run norm org.effiseg.bench.NormBench 2
run loss org.effiseg.bench.LossBench 2
run model-effiseg org.effiseg.model.ModelBench 2 5 effiseg
run model-torch org.effiseg.model.ModelBench 2 5 torch
run model org.effiseg.model.ModelBench 2 5 both
run ort org.effiseg.export.OrtBench 2 10
