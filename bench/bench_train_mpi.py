"""Data-parallel training throughput: `mpirun -np 2 sail finetune` (1 compute
thread per rank; pinned by mpirun's default, and --bind-to none) against
one process with 1 thread and --grad_accum 2, the
same optimiser steps on the same micro-batches (their models must be
byte-identical, which is checked), and against `mpirun -np 1` (one rank,
one thread: the comparison issue 19 names; its steps take one micro-batch,
so its model differs). --batch is the micro-batch, per rank. Fine-tunes the shipped model on
`sail data shapes` (128 px, English captions), batch 32, runs interleaved
(one, two, one, two, ...) on the shared machine; prints the medians of
the steady rate (pairs/s from the end of step --skip to the last step,
each progress line timed as it arrives: a long run's rate), sail's own
figure (wall clock from the first step, so the start-up's first steps
weigh on short runs), wall seconds and CPU seconds per pair (user + sys of
all processes), and the ratios.
Usage: /usr/bin/python3 bench/bench_train_mpi.py --sail build-mpi/sail [--steps 10] [--reps 3]
       [--batch B] [--accum K] [--skip S]"""
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


def one_run(cmd, pairs_per_step, skip):
    """(steady pairs/s, sail's pairs/s, wall s, CPU s) of one training run."""
    c0, t0 = cpu_children(), time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    lines, at = [], {}
    for line in p.stderr:
        lines.append(line)
        m = re.search(r"step (\d+)/", line)
        if m:
            at.setdefault(int(m.group(1)), time.time())
    p.wait()
    wall, cpu = time.time() - t0, cpu_children() - c0
    if p.returncode:
        sys.exit("%s failed:\n%s" % (" ".join(cmd[:6]), "".join(lines)[-800:]))
    last = max(at)
    if last <= skip:
        sys.exit("%d steps leave none after --skip %d" % (last, skip))
    steady = (last - skip) * pairs_per_step / (at[last] - at[skip])
    rates = re.findall(r"([0-9.]+) pairs/s", "".join(lines))
    return steady, float(rates[-1]), wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sail", required=True, help="a `make MPI=1` sail")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--skip", type=int, default=2, help="steps left out of the steady rate (start-up)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--accum", type=int, default=1, help="micro-batches per step on each rank (the single "
                    "process takes twice as many)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sail-bench-mpi-")
    try:
        subprocess.run([a.sail, "data", "shapes", "-n", str(max(1024, 2 * (a.steps + 1) * a.batch * a.accum)), "--size", "128", "--lang", "en", "--threads", "1",
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
        step_pairs = {k: (1 if k == "mpirun -np 1" else 2) * a.batch * a.accum for k in runs}
        res = {k: [] for k in runs}
        for rep in range(a.reps):
            for j, (k, cmd) in enumerate(runs.items()):
                res[k].append(one_run(cmd(os.path.join(tmp, "%d-%d" % (j, rep))), step_pairs[k], a.skip))
        model = lambda j, i: open(os.path.join(tmp, "%d-%d" % (j, i), "model.gguf"), "rb").read()
        same = all(model(0, i) == model(j, i) for i in range(a.reps) for j in range(1, 3))
        print("| run | steady pairs/s, steps %d-%d (median) | sail's pairs/s, from step 1 | wall s | CPU ms / pair |"
              % (a.skip + 1, a.steps))
        print("|---|---|---|---|---|")
        med = {k: [statistics.median(x[c] for x in v) for c in range(4)] for k, v in res.items()}
        for k, m in med.items():
            print("| %s | %.1f | %.1f | %.1f | %.1f |" % (k, m[0], m[1], m[2], 1e3 * m[3] / (a.steps * step_pairs[k])))
        for c, what in ((0, "steady"), (1, "sail's figure")):
            for k in list(runs)[1:3]:
                print("%s, %s: %.2fx 1 process; %.2fx mpirun -np 1 (per round: %s)" % (
                    k, what, med[k][c] / med[next(iter(runs))][c], med[k][c] / med["mpirun -np 1"][c],
                    ", ".join("%.2fx" % (x[c] / y[c]) for x, y in zip(res[k], res["mpirun -np 1"]))))
        print("models byte-identical (1 process, -np 2, -np 2 unbound): %s" % ("yes" if same else "NO"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
