#!/bin/sh
# SAIL.SEARCH on one Redis node vs sail's in-process HNSW (bench/bench_redis.c),
# in one run: starts a redis-server with the module on a free loopback port
# in a temporary directory, runs the benchmark, stops the server.
#   BUILD=build THREADS=2 sh bench/run_redis.sh [bench_redis options: --n --dim --queries --reps]
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
command -v redis-server >/dev/null || { echo "skip: redis-server is not installed (scripts/install-deps.sh)"; exit 0; }
dir=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --logfile "$dir/redis.log" \
    --loadmodule "$(pwd)/$BUILD/sail-redis.so" THREADS "$THREADS" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for i in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "== SAIL.SEARCH (Redis, module threads $THREADS) vs in-process HNSW, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$BUILD/bench/bench_redis" --port "$port" --threads "$THREADS" "$@"
