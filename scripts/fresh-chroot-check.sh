#!/usr/bin/env bash
# fresh-chroot-check.sh CHROOT [COMMIT] — do the README's build, a training run and the test
# suite work from a fresh clone on a machine with nothing but Debian 12's JDK 17, Maven, CMake,
# make, g++, git and file? Inside CHROOT (a clean Debian 12, made once as below), from a fresh clone of
# this checkout at COMMIT (default HEAD: committed work only), with an empty Maven repository (so
# everything comes from Maven Central), it runs in turn
#   mvn -B -DskipTests package
#   git clean -xdfq && ./effiseg train --preset smoke --data ../shared/data/kvasir-seg
#   bash .ci/run
# (the clean makes the launcher build target/effiseg.jar on first use, as in a fresh clone)
# with ../shared bind-mounted read-only beside the clone, as in this workspace. The chroot has no
# nvcc, so .ci/run takes its CPU-only path. The host's resolver and local CA certificates
# (/usr/local/share/ca-certificates: this workplace's HTTPS egress) are copied in, so that Maven
# reaches Central as it does here. Each step's output goes to CHROOT/work/logs/; the
# summary says which passed and how long each took. Exit 1 if any failed. Needs root.
#
# Make the chroot once (~7 min, ~1 GB; debootstrap is a Debian package; it installs no
# Recommends, so make, which apt-get brings with cmake, is named):
#   apt-get install -y debootstrap
#   debootstrap --variant=minbase \
#     --include=openjdk-17-jdk-headless,maven,cmake,make,g++,git,file,ca-certificates \
#     bookworm CHROOT http://deb.debian.org/debian
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 CHROOT [COMMIT]" >&2
  exit 2
fi
chroot_dir=$(readlink -f "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$repo" rev-parse "${2:-HEAD}")
shared=$(cd "$repo/../shared" && pwd)
[ -x "$chroot_dir/usr/bin/mvn" ] || { echo "fresh-chroot-check: $chroot_dir has no Maven: make it as the header says" >&2; exit 1; }

work=$chroot_dir/work
rm -rf "$work/effiseg" "$work/logs" "$chroot_dir/root/.m2" "$chroot_dir/root/.javacpp" "$chroot_dir/root/.cache"
mkdir -p "$work/shared" "$work/logs"
git clone -q --no-checkout "$repo" "$work/effiseg"
git -C "$work/effiseg" checkout -q --detach "$commit"

unmount() {
  umount "$work/shared" 2>/dev/null || true
  umount -R "$chroot_dir/dev" 2>/dev/null || true
  umount "$chroot_dir/proc" 2>/dev/null || true
}
trap unmount EXIT
mount -t proc proc "$chroot_dir/proc"
mount --rbind /dev "$chroot_dir/dev"
mount --make-rslave "$chroot_dir/dev"
mount --bind "$shared" "$work/shared"
mount -o remount,bind,ro "$work/shared"

# the network as on this machine: its resolver, and the CA certificates its HTTPS egress needs,
# in Java's trust store
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
for cert in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$cert" ] || continue
  alias=local-$(basename "$cert" .crt)
  cp "$cert" "$chroot_dir/tmp/$alias.crt"
  chroot "$chroot_dir" keytool -delete -cacerts -storepass changeit -alias "$alias" > /dev/null 2>&1 || true
  chroot "$chroot_dir" keytool -importcert -noprompt -cacerts -storepass changeit -alias "$alias" \
    -file "/tmp/$alias.crt" > /dev/null
done

echo "fresh-chroot-check: commit $commit in $chroot_dir"
echo "  $(chroot "$chroot_dir" dpkg-query -W -f='${Package}\n' | wc -l) Debian packages;" \
  "libgfortran5: $(chroot "$chroot_dir" dpkg-query -W -f='${Status}' libgfortran5 2>/dev/null || echo 'not installed');" \
  "nvcc: $(chroot "$chroot_dir" sh -c 'command -v nvcc || echo none')"

failed=0
step() { # step NAME COMMAND: runs COMMAND in the clone inside the chroot, with a clean environment
  local name=$1 command=$2 t0=$SECONDS rc=0
  chroot "$chroot_dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /work/effiseg && $command" > "$work/logs/$name.log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "  ok      $name ($((SECONDS - t0)) s): $command"
  else
    failed=1
    echo "  FAILED  $name (exit $rc after $((SECONDS - t0)) s): $command; last lines of logs/$name.log:"
    tail -n 25 "$work/logs/$name.log" | sed 's/^/    /'
  fi
}
step package "mvn -B -DskipTests package"
step smoke-train "git clean -xdfq && ./effiseg train --preset smoke --data ../shared/data/kvasir-seg"
step ci "bash .ci/run"
exit $failed
