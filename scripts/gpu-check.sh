#!/usr/bin/env bash
# gpu-check.sh — on a bare GPU machine of the device tool: build the CUDA backend there, run
# the GPU test suite (the CUDA backend against the CPU oracle, whole-model parity, the JCuda
# memory observer), the kernel benchmarks, the end-to-end comparison with PyTorch on the same
# card (bench/e2e_compare.py) and on the machine's CPU (2 threads each, with a profile of the CPU
# engine's step there), a short EffiSegNet-B0 training run on Kvasir, and the suite once more
# under compute-sanitizer if time is left;
# writes logs and a summary to $OUT, all inside 8 minutes. Files back (the tool takes at most
# 8): setup.log (facts, build, info), tests.log, bench.log, e2e.log (both comparisons), e2e.json
# (the card's), train.log, sanitize.log, summary.md.
#
# Prepare here first (no GPU needed):   scripts/gpu-bundle.sh
# Then call the device tool's `run` with
#   command:  scripts/gpu-check.sh
#   carry:    ["local/gpu-bundle", "local/gpu-jre.tar.gz"]
#   timeout_s: 540
# and commit the summary it brings back (summary.md) under docs/ with the card and date.
#
# Without a GPU:  scripts/gpu-check.sh --dry-run  runs every step that needs none (build against
# the cuDNN/cuBLAS of scripts/fetch-cuda-libs.sh, the Java runner, the benchmark's
# self-test) and writes to local/gpu-out; the CUDA tests then report themselves skipped.
#
# Options by environment: OUT (log folder), EFFISEG_GPU_TESTS (more test classes to run,
# space-separated, e.g. backend-agnostic op suites that need no DJL), CUDNN_ROOT/CUBLAS_ROOT
# (override the Python environment's nvidia/cudnn and nvidia/cu13 folders).
set -uo pipefail # no -e: every step records its status, and the summary is written regardless

cd "$(dirname "$0")/.."
repo=$(pwd)
dry_run=0
[ "${1:-}" = "--dry-run" ] && dry_run=1

if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
out=${OUT:-$repo/local/gpu-out}
mkdir -p "$out"
rm -f "$out"/*.log "$out"/e2e.json "$out"/summary.md # logs are appended to: start empty
bundle=$repo/local/gpu-bundle
build=/tmp/effiseg-gpu-build
budget_s=470 # of the 8 minutes; leaves room for the summary and the tool's transfers
start=$SECONDS
summary=$out/summary.md
jobs=16
[ "$dry_run" = 1 ] && jobs=2

steps=()
note() { steps+=("$1"); echo "== $1"; }

# step NAME LOG TIMEOUT_S CMD...: runs CMD with its output appended to $out/LOG.log, within
# the budget.
step() {
  local name=$1 log=$2 limit=$3
  shift 3
  local left=$((budget_s - (SECONDS - start)))
  if [ "$left" -lt 10 ]; then
    note "$name: SKIPPED (out of time)"
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS rc
  # through bash -c, so that CMD may be one of the exported functions below
  echo "==== $name ($(date -u +%H:%M:%S), limit ${limit}s)" >>"$out/$log.log"
  timeout --kill-after=10 "$limit" bash -c '"$@"' step "$@" >>"$out/$log.log" 2>&1
  rc=$?
  local verdict=ok
  [ "$rc" -ne 0 ] && verdict="FAILED (exit $rc)"
  [ "$rc" -eq 124 ] && verdict="TIMED OUT after ${limit}s"
  note "$name: $verdict in $((SECONDS - t0)) s (log: $log.log)"
  return "$rc"
}

# ---- facts -------------------------------------------------------------------------------
facts() {
  date -u
  uname -a
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.memory --format=csv || true
  nvcc --version || true
  cmake --version | head -n 1 || true
  command -v ninja || true
  command -v java && java -version 2>&1 || echo "no java on PATH"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 || true
}
export -f facts
step facts setup 30 facts
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
gpu_name=${gpu_name:-none}

# ---- cuDNN / cuBLAS ------------------------------------------------------------------------
if [ -z "${CUDNN_ROOT:-}" ] || [ -z "${CUBLAS_ROOT:-}" ]; then
  if [ "$dry_run" = 1 ]; then
    cache=${EFFISEG_CUDA_CACHE:-$HOME/.cache/effiseg-cuda}
    scripts/fetch-cuda-libs.sh "$cache" >/dev/null
    CUDNN_ROOT=${CUDNN_ROOT:-$cache/cudnn}
    CUBLAS_ROOT=${CUBLAS_ROOT:-$cache/cublas}
  else
    # the nvidia-* wheels of the Python environment (PyTorch's): nvidia/cudnn, nvidia/cu13
    read -r py_cudnn py_cublas < <(python3 - <<'PY'
import importlib.util
def where(name):
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return ""
    return list(spec.submodule_search_locations)[0] if spec and spec.submodule_search_locations else ""
cudnn = where("nvidia.cudnn") or "-"
cublas = next((p for p in (where("nvidia.cu13"), where("nvidia.cublas")) if p), "-")
print(cudnn, cublas)
PY
)
    CUDNN_ROOT=${CUDNN_ROOT:-${py_cudnn:-}}
    CUBLAS_ROOT=${CUBLAS_ROOT:-${py_cublas:-}}
  fi
fi
note "cuDNN from $CUDNN_ROOT, cuBLAS from $CUBLAS_ROOT"
export LD_LIBRARY_PATH="$CUDNN_ROOT/lib:$CUBLAS_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---- build the CUDA backend here -------------------------------------------------------------
openblas=/tmp/effiseg-openblas
python3 - "$bundle/lib" "$openblas" <<'PY'
import glob, os, sys, zipfile
lib, dest = sys.argv[1:3]
jar = [j for j in glob.glob(os.path.join(lib, "openblas-*-linux-x86_64.jar"))][0]
prefix = "org/bytedeco/openblas/linux-x86_64/"
with zipfile.ZipFile(jar) as z:
    for n in z.namelist():
        name = n[len(prefix):] if n.startswith(prefix) else ""
        if name.startswith("include/") and not name.endswith("/") or name in (
                "libopenblas.so.0", "libgfortran.so.5", "libquadmath.so.0"):
            target = os.path.join(dest, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(n) as s, open(target, "wb") as d:
                d.write(s.read())
PY
generator="Unix Makefiles"
command -v ninja >/dev/null 2>&1 && generator=Ninja
# code for this card only (e.g. 90 for an H100/H200): a fraction of the full list's compile time
cuda_arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '. ')
case "$cuda_arch" in [0-9][0-9]|[0-9][0-9][0-9]) ;; *) cuda_arch= ;; esac  # none: the full list
[ "$dry_run" = 1 ] && cuda_arch=90  # as on the lent H100/H200
build_backend() {
  rm -rf "$build"
  cmake -S "$repo" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
    -DOPENBLAS_ROOT="$openblas" -DEFFISEG_CUDA=ON -DCUDNN_ROOT="$CUDNN_ROOT" \
    -DCUBLAS_ROOT="$CUBLAS_ROOT" -DEFFISEG_OUTPUT_DIR="$build/lib" \
    ${cuda_arch:+-DEFFISEG_CUDA_ARCHITECTURES="$cuda_arch"} &&
    cmake --build "$build" --parallel "$jobs" --target effiseg_cuda effiseg_kernel_bench &&
    cp "$build/lib/libeffiseg_cuda.so" "$bundle/classes/org/effiseg/nativeapi/linux-x86_64/"
}
export -f build_backend
export repo build bundle openblas generator jobs cuda_arch CUDNN_ROOT CUBLAS_ROOT
step build setup 240 build_backend
built=$?

# ---- Java ------------------------------------------------------------------------------------
if command -v java >/dev/null 2>&1; then
  java=java
else
  rm -rf /tmp/effiseg-jre && mkdir -p /tmp/effiseg-jre &&
    tar -C /tmp/effiseg-jre -xzf "$repo/local/gpu-jre.tar.gz"
  java=/tmp/effiseg-jre/jre/bin/java
fi
cp="$bundle/classes:$bundle/test-classes:$bundle/lib/*"
java_args=(--enable-native-access=ALL-UNNAMED -Xmx8g -Dorg.bytedeco.javacpp.cachedir=/tmp/effiseg-javacpp
  -Deffiseg.shared="$repo/local/gpu-bundle/shared" -cp "$cp")

# java with the bundle's class path, and the CLI, each as one command (for the steps below,
# their exported functions and bench/e2e_compare.py)
jrun=/tmp/effiseg-java
cli=/tmp/effiseg-cli
for wrapper in "$jrun" "$cli"; do
  {
    echo '#!/usr/bin/env bash'
    printf 'exec'
    printf ' %q' "$java" "${java_args[@]}"
    [ "$wrapper" = "$cli" ] && printf ' org.effiseg.cli.Main'
    echo ' "$@"'
  } >"$wrapper"
  chmod +x "$wrapper"
done

step info setup 60 "$cli" info
# One JVM per test class, the op suite first: a kernel that faults leaves its CUDA context
# unusable (a sticky error), and must not take the other classes' results with it.
# EFFISEG_CUDA_VERBOSE=1: cuDNN algorithm choices (and refusals) and allocator totals in the log.
gpu_test_classes="org.effiseg.cuda.CudaVsCpuTest org.effiseg.cuda.CudaModelParityTest"
# the memory observer reads a real device through JCuda: a dry run has none, and GpuTestMain
# fails a class whose every test is skipped
[ "$dry_run" = 1 ] || gpu_test_classes+=" org.effiseg.cuda.CudaMemoryObserverTest"
gpu_test_classes+=" ${EFFISEG_GPU_TESTS:-}"
gpu_tests() {
  local rc=0 cls
  for cls in $gpu_test_classes; do
    echo "==== $cls"
    # dry run: a second CPU context plays the GPU, so the suite runs from the bundle for real
    EFFISEG_CUDA_VERBOSE=1 "$jrun" -Deffiseg.cuda.selftest="$dry_run_bool" org.effiseg.cuda.GpuTestMain "$cls" || rc=1
  done
  return $rc
}
export -f gpu_tests
dry_run_bool=false
[ "$dry_run" = 1 ] && dry_run_bool=true
export jrun gpu_test_classes dry_run_bool
step tests tests 240 gpu_tests

# ---- kernel benchmarks -------------------------------------------------------------------------
# Datasheet peaks (dense FP32 without tensor cores; HBM bandwidth), for the % columns.
case "$gpu_name" in
  *H100*PCIe*) peaks=(--peak-gbps 2000 --peak-tflops 51.2) ;;
  *H100*) peaks=(--peak-gbps 3350 --peak-tflops 66.9) ;;
  *H200*) peaks=(--peak-gbps 4800 --peak-tflops 66.9) ;;
  *) peaks=() ;;
esac
if [ "$built" -eq 0 ]; then
  if [ "$dry_run" = 1 ]; then
    step bench bench 60 "$build/bin/effiseg_kernel_bench" --quick --self-test
  else
    step bench bench 120 "$build/bin/effiseg_kernel_bench" "${peaks[@]}"
  fi
else
  note "bench: SKIPPED (the build failed)"
fi

# ---- end to end: effiseg beside PyTorch on this card (bench/e2e_compare.py) -------------------
e2e_md=/tmp/effiseg-e2e.md
rm -f "$e2e_md"
if [ "$dry_run" = 1 ] && ! python3 -c 'import torch' 2>/dev/null; then
  note "e2e: SKIPPED (dry run without PyTorch here)"
else
  # B0 224 batch 8 takes ~60 s (each run a process, cudnn.benchmark's search); B4 380 batch 8,
  # the paper's model and the projection's input, needs the budget beyond that
  e2e_args=(--effiseg-cmd "$cli" --time-budget 230 --out "$e2e_md" --json-out "$out/e2e.json")
  [ "$dry_run" = 1 ] && e2e_args+=(--device cpu --configs b0:64:2 --modes train,infer --precisions fp32 --steps 2 --warmup 1)
  step e2e e2e 260 python3 "$repo/bench/e2e_compare.py" "${e2e_args[@]}"
fi

# ---- the CPU engine beside PyTorch's CPU kernels on this machine's processor (issue 13) ---------
# Two threads each, as on the project's 2-core VM: the training step's ratio to PyTorch's on a
# second processor, a server part with less memory bandwidth per core (docs/benchmarks.md).
cpu_md=/tmp/effiseg-cpu-peer.md
# the project's CPU benchmark allocator settings, for both sides (PyTorch's CPU tensors are
# otherwise mmap'ed and returned every step), and alternating rounds (PyTorch's step moved 1.6x
# between two runs of one round each)
bench_tunables=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
export bench_tunables
rm -f "$cpu_md"
if [ "$dry_run" = 1 ] && ! python3 -c 'import torch' 2>/dev/null; then
  note "cpu-peer: SKIPPED (dry run without PyTorch here)"
else
  cpu_args=(--effiseg-cmd "$cli" --device cpu --threads 2 --configs b0:224:8 --modes train,infer
            --precisions fp32 --steps 5 --warmup 2 --rounds 3 --time-budget 120 --out "$cpu_md"
            --json-out /tmp/effiseg-cpu-peer.json)
  [ "$dry_run" = 1 ] && cpu_args=(--effiseg-cmd "$cli" --device cpu --threads 2 --configs b0:64:2
                                  --modes train --precisions fp32 --steps 2 --warmup 1
                                  --time-budget 60 --out "$cpu_md")
  step cpu-peer e2e 140 env GLIBC_TUNABLES="$bench_tunables" python3 "$repo/bench/e2e_compare.py" "${cpu_args[@]}"
fi

# ---- where the CPU engine's training step goes on this processor (issue 13) -------------------
# The processor, then the B0 224 batch 8 step on 2 threads with its per-kernel profile (shares of
# the FMA and copy peaks measured there), on the avx2 path, and with the two threads on two
# distinct cores (OpenMP places): what makes this CPU's ratio differ from the VM's.
cpu_profile() {
  export GLIBC_TUNABLES=$bench_tunables
  lscpu | grep -E "^(Model name|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|CPU max MHz|L2 cache|L3 cache|NUMA node\(s\)):"
  echo "AVX-512 and AMX flags: $(grep -owE 'avx512f|avx512_bf16|avx512_vnni|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  local a=(bench --device cpu --threads 2 --variant b0 --size 224 --batch 8)
  [ "$dry_run" = 1 ] && a=(bench --device cpu --threads 2 --variant b0 --size 64 --batch 2)
  echo "-- default dispatch, with the profile of one more step"
  "$cli" "${a[@]}" --steps 5 --warmup 2 --profile 1 || return 1
  echo "-- EFFISEG_CPU_ISA=avx2"
  EFFISEG_CPU_ISA=avx2 "$cli" "${a[@]}" --steps 5 --warmup 2 || return 1
  echo "-- OMP_PLACES=cores OMP_PROC_BIND=close"
  OMP_PLACES=cores OMP_PROC_BIND=close "$cli" "${a[@]}" --steps 5 --warmup 2
}
export -f cpu_profile
export cli dry_run
step cpu-profile e2e 60 cpu_profile

# ---- training (when this build has a train command and the data travelled) -----------------
if [ -d "$bundle/shared/data/kvasir-seg" ] && "$cli" train --help >/dev/null 2>&1; then
  # EffiSegNet-B0 at 224x224 on the bundled 64 training / 64 validation images, random init
  # (the pretrained weights do not fit the carry budget): a timing and end-to-end check.
  train_device=cuda
  train_dir=$(mktemp -d)/run
  [ "$dry_run" = 1 ] && train_device=cpu # exercises the same path up to the device
  step train train 150 "$cli" train --device "$train_device" \
    --data "$bundle/shared/data/kvasir-seg" --preset quick --weights "" --epochs 2 \
    --eval-split validation --out "$train_dir"
  # the checkpoints (2 x 45 MB) stay on the machine; the epoch log joins train.log
  { echo "==== epochs.csv"; cat "$train_dir/epochs.csv"; } >>"$out/train.log" 2>/dev/null
else
  note "train: SKIPPED (no train command in this build, or no data in local/gpu-bundle/shared/data/kvasir-seg)"
fi

# ---- where a training step's time goes: every kernel call timed (effiseg bench --profile) ----------
profile_models() {
  if [ "$dry_run" = 1 ]; then
    "$cli" bench --device cpu --variant b0 --size 64 --batch 2 --steps 2 --warmup 1 --profile 1
  else
    "$cli" bench --device cuda --variant b0 --size 224 --batch 8 --steps 5 --warmup 3 --profile 2 &&
      "$cli" bench --device cuda --variant b4 --size 380 --batch 8 --steps 5 --warmup 3 --profile 2
  fi
}
export -f profile_models
step profile bench 60 profile_models

# ---- the GPU suite again under compute-sanitizer (out-of-bounds, races), if time is left --------
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ "$dry_run" = 0 ] && [ -n "$sanitizer" ]; then
  step sanitize sanitize 120 "$sanitizer" --tool memcheck --target-processes all --error-exitcode 9 \
    "$java" "${java_args[@]}" org.effiseg.cuda.GpuTestMain org.effiseg.cuda.CudaVsCpuTest
else
  note "sanitize: SKIPPED ($([ "$dry_run" = 1 ] && echo "dry run" || echo "no compute-sanitizer"))"
fi

# ---- summary -----------------------------------------------------------------------------------
{
  echo "# gpu-check summary"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- card: $gpu_name"
  echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
  echo "- commit: $(cat "$bundle/COMMIT" 2>/dev/null || echo unknown) (bundle), working tree $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "without .git")"
  echo "- mode: $([ "$dry_run" = 1 ] && echo "dry run (no GPU)" || echo "GPU")"
  echo "- total: $((SECONDS - start)) s"
  echo
  echo "## steps"
  for s in "${steps[@]}"; do echo "- $s"; done
  echo
  echo "## CUDA backend as the core sees it"
  echo '```'
  sed -n '/^==== info/,/^====/p' "$out/setup.log" 2>/dev/null | grep -v '^====' | head -n 12
  echo '```'
  echo
  echo "## GPU tests"
  echo '```'
  grep -E "^==== org|tests (found|successful|failed|aborted)" "$out/tests.log" 2>/dev/null
  grep -E "^(FAIL|SKIP) " "$out/tests.log" 2>/dev/null | head -n 40
  grep -E "^step [0-9]+: loss|^device free" "$out/tests.log" 2>/dev/null
  echo "cuDNN choices logged: $(grep -c 'effiseg cuda: .* algorithm' "$out/tests.log" 2>/dev/null)," \
    "with DEFAULT math (may be TF32 without the override): $(grep -c 'math type 0' "$out/tests.log" 2>/dev/null)"
  grep -E "trying the next|offers no FP32" "$out/tests.log" 2>/dev/null | sort -u | head -n 10
  echo '```'
  echo
  echo "## compute-sanitizer (memcheck) over the GPU suite"
  echo '```'
  grep -E "ERROR SUMMARY|Invalid|out of bounds" "$out/sanitize.log" 2>/dev/null | head -n 20
  echo '```'
  echo
  echo "## effiseg beside PyTorch on this card (bench/e2e_compare.py)"
  echo
  cat "$e2e_md" 2>/dev/null || echo "(no comparison: see the e2e step above)"
  echo
  echo "## the CPU engine beside PyTorch on this machine's processor, 2 threads each"
  echo
  lscpu 2>/dev/null | grep -E "^Model name" | head -n 1
  echo
  cat "$cpu_md" 2>/dev/null || echo "(no comparison: see the cpu-peer step above)"
  echo
  echo "The CPU engine's B0 224 batch 8 training step there (cpu-profile):"
  echo '```'
  sed -n '/^==== cpu-profile/,/^====/p' "$out/e2e.log" 2>/dev/null | grep -v '^====' | grep -v "ETA"
  echo '```'
  echo
  echo "## kernel benchmarks, then the profiles of whole training steps"
  echo '```'
  grep -v "ETA" "$out/bench.log" 2>/dev/null
  echo '```'
  echo
  echo "## training EffiSegNet-B0 on the Kvasir slice (epochs.csv, then the scores)"
  echo '```'
  sed -n '/^==== epochs.csv/,$p' "$out/train.log" 2>/dev/null | tail -n +2
  grep -E "^epoch [0-9]+/[0-9]+  |checkpoint \(" "$out/train.log" 2>/dev/null
  echo '```'
} >"$summary"
echo "== summary: $summary"
cat "$summary"
