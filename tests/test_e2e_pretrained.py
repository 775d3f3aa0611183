"""End to end, the path of the SAIL-Embedding article: start from a
pretrained checkpoint in Hugging Face's layout, fine-tune on new pairs.

One chain, small and seeded (about 30 s on 2 cores):
  1. a random-weight CLIP folder in Hugging Face's layout (PyTorch's default
     initialisation, tests/convert_oracle.py's architecture, a CLIP BPE whose
     merges spell the words of the shapes captions, learnt here from the
     pretraining captions) is converted with `sail convert`;
  2. "pretraining": `sail finetune` on generated shapes (`sail data shapes`,
     seed 3) at a high rate (3e-3), stopped at step 500 of a 20-epoch
     schedule (--max_steps), as a checkpoint taken during a run is: the
     model retrieves (held-out R@1 about ten times chance) and is still
     learning, so a 2e-5 fine-tune has something to add (models trained to
     the end of their schedule here moved by noise or lost a little under
     2e-5 for 3 epochs); it stands in for a pretrained checkpoint;
  3. `sail export --format hf` writes it as a Hugging Face folder; converting
     that folder again gives the pretrained model's metadata and tensors
     exactly, and exporting the re-import gives the same files byte for byte;
  4. `sail finetune --model_name_or_path <that folder> --learning_rate 2e-5
     --num_train_epochs 3` on a fresh shapes set (seed 8), and
  5. text -> image and image -> text R@1 on the fresh set's held-out pairs
     (its val and test splits, never trained on) both rise, by at least two
     hits (printed; measured text->image 0.055..0.058 -> 0.079..0.085 and
     image->text 0.051..0.061 -> 0.075..0.079 over 293 pairs with the
     AVX-512, AVX2 and plain C kernels and two GEMM revisions).
Every step runs one compute thread, so the run is the same on every machine
with the same kernels.
Chance, the random model, the pretrained model and the fine-tuned model are
all printed. Fails on any step.
"""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

import tap
from tap import SAIL, check, skip_import

try:
    import torch  # noqa: F401  (convert_oracle builds the models with it)
    import convert_oracle as O
    import test_finetune_grad as G
    import test_export_hf as X
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch and python3-numpy", e)

THREADS = "1"   # the tiny model gains nothing from a second thread; one keeps the run fast on a loaded machine


def sail(*args, **kw):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True, **kw)


def ok(r, name):
    return check(r.returncode == 0, name, r.stderr.strip()[-400:] if r.returncode else "")


def word_bpe(d, texts):
    """vocab.json + merges.txt in CLIPTokenizer's layout: the 512 byte symbols
    and the merges of byte-pair encoding learnt on the words of texts (most
    frequent pair first, ties by the pair's order) until every word is one
    token; start and end tokens last (the end token the largest id)."""
    words = collections.Counter()
    for t in texts:
        for w in re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", t.lower()):
            words[tuple(w[:-1]) + (w[-1] + "</w>",)] += 1
    merges = O.learn_merges(words)
    sym = list(O.bytes_to_unicode().values())
    vocab = sym + [s + "</w>" for s in sym]
    for m in merges:
        if "".join(m) not in vocab:
            vocab.append("".join(m))
    return O.write_bpe(d, vocab + ["<|startoftext|>", "<|endoftext|>"], merges), len(merges)


def random_clip(d, corpus):
    """The folder of step 1: CLIP text and vision towers of width 32, 2 layers,
    32 px images in 8 px patches, PyTorch's default initialisation."""
    os.makedirs(d)
    texts = [json.loads(line)["text"] for line in open(corpus, encoding="utf-8")]
    n, n_merges = word_bpe(d, texts)
    model = G.trainable_clip(d, n)
    O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
    return n_merges


def recall(model, data):
    """(text -> image R@1, image -> text R@1, n) from `sail eval --json`."""
    r = sail("eval", "--model", model, "--data", data, "--json", "--threads", THREADS)
    if r.returncode:
        return None
    j = json.loads(r.stdout)
    return j["text_to_image"]["R@1"], j["image_to_text"]["R@1"], j["n"]


def shapes(tmp, name, n, seed):
    d = os.path.join(tmp, name)
    r = sail("data", "shapes", "-n", n, "--seed", seed, "--size", "32", "--lang", "en", "-o", d)
    if not ok(r, "sail data shapes -n %d --seed %d (%s)" % (n, seed, name)):
        return None
    with open(os.path.join(d, "held.jsonl"), "w", encoding="utf-8") as f:   # val + test: never trained on
        for split in ("val.jsonl", "test.jsonl"):
            f.write(open(os.path.join(d, split), encoding="utf-8").read())
    return d


def same_folder(a, b):
    names = sorted(os.listdir(a))
    return names == sorted(os.listdir(b)) and all(
        open(os.path.join(a, x), "rb").read() == open(os.path.join(b, x), "rb").read() for x in names)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        pre, fresh = shapes(tmp, "pretrain", 2000, 3), shapes(tmp, "fresh", 3000, 8)
        if not pre or not fresh:
            return tap.summary()
        src, base = os.path.join(tmp, "clip-random"), os.path.join(tmp, "clip-random.gguf")
        n_merges = random_clip(src, os.path.join(pre, "train.jsonl"))
        if not ok(sail("convert", src, "-o", base), "1. the random CLIP folder (%d BPE merges) converts" % n_merges):
            return tap.summary()

        # 2. pretraining: high rate, stopped at step 500 of a 20-epoch schedule
        run1 = os.path.join(tmp, "pretrain-run")
        r = sail("finetune", "--model_name_or_path", base, "--train_data_path", os.path.join(pre, "train.jsonl"),
                 "--output_dir", run1, "--learning_rate", "3e-3", "--num_train_epochs", "20", "--max_steps", "500",
                 "--batch_size", "32", "--warmup_steps", "20", "--threads", THREADS, "--seed", "3")
        if not ok(r, "2. pretraining: sail finetune on shapes (seed 3), 500 steps at 3e-3"):
            return tap.summary()
        pretrained = os.path.join(run1, "model.gguf")
        r0, r1 = recall(base, os.path.join(pre, "test.jsonl")), recall(pretrained, os.path.join(pre, "test.jsonl"))
        if not check(r0 and r1, "sail eval of the random and the pretrained model"):
            return tap.summary()
        chance = 1.0 / r1[2]
        check(min(r1[:2]) >= 5 * chance and r1[0] > r0[0] and r1[1] > r0[1],
              "2. the pretrained model retrieves: held-out R@1 text->image %.3f, image->text %.3f over %d pairs "
              "(random weights %.3f / %.3f, chance %.3f)" % (r1[0], r1[1], r1[2], r0[0], r0[1], chance))

        # 3. export as a Hugging Face folder; re-import; export again
        hf, again, hf2 = (os.path.join(tmp, x) for x in ("pretrained-hf", "reimported.gguf", "pretrained-hf2"))
        if not ok(sail("export", "--format", "hf", pretrained, "-o", hf), "3. sail export --format hf"):
            return tap.summary()
        if not ok(sail("convert", hf, "-o", again), "3. the exported folder converts"):
            return tap.summary()
        (kv1, t1), (kv2, t2) = X.read_gguf(pretrained), X.read_gguf(again)
        check(kv1 == kv2 and t1 == t2, "3. re-import: the same metadata and the same %d tensors, byte for byte, as "
              "the pretrained model" % len(t1), "" if kv1 == kv2 and t1 == t2 else
              "keys differ %s, tensors differ %s" % ([k for k in set(kv1) | set(kv2) if kv1.get(k) != kv2.get(k)][:3],
                                                     [k for k in t1 if t1[k] != t2.get(k)][:3]))
        if ok(sail("export", "--format", "hf", again, "-o", hf2), "3. the re-imported model exports"):
            check(same_folder(hf, hf2), "3. exporting the re-import gives the same files byte for byte (%s)"
                  % ", ".join(sorted(os.listdir(hf))))

        # 4. fine-tune FROM THE FOLDER on a fresh set at 2e-5 for 3 epochs
        run2 = os.path.join(tmp, "finetune-run")
        r = sail("finetune", "--model_name_or_path", hf, "--train_data_path", os.path.join(fresh, "train.jsonl"),
                 "--output_dir", run2, "--learning_rate", "2e-5", "--num_train_epochs", "3", "--batch_size", "8",
                 "--warmup_steps", "10", "--threads", THREADS, "--seed", "42")
        if not ok(r, "4. sail finetune --model_name_or_path <the exported folder> --learning_rate 2e-5 "
                     "--num_train_epochs 3 on fresh shapes (seed 8)"):
            return tap.summary()
        tuned = os.path.join(run2, "model.gguf")

        # 5. held-out R@1 on the fresh set, before and after
        held = os.path.join(fresh, "held.jsonl")
        b, a = recall(again, held), recall(tuned, held)
        if not check(b and a, "sail eval on the fresh set's held-out pairs"):
            return tap.summary()
        print("# fresh held-out (%d pairs, chance %.4f): R@1 text->image %.4f -> %.4f, image->text %.4f -> %.4f"
              % (b[2], 1.0 / b[2], b[0], a[0], b[1], a[1]))
        check(b[0] >= 5.0 / b[2], "5. before fine-tuning the pretrained model already retrieves on the fresh set "
              "(text->image R@1 %.4f, chance %.4f)" % (b[0], 1.0 / b[2]))
        two = 1.5 / b[2]   # at least two more hits
        check(a[0] > b[0] + two and a[1] > b[1] + two, "5. fine-tuning at 2e-5 for 3 epochs improves held-out R@1: "
              "text->image %.4f -> %.4f, image->text %.4f -> %.4f (%d pairs)" % (b[0], a[0], b[1], a[1], b[2]))
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
