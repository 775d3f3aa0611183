"""LoRA fine-tuning through the CLI, with the shipped model on generated
shapes: `sail finetune --lora_rank 4` trains only the adapters in the
adapted parts (their norms, biases and embeddings keep their bytes; their
attention and MLP matrices change only by the merged low-rank update, whose
rank the test measures), the rest of the model trains normally, the saved
model is a plain model (no adapter tensors), and a run stopped with
--max_steps and resumed from its checkpoint (adapters and all) ends with the
same bytes as a straight run. (Gradients of the adapters against finite
differences and merged-vs-unmerged outputs: tests/test_train_grad.c.)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import HERE, SAIL, check, gguf_array, gguf_tensors

MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True)


def main():
    if not tap.have(MODEL):
        return tap.summary()
    with tempfile.TemporaryDirectory() as tmp:
        d = tap.shapes(tmp, 120, 9)
        if not d:
            return tap.summary()
        common = ["--train_data_path", os.path.join(d, "train.jsonl"), "--learning_rate", "1e-3",
                  "--num_train_epochs", "2", "--batch_size", "16", "--threads", "2", "--lora_rank", "4",
                  "--lora_alpha", "8", "--lora_parts", "text,vision"]
        run = os.path.join(tmp, "run")
        r = sail("finetune", "--model_name_or_path", MODEL, "--output_dir", run, *common)
        if not check(r.returncode == 0 and "LoRA rank 4" in r.stderr, "finetune with --lora_rank 4 runs",
                     r.stderr[-300:]):
            return tap.summary()
        out = os.path.join(run, "model.gguf")
        names = gguf_tensors(out)
        check(set(names) == set(gguf_tensors(MODEL)) and not any("lora" in n for n in names),
              "the saved model has the original tensors only (adapters merged)")
        kept, low_rank, moved = [], [], []
        for n in names:
            if not (n.startswith("text.") or n.startswith("vis.")):
                continue
            delta = gguf_array(out, n) - gguf_array(MODEL, n)
            matrix = ".blk." in n and n.endswith(".weight") and "norm" not in n
            if matrix:  # rank at 1e-3 of the top singular value: f32 rounding of the merge leaves ~1e-6
                s = np.linalg.svd(delta.astype(np.float64), compute_uv=False)
                low_rank.append((n, int((s > 1e-3 * max(s[0], 1e-30)).sum()), float(s[0]), float(s[4] / s[0]) if len(s) > 4 else 0.0))
            else:
                kept.append((n, float(np.abs(delta).max())))
        check(kept and all(x == 0 for _, x in kept),
              "in the adapted parts, norms, biases and embeddings keep their values (%d tensors)" % len(kept),
              str([k for k in kept if k[1]][:3]))
        check(low_rank and all(r <= 4 and top > 0 for _, r, top, _ in low_rank),
              "each adapted matrix changed by an update of rank <= 4 (%d matrices, ranks %s)"
              % (len(low_rank), sorted(set(r for _, r, _, _ in low_rank))), "worst 5th/1st singular value %.1e" % max(x for _, _, _, x in low_rank))
        for n in names:
            if n.startswith("fuse.") or n.startswith("head."):
                moved.append(float(np.abs(gguf_array(out, n) - gguf_array(MODEL, n)).max()))
        check(moved and max(moved) > 1e-4, "the parts without adapters (fusion, head) train normally")

        part = os.path.join(tmp, "part")
        r1 = sail("finetune", "--model_name_or_path", MODEL, "--output_dir", part, "--max_steps", "5", *common)
        r2 = sail("finetune", "--resume", part, "--train_data_path", os.path.join(d, "train.jsonl"),
                  "--output_dir", part, "--threads", "2")
        same = r1.returncode == 0 and r2.returncode == 0 and \
            open(os.path.join(part, "model.gguf"), "rb").read() == open(out, "rb").read()
        check(same, "a LoRA run stopped at step 5 and resumed ends byte-identical to the straight run",
              (r1.stderr + r2.stderr)[-300:])
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
