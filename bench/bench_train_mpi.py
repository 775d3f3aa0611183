"""Data-parallel training throughput: `mpirun -np 2 sail finetune` (1 compute
thread per rank; pinned by mpirun's default, and --bind-to none) against
one process with 1 thread and --grad_accum 2, the
same optimiser steps on the same micro-batches (their models must be
byte-identical, which is checked), and against `mpirun -np 1` (one rank,
one thread: the comparison issue 19 names; its steps take one micro-batch,
so its model differs). --batch is the micro-batch, per rank. Fine-tunes the shipped model on
`sail data shapes` (128 px, English captions), batch 32, runs interleaved
(one, two, one, two, ...) on the shared machine; prints the medians of
pairs/s (sail's own figure: wall clock from the first step), wall seconds
and CPU seconds per pair (user + sys of all processes), and the ratio.
Usage: /usr/bin/python3 bench/bench_train_mpi.py --sail build-mpi/sail [--steps 10] [--reps 3]
       [--batch B] [--accum K]"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_run(cmd):
    c0, t0 = cpu_children(), time.time()
    r = subprocess.run(cmd, capture_output=True)
    wall, cpu = time.time() - t0, cpu_children() - c0
    if r.returncode:
        sys.exit("%s failed:\n%s" % (" ".join(cmd[:6]), r.stderr.decode(errors="replace")[-800:]))
    rates = re.findall(r"([0-9.]+) pairs/s", r.stderr.decode())
    return float(rates[-1]), wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sail", required=True, help="a `make MPI=1` sail")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--accum", type=int, default=1, help="micro-batches per step on each rank (the single "
                    "process takes twice as many)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sail-bench-mpi-")
    try:
        subprocess.run([a.sail, "data", "shapes", "-n", str(max(1024, 2 * a.steps * a.batch * a.accum)), "--size", "128", "--lang", "en", "--threads", "1",
                        "-o", os.path.join(tmp, "d")], check=True, capture_output=True)
        base = ["finetune", "--model_name_or_path", MODEL, "--train_data_path", os.path.join(tmp, "d", "train.jsonl"),
                "--batch_size", str(a.batch), "--num_train_epochs", "1", "--warmup_steps", "2", "--threads", "1",
                "--workers", "1", "--max_steps", str(a.steps), "--progress_every", "1"]
        acc = ["--grad_accum", str(a.accum)]
        runs = {"1 process, --grad_accum %d" % (2 * a.accum): lambda out: [a.sail] + base
                + ["--grad_accum", str(2 * a.accum), "--output_dir", out],
                "mpirun -np 2": lambda out: ["mpirun", "--oversubscribe", "--allow-run-as-root", "-np", "2", a.sail]
                + base + acc + ["--output_dir", out],
                # each rank has a loader thread beside its compute thread: not pinned to one core
                "mpirun -np 2 --bind-to none": lambda out: ["mpirun", "--oversubscribe", "--allow-run-as-root",
                                                            "--bind-to", "none", "-np", "2", a.sail]
                + base + acc + ["--output_dir", out],
                "mpirun -np 1": lambda out: ["mpirun", "--allow-run-as-root", "-np", "1", a.sail] + base
                + acc + ["--output_dir", out]}
        res = {k: [] for k in runs}
        for rep in range(a.reps):
            for j, (k, cmd) in enumerate(runs.items()):
                res[k].append(one_run(cmd(os.path.join(tmp, "%d-%d" % (j, rep)))))
        model = lambda j, i: open(os.path.join(tmp, "%d-%d" % (j, i), "model.gguf"), "rb").read()
        same = all(model(0, i) == model(j, i) for i in range(a.reps) for j in range(1, 3))
        pairs = {k: a.steps * (1 if k == "mpirun -np 1" else 2) * a.batch * a.accum for k in runs}
        print("| run | pairs/s (median) | wall s | CPU ms / pair |")
        print("|---|---|---|---|")
        med = {}
        for k, v in res.items():
            med[k] = statistics.median(x[0] for x in v)
            print("| %s | %.1f | %.1f | %.1f |" % (k, med[k], statistics.median(x[1] for x in v),
                                                   1e3 * statistics.median(x[2] for x in v) / pairs[k]))
        one = med[next(iter(runs))]
        for k in list(runs)[1:3]:
            print("%s / 1 process, pairs/s: %.2fx" % (k, med[k] / one))
        rank = res["mpirun -np 1"]
        for k in list(runs)[1:3]:
            print("%s / mpirun -np 1, pairs/s: %.2fx (per round: %s)" % (
                k, med[k] / med["mpirun -np 1"],
                ", ".join("%.2fx" % (x[0] / y[0]) for x, y in zip(res[k], rank))))
        print("models byte-identical (1 process, -np 2, -np 2 unbound): %s" % ("yes" if same else "NO"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
