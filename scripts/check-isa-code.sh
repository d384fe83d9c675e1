#!/usr/bin/env bash
# Checks that libeffiseg.so can be loaded and run on a baseline x86-64 CPU (docs/design.md, "CPU
# instruction sets"): every function that contains an instruction beyond x86-64's baseline
# (VEX/EVEX-encoded SSE/AVX, AVX-512 mask registers, BMI1/2, LZCNT, MOVBE, POPCNT, SSE3-4.2)
# must belong to the avx2 or avx512 kernel path (es::cpu::avx2::, es::cpu::avx512::), which
# runs only after the CPUID check; and the objects of those paths must have no static
# initialisers (.init_array/.ctors), which would run at load. Run by CMake after each link;
# prints the offending functions and exits 1 otherwise.
#   scripts/check-isa-code.sh LIBRARY [ISA_PATH_OBJECT ...]
set -euo pipefail
lib=$1
shift
status=0
for obj in "$@"; do
  if objdump -h "$obj" | grep -qE '\.(init_array|ctors)\b'; then
    echo "check-isa-code: $obj (an avx2/avx512 kernel object) has a static initialiser, which would run at load on any CPU" >&2
    status=1
  fi
done
# Mnemonics beyond the baseline that are not VEX/EVEX (those all start with 'v').
beyond='^(andn|bextr|blsi|blsmsk|blsr|bzhi|pdep|pext|mulx|rorx|sarx|shlx|shrx|lzcnt|tzcnt|movbe|popcnt|crc32[bwlq]?|addsubp[sd]|hadd[ps][sd]|hsub[ps][sd]|movddup|movs[hl]dup|lddqu|pshufb|phadd(w|d|sw)|phsub(w|d|sw)|pmaddubsw|pmulhrsw|pabs[bwd]|psign[bwd]|palignr|blendv?p[sd]|pblend(vb|w)|dpp[sd]|insertps|extractps|pextr[bdq]|pinsr[bdq]|pmaxs[bd]|pmaxu[dw]|pmins[bd]|pminu[dw]|pmov[sz]x[bwd][wdq]|pmuldq|pmulld|ptest|round[ps][sd]|mpsadbw|phminposuw|packusdw|pcmp[eg][qt]q|pcmp[ei]str[im]|movntdqa)$'
offenders=$(objdump -d --no-show-raw-insn -C "$lib" | awk -v beyond="$beyond" '
  /^[0-9a-f]+ <.*>:$/ { fn = substr($0, index($0, "<") + 1); sub(/>:$/, "", fn); next }
  NF >= 2 && $1 ~ /:$/ {
    m = $2
    if (m ~ /^v/ || m ~ beyond || $0 ~ /%[yz]mm|%k[0-7]/) {
      if (fn !~ /es::cpu::avx(2|512)::/) bad[fn] = m
    }
  }
  END { for (f in bad) print "  " f "  (" bad[f] ")" }')
if [[ -n "$offenders" ]]; then
  echo "check-isa-code: $lib has code beyond baseline x86-64 outside the avx2/avx512 kernel paths, which could run before the CPUID check:" >&2
  echo "$offenders" | sort | head -40 >&2
  status=1
fi
exit $status
