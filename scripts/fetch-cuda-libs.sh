#!/usr/bin/env bash
# fetch-cuda-libs.sh DIR — the cuDNN 9 and cuBLAS 13 headers and libraries the CUDA backend
# compiles and links against, from the NVIDIA wheels of the pip index (offline on our build
# machines; see ../shared/TOOLCHAIN.md). Leaves:
#   DIR/cudnn/include/cudnn*.h   DIR/cudnn/lib/libcudnn.so.9
#   DIR/cublas/include/cublas*.h DIR/cublas/lib/libcublas.so.13, libcublasLt.so.13
# and keeps the wheels in DIR/wheels. Idempotent: a second run with everything present
# does nothing. Pass -DCUDNN_ROOT=DIR/cudnn -DCUBLAS_ROOT=DIR/cublas to CMake (or
# -Dcudnn.root=… -Dcublas.root=… to Maven).
#
# Only what compiling and linking need is unpacked: the libraries are link targets here;
# at run time (GPU machine) the full cuDNN (its sub-libraries libcudnn_cnn.so.9, …) comes
# from that machine's own nvidia-* packages.
set -euo pipefail

CUDNN_WHEEL_VERSION=9.24.0.43
CUBLAS_WHEEL_VERSION=13.1.1.3

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

complete() {
  [ -f "$dir/cudnn/include/cudnn.h" ] && [ -f "$dir/cudnn/lib/libcudnn.so.9" ] &&
    [ -f "$dir/cublas/include/cublas_v2.h" ] && [ -f "$dir/cublas/lib/libcublas.so.13" ] &&
    [ -f "$dir/cublas/lib/libcublasLt.so.13" ]
}
if complete; then
  echo "fetch-cuda-libs: $dir already has cuDNN and cuBLAS"
  exit 0
fi

wheels=$dir/wheels
mkdir -p "$wheels"
cudnn_whl=$(ls "$wheels"/nvidia_cudnn_cu13-"$CUDNN_WHEEL_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
cublas_whl=$(ls "$wheels"/nvidia_cublas-"$CUBLAS_WHEEL_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$cudnn_whl" ] || [ -z "$cublas_whl" ]; then
  echo "fetch-cuda-libs: pip download (about 1 GB; pip may print retry warnings first)"
  # --retries 0: the wheels come from the local index; do not wait on unreachable remote ones
  python3 -m pip download --quiet --no-deps --only-binary=:all: --retries 0 --timeout 10 \
    "nvidia-cudnn-cu13==$CUDNN_WHEEL_VERSION" "nvidia-cublas==$CUBLAS_WHEEL_VERSION" -d "$wheels"
  cudnn_whl=$(ls "$wheels"/nvidia_cudnn_cu13-"$CUDNN_WHEEL_VERSION"-*.whl | head -n 1)
  cublas_whl=$(ls "$wheels"/nvidia_cublas-"$CUBLAS_WHEEL_VERSION"-*.whl | head -n 1)
fi

# Unpack into a temporary folder and move into place, so an interrupted run never leaves
# a half-filled folder that complete() would accept.
tmp=$(mktemp -d "$dir/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 - "$cudnn_whl" "$cublas_whl" "$tmp" <<'PY'
import os, sys, zipfile
cudnn_whl, cublas_whl, out = sys.argv[1:4]

def extract(whl, dest, want):
    with zipfile.ZipFile(whl) as z:
        names = [n for n in z.namelist() if want(n)]
        if not names:
            sys.exit(f"fetch-cuda-libs: nothing to unpack from {whl}")
        for n in names:
            target = os.path.join(dest, "include" if "/include/" in n else "lib", os.path.basename(n))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(n) as src, open(target, "wb") as dst:
                dst.write(src.read())

extract(cudnn_whl, os.path.join(out, "cudnn"),
        lambda n: (n.startswith("nvidia/cudnn/include/") and n.endswith(".h"))
        or n == "nvidia/cudnn/lib/libcudnn.so.9")
extract(cublas_whl, os.path.join(out, "cublas"),
        lambda n: ("/include/" in n and os.path.basename(n).startswith("cublas") and n.endswith(".h"))
        or os.path.basename(n) in ("libcublas.so.13", "libcublasLt.so.13"))
PY
rm -rf "$dir/cudnn" "$dir/cublas"
mv "$tmp/cudnn" "$dir/cudnn"
mv "$tmp/cublas" "$dir/cublas"
if ! complete; then
  echo "fetch-cuda-libs: unpacked wheels lack an expected file under $dir" >&2
  exit 1
fi
echo "fetch-cuda-libs: cuDNN in $dir/cudnn, cuBLAS in $dir/cublas"
