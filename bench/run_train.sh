#!/bin/sh
# Training throughput, sail (bench_train) vs the same model in PyTorch
# (bench_train_torch.py), run by `make bench` (bench/run.sh) or alone:
#   make build/bench/bench_train && THREADS=2 sh bench/run_train.sh
# Shapes: TRAIN_THREADS (default 1 and THREADS) x TRAIN_BATCHES; each
# alternation runs TRAIN_STEPS timed steps after a warm-up step and keeps the
# fastest. Two ratios: wall-clock pairs/s, and pairs per CPU-second (process
# CPU time; on a loaded machine the steadier one at 1 thread, while at more
# threads it also charges each engine's spinning threads).
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
PY=/usr/bin/python3
TRAIN_IMAGE=${TRAIN_IMAGE:-64}
echo "== Training step, sail vs PyTorch (tiny, image $TRAIN_IMAGE, 16-token texts; pairs/s, forward + backward)"
# The machine may be shared: sail and PyTorch alternate TRAIN_REPS times per
# shape and the median of the per-alternation ratios is what counts.
# PyTorch's settings are its fastest here: OMP_WAIT_POLICY=PASSIVE, because
# libgomp's spinning threads cost it 5x at 2 threads on a loaded machine
# (6.5 vs 33 pairs/s), and OPENBLAS_NUM_THREADS=1 as for the towers above.
TRAIN_REPS=${TRAIN_REPS:-3}; TRAIN_STEPS=${TRAIN_STEPS:-2}; TRAIN_BATCHES=${TRAIN_BATCHES:-32 64}
TRAIN_THREADS=${TRAIN_THREADS:-$(echo 1 "$THREADS" | tr ' ' '\n' | sort -un)}
# The ceiling both engines are held against: one core's f32 FMA rate.
peak=0
# (not `tee /dev/stderr`: with both streams sent to one file, tee's opening
# of it truncated everything make bench had written before)
if [ -x "$BUILD/bench/bench_peak" ]; then
    line=$("$BUILD/bench/bench_peak" --threads 1)
    echo "$line"
    peak=$(echo "$line" | awk '{ print $(NF - 1) }')
fi
[ -x "$BUILD/bench/bench_train" ] && for t in $TRAIN_THREADS; do
    for b in $TRAIN_BATCHES; do
        log=$(mktemp)
        for r in $(seq "$TRAIN_REPS"); do
            "$BUILD/bench/bench_train" --threads "$t" --batch "$b" --image_size "$TRAIN_IMAGE" \
                --steps "$TRAIN_STEPS" | tee -a "$log"
            OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE $PY bench/bench_train_torch.py --threads "$t" \
                --batch "$b" --image_size "$TRAIN_IMAGE" --steps "$TRAIN_STEPS" | tee -a "$log"
        done
        awk -v b="$b" -v t="$t" -v peak="$peak" '
            function median(a, n,   i, j, x) {
                for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
            $1 == "sail" { s[++ns] = $10; sc[ns] = $15; mflop = $NF }
            $1 == "torch" { q[++nq] = $10; r[nq] = s[nq] / $10; qc[nq] = $15; rc[nq] = sc[nq] / $15 }
            END { printf "batch %-2d threads %d: sail %.1f  torch %.1f pairs/s  sail/torch %.2fx;", b, t,
                         median(s, ns), median(q, nq), median(r, nq)
                  printf "  per cpu-s sail %.1f  torch %.1f  sail/torch %.2fx (medians of %d alternations)\n",
                         median(sc, ns), median(qc, nq), median(rc, nq), nq
                  if (peak > 0)
                      printf "    per cpu-s, share of one core'"'"'s FMA peak (%.1f GFLOP/s, %.0f MFLOP/pair): sail %.0f%%  torch %.0f%%\n",
                             peak, mflop, 100 * median(sc, ns) * mflop / 1e3 / peak, 100 * median(qc, nq) * mflop / 1e3 / peak }' "$log"
        rm -f "$log"
    done
done
