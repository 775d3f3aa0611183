"""CLI regressions from the hardening issue, black-box through the sail
binary with the shipped model: an index whose log was deleted is refused
(not silently re-created); `sail align` refuses a cue that ends before it
starts, naming its line, and writes no negative time; `sail eval` with no
usable pair is an error that says why; `sail recommend` reads
`text:... WEIGHT TIMESTAMP` history lines as documented (checked against
numpy over sail's own vectors); `sail convert --help` tells the truth about
--type."""
import json
import os
import re
import shutil
import sys
import tempfile

import numpy as np

import tap
from tap import BUILD, HERE, check, run, sail

MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")
TOOL = os.path.join(BUILD, "tools", "apps_tool")


def embed(*args):
    r = sail("embed", "--model", MODEL, *args)
    if r.returncode:
        return np.zeros((0, 0))
    return np.array([d["embedding"] for d in json.loads(r.stdout)["data"]], dtype=np.float64)


def write_ppm(path, rgb, w=40, h=30):
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h) + bytes(rgb) * (w * h))


def test_index_log(tmp):
    ix = os.path.join(tmp, "ix")
    v = os.path.join(tmp, "v.npy")
    np.save(v, np.random.default_rng(1).normal(size=(20, 8)).astype(np.float32))
    r = sail("index", "import", "--index", ix, "--metric", "ip", "--kind", "exact", v)
    r = sail("index", "info", "--index", ix, "--json")
    count = json.loads(r.stdout).get("count") if r.returncode == 0 else None
    check(count == 20, "control: an imported index holds 20 items (%s)" % count)
    os.remove(os.path.join(ix, "index.wal"))
    r = sail("index", "info", "--index", ix, ok=False)
    check(r.returncode == 1 and b"index.wal is missing" in r.stderr,
          "sail index info refuses an index whose log was deleted: %s" % r.stderr.decode(errors="replace").strip())
    check(not os.path.exists(os.path.join(ix, "index.wal")), "and does not re-create the log")
    r = sail("index", "info", "--index", ix, "--json", "--recover-without-log", ok=False)
    count = json.loads(r.stdout).get("count") if r.returncode == 0 else None
    check(r.returncode == 0 and count is not None and b"index.wal" in r.stderr,
          "--recover-without-log opens from the snapshot alone and says what happened (%s items): %s"
          % (count, r.stderr.decode(errors="replace").strip()[:200]))
    r = sail("index", "info", "--index", ix, ok=False)
    check(r.returncode == 0, "after the recovery the index opens normally",
          r.stderr.decode(errors="replace").strip()[:200])


def test_nonfinite(tmp):
    bad = os.path.join(tmp, "nan.gguf")
    shutil.copy(MODEL, bad)
    t, _, off = tap.gguf_tensors(bad)["head.proj.weight"]
    with open(bad, "r+b") as f:  # f16 NaN (0x7e00) or f32 NaN over the first values
        f.seek(off)
        f.write((b"\x00\x7e" if t == 1 else b"\x00\x00\xc0\x7f") * 8)
    for fmt in ("json", "tsv"):
        r = sail("embed", "--model", bad, "--text", "a red dress", "--format", fmt, ok=False)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 1 and "non-finite" in err and "nan.gguf" in err and b"nan" not in r.stdout.lower(),
              "a model with NaN weights: embed --format %s is an error naming the model, no vector printed: %s"
              % (fmt, err.strip()[-160:]))
    r = sail("embed", "--model", MODEL, "--text", "a red dress", "--format", "tsv")
    check(r.returncode == 0 and b"nan" not in r.stdout.lower(), "control: the intact model embeds")


def test_align(tmp):
    frames = os.path.join(tmp, "frames")
    os.mkdir(frames)
    for i, col in enumerate([(255, 0, 0), (0, 0, 255), (0, 255, 0)]):
        write_ppm(os.path.join(frames, "f%03d.ppm" % i), col)
    srt = os.path.join(tmp, "bad.srt")
    # the second cue's timing line is line 6 of the file
    with open(srt, "w") as f:
        f.write("1\n00:00:01,000 --> 00:00:02,000\na red car\n\n2\n00:00:09,000 --> 00:00:04,000\nblue sky\n")
    out = os.path.join(tmp, "out.srt")
    r = sail("align", "--model", MODEL, "--subtitles", srt, "--frames", frames, "--fps", 1, "-o", out, ok=False)
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 1 and "bad.srt:6:" in err and "ends before it starts" in err,
          "align refuses a cue whose end precedes its start, with its line number: %s" % err.strip())
    check(not os.path.exists(out), "and writes no SRT")

    with open(srt, "w") as f:
        f.write("1\n00:00:01,000 --> 00:00:02,000\na red car\n\n\n2\n00:00:-4,000 --> 00:00:05,000\nblue sky\n")
    r = sail("align", "--model", MODEL, "--subtitles", srt, "--frames", frames, "--fps", 1, "-o", out, ok=False)
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 1 and "bad.srt:7:" in err, "a negative SRT time is refused with its line number: %s" % err.strip())

    good = os.path.join(tmp, "good.srt")
    with open(good, "w") as f:
        f.write("1\n00:00:00,000 --> 00:00:00,000\na red car\n\n2\n00:00:03,000 --> 00:00:07,500\nblue sky\n")
    r = sail("align", "--model", MODEL, "--subtitles", good, "--frames", frames, "--monotonic", "--fps", 2, "-o", out)
    text = open(out).read() if r.returncode == 0 and os.path.exists(out) else ""
    times = re.findall(r"^(\S+) --> (\S+)$", text, re.M)
    valid = re.compile(r"^\d\d:\d\d:\d\d,\d\d\d$")

    def sec(t):
        h, m, s = t.replace(",", ".").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    ok = len(times) == 2 and all(valid.match(a) and valid.match(b) and sec(b) >= sec(a) for a, b in times)
    check(ok, "align -o writes valid SRT times, none negative, each cue ending at or after its start: %s" % times)


def test_eval(tmp):
    for i in range(2):
        with open(os.path.join(tmp, "bad%d.png" % i), "w") as f:
            f.write("not a png\n")
    data = os.path.join(tmp, "pairs.jsonl")
    with open(data, "w") as f:
        f.write('{"text": "a cat", "image": "bad0.png"}\n{"text": "a dog", "image": "bad1.png"}\n')
    r = sail("eval", "--model", MODEL, "--data", data, ok=False)
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 1 and "no usable pair" in err and "bad0.png" in err and b"R@1" not in r.stdout,
          "eval whose images are all unreadable is an error saying why, not an empty table: %s" % err.strip().splitlines()[-1:])
    good = os.path.join(tmp, "good.ppm")
    write_ppm(good, (255, 0, 0))
    with open(data, "w") as f:
        f.write('{"text": "a cat", "image": "bad0.png"}\n{"text": "red", "image": "good.ppm"}\n')
    r = sail("eval", "--model", MODEL, "--data", data, "--json")
    doc = json.loads(r.stdout) if r.returncode == 0 else {}
    check(doc.get("n") == 1 and doc.get("text_to_image", {}).get("R@1") == 1.0,
          "control: one readable pair is evaluated (%s)" % doc)
    with open(data, "w") as f:
        f.write('{"text": "a cat", "image": "missing.png"}\n{"txt": "no text"}\n')
    r = sail("finetune", "--model_name_or_path", MODEL, "--train_data_path", data, "--output_dir",
             os.path.join(tmp, "run"), ok=False)
    err = r.stderr.decode(errors="replace")
    check(r.returncode != 0 and "no usable pair" in err and "line 1" in err and "missing.png" in err,
          "training on a manifest with no usable pair says why (the first skipped line and its reason): %s"
          % err.strip().splitlines()[-1:])


def test_recommend(tmp):
    texts = ["a cat", "a dog", "red", "blue sky", "a red car", "一只猫", "a cat photo", "green"]
    vecs = embed(*sum([["--text", t] for t in texts], []))
    if vecs.shape[0] != len(texts):
        check(False, "sail embed gives the vectors recommend is checked against")
        return
    npy = os.path.join(tmp, "tv.npy")
    np.save(npy, vecs.astype(np.float32))
    ix = os.path.join(tmp, "rix")
    r = run([TOOL, "index", ix, npy])
    if r.returncode:
        check(False, "an index can be built for recommend")
        return
    vn = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    hist = os.path.join(tmp, "history.txt")
    decay = 0.5

    def recommend(lines):
        with open(hist, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = sail("recommend", "--index", ix, "--history", hist, "--model", MODEL, "--decay", decay, "-k", 4, ok=False)
        doc = json.loads(r.stdout) if r.returncode == 0 else {"recommendations": []}
        return r, [(h["id"], h["score"]) for h in doc["recommendations"]]

    def expect(u, seen):
        u = u / np.linalg.norm(u)
        score = vn @ u
        order = [i + 1 for i in np.argsort(-score, kind="stable") if i + 1 not in seen][:4]
        return order, score

    # "text:a dog 2 1700500000": the text "a dog", weight 2, a time two days after item 3's
    q = embed("--text", "a dog")[0]
    r, got = recommend(["text:a dog 2 1700500000", "3 1.5 1700327200"])
    order, score = expect(2 * q + 1.5 * np.exp(-decay * 2) * vecs[2], {3})
    check([g[0] for g in got] == order and np.allclose([g[1] for g in got], score[np.array(order) - 1], atol=1e-4),
          "recommend reads 'text:a dog 2 1700500000' as text, weight 2, timestamp (numpy over sail's vectors): %s vs %s"
          % ([g[0] for g in got], order))
    r, got = recommend(["image:%s 1.0" % os.path.join(tmp, "missing.png")])
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 1 and "missing.png:" in err,
          "an image: path ends before its weight: %s" % err.strip())
    q66, q77 = embed("--text", "route 66", "--text", "route 77")
    r, got = recommend(['text:"route 66"', "text:route 77 0.5 1700000000"])
    order, score = expect(q66 + 0.5 * q77, set())
    check([g[0] for g in got] == order and np.allclose([g[1] for g in got], score[np.array(order) - 1], atol=1e-4),
          "a quoted text keeps its trailing number; unquoted, the text ends before WEIGHT TIMESTAMP: %s vs %s"
          % ([g[0] for g in got], order))
    r, got = recommend(["text:a cat photo 2 -5"])
    check(r.returncode == 1 and b"history.txt:1:" in r.stderr and b"timestamp" in r.stderr,
          "a bad timestamp after a text is refused with its line: %s" % r.stderr.decode(errors="replace").strip())


def test_convert_help():
    r = sail("convert", "--help")
    out = r.stdout.decode()
    check(r.returncode == 0 and "will come" not in out and "sail quantize" in out,
          "sail convert --help points --type's other types to sail quantize (no 'will come')")
    r = sail("convert", "nowhere", "-o", "x.gguf", "--type", "q8_0", ok=False)
    check(r.returncode == 2 and b"sail quantize x.gguf --type q8_0" in r.stderr,
          "convert --type q8_0 says how to get q8_0: %s" % r.stderr.decode(errors="replace").strip())


def main():
    if not tap.have(MODEL):
        return tap.summary()
    tmp = tempfile.mkdtemp(prefix="sail-hardening-")
    try:
        test_index_log(tmp)
        test_align(tmp)
        test_eval(tmp)
        test_recommend(tmp)
        test_convert_help()
        test_nonfinite(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
