"""The one option parser of the sail CLI (cli/opts.c), black-box through the
binary: every command's --help exits 0; an unknown option is answered with
the closest valid one; '_' and '-' after the leading dashes are the same
letter; --threads and --dim have one range and one message in every command;
a missing value and a bad number name the option (and the range); positional
arguments and --name=value work. docs/CLI.md describes the rules."""
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import HERE, check, sail  # noqa: E402

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
           ["data", "shapes"]]
DIM = [["embed"], ["eval"], ["align"], ["classify", "train"], ["cluster"], ["reduce", "fit"],
       ["index", "create"], ["init"]]


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
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
