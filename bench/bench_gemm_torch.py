"""bench_gemm_torch.py: PyTorch f32 Linear layers (y = x W^T, torch.nn.functional.linear)
at the shapes bench_gemm_quant.c names, for the ratio beside sail's GEMMs in the same
run. One thread unless --threads T (set OPENBLAS_NUM_THREADS=T as well); thread CPU
time at 1 thread (a loaded machine inflates it little), wall time otherwise; medians
of --reps after one warm-up, each sample >= ~2 ms.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/bench_gemm_torch.py [--threads T] [--reps R] [--only TEXT]
"""
import statistics
import sys
import time

import torch

SHAPES = [  # the ViT-S/16 @224 shapes of bench_gemm_quant.c
    ("ViT-S qkv", 197, 1152, 384), ("ViT-S proj", 197, 384, 384),
    ("ViT-S fc1", 197, 1536, 384), ("ViT-S fc2", 197, 384, 1536),
    ("ViT-S b8 patch", 1568, 384, 768), ("ViT-S b8 qkv", 1576, 1152, 384),
    ("ViT-S b8 proj", 1576, 384, 384), ("ViT-S b8 fc1", 1576, 1536, 384),
    ("ViT-S b8 fc2", 1576, 384, 1536),
]


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


threads, reps, only = int(arg("--threads", 1)), int(arg("--reps", 15)), arg("--only", None)
torch.set_num_threads(threads)
clock = time.thread_time if threads == 1 else time.perf_counter
print("# torch %s, %d thread(s), GFLOP/s, median of %d" % (torch.__version__, threads, reps))
with torch.inference_mode():
    for name, M, N, K in SHAPES:
        if only and only not in name:
            continue
        x, w = torch.rand(M, K) * 2 - 1, torch.rand(N, K) * 2 - 1
        flop = 2.0 * M * N * K
        inner = int(2e-3 / (flop / 100e9)) + 1
        samples = []
        for r in range(reps + 1):
            t0 = clock()
            for _ in range(inner):
                torch.nn.functional.linear(x, w)
            if r:
                samples.append((clock() - t0) / inner)
        print("%-16s %-15s %8.1f" % (name, "%dx%dx%d" % (M, N, K), flop / statistics.median(samples) / 1e9))
        sys.stdout.flush()
