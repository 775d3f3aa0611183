#!/bin/sh
# Runs every C test binary and every Python parity test, counts TAP lines and
# ends with the one line CI reads: "N passed, M failed".
# A program that exits non-zero without reporting a failed check counts as one
# failure (a crash is never silent).
BUILD=${BUILD:-build}
SAIL=${SAIL:-$BUILD/sail}
export SAIL BUILD
PY=/usr/bin/python3
pass=0; fail=0; skip=0; start=$(date +%s)
out=$(mktemp); trap 'rm -f "$out"' EXIT
now() { date +%s.%N; }
run_one() { # name, command...
    name=$1; shift
    t0=$(now)
    "$@" >"$out" 2>&1; rc=$?
    secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }')
    p=$(grep -c '^ok ' "$out"); f=$(grep -c '^not ok ' "$out"); s=$(grep -c '^skip ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name exited with status $rc" >>"$out"; fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$f" -ne 0 ]; then
        echo "FAIL $name ($p passed, $f failed, $secs)"; grep -E '^(not ok|#)' "$out" | head -40
        tail -5 "$out"
    else
        if [ "$s" -ne 0 ]; then echo "pass $name ($p checks, $s skipped, $secs)"; else echo "pass $name ($p checks, $secs)"; fi
        grep '^skip ' "$out" | head -5
    fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
# The kernel, model-parity and index tests again at each lower instruction
# set this CPU has (SAIL_ISA caps the dispatch), so a path broken on one kind
# of CPU fails here too, not only on machines where it is the best level.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { for f in "$@"; do case " $flags " in *" $f "*) ;; *) return 1 ;; esac; done; }
isas=ref
if has avx2 fma f16c; then isas="$isas avx2"; else echo "skip avx2 runs: this CPU lacks AVX2/FMA/F16C"; skip=$((skip+1)); fi
if has avx512f avx512bw avx512dq avx512vl; then isas="$isas avx512"
    if has avx512_vnni; then isas="$isas avx512vnni"
        if has avx512_bf16; then isas="$isas avx512bf16"
            if has amx_tile amx_int8; then isas="$isas amx"; else echo "skip amx runs: this CPU lacks AMX-TILE/AMX-INT8"; skip=$((skip+1)); fi
        else echo "skip avx512bf16/amx runs: this CPU lacks AVX512_BF16"; skip=$((skip+1)); fi
    else echo "skip avx512vnni/bf16 runs: this CPU lacks AVX512_VNNI"; skip=$((skip+1)); fi
else echo "skip avx512 runs: this CPU lacks AVX-512 F/BW/DQ/VL"; skip=$((skip+1)); fi
top=${isas##* }
echo "instruction sets: $isas (the last, $top, is the default run)"
for isa in $isas; do
    [ "$isa" = "$top" ] && continue
    for t in test_kernels test_gemm_quant test_gemm_io test_attn_bf16 test_index_kernels test_model test_index test_index_image test_image; do
        [ -x "$BUILD/tests/$t" ] && run_one "$t [SAIL_ISA=$isa]" env SAIL_ISA=$isa "$BUILD/tests/$t"
    done
    if $PY -c 'import torch' 2>/dev/null; then
        run_one "tests/test_parity.py [SAIL_ISA=$isa]" env SAIL_ISA=$isa $PY tests/test_parity.py
    fi
done
for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    if [ -n "$SAIL_ASAN" ] && head -5 "$t" | grep -q 'asan: skip'; then continue; fi
    if ! $PY -c 'import numpy' 2>/dev/null; then
        echo "skip $t: /usr/bin/python3 with numpy is missing (run scripts/install-deps.sh)"; skip=$((skip+1)); continue
    fi
    run_one "$t" $PY "$t"
done
echo "($skip skipped; $(($(date +%s) - start)) s)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
