#!/usr/bin/python3
"""test_tokenize_cli.py: black-box test of `sail tokenize` and `sail vocab
train` against the golden files: the CLI must print exactly the golden ids
(WordPiece: every line; BPE: every line but the known mojibake lines that
tests/test_bpe.c lists). Skips when the golden files or the subcommands are
absent."""
import json
import os
import subprocess
import sys
import tempfile

import tap
from tap import SAIL, check

GOLDEN = os.environ.get("SAIL_GOLDEN", "../shared/golden")


def golden(name):
    with open(os.path.join(GOLDEN, name), "rb") as f:
        return [json.loads(l) for l in f.read().split(b"\n") if l]


def tokenize(vocab, lines, *extra):
    data = b"".join(l.encode("utf-8", "surrogatepass") + b"\n" for l in lines)
    out = subprocess.run([SAIL, "tokenize", "--vocab", vocab, *extra], input=data,
                         capture_output=True, check=True).stdout
    return [json.loads(l) for l in out.split(b"\n") if l]


def main():
    if not os.path.exists(os.path.join(GOLDEN, "README.md")):
        print(f"skip - golden files not found in {GOLDEN}")
        return 0
    if subprocess.run([SAIL, "tokenize", "--help"], capture_output=True).returncode != 0:
        print(f"skip - {SAIL} has no tokenize command yet")
        return 0
    wp = golden("bert_wordpiece_golden.jsonl")
    got = tokenize(os.path.join(GOLDEN, "chinese_clip_vocab.txt"), [g["text"] for g in wp])
    same = sum(a == g["ids"] for a, g in zip(got, wp))
    check(len(got) == len(wp) and same == len(wp), f"tokenize wordpiece: {same}/{len(wp)} lines match")
    bpe = golden("clip_bpe_golden.jsonl")
    got = tokenize(os.path.join(GOLDEN, "bpe_simple_vocab_16e6.txt.gz"), [g["text"] for g in bpe],
                   "--type", "bpe")
    same = sum(a == g["ids"] for a, g in zip(got, bpe))
    check(len(got) == len(bpe) and same >= len(bpe) - 7, f"tokenize bpe: {same}/{len(bpe)} lines match")
    bad = subprocess.run([SAIL, "tokenize", "--vocab", "/nonexistent"], capture_output=True)
    check(bad.returncode == 1 and b"nonexistent" in bad.stderr, "a missing vocab fails with a message")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "vocab.txt")
        r = subprocess.run([SAIL, "vocab", "train", "--corpus", os.path.join(GOLDEN, "corpus_public.txt"),
                            "--size", "1500", "-o", out], capture_output=True)
        lines = open(out, encoding="utf-8").read().split("\n")[:-1] if r.returncode == 0 else []
        check(len(lines) == 1500 and lines[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
              "vocab train writes 1500 entries, specials first")
    r = subprocess.run([SAIL, "vocab", "train", "--size", "0"], capture_output=True)
    check(r.returncode == 2 and r.stderr, "vocab train rejects a bad size")
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
