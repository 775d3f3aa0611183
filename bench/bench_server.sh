#!/bin/sh
# Load test of `sail serve` with wrk: 64 connections POST /v1/embeddings
# (bench/wrk_embed.lua), compared with the engine's batched throughput
# measured in the same run (`sail embed` of 1024 and of 4096 texts in one
# call, batched 32 at a time, before and after the load: the 3072 more
# texts over the extra time), plus the server's RSS after
# warm-up and at the end.
#
#   sh bench/bench_server.sh [MODEL]   env: DURATION (s, default 20),
#       CONNECTIONS (64), THREADS (compute threads, 2), INPUTS (texts per
#       request, 1), MAX_BATCH (32), WAIT_MS (5), SAIL (build/sail)
# Without MODEL, a random-weight sail-tiny (../shared/golden vocab) is made.
set -e
SAIL=${SAIL:-build/sail}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
INPUTS=${INPUTS:-1}
MAX_BATCH=${MAX_BATCH:-32}
WAIT_MS=${WAIT_MS:-5}
command -v wrk >/dev/null || { echo "bench_server: wrk is missing (sh scripts/install-deps.sh)"; exit 1; }
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
model=$1
if [ -z "$model" ]; then
    vocab=$(dirname "$0")/../../shared/golden/chinese_clip_vocab.txt
    [ -f "$vocab" ] || { echo "bench_server: give a MODEL (no $vocab to make one)"; exit 1; }
    model=$tmp/tiny.gguf
    "$SAIL" init --config tiny --vocab "$vocab" --seed 1 -o "$model" >/dev/null 2>&1
fi
"$SAIL" serve --model "$model" --port 0 --quiet --threads "$THREADS" --max-batch "$MAX_BATCH" \
    --batch-wait-ms "$WAIT_MS" --max-connections 1024 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do grep -q listening "$tmp/log" && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")
url=http://127.0.0.1:$port
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
lua=$(dirname "$0")/wrk_embed.lua
texts=$(dirname "$0")/server_texts.txt
n_texts=$(grep -c . "$texts")

# The engine alone: `sail embed` of the same strings wrk sends, in one call
# (batches of 32), 1024 and then 4096 of them; the rate is the 3072 more
# texts over the extra time, so the process start and model load, which
# the server pays once, are not counted. Run before and after the load so
# that drifting machine load shows.
embed_s() { # $1 texts: seconds for one `sail embed` of them
    n=$1
    set --
    i=1
    while [ $i -le "$n" ]; do
        t=$(sed -n "$((i % n_texts + 1))p" "$texts")
        set -- "$@" --text "$t #$((i % 97))"
        i=$((i + 1))
    done
    t0=$(date +%s.%N)
    "$SAIL" embed --model "$model" --threads "$THREADS" --separate "$@" >/dev/null
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ print $2 - $1 }'
}
engine() {
    a=$(embed_s 1024)
    b=$(embed_s 4096)
    echo "$a $b" | awk '{ printf "%.1f\n", 3072 / ($2 - $1) }'
}
echo "== engine before: sail embed of 1024, then 4096 texts in one call (--threads $THREADS)"
eng1=$(engine)
echo "$eng1 texts/s"
echo "== warm-up: 3 s"
wrk -t2 -c"$CONNECTIONS" -d3s -s "$lua" "$url" -- "$INPUTS" "$texts" | grep BENCH
rss_warm=$(rss)
echo "== wrk -t2 -c$CONNECTIONS -d${DURATION}s, $INPUTS text(s) per request, --max-batch $MAX_BATCH --batch-wait-ms $WAIT_MS --threads $THREADS"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$lua" "$url" -- "$INPUTS" "$texts" | tee "$tmp/wrk"
rss_end=$(rss)
curl -s "$url/metrics" | grep -E '^sail_batch_size_(sum|count)' > "$tmp/metrics" || true
kill -TERM "$pid"; wait "$pid" || true; pid=""

echo "== engine after"
eng2=$(engine)
echo "$eng2 texts/s"

awk -v e1="$eng1" -v e2="$eng2" -v warm="$rss_warm" -v end="$rss_end" -v inputs="$INPUTS" '
    FILENAME ~ /metrics/ { m[$1] = $2; next }
    /^BENCH/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); b[kv[1]] = kv[2] } }
    END {
        eng = (e1 + e2) / 2
        errs = b["errors_connect"] + b["errors_read"] + b["errors_write"] + b["errors_status"] + b["errors_timeout"]
        printf "server: %.0f requests/s, %.0f inputs/s, p50 %.2f ms, p99 %.2f ms, %d errors\n",
            b["rps"], b["rps"] * inputs, b["p50_ms"], b["p99_ms"], errs
        if (m["sail_batch_size_count"] > 0)
            printf "server: mean batch %.1f inputs\n", m["sail_batch_size_sum"] / m["sail_batch_size_count"]
        printf "engine: %.0f texts/s (sail embed, batches of 32, start-up excluded; %.0f before, %.0f after)\n", eng, e1, e2
        printf "server inputs/s / engine texts/s = %.2f\n", b["rps"] * inputs / eng
        printf "RSS: %.1f MiB after warm-up, %.1f MiB at the end\n", warm / 1024, end / 1024
    }' "$tmp/metrics" "$tmp/wrk"
