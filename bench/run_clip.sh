#!/bin/sh
# Converted-CLIP-sized towers (random weights, real shapes), sail
# f32/f16/bf16/q8_0 vs PyTorch f32, run by `make bench` (bench/run.sh) or
# alone:
#   make build/bench/bench_model && THREADS=1 CLOCK=cpu sh bench/run_clip.sh
# For each of ARCHS (bench_model --arch: clip-b32, cnclip-b16) sail and
# PyTorch alternate CLIP_RUNS times, each run the best of REPS passes per
# shape; the table gives the medians over the runs and the median of the
# per-run ratios PyTorch f32 time / sail time (> 1: sail is faster).
# PyTorch gets the same threads (torch.set_num_threads and
# OPENBLAS_NUM_THREADS). CLOCK=cpu times process CPU time: use it with
# THREADS=1 on a shared machine; at more threads use CLOCK=wall.
# glibc keeps freed blocks of up to 32 MB in its heap rather than unmapping
# them: PyTorch allocates every activation afresh, and on this VM a freshly
# faulted page cost about 13 us (a 5 MB elementwise op 17 ms instead of
# 0.26), which doubled its batch-8 times. sail (an arena) runs under the same
# settings.
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456
BUILD=${BUILD:-build}
THREADS=${THREADS:-1}
CLOCK=${CLOCK:-cpu}
CLIP_RUNS=${CLIP_RUNS:-3}
REPS=${REPS:-3}
ARCHS=${ARCHS:-"clip-b32 cnclip-b16"}
TYPES=f32,f16,bf16,q8_0
PY=/usr/bin/python3
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for arch in $ARCHS; do
    echo "== $arch towers, sail $TYPES vs PyTorch f32 ($THREADS threads, $CLOCK clock, $CLIP_RUNS alternations)"
    : >"$log"
    for r in $(seq "$CLIP_RUNS"); do
        "$BUILD/bench/bench_model" --arch "$arch" --threads "$THREADS" --reps "$REPS" --clock "$CLOCK" \
            --types "$TYPES" | sed "s/^/$r /" | tee -a "$log"
        OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=$THREADS $PY bench/bench_torch.py --arch "$arch" \
            --threads "$THREADS" --reps "$REPS" --clock "$CLOCK" | sed "s/^/$r /" | tee -a "$log"
    done
    # fields: run, label (sail-TYPE / torch), tower, batch, B, threads, T, ms, unit
    awk -v types="$TYPES" '
        function median(a, n,   i, j, x) {
            for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        $2 == "#" && $4 == "parameters:" { si = $7 + 0; st = $10 + 0 }
        $2 == "#" && $3 == "torch" { ti = $8 + 0; tt = $11 + 0 }
        $2 == "#" { next }
        { k = $3 " " $5; t[$1, $2, k] = $8 + 0; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
          if ($1 + 0 > runs) runs = $1 + 0 }
        END {
            printf "parameters (image, text tower): sail %d, %d; PyTorch %d, %d: %s\n", si, st, ti, tt,
                   (si == ti && st == tt && si > 0) ? "equal" : "DIFFERENT"
            nt = split(types, ty, ",")
            printf "%-26s %-5s %9s", "tower", "batch", "torch-f32"
            for (i = 1; i <= nt; i++) printf "  %16s", "sail-" ty[i] " (x)"
            printf "   ms/item; (x) = torch-f32 / sail, median of %d per-run ratios\n", runs
            for (o = 1; o <= nk; o++) {
                k = order[o]; split(k, kb, " ")
                for (r = 1; r <= runs; r++) q[r] = t[r, "torch", k]
                printf "%-26s %-5s %9.2f", kb[1], kb[2], median(q, runs)
                for (i = 1; i <= nt; i++) {
                    for (r = 1; r <= runs; r++) { s[r] = t[r, "sail-" ty[i], k]; x[r] = t[r, "torch", k] / s[r] }
                    printf "  %8.2f (%5.2fx)", median(s, runs), median(x, runs)
                }
                printf "\n"
            } }' "$log"
done
