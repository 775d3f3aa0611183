#!/bin/sh
# Fine-tuning a converted CLIP (ViT-B/32-sized, random weights), sail vs
# PyTorch, run by `make bench` (bench/run.sh) or alone:
#   make build/bench/bench_finetune && THREADS=2 sh bench/run_finetune.sh
# One forward + backward per step (no optimiser) on batches of FT_BATCH
# (16-token text, 224 px image) pairs, all parameters trained and towers
# frozen; sail and PyTorch alternate FT_REPS times and the medians of the
# per-alternation ratios count. PyTorch gets the real thread count
# (torch.set_num_threads and OPENBLAS_NUM_THREADS). Peak memory is each
# process's maximum resident set (model load included).
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
PY=/usr/bin/python3
FT_BATCH=${FT_BATCH:-16}; FT_STEPS=${FT_STEPS:-2}; FT_REPS=${FT_REPS:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "== Fine-tuning step, converted CLIP ViT-B/32 size, sail vs PyTorch (batch $FT_BATCH, $THREADS threads)"
$PY bench/bench_finetune_torch.py --make "$dir/clip" && "$BUILD/sail" convert "$dir/clip" -o "$dir/clip.gguf" 2>/dev/null ||
    { echo "bench_finetune: could not build the model"; exit 0; }
for mode in none text,vision; do
    log="$dir/log"
    : >"$log"
    for r in $(seq "$FT_REPS"); do
        if [ "$mode" = none ]; then f=""; tf=""; else f="--freeze $mode"; tf="--freeze"; fi
        "$BUILD/bench/bench_finetune" --model "$dir/clip.gguf" --batch "$FT_BATCH" --threads "$THREADS" \
            --steps "$FT_STEPS" $f | tee -a "$log"
        OPENBLAS_NUM_THREADS=$THREADS $PY bench/bench_finetune_torch.py "$dir/clip" --batch "$FT_BATCH" \
            --threads "$THREADS" --steps "$FT_STEPS" $tf | tee -a "$log"
    done
    awk -v mode="$mode" '
        function median(a, n,   i, j, x) {
            for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        { for (i = 1; i <= NF; i++) { if ($i == "best,") v = $(i - 2); if ($i == "peak") m = $(i + 1) } }
        $1 == "sail" { s[++ns] = v; sm[ns] = m }
        $1 == "torch" { q[++nq] = v; r[nq] = s[nq] / v; qm[nq] = m }
        END { printf "frozen %-11s sail %.2f  torch %.2f pairs/s  sail/torch %.2fx;  peak MiB sail %.0f  torch %.0f (medians of %d)\n",
                     mode, median(s, ns), median(q, nq), median(r, nq), median(sm, ns), median(qm, nq), nq }' "$log"
done
