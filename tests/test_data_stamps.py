#!/usr/bin/python3
"""test_data_stamps.py: `sail data stamps` (the Tux Paint stamps).

  - a synthetic stamps folder written here (an RGBA PNG with a description
    in several languages and an English line holding '=', a sound in WAV,
    a spoken description in WAV, an SVG stamp without Chinese, a picture
    without description, a description without picture, two stamps sharing
    their English text and one sharing only its Chinese text): every
    manifest line exactly as expected; the PNG over white against PIL
    (alpha_composite on a white square, bicubic resize) within 2 levels; the
    SVG's red square where the SVG puts it; the sounds against the ffmpeg
    program (equal-weight mono, aresample 16000) within 1 LSB; same options
    -> same bytes.
  - the installed collection (skipped when /usr/share/tuxpaint/stamps is
    absent), its first 80 stamps: texts against the .txt files parsed here
    (English: the first line that is not "<locale>.utf8=..."; Chinese: the
    zh_CN.utf8 line, dropped only where another English group shares it),
    splits disjoint by image and by group, every image a 128x128 PNG, every
    sound a 16 kHz mono WAV, the manifests loadable by the training loader.
Prints TAP lines; tests/run.sh counts them.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf
from PIL import Image

import tap
from tap import SAIL, check, files, tool

MANIFEST_TOOL = tool("manifest_tool")
STAMPS = "/usr/share/tuxpaint/stamps"
SPLITS = ["train", "val", "test"]


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True)


def lines(path):
    return [json.loads(x) for x in open(path, encoding="utf-8")]


def all_lines(out, prefix=""):
    return {s: lines(os.path.join(out, prefix + s + ".jsonl")) for s in SPLITS}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def synthetic(tmp):
    st = os.path.join(tmp, "stamps")
    rng = np.random.default_rng(7)
    # a 60x30 RGBA picture: random colours, alpha 0 on the left third, ramps elsewhere
    px = rng.integers(0, 256, (30, 60, 4), dtype=np.uint8)
    px[:, :20, 3] = 0
    px[:, 20:, 3] = np.linspace(0, 255, 40).astype(np.uint8)[None, :]
    os.makedirs(os.path.join(st, "animals"))
    Image.fromarray(px, "RGBA").save(os.path.join(st, "animals", "cat.png"))
    write(os.path.join(st, "animals", "cat.txt"),
          "A cat.  2x2=4 \nde.utf8=Eine Katze.\nzh_CN.utf8= 一只猫。 \nzh_TW.utf8=一隻貓。\nca@valencia.utf8=Un gat.\n")
    t = np.arange(4000) / 8000
    sf.write(os.path.join(st, "animals", "cat.wav"),
             np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)], 1), 8000,
             subtype="PCM_16")
    sf.write(os.path.join(st, "animals", "cat_desc.wav"), 0.4 * np.sin(2 * np.pi * 300 * t[:3000]), 8000,
             subtype="PCM_16")
    # the same English text: one group with cat
    Image.fromarray(px[:, ::-1].copy(), "RGBA").save(os.path.join(st, "animals", "cat2.png"))
    write(os.path.join(st, "animals", "cat2.txt"), "A cat.  2x2=4\nzh_CN.utf8=猫。\n")
    # an SVG stamp without Chinese: a red square on the right half of a 200x100 canvas
    write(os.path.join(st, "shapes", "box.svg"),
          '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
          '<rect x="100" y="0" width="100" height="100" fill="#ff0000"/></svg>')
    write(os.path.join(st, "shapes", "box.txt"), "\nA red box.\nfr.utf8=Une boîte rouge.\n")
    # Chinese shared with another English group: dropped
    Image.fromarray(px, "RGBA").save(os.path.join(st, "shapes", "dog.png"))
    write(os.path.join(st, "shapes", "dog.txt"), "A dog.\nzh_CN.utf8=猫。\n")
    # a picture without a description, a description without a picture
    Image.fromarray(px, "RGBA").save(os.path.join(st, "shapes", "lonely.png"))
    write(os.path.join(st, "shapes", "ghost.txt"), "A ghost.\n")
    return st, px


def synthetic_tests(tmp):
    st, px = synthetic(tmp)
    out, out2 = os.path.join(tmp, "syn"), os.path.join(tmp, "syn2")
    r = sail("data", "stamps", "--stamps", st, "-o", out, "--size", 64)
    if not check(r.returncode == 0, "sail data stamps on a synthetic folder", r.stderr.decode()[-300:]):
        return
    err = r.stderr.decode()
    check("4 stamps" in err and "1 from SVG" in err and "1 pictures without a description" in err
          and "1 descriptions without a picture" in err and "2 Chinese texts shared" in err,
          "the counts: 4 stamps, 1 SVG, 1 picture and 1 description skipped, 2 shared Chinese texts dropped",
          err.strip().split("\n")[-1])
    got = all_lines(out)
    by_image = {}
    for s in SPLITS:
        for d in got[s]:
            by_image.setdefault(d["image"], []).append((s, d["lang"], d["text"], d["group"]))
    # cat and cat2 share "A cat.  2x2=4" (trimmed); dog shares 猫。 with cat2 but not its English: both dropped
    want = {"images/animals/cat.png": [("en", "A cat.  2x2=4", "animals/cat"), ("zh", "一只猫。", "animals/cat")],
            "images/animals/cat2.png": [("en", "A cat.  2x2=4", "animals/cat")],
            "images/shapes/box.png": [("en", "A red box.", "shapes/box")],
            "images/shapes/dog.png": [("en", "A dog.", "shapes/dog")]}
    ok = set(by_image) == set(want) and all([x[1:] for x in by_image[k]] == want[k] for k in want)
    check(ok, "every image-text line exactly as the descriptions say", json.dumps(by_image, ensure_ascii=False))
    check(len({s for s, *_ in by_image["images/animals/cat.png"] + by_image["images/animals/cat2.png"]}) == 1,
          "one group, one split (cat and cat2)")
    sounds = [d for s in SPLITS for d in lines(os.path.join(out, "sounds_" + s + ".jsonl"))]
    want_s = [("A cat.  2x2=4", "audio/animals/cat.wav", "en"), ("一只猫。", "audio/animals/cat.wav", "zh"),
              ("A cat.  2x2=4", "audio/animals/cat_desc.wav", "en")]
    check([(d["text"], d["audio"], d["lang"]) for d in sounds] == want_s and
          all(d["image"] == "images/animals/cat.png" and d["group"] == "animals/cat" for d in sounds),
          "sound lines: the effect in both languages, the spoken description in English", str(sounds))

    # the PNG over white, squared, bicubic: PIL
    canvas = Image.new("RGBA", (60, 60), (255, 255, 255, 255))
    canvas.alpha_composite(Image.fromarray(px, "RGBA"), (0, 15))
    ref = np.asarray(canvas.convert("RGB").resize((64, 64), Image.BICUBIC)).astype(int)
    img = Image.open(os.path.join(out, "images/animals/cat.png"))
    diff = np.abs(np.asarray(img.convert("RGB")).astype(int) - ref).max()
    check(img.size == (64, 64) and img.mode == "RGB" and diff <= 2,
          f"RGBA PNG over white, squared, resized: max difference to PIL {diff} (<= 2)")
    box = np.asarray(Image.open(os.path.join(out, "images/shapes/box.png")).convert("RGB")).astype(int)
    red = (box[:, :, 0] > 200) & (box[:, :, 1] < 50) & (box[:, :, 2] < 50)
    white = (box > 245).all(2)
    check(red[18:46, 34:62].all() and white[:14].all() and white[50:].all() and white[:, :30].all(),
          "SVG: the red square on the right half of the fitted canvas, white elsewhere")

    # sounds: the ffmpeg program, equal-weight mono and libswresample to 16 kHz
    for name in ["cat", "cat_desc"]:
        src = os.path.join(st, "animals", name + ".wav")
        ch = sf.info(src).channels
        ref_path = os.path.join(tmp, name + "_ref.f32")
        af = "aformat=sample_fmts=fltp,pan=mono|c0=%s,aresample=16000" % "+".join(
            "%.17g*c%d" % (1.0 / ch, c) for c in range(ch))
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-af", af, "-f", "f32le",
                        ref_path], check=True)
        ref_x = np.fromfile(ref_path, dtype="<f4").astype(np.float64)
        info = sf.info(os.path.join(out, "audio/animals", name + ".wav"))
        x = sf.read(os.path.join(out, "audio/animals", name + ".wav"))[0]
        e = np.abs(x - ref_x).max() * 32768 if len(x) == len(ref_x) else float("inf")
        check((info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16") and e <= 1.0,
              f"{name}.wav ({ch} channel(s), 8 kHz): 16 kHz mono PCM_16 equal to ffmpeg's pan + aresample within "
              f"{e:.2f} LSB (<= 1)")

    r = sail("data", "stamps", "--stamps", st, "-o", out2, "--size", 64)
    check(r.returncode == 0 and files(out) == files(out2), "same options: the same bytes")
    r = sail("data", "stamps", "--stamps", os.path.join(tmp, "none"), "-o", out2)
    check(r.returncode == 1 and b"cannot read the folder" in r.stderr, "a missing stamps folder: exit 1",
          r.stderr.decode())
    r = sail("data", "stamps", "--stamps", st)
    check(r.returncode == 2 and b"-o DIR" in r.stderr, "no -o: exit 2")


def parse_txt(path):
    en = zh = None
    for line in open(path, encoding="utf-8", errors="replace").read().lstrip("\ufeff").split("\n"):
        m = re.match(r"^([A-Za-z_@]+)\.utf8=(.*)$", line)
        if not m:
            if en is None and line.strip(" \t\r"):
                en = line.strip(" \t\r")
        elif m.group(1) == "zh_CN" and zh is None and m.group(2).strip(" \t\r"):
            zh = m.group(2).strip(" \t\r")
    return en, zh


def installed_tests(tmp):
    if not os.path.isdir(STAMPS):
        print(f"skip - {STAMPS} is absent (Debian tuxpaint-stamps-default; scripts/install-deps.sh installs it)")
        return
    out = os.path.join(tmp, "tux")
    r = sail("data", "stamps", "-o", out, "--limit", 80)
    if not check(r.returncode == 0, "sail data stamps --limit 80 on the installed collection",
                 r.stderr.decode()[-300:]):
        return
    # every stamp of the collection, parsed here
    stamps = {}
    for base, _, names in os.walk(STAMPS):
        for n in names:
            if n.endswith(".txt"):
                rel = os.path.relpath(os.path.join(base, n[:-4]), STAMPS)
                if os.path.exists(os.path.join(STAMPS, rel + ".png")) or \
                        os.path.exists(os.path.join(STAMPS, rel + ".svg")):
                    stamps[rel] = parse_txt(os.path.join(STAMPS, rel + ".txt"))
    en_of_zh = {}
    for en, zh in stamps.values():
        if zh:
            en_of_zh.setdefault(zh, set()).add(en)
    got = all_lines(out)
    seen, bad, split_of_group, zh_count = {}, [], {}, 0
    for s in SPLITS:
        for d in got[s]:
            rel = d["image"][len("images/"):-len(".png")]
            seen.setdefault(rel, []).append((s, d["lang"], d["text"]))
            if split_of_group.setdefault(d["group"], s) != s:
                bad.append(f"group {d['group']} in {split_of_group[d['group']]} and {s}")
            if stamps.get(d["group"], (None,))[0] != stamps.get(rel, (0,))[0]:
                bad.append(f"{rel}: group {d['group']} has another English text")
    first80 = sorted(stamps)[:80]
    for rel in first80:
        en, zh = stamps[rel]
        want = [("en", en)] + ([("zh", zh)] if zh and len(en_of_zh[zh]) == 1 else [])
        have = [x[1:] for x in seen.get(rel, [])]
        zh_count += any(lang == "zh" for lang, _ in have)
        if have != want or len({x[0] for x in seen.get(rel, [])}) != 1:
            bad.append(f"{rel}: {have} for {want}")
    check(set(seen) == set(first80) and not bad, f"the first 80 stamps: English and Chinese texts as in their .txt "
          f"files ({zh_count} with Chinese), one split per stamp and per group", "; ".join(bad[:3]))
    imgs = {s: {d["image"] for d in got[s]} for s in SPLITS}
    check(not (imgs["train"] & imgs["val"]) and not (imgs["train"] & imgs["test"]) and
          not (imgs["val"] & imgs["test"]) and all(imgs.values()),
          "splits disjoint by image, none empty: " + ", ".join(f"{s} {len(imgs[s])}" for s in SPLITS))
    bad_img = []
    for im in set().union(*imgs.values()):
        with Image.open(os.path.join(out, im)) as x:
            x.load()
            if x.size != (128, 128) or x.mode != "RGB":
                bad_img.append(f"{im}: {x.size} {x.mode}")
    check(not bad_img, f"all {sum(map(len, imgs.values()))} images decode as 128x128 RGB", "; ".join(bad_img[:3]))
    snd = [d for s in SPLITS for d in lines(os.path.join(out, "sounds_" + s + ".jsonl"))]
    want_snd = sorted(rel + sfx for rel in first80 for sfx in ("", "_desc")
                      if any(os.path.exists(os.path.join(STAMPS, rel + sfx + e)) for e in (".ogg", ".wav")))
    bad_snd = []
    for a in {d["audio"] for d in snd}:
        info = sf.info(os.path.join(out, a))
        if (info.samplerate, info.channels) != (16000, 1) or info.frames < 1600:
            bad_snd.append(f"{a}: {info.samplerate} Hz {info.channels} ch {info.frames} frames")
    check(sorted({d["audio"][len("audio/"):-len(".wav")] for d in snd}) == want_snd and not bad_snd,
          f"{len(want_snd)} sounds (.ogg/.wav, _desc): each a 16 kHz mono WAV of 0.1 s or more", "; ".join(bad_snd[:3]))
    if os.access(MANIFEST_TOOL, os.X_OK):
        p = os.path.join(out, "train.jsonl")
        r = subprocess.run([MANIFEST_TOOL, p], capture_output=True, text=True)
        head = r.stdout.split("\n")[0].split()
        check(r.returncode == 0 and head[1] == str(len(got["train"])) and head[9] == "0",
              f"sail_dataset_load reads train.jsonl: {len(got['train'])} pairs, none skipped", r.stdout.split("\n")[0])
    else:
        print(f"skip - {MANIFEST_TOOL} is not built (make tests-build)")


def main():
    if not shutil.which("ffmpeg"):
        print("skip - the ffmpeg program is missing (scripts/install-deps.sh installs it)")
        return
    tmp = tempfile.mkdtemp(prefix="sail_stamps_")
    try:
        synthetic_tests(tmp)
        installed_tests(tmp)
    finally:
        shutil.rmtree(tmp)


main()
sys.exit(1 if tap.failed else 0)
