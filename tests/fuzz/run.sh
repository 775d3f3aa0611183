#!/bin/sh
# run.sh: build and run every libFuzzer harness tests/fuzz/fuzz_<name>.c.
#
# A harness names the library sources it needs on one comment line
#     // sources: src/format/gguf.c src/core/error.c ...
# and, if it needs system libraries, on another:  // libs: -ljpeg -lz
# Optional companions, found by name:
#     tests/fuzz/seed_<name>.c  a program (same "// sources:" convention) run as
#                               `seed_<name> CORPUS_DIR` to write seed inputs
#     tests/fuzz/<name>.dict    a libFuzzer dictionary
# The corpus tests/fuzz/corpus/<name>/ is generated here (never committed);
# binaries and crash artifacts go to $FUZZ_BUILD (default build-fuzz/).
#
# Usage: tests/fuzz/run.sh [name...]      (default: every harness)
# Environment: FUZZ_SECONDS (default 60) per harness, FUZZ_FLAGS extra
# libFuzzer flags (e.g. -jobs=2), FUZZ_CC (default clang).
# FUZZ_CPU_SECONDS=N instead fuzzes each harness until its fuzzing processes
# have used N seconds of CPU (user + system), in runs of at most 300 s over
# the same corpus: on a shared machine wall time says little. Each run's
# figures are appended to $FUZZ_BUILD/<name>.runs ("cpu_s execs cov ft").
# Exit status: non-zero when a build fails or a harness finds a crash.
set -u
cd "$(dirname "$0")/../.." || exit 2
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OUT=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
INC="-std=c11 -D_GNU_SOURCE -Iinclude -Isrc -Isrc/core"
SAN="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$OUT"

tagged() { # file tag: the words after "// tag:" on its first such line
    sed -n "s|^// $2:||p" "$1" | head -1
}

# The words of a sources line with each C++ file (the libsentencepiece shim)
# replaced by its object, compiled apart with flags $2: clang refuses -std=c11
# for C++ (its vptr and function checks would need the C++ sanitizer runtime).
objects() {
    for f in $1; do
        case $f in
        *.cc) o="$OUT/$(basename "$f" .cc).o"
              # shellcheck disable=SC2086  # $2 is a flag list
              clang++ -std=c++17 $2 -D_GNU_SOURCE -Iinclude -Isrc -Isrc/core -c "$f" -o "$o" || return 1
              echo "$o" ;;
        *) echo "$f" ;;
        esac
    done
}

# fuzz_cpu name corpus dictflag: runs until FUZZ_CPU_SECONDS of CPU are spent.
fuzz_cpu() {
    log=$OUT/$1.log; runs=$OUT/$1.runs; : > "$runs"; spent=0
    while [ "$spent" -lt "$FUZZ_CPU_SECONDS" ]; do
        left=$((FUZZ_CPU_SECONDS - spent)); [ $left -gt 300 ] && left=300
        # shellcheck disable=SC2086
        if ! /usr/bin/time -f '%U %S' -o "$OUT/$1.time" "$OUT/fuzz_$1" -max_total_time=$left \
            -print_final_stats=1 -artifact_prefix="$OUT/crash-$1-" $3 ${FUZZ_FLAGS:-} "$2" > "$log" 2>&1; then
            tail -40 "$log"; echo "== fuzz_$1: FINDING (see $OUT/crash-$1-*)"; return 1
        fi
        cpu=$(awk 'END { printf "%d", $1 + $2 }' "$OUT/$1.time")
        [ "$cpu" -gt 0 ] || cpu=1   # never loop forever on a starved run
        spent=$((spent + cpu))
        echo "$cpu $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") $(sed -n 's/.*DONE *cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p' "$log" | tail -1)" >> "$runs"
        echo "== fuzz_$1: $spent of $FUZZ_CPU_SECONDS CPU seconds"
    done
    awk -v n="$1" '{ c += $1; e += $2; cov = $3; ft = $4 }
        END { printf "== fuzz_%s: no findings; %d CPU s, %d runs, %d execs, cov %s ft %s\n", n, c, NR, e, cov, ft }' "$runs"
}

status=0
for h in tests/fuzz/fuzz_*.c; do
    [ -f "$h" ] || continue
    name=$(basename "$h" .c); name=${name#fuzz_}
    if [ $# -gt 0 ] && ! echo " $* " | grep -q " $name "; then continue; fi
    echo "== fuzz_$name: building"
    # shellcheck disable=SC2046  # the tag lines are word lists
    if ! srcs=$(objects "$(tagged "$h" sources)" "-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=vptr,function") ||
       ! $CC $SAN $INC -o "$OUT/fuzz_$name" "$h" $srcs $(tagged "$h" libs) -lm; then
        echo "== fuzz_$name: BUILD FAILED"; status=1; continue
    fi
    corpus=tests/fuzz/corpus/$name
    mkdir -p "$corpus"
    seed=tests/fuzz/seed_$name.c
    if [ -f "$seed" ]; then
        if ! srcs=$(objects "$(tagged "$seed" sources)" "-g -O1") ||
           ! $CC -g -O1 $INC -o "$OUT/seed_$name" "$seed" $srcs $(tagged "$seed" libs) -lm ||
           ! "$OUT/seed_$name" "$corpus"; then
            echo "== fuzz_$name: SEED GENERATION FAILED"; status=1; continue
        fi
    fi
    dict=tests/fuzz/$name.dict
    [ -f "$dict" ] && dictflag="-dict=$dict" || dictflag=
    if [ -n "${FUZZ_CPU_SECONDS:-}" ]; then
        fuzz_cpu "$name" "$corpus" "$dictflag" || status=1
        continue
    fi
    echo "== fuzz_$name: fuzzing for ${FUZZ_SECONDS}s (corpus $corpus)"
    # shellcheck disable=SC2086
    if "$OUT/fuzz_$name" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
        -artifact_prefix="$OUT/crash-$name-" $dictflag ${FUZZ_FLAGS:-} "$corpus"; then
        echo "== fuzz_$name: no findings"
    else
        echo "== fuzz_$name: FINDING (see $OUT/crash-$name-*)"; status=1
    fi
done
exit $status
