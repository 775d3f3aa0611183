#!/bin/sh
# The vector-index benchmark, one data set: sail vs FAISS and hnswlib
# (exact, HNSW builds, recall@10 vs queries/s at 1 and 2 threads, resident
# memory), then the recall-vs-QPS plot. Knobs (environment):
#   INDEX_DATA  synthetic (clustered vectors, default) or model (the shipped
#               model's image vectors of generated scenes, text queries)
#   INDEX_N     vectors (default 100000; 1000000 for the large run)
#   INDEX_CLUSTERS  synthetic clusters (default 1000: 100 vectors each at 100k;
#               10000 keeps that density at 1M)
#   PLOT        the PNG to draw (default bench-index-$INDEX_DATA-$INDEX_N.png)
BUILD=${BUILD:-build}
PY=/usr/bin/python3
INDEX_DATA=${INDEX_DATA:-synthetic}
INDEX_N=${INDEX_N:-100000}
PLOT=${PLOT:-bench-index-$INDEX_DATA-$INDEX_N.png}
KEEP=${KEEP:-}      # a folder to keep the data and indexes in (default: removed)
echo "== Vector index: sail vs FAISS and hnswlib ($INDEX_DATA, $INDEX_N x 512; docs/BENCHMARKS.md)"
if [ ! -f "$BUILD/libsail.so" ] || ! $PY -c 'import faiss, hnswlib' 2>/dev/null; then
    echo "(skipped: needs $BUILD/libsail.so, python3-faiss and python3-hnswlib; scripts/install-deps.sh)"
    exit 0
fi
if [ -n "$KEEP" ]; then d=$KEEP; mkdir -p "$d"; else d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; fi
export SAIL_LIB="$BUILD/libsail.so" SAIL="$BUILD/sail"
if [ "$INDEX_DATA" = model ]; then
    nice -n 10 $PY bench/bench_index_peers.py --prepare-model "$d" --n "$INDEX_N" --threads 2 || exit 1
    rm -rf "$d/shapes" "$d/shapes-q"
else
    nice -n 10 $PY bench/bench_index_peers.py --prepare "$d" --n "$INDEX_N" --clusters "${INDEX_CLUSTERS:-1000}" >/dev/null || exit 1
fi
for t in 1 2; do nice -n 10 $PY bench/bench_index_peers.py --exact "$d" --threads $t; done
for lib in faiss hnswlib sail sail-int8; do
    nice -n 10 $PY bench/bench_index_peers.py --build "$d" --lib $lib --threads 2
done
for t in 1 2; do
    nice -n 10 $PY bench/bench_index_peers.py --hnsw "$d" --threads $t | tee -a "$d/log"
done
for lib in sail sail-int8; do nice -n 10 $PY bench/bench_index_peers.py --rss "$d/idx/$lib" "$d" --threads 2; done
$PY -c 'import matplotlib' 2>/dev/null &&
    $PY bench/bench_index_peers.py --plot "$PLOT" --title "$INDEX_DATA, $INDEX_N x 512" "$d/log"
exit 0
