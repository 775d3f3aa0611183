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
