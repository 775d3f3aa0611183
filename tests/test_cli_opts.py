"""The one option parser of the sail CLI (cli/opts.c), black-box through the
binary: every command's --help exits 0; an unknown option is answered with
the closest valid one; '_' and '-' after the leading dashes are the same
letter; --threads and --dim have one range and one message in every command;
a missing value and a bad number name the option (and the range); positional
arguments and --name=value work. train, finetune, convert, export and
compose (hand-parsed before) accept every option they took before, in both
spellings. docs/CLI.md describes the rules."""
import json
import os
import sys
import tempfile

import numpy as np

import tap
from tap import HERE, check, sail

MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")

# Every command and subcommand with its own help.
HELP = [["bench"], ["convert"], ["export"], ["embed"], ["info"], ["init"], ["tokenize"], ["vocab"],
        ["vocab", "train"], ["preprocess"], ["train"], ["finetune"], ["compose"], ["eval"], ["quantize"],
        ["data"], ["data", "shapes"], ["index"], ["index", "add"], ["index", "semantic-ids"], ["search"],
        ["serve"], ["classify"], ["classify", "train"], ["cluster"], ["align"], ["reduce"], ["reduce", "fit"],
        ["recommend"]]

# Commands on cli/opts.c: (argv before the options, what else they need).
THREADS = [["embed"], ["search"], ["eval"], ["align"], ["classify", "--zero-shot"], ["cluster"],
           ["reduce", "fit"], ["bench"], ["index", "create"], ["index", "semantic-ids"], ["serve"],
           ["data", "shapes"], ["train"], ["finetune"]]
DIM = [["embed"], ["eval"], ["align"], ["classify", "train"], ["cluster"], ["reduce", "fit"],
       ["index", "create"], ["init"], ["compose"]]

# The commands whose options were parsed by hand before cli/opts: every
# option the old loops accepted, with a valid value (None: a flag), and the
# message each command gives when only its required arguments are missing.
TRAIN_COMMON = {
    "--train_data_path": "t.jsonl", "--output_dir": "o", "--val_data_path": "v.jsonl", "--learning_rate": "1e-4",
    "--num_train_epochs": "2", "--batch_size": "8", "--grad_accum": "2", "--warmup_steps": "0",
    "--min_lr_ratio": "0.1", "--weight_decay": "0", "--max_grad_norm": "0", "--matryoshka": "64,32",
    "--freeze": "text,head", "--part_learning_rate": "text=2e-5,vision=1e-5", "--lora_rank": "4",
    "--lora_alpha": "8", "--lora_parts": "text", "--hard_negatives": "3", "--seed": "7", "--save_every": "10",
    "--max_steps": "5", "--resume": "o", "--threads": "2", "--workers": "1", "--image_size": "64",
    "--progress_every": "1"}
MIGRATED = {
    "train": (dict(TRAIN_COMMON, **{"--config": "tiny", "--vocab": "v.txt", "--patch_size": "8"}),
              "--train_data_path and --output_dir are required"),
    "finetune": (dict(TRAIN_COMMON, **{"--model_name_or_path": "m.gguf", "--export_hf": None}),
                 "--train_data_path and --output_dir are required"),
    "convert": ({"--from": "hf-clip", "--type": "f32", "--pool": "cls", "--merges": "m.txt", "--arch": "ViT-B-32",
                 "--tokenizer": "bpe.txt.gz", "-o": "x.gguf", "--output": "x.gguf"},
                "a folder (or file) and -o are required"),
    "export": ({"--format": "hf", "-o": "d", "--output": "d"}, "a model file and -o are required"),
    "compose": ({"--text": "t.gguf", "--vision": "v.gguf", "-o": "x.gguf", "--output": "x.gguf",
                 "--fusion-layers": "0", "--fusion-width": "64", "--perceiver": "4", "--dim": "128", "--seed": "3",
                 "--scratch": None, "--audio": "a.gguf", "--audio-config": "tiny", "--fusion": "f.gguf",
                 "--name": "m"},
                "--text, --vision and -o are required"),
}


def err_of(r):
    return r.stderr.decode(errors="replace").strip()


def test_help():
    for argv in HELP:
        r = sail(*argv, "--help", ok=False)
        check(r.returncode == 0 and b"usage: sail" in r.stdout and not r.stderr,
              "sail %s --help exits 0 with its usage on stdout" % " ".join(argv), err_of(r)[:200])
    r = sail("embed", "--help", ok=False)
    out = r.stdout.decode()
    check("  --model M" in out and "--max-image-pixels N" in out and "--threads N" in out,
          "embed --help lists its options from the table")


def test_did_you_mean():
    cases = [(["embed", "--modle", MODEL], "--modle", "--model"),
             (["search", "--treads", "2"], "--treads", "--threads"),
             (["serve", "--max-conections", "3"], "--max-conections", "--max-connections"),
             (["index", "add", "--metirc", "ip"], "--metirc", "--metric"),
             (["cluster", "--kmin", "3"], "--kmin", "--k-min"),
             (["align", "--monotnic"], "--monotnic", "--monotonic"),
             (["recommend", "--histroy", "h.txt"], "--histroy", "--history"),
             (["classify", "--label", "a,b"], "--label", "--labels"),
             (["eval", "--dat", "d.jsonl"], "--dat", "--data")]
    for argv, typed, want in cases:
        r = sail(*argv, ok=False)
        e = err_of(r)
        check(r.returncode == 2 and "unknown option %s (did you mean %s?)" % (typed, want) in e,
              "sail %s %s -> did you mean %s" % (argv[0], typed, want), e)
    r = sail("embed", "--frobnicate", ok=False)
    e = err_of(r)
    check(r.returncode == 2 and "unknown option --frobnicate (see sail embed --help)" in e,
          "a name close to nothing gets no guess, only the help to read", e)


def test_spellings(tmp):
    v = os.path.join(tmp, "v.npy")
    np.save(v, np.random.default_rng(3).normal(size=(60, 8)).astype(np.float32))
    outs = []
    for spell in (["--k-min", "2", "--k-max", "4", "--max-iter", "20"],
                  ["--k_min", "2", "--k_max", "4", "--max_iter", "20"],
                  ["--k-min=2", "--k_max=4", "--max_iter=20"]):
        r = sail("cluster", "--vectors", v, "--k", "auto", *spell, ok=False)
        outs.append(r.stdout if r.returncode == 0 else None)
    check(outs[0] is not None and outs[0] == outs[1] == outs[2],
          "cluster: --k-min/--k_min/--k-min=2 (and --max_iter) give the same clusters")
    r1 = sail("embed", "--model", MODEL, "--text", "a red circle", "--max-frames", "3", "--dim", "16",
              "--format", "tsv", ok=False)
    r2 = sail("embed", "--model", MODEL, "--text", "a red circle", "--max_frames", "3", "--dim=16",
              "--format=tsv", ok=False)
    check(r1.returncode == 0 and r1.stdout == r2.stdout and len(r1.stdout.split(b"\t")) == 16,
          "embed: --max_frames = --max-frames, --dim=16 = --dim 16", err_of(r2)[:200])
    ix = os.path.join(tmp, "ix")
    r = sail("index", "create", "--index", ix, "--dim", "8", "--ef_construction", "50", "--ef_search", "20",
             ok=False)
    check(r.returncode == 0, "index create --ef_construction / --ef_search accepted", err_of(r)[:200])
    r = sail("data", "shapes", "-n", "2", "-o", os.path.join(tmp, "d"), "--lang=en", ok=False)
    check(r.returncode == 0, "data shapes --lang=en", err_of(r)[:200])
    for argv in (["--train-data-path", "t.jsonl", "--output-dir", "o"], ["--train_data_path", "t.jsonl", "--output_dir", "o"]):
        r = sail("finetune", *argv, ok=False)
        check(r.returncode == 2 and "--model_name_or_path is required" in err_of(r),
              "finetune %s: both spellings reach the check for the next missing option" % argv[0], err_of(r))
    r = sail("embed", "--model", MODEL, "--text", "x", "--similarity=1", ok=False)
    check(r.returncode == 2 and "--similarity takes no value" in err_of(r), "a flag given a value is refused",
          err_of(r))


def test_ranges():
    for argv in THREADS:
        for bad in ("0", "1025", "four"):
            r = sail(*argv, "--threads", bad, ok=False)
            e = err_of(r)
            check(r.returncode == 2 and e.endswith("--threads needs an integer in 1..1024, not '%s'" % bad),
                  "sail %s --threads %s: one range, one message" % (" ".join(argv), bad), e)
    for argv in DIM:
        for bad in ("0", "65537"):
            r = sail(*argv, "--dim", bad, ok=False)
            e = err_of(r)
            check(r.returncode == 2 and e.endswith("--dim needs an integer in 1..65536, not '%s'" % bad),
                  "sail %s --dim %s: one range, one message" % (" ".join(argv), bad), e)
    r = sail("recommend", "--decay", "fast", ok=False)
    e = err_of(r)
    check(r.returncode == 2 and "--decay needs a number in [0, 1e+06], not 'fast'" in e,
          "a bad float names the option and its range", e)
    r = sail("embed", "--every", "nan", ok=False)
    check(r.returncode == 2 and "--every needs a number" in err_of(r), "NaN is not a number in range", err_of(r))


def test_missing_value():
    for argv, opt in ((["embed", "--model"], "--model"), (["search", "--index", "x", "-k"], "-k"),
                      (["index", "add", "--index"], "--index"), (["serve", "--port"], "--port")):
        r = sail(*argv, ok=False)
        e = err_of(r)
        check(r.returncode == 2 and "option %s needs a value (see sail %s --help)" % (opt, argv[0]) in e,
              "sail %s: a missing value names the option" % " ".join(argv), e)


def listed_options(cmd):
    """The option names `sail CMD --help` lists (its option lines start with
    two spaces and a dash)."""
    out = sail(cmd, "--help", ok=False).stdout.decode()
    return {line.split()[0] for line in out.splitlines() if line.startswith("  -")}


def test_migrated():
    """train, finetune, convert, export and compose: the help lists exactly
    the options the old hand-written loops took (aliases aside), each is
    accepted in both spellings ('_' = '-'), and only the missing required
    arguments stop the command."""
    for cmd, (opts, required) in MIGRATED.items():
        listed = listed_options(cmd)
        want = {o for o in opts if o != "--output"}  # listed as -o
        check(listed == want, "sail %s --help lists its options" % cmd,
              "missing %s, extra %s" % (sorted(want - listed), sorted(listed - want)))
        bad = []
        for name, value in opts.items():
            spellings = {name, name[:2] + name[2:].replace("_", "-"), name[:2] + name[2:].replace("-", "_")}
            for sp in spellings:
                r = sail(cmd, *([sp] if value is None else [sp, value]), ok=False)
                if r.returncode != 2 or required not in err_of(r):
                    bad.append("%s: %s" % (sp, err_of(r)))
                if value is not None:
                    r = sail(cmd, "%s=%s" % (sp, value), ok=False)
                    if r.returncode != 2 or required not in err_of(r):
                        bad.append("%s=: %s" % (sp, err_of(r)))
        check(not bad, "sail %s: each of its %d options is accepted, spelled with '_' or '-' and with '='"
              % (cmd, len(opts)), "; ".join(bad[:3]))
    out = sail("train", "--help", ok=False).stdout.decode()
    check("--train_data_path D.jsonl" in out and "--train-data-path" not in out and "--batch_size B" in out,
          "train --help documents the underscore spelling (after Hugging Face)")
    check("--patch_size" not in listed_options("finetune") and "--export_hf" not in listed_options("train"),
          "train-only and finetune-only options are listed only where they apply")
    cases = [(["train", "--lerning_rate", "1"], "--lerning_rate", "--learning_rate"),
             (["train", "--train-data", "t"], "--train-data", "--train_data_path"),
             (["finetune", "--model_name_or_pth", "m"], "--model_name_or_pth", "--model_name_or_path"),
             (["finetune", "--export-fh"], "--export-fh", "--export_hf"),
             (["convert", "--tokeniser", "x"], "--tokeniser", "--tokenizer"),
             (["export", "--fromat", "hf"], "--fromat", "--format"),
             (["compose", "--fusion-layer", "2"], "--fusion-layer", "--fusion-layers"),
             (["compose", "--scrach"], "--scrach", "--scratch")]
    for argv, typed, want in cases:
        r = sail(*argv, ok=False)
        e = err_of(r)
        check(r.returncode == 2 and "unknown option %s (did you mean %s?)" % (typed, want) in e,
              "sail %s %s -> did you mean %s" % (argv[0], typed, want), e)
    r = sail("finetune", "--config", "tiny", ok=False)
    check(r.returncode == 2 and "unknown option --config" in err_of(r),
          "finetune refuses train's --config (its model is --model_name_or_path)", err_of(r))
    ranges = [(["train", "--batch_size", "1"], "--batch_size needs an integer in 2..65536, not '1'"),
              (["finetune", "--num-train-epochs", "0"], "--num_train_epochs needs an integer in 1..100000, not '0'"),
              (["train", "--learning_rate", "0"], "--learning_rate needs a number in [1e-12, 10], not '0'"),
              (["finetune", "--min_lr_ratio", "1.5"], "--min_lr_ratio needs a number in [0, 1], not '1.5'"),
              (["train", "--lora_alpha", "inf"], "--lora_alpha needs a number in [1e-06, 10000], not 'inf'"),
              (["train", "--workers", "65"], "--workers needs an integer in 1..64, not '65'"),
              (["train", "--image_size", "15"], "--image_size needs an integer in 16..4096, not '15'"),
              (["train", "--patch_size", "1025"], "--patch_size needs an integer in 1..1024, not '1025'"),
              (["finetune", "--seed", "-1"], "--seed needs an integer in 0..2147483647, not '-1'"),
              (["train", "--matryoshka", "64,0"], "--matryoshka needs 1 to 4 comma-separated dimensions in 1..65536"),
              (["train", "--matryoshka", "8,16,32,64,128"], "--matryoshka needs 1 to 4 comma-separated dimensions"),
              (["finetune", "--freeze", "text,tower"], "'tower' is not a part"),
              (["train", "--part_learning_rate", "text=11"], "'text=11' is not PART=LR"),
              (["compose", "--fusion-width", "7"], "--fusion-width needs an integer in 8..16384, not '7'"),
              (["compose", "--perceiver", "1025"], "--perceiver needs an integer in 0..1024, not '1025'"),
              (["compose", "--fusion_layers", "65"], "--fusion-layers needs an integer in 0..64, not '65'")]
    for argv, want in ranges:
        r = sail(*argv, ok=False)
        e = err_of(r)
        check(r.returncode == 2 and want in e, "sail %s: refused with the range" % " ".join(argv), e)
    for argv, opt in ((["train", "--output_dir"], "--output_dir"), (["convert", "d", "-o"], "-o"),
                      (["compose", "--text"], "--text")):
        r = sail(*argv, ok=False)
        check(r.returncode == 2 and "option %s needs a value (see sail %s --help)" % (opt, argv[0]) in err_of(r),
              "sail %s: a missing value names the option" % " ".join(argv), err_of(r))
    for argv, want in ((["convert", "a", "b", "-o", "x.gguf"], "one DIR only: 'b' is one too many"),
                       (["export", "a.gguf", "b.gguf", "-o", "d"], "one MODEL only: 'b.gguf' is one too many"),
                       (["train", "extra"], "unexpected argument 'extra'"),
                       (["export", "m.gguf", "-o", "d", "--format", "onnx"], "--format onnx: the format is hf"),
                       (["convert", "d", "-o", "x.gguf", "--type", "f8"], "--type f8: the types are f32")):
        r = sail(*argv, ok=False)
        check(r.returncode == 2 and want in err_of(r), "sail %s is a usage error" % " ".join(argv), err_of(r))


def test_positionals(tmp):
    r = sail("info", MODEL, ok=False)
    check(r.returncode == 0 and b"sail-tiny" in r.stdout, "info MODEL: a positional argument", err_of(r)[:200])
    r = sail("info", MODEL, MODEL, ok=False)
    check(r.returncode == 2 and "one MODEL.gguf only" in err_of(r), "a second positional is refused", err_of(r))
    r = sail("info", "--", os.path.join(tmp, "-odd.gguf"), ok=False)
    check(r.returncode == 1 and "-odd.gguf" in err_of(r), "after -- an argument is positional", err_of(r))
    r = sail("search", "--index", os.path.join(tmp, "none"), "--model", MODEL, "a", "b", ok=False)
    check(r.returncode == 2 and "one query only" in err_of(r), "search: one query text", err_of(r))
    r = sail("recommend", "--now", "-5", ok=False)
    check(r.returncode == 2 and "--now needs a number in [0, 1e+13], not '-5'" in err_of(r),
          "a value that starts with '-' is still the option's value", err_of(r))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_help()
        test_did_you_mean()
        test_spellings(tmp)
        test_ranges()
        test_missing_value()
        test_positionals(tmp)
        test_migrated()
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
