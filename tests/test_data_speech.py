#!/usr/bin/python3
"""test_data_speech.py: `sail data speech` (spoken captions) against an
independent pipeline.

  - oracle: each clip's line records its voice, rate, pitch, reverb and SNR;
    the espeak-ng program (-v -s -p -w) and the sox program (reverb R 50 100,
    channels 1, rate 16000, no dither) remake the clean clip. With --clean
    the clip equals it within 1 LSB (16-bit rounding); with noise the clip
    minus the clean one has the recorded SNR within 0.1 dB (a noise level
    off by 1 dB fails), in English and Chinese, with and without reverb.
  - every clip: a 16 kHz mono 16-bit WAV (soundfile), speech-like duration
    for its word count and rate, text/image/lang/group those of the source
    line it speaks; the manifests load in the training loader
    (sail_dataset_load through build/tools/manifest_tool) as image pairs.
  - same seed -> same bytes; another seed -> every clip differs.
  - usage errors exit 2; a folder without manifests, a line that is not a
    sail data line exit 1.
Prints TAP lines; tests/run.sh counts them.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf

import tap
from tap import SAIL, check, files, tool

MANIFEST_TOOL = tool("manifest_tool")
SPLITS = ["train", "val", "test", "test_novel"]


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True)


def lines(path):
    return [json.loads(x) for x in open(path, encoding="utf-8")] if os.path.exists(path) else []


def oracle(d, tmp):
    """The clean clip from the espeak-ng and sox programs, float64 at 16 kHz."""
    raw, out = os.path.join(tmp, "ref.wav"), os.path.join(tmp, "ref16.wav")
    subprocess.run(["espeak-ng", "-v", d["voice"], "-s", str(d["rate"]), "-p", str(d["pitch"]), "-w", raw, d["text"]],
                   check=True)
    eff = (["reverb", str(d["reverb"]), "50", "100", "channels", "1"] if d["reverb"] else []) + ["rate", "16000"]
    subprocess.run(["sox", "-D", raw, "-e", "floating-point", "-b", "32", out] + eff, check=True)
    return sf.read(out)[0]


def main():
    missing = [p for p in ("espeak-ng", "sox") if not shutil.which(p)]
    if missing:
        print(f"skip - the {' and '.join(missing)} program(s) are missing (scripts/install-deps.sh installs them)")
        return
    tmp = tempfile.mkdtemp(prefix="sail_speech_")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp)


def run(tmp):
    src = os.path.join(tmp, "src")
    r = sail("data", "shapes", "-n", 24, "--seed", 3, "-o", src)
    if not check(r.returncode == 0, "sail data shapes makes the source set", r.stderr.decode()[-300:]):
        return
    dirs = {}
    # b as a, one espeak-ng child at a time against four at once
    for name, extra in [("a", ["--seed", 5, "--threads", 4]), ("b", ["--seed", 5, "--threads", 1]),
                        ("c", ["--seed", 6]), ("clean", ["--clean"])]:
        dirs[name] = os.path.join(tmp, name)
        shutil.copytree(src, dirs[name])
        r = sail("data", "speech", "--data", dirs[name], "--limit", 3, "--variants", 2, *extra)
        check(r.returncode == 0, f"sail data speech {' '.join(map(str, extra))}", r.stderr.decode()[-300:])
    a = dirs["a"]

    # every clip: format, duration, the line it speaks
    n_clips, bad = 0, []
    for s in SPLITS:
        source, speech = lines(os.path.join(a, s + ".jsonl")), lines(os.path.join(a, "speech_" + s + ".jsonl"))
        want = [(i, v) for i in range(min(3, len(source))) for v in range(2)]
        if len(speech) != len(want):
            bad.append(f"{s}: {len(speech)} clips for {len(want)}")
            continue
        for (i, v), d in zip(want, speech):
            n_clips += 1
            src_line = source[i]
            if d["audio"] != f"audio/{s}/{i:06d}-{v}.wav" or any(d[k] != src_line[k] for k in
                                                                 ("text", "image", "lang", "group")):
                bad.append(f"{s} line {i}: {d}")
            if d["voice"] != ("cmn" if d["lang"] == "zh" else "en"):
                bad.append(f"{s} line {i}: voice {d['voice']} for lang {d['lang']}")
            info = sf.info(os.path.join(a, d["audio"]))
            x = sf.read(os.path.join(a, d["audio"]))[0]
            # speech: at least 0.15 s a word (English) or a character
            # (Chinese) at the drawn rate relative to 175 wpm, at most 1.2 s
            units = len(d["text"].split()) if d["lang"] == "en" else len(d["text"])
            lo, hi = 0.15 * units * 175 / d["rate"], 1.2 * units * 175 / d["rate"] + 1.0
            dur = info.frames / info.samplerate
            if (info.samplerate, info.channels, info.subtype) != (16000, 1, "PCM_16") or not lo <= dur <= hi \
                    or np.sqrt(np.mean(x ** 2)) < 0.01:
                bad.append(f"{d['audio']}: {info.samplerate} Hz, {info.channels} ch, {info.subtype}, {dur:.2f} s "
                           f"(want {lo:.2f}..{hi:.2f}), rms {np.sqrt(np.mean(x ** 2)):.4f}")
    check(not bad and n_clips >= 8, f"{n_clips} clips: 16 kHz mono PCM_16, speech-length, non-silent, each the "
          "text/image/lang/group of its source line", "; ".join(bad[:3]))

    # the oracle, clean and noisy, en and zh, with and without reverb
    clean = [d for s in SPLITS for d in lines(os.path.join(dirs["clean"], "speech_" + s + ".jsonl"))]
    for d in [next(d for d in clean if d["lang"] == "en"), next(d for d in clean if d["lang"] == "zh")]:
        ref, x = oracle(d, tmp), sf.read(os.path.join(dirs["clean"], d["audio"]))[0]
        err = np.abs(ref - x).max() * 32768 if len(ref) == len(x) else float("inf")
        check(d["reverb"] == 0 and "snr_db" not in d and err <= 1.0,
              f"--clean {d['lang']} clip == espeak-ng -s {d['rate']} -p {d['pitch']} | sox rate 16000",
              f"{len(x)} vs {len(ref)} samples, max error {err:.2f} LSB")
    noisy = [d for s in SPLITS for d in lines(os.path.join(a, "speech_" + s + ".jsonl"))]
    cases = {}
    for d in noisy:
        cases.setdefault((d["lang"], d["reverb"] > 0), d)
    for (lang, rev), d in sorted(cases.items()):
        ref, x = oracle(d, tmp), sf.read(os.path.join(a, d["audio"]))[0]
        snr = 10 * np.log10(np.mean(ref ** 2) / np.mean((x - ref) ** 2)) if len(ref) == len(x) else float("nan")
        check(abs(snr - d["snr_db"]) < 0.1, f"{lang} clip{' with reverb ' + str(d['reverb']) if rev else ''}: "
              f"clip - oracle has SNR {snr:.3f} dB, recorded {d['snr_db']}")
    check(len(cases) == 4, "the clips include en and zh, each with and without reverb", str(sorted(cases)))

    # determinism
    fa, fb, fc = files(a), files(dirs["b"]), files(dirs["c"])
    check(fa == fb, f"same seed, 4 children at once and 1: the {len(fa)} files are byte-identical")
    wavs = [k for k in fa if k.endswith(".wav")]
    same = [k for k in wavs if fa[k] == fc.get(k)]
    check(wavs and not same, f"another seed: all {len(wavs)} clips differ", ", ".join(same[:3]))

    # the training loader reads the speech lines as text-image pairs
    if os.access(MANIFEST_TOOL, os.X_OK):
        p = os.path.join(a, "speech_train.jsonl")
        r = subprocess.run([MANIFEST_TOOL, p], capture_output=True, text=True)
        head = r.stdout.split("\n")[0].split()
        n = len(lines(p))
        groups = len({d["group"] for d in lines(p)})
        check(r.returncode == 0 and head[1:12:2] == [str(n), str(n), "0", "0", "0", str(groups)],
              f"sail_dataset_load: {n} text-image pairs in {groups} groups, none skipped", r.stdout[:200] + r.stderr)
    else:
        print(f"skip - {MANIFEST_TOOL} is not built (make tests-build)")

    # usage
    r = sail("data", "speech")
    check(r.returncode == 2 and b"--data" in r.stderr, "no --data: exit 2 naming it")
    r = sail("data", "speech", "--data", a, "--snr-min", 30, "--snr-max", 10)
    check(r.returncode == 2, "--snr-min above --snr-max: exit 2", r.stderr.decode())
    bad = os.path.join(tmp, "bad")
    os.makedirs(bad)
    with open(os.path.join(bad, "val.jsonl"), "w") as f:
        f.write('\n{"text": "a red circle", "image": "images/0.png", "lang": "en"}\n')
    r = sail("data", "speech", "--data", bad)
    check(r.returncode == 1 and b"val.jsonl line 2" in r.stderr and b"group" in r.stderr,
          "a line without group: exit 1 naming the file and line", r.stderr.decode())
    r = sail("data", "speech", "--data", os.path.join(tmp, "nothing"))
    check(r.returncode == 1 and b"sail data shapes" in r.stderr, "a folder without manifests: exit 1 saying what "
          "makes them", r.stderr.decode())


main()
sys.exit(1 if tap.failed else 0)
