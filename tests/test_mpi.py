"""sail under mpirun (make MPI=1).

Data-parallel training (docs/TRAINING.md, "Several processes"):
`mpirun -np 2 sail train` must write a model and a checkpoint byte-identical
to a single process with twice the --grad_accum, on test_train_loop's
generated shapes with a batch size that leaves an odd number of batches
per epoch (so the last step of each epoch has one micro-batch and rank 1
sits it out), hard negatives from epoch 2 (a plan both ranks must build
alike), an undecodable image and validation; also with --grad_accum 2 per
rank against 4, and a 2-rank run stopped by SIGUSR1 to mpirun, resumed by
one process.

Sharded `sail index add` (docs/INDEX.md): 2,010 items (1,000 PNG files,
1,000 texts, 10 missing images) added by 2 ranks give the index.snap of
one process but for the index's random identity (and the header's crc):
every id, vector, payload and tombstone flag, in the same order.

Needs a `make MPI=1` build: $SAIL_MPI, else $SAIL when it is one, else
$BUILD-mpi/sail or build-mpi/sail; skipped with the reason otherwise."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import tap
from tap import BUILD, SAIL, check
import test_train_loop as L

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "sail-tiny.gguf")
MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "-np"]


def is_mpi_build(path):
    if not path or not os.access(path, os.X_OK):
        return False
    r = subprocess.run([path, "train", "--help"], capture_output=True)
    return b"mpirun" in r.stdout


def find_sail():
    for p in (os.environ.get("SAIL_MPI"), SAIL, BUILD.rstrip("/") + "-mpi/sail", "build-mpi/sail"):
        if is_mpi_build(p):
            return p
    return None


def args(tmp, out, *extra):
    return ["train", "--config", "tiny", "--vocab", os.path.join(tmp, "vocab.txt"),
            "--train_data_path", os.path.join(tmp, "train.jsonl"),
            "--val_data_path", os.path.join(tmp, "val.jsonl"), "--output_dir", os.path.join(tmp, out),
            # 64 text-image pairs and 16 text-text in batches of 9: 7 + 2 batches an epoch
            "--image_size", 32, "--batch_size", 9, "--num_train_epochs", 4, "--learning_rate", 2e-3,
            "--warmup_steps", 2, "--hard_negatives", 2, "--seed", 3, "--threads", 1, "--workers", 1,
            "--matryoshka", "512,128", "--progress_every", 5] + list(extra)


def run(sail, tmp, out, *extra, ranks=0):
    cmd = (MPIRUN + [str(ranks)] if ranks else []) + [sail] + [str(a) for a in args(tmp, out, *extra)]
    r = subprocess.run(cmd, capture_output=True, timeout=300)
    if r.returncode:
        print("# %s exited %d: %s" % (" ".join(cmd[:6]), r.returncode, r.stderr.decode(errors="replace")[-600:]))
    return r


def same(tmp, a, b, name):
    pa, pb = os.path.join(tmp, a, name), os.path.join(tmp, b, name)
    return os.path.exists(pa) and os.path.exists(pb) and open(pa, "rb").read() == open(pb, "rb").read()


def index_add(sail, tmp):
    from PIL import Image
    import numpy as np
    rng = np.random.default_rng(5)
    os.makedirs(os.path.join(tmp, "files"))
    with open(os.path.join(tmp, "items.jsonl"), "w") as f:
        for i in range(1000):
            p = os.path.join("files", "%04d.png" % i)
            Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(os.path.join(tmp, p))
            f.write(json.dumps({"image": p, "n": i}) + "\n")
            if i % 100 == 7:
                f.write(json.dumps({"image": "files/missing.png"}) + "\n")
        for i in range(1000):
            f.write(json.dumps({"text": "item %d: a red circle%s" % (i, " and more" * (i % 6))}) + "\n")
    snaps = []
    for name, ranks in (("alone", 0), ("ranks", 2)):
        cmd = (MPIRUN + [str(ranks)] if ranks else []) + [sail, "index", "add", "--index", os.path.join(tmp, name),
                                                          "--model", MODEL,
                                                          "--threads", "1", os.path.join(tmp, "items.jsonl")]
        r = subprocess.run(cmd, capture_output=True, timeout=300)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 0 and "added 2000 items (10 skipped)" in err and err.count("missing.png") == 10,
              "index add of 2,010 items %s: 2,000 added, each of the 10 missing images named once" %
              ("over 2 ranks" if ranks else "in one process"), err[-300:] if r.returncode else "")
        path = os.path.join(tmp, name, "index.snap")
        snaps.append(open(path, "rb").read() if os.path.exists(path) else b"")
    a, b = snaps
    # bytes 108..123 are the index's random identity and the header's crc32
    check(len(a) > 128 and len(a) == len(b) and a[:108] == b[:108] and a[128:] == b[128:],
          "2 ranks: index.snap equals one process's (ids, vectors, payloads, in order)")


def main():
    sail = find_sail()
    if not shutil.which("mpirun"):
        print("skip - mpirun is not installed (Debian: openmpi-bin; scripts/install-deps.sh)")
        return 0
    if not sail:
        print("skip - no MPI build of sail: `make MPI=1` (builds build-mpi/sail), or set SAIL_MPI")
        return 0
    tmp = tempfile.mkdtemp(prefix="sail-mpi-")
    try:
        index_add(sail, tmp)
        L.make_data(tmp)
        one = run(sail, tmp, "one", "--grad_accum", 2)
        two = run(sail, tmp, "two", ranks=2)
        check(one.returncode == 0 and two.returncode == 0, "sail train --grad_accum 2 and mpirun -np 2 sail train "
              "run 4 epochs (20 steps)")
        check(same(tmp, "one", "two", "model.gguf") and same(tmp, "one", "two", "checkpoint.gguf"),
              "2 ranks: model.gguf and checkpoint.gguf byte-identical to one process with --grad_accum 2")
        err = two.stderr.decode(errors="replace")
        check(err.count("step 20/20") == 1 and err.count("model written") == 1,
              "2 ranks: rank 0 alone reports progress and writes the files")

        four = run(sail, tmp, "four", "--grad_accum", 4, "--max_steps", 6)
        twotwo = run(sail, tmp, "twotwo", "--grad_accum", 2, "--max_steps", 6, ranks=2)
        check(four.returncode == 0 and twotwo.returncode == 0 and same(tmp, "four", "twotwo", "model.gguf"),
              "2 ranks with --grad_accum 2: 6 steps byte-identical to one process with --grad_accum 4")

        # SIGUSR1 to mpirun (which forwards it): every rank stops after the same step
        log = open(os.path.join(tmp, "part.log"), "w+")
        p = subprocess.Popen(MPIRUN + ["2", sail] + [str(a) for a in args(tmp, "part", "--progress_every", 1)],
                             stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(1200):
            log.seek(0)
            if "step 2/20" in log.read() or p.poll() is not None:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGUSR1)
        rc = p.wait(300)
        log.seek(0)
        text = log.read()
        steps = re.findall(r"checkpoint at step (\d+)", text)
        check(rc == 130 and len(steps) == 1 and 2 <= int(steps[0]) < 20,
              "SIGUSR1 to mpirun: both ranks stop after the same step (%s), rank 0 writes the checkpoint, exit 130"
              % (steps[0] if steps else "?"), "exit %d: %s" % (rc, text[-300:]) if rc != 130 else "")
        rest = subprocess.run([sail, "train", "--resume", os.path.join(tmp, "part"), "--train_data_path",
                               os.path.join(tmp, "train.jsonl"), "--val_data_path", os.path.join(tmp, "val.jsonl"),
                               "--output_dir", os.path.join(tmp, "part"), "--threads", "1", "--workers", "1"],
                              capture_output=True)
        check(rc == 130 and rest.returncode == 0 and same(tmp, "one", "part", "model.gguf") and
              same(tmp, "one", "part", "checkpoint.gguf"),
              "that checkpoint resumed by one process ends byte-identical to the straight runs",
              rest.stderr.decode(errors="replace")[-300:] if rest.returncode else "")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
