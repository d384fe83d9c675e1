#!/usr/bin/env bash
# The CPU engine against its peers, for docs/benchmarks.md: EffiSegNet inference (B0 224 batch 1
# and 8, B4 380 batch 1) and the B0 224 batch-8 training step, each timed by `effiseg bench`
# for this tree and for a baseline engine (BASE_REF, default b9a5a6b: main before the kernel
# paths), in ROUNDS rounds that alternate the two, so both see the same load; then PyTorch
# (DJL, same process as effiseg, org.effiseg.model.ModelBench) for the B0 cases; then a
# per-layer profile of B0 inference and training with each row's share of the machine's
# measured peaks. With TORCH_PYTHON (a Python with PyTorch's CPU build, e.g. a venv), PyTorch
# eager as well: bench/e2e_compare.py, the B0 224 batch-8 training step and inference in ROUNDS
# alternating rounds against this tree (DJL's PyTorch 2.7.1 computes wrong results on some
# AVX-512 CPUs, docs/benchmarks.md; ModelBench then refuses to time it). Writes everything under
# OUT_DIR and prints the table.
#   scripts/bench-cpu-engine.sh [OUT_DIR]          (default target/bench-engine)
# Environment: BASE_REF, BASE_DIR (its worktree, default ../effiseg-bench-base), ROUNDS (5),
# THREADS (2), TORCH_PYTHON, FORCE=1 to run on a busy machine (the 1-minute load must be below 1
# otherwise).
# Peers are columns: add one by giving run_peer a case for it (ONNX Runtime: once the export
# exists, `effiseg bench --impl ort` or its own runner, same cases, same JSON fields).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/bench-engine}
base_ref=${BASE_REF:-b9a5a6b}
base_dir=${BASE_DIR:-../effiseg-bench-base}
rounds=${ROUNDS:-5}
threads=${THREADS:-2}
mkdir -p "$out"
load=$(cut -d' ' -f1 /proc/loadavg)
if [[ "${FORCE:-0}" != 1 ]] && awk -v l="$load" 'BEGIN { exit !(l > 1.0) }'; then
  echo "bench-cpu-engine: load average $load > 1: other work would distort the timings (FORCE=1 to run anyway)" >&2
  exit 1
fi

mvn -B -q -ntp -DskipTests package
if [[ ! -d "$base_dir" ]]; then
  git worktree add --detach "$base_dir" "$base_ref"
fi
(cd "$base_dir" && git checkout -q --detach "$base_ref" && mvn -B -q -ntp -DskipTests package)

export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ); load before: $load; threads: $threads; rounds: $rounds"
  echo "this tree: $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes); baseline: $base_ref"
  java -jar target/effiseg.jar info | grep -E "device|backend cpu"
} | tee "$out/machine.txt"

# case name, then the bench arguments
cases=(
  "b0-224-infer-b1|--variant b0 --size 224 --batch 1 --mode infer --steps 30 --warmup 5"
  "b0-224-infer-b8|--variant b0 --size 224 --batch 8 --mode infer --steps 10 --warmup 3"
  "b0-224-train-b8|--variant b0 --size 224 --batch 8 --mode train --steps 10 --warmup 20"
  "b4-380-infer-b1|--variant b4 --size 380 --batch 1 --mode infer --steps 10 --warmup 3"
)

# run_peer PEER CASE ARGS...: one bench run, its JSON record appended to $out/PEER-CASE.jsonl
run_peer() {
  local peer=$1 name=$2
  shift 2
  local jar
  case $peer in
    new) jar=target/effiseg.jar ;;
    base) jar=$base_dir/target/effiseg.jar ;;
    *) echo "bench-cpu-engine: unknown peer $peer" >&2; exit 1 ;;
  esac
  java -jar "$jar" bench "$@" --device cpu --threads "$threads" --json 2>/dev/null | tail -1 >> "$out/$peer-$name.jsonl"
}

rm -f "$out"/*.jsonl
for ((r = 1; r <= rounds; r++)); do
  for c in "${cases[@]}"; do
    name=${c%%|*}
    read -r -a args <<< "${c#*|}"
    if ((r % 2)); then order=(new base); else order=(base new); fi
    for peer in "${order[@]}"; do
      run_peer "$peer" "$name" "${args[@]}"
    done
    echo "round $r/$rounds $name done"
  done
done

# PyTorch: the same B0 network in PyTorch ops, same process as effiseg, iterations interleaved
mvn -B -q -ntp -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/test.cp -Dmdep.includeScope=test
java --enable-native-access=ALL-UNNAMED -Xmx8g -DPYTORCH_VERSION=2.7.1 -DPYTORCH_FLAVOR=cpu -Dai.djl.offline=true \
  -DENGINE_CACHE_DIR=target/djl-cache -DDJL_CACHE_DIR=target/djl-cache \
  -cp "target/classes:target/test-classes:$(cat target/test.cp)" org.effiseg.model.ModelBench "$threads" 5 both \
  > "$out/pytorch.txt" 2>&1 \
  || echo "bench-cpu-engine: no PyTorch peer (ModelBench failed: $out/pytorch.txt); the rest goes on" >&2

# PyTorch eager in Python, where one is given: same allocator settings (exported above), same
# thread count, alternating rounds, 20 warm-up steps (effiseg's JVM compiles the step's Java for
# its first 15 or so training steps on the same cores: bench/README.md)
if [[ -n "${TORCH_PYTHON:-}" ]]; then
  "$TORCH_PYTHON" bench/e2e_compare.py --effiseg-cmd "java -jar target/effiseg.jar" --device cpu \
    --threads "$threads" --configs b0:224:8 --modes train,infer --precisions fp32 --steps 5 \
    --warmup 20 --rounds "$rounds" --time-budget 1800 --out "$out/pytorch-python.md" \
    --json-out "$out/pytorch-python.json" > /dev/null 2> "$out/pytorch-python.log" \
    || echo "bench-cpu-engine: e2e_compare.py failed ($out/pytorch-python.log); the rest goes on" >&2
fi

# Per-layer profiles with shares of the measured peaks (this tree only)
java -jar target/effiseg.jar bench --variant b0 --size 224 --batch 1 --mode infer --steps 5 --warmup 3 \
  --device cpu --threads "$threads" --profile 5 > "$out/profile-b0-224-infer-b1.txt" 2>/dev/null
java -jar target/effiseg.jar bench --variant b0 --size 224 --batch 8 --mode train --steps 3 --warmup 2 \
  --device cpu --threads "$threads" --profile 2 > "$out/profile-b0-224-train-b8.txt" 2>/dev/null

# The table: medians over rounds of each run's median step time, and the peak tensor memory
python3 - "$out" "${cases[@]%%|*}" <<'PY' | tee "$out/table.md"
import json, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
def load(peer, name):
    rows = [json.loads(l) for l in open(f"{out}/{peer}-{name}.jsonl") if l.strip().startswith("{")]
    return [r for r in rows if "ms_median" in r]
print("| case | this tree ms | baseline ms | ratio | peak MiB (this / baseline) |")
print("|---|---|---|---|---|")
for n in names:
    new, base = load("new", n), load("base", n)
    if not new or not base:
        print(f"| {n} | {len(new)} runs | {len(base)} runs | - | - |")
        continue
    a = statistics.median(r["ms_median"] for r in new)
    b = statistics.median(r["ms_median"] for r in base)
    ma = max(r["peak_allocated_bytes"] for r in new) / 2**20
    mb = max(r["peak_allocated_bytes"] for r in base) / 2**20
    print(f"| {n} | {a:.1f} | {b:.1f} | {a / b:.2f} | {ma:.0f} / {mb:.0f} |")
PY
echo "PyTorch peer (same process, interleaved):"
grep -E "ratio|batch|step" "$out/pytorch.txt" | tail -8 || true
if [[ -f "$out/pytorch-python.md" ]]; then
  echo "PyTorch eager from $TORCH_PYTHON (bench/e2e_compare.py, alternating rounds):"
  grep -E "^\|" "$out/pytorch-python.md"
fi
