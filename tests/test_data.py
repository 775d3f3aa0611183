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

import numpy as np
from PIL import Image, ImageDraw

import tap
from tap import SAIL, check, tool

TOOL = tool("data_tool")


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
        check(m[0] < .08 and m[1] < .2 and m[2] < .03 and m[3] < .01,
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
    check(r1.returncode == 0 and r2.returncode == 0 and b"50/50" in r1.stderr,
          "sail data shapes -n 50 succeeds and reports progress on stderr")
    if r1.returncode:
        print("# " + r1.stderr.decode(errors="replace"))
        return
    same = all(open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read()
               for f in ["train.jsonl", "val.jsonl", "test.jsonl", "test_novel.jsonl"] +
               ["images/" + x for x in sorted(os.listdir(os.path.join(a, "images")))])
    check(same, "the CLI twice with one seed: identical manifests and PNGs")
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
    check(len(lines) == 100 and not bad,
          f"all {len(lines)} captions (en + zh) name exactly their group's attributes ({len(bad)} problems)")
    novel_bad = [d["group"] for s, d in lines if (tuple(d["group"].split("|")[:2]) in NOVEL) != (s == "test_novel")]
    check(not novel_bad, f"held-out (shape, colour) pairs are in test_novel and only there ({novel_bad[:3]})")
    check(len({d["text"] for s, d in lines if d["lang"] == "en"}) > 40,
          "captions vary (templates and synonyms)")
    r = sail("data", "shapes", "-n", 3, "-o", os.path.join(tmp, "c"), "--lang", "zh")
    langs = {json.loads(l)["lang"] for f in os.listdir(os.path.join(tmp, "c")) if f.endswith(".jsonl")
             for l in open(os.path.join(tmp, "c", f), encoding="utf-8")} if r.returncode == 0 else None
    check(langs == {"zh"}, "--lang zh writes Chinese captions only")

    usage = [sail("data"), sail("data", "shapes", "-o", tmp), sail("data", "shapes", "-n", 0, "-o", tmp),
             sail("data", "shapes", "-n", 5, "-o", tmp, "--size", 8), sail("data", "shapes", "-n", 5),
             sail("data", "shapes", "-n", 5, "-o", tmp, "--lang", "fr"), sail("data", "cubes", "-o", tmp)]
    check(all(u.returncode == 2 and u.stderr for u in usage), "usage errors exit 2 with a message on stderr")
    h = sail("data", "--help")
    check(h.returncode == 0 and b"shapes" in h.stdout and b"emoji" in h.stdout, "sail data --help")
    r = sail("data", "shapes", "-n", 2, "-o", "/proc/sail-no-such-dir")
    check(r.returncode == 1 and b"/proc/sail-no-such-dir" in r.stderr, "an unwritable -o exits 1 naming it")


# ---------------------------------------------------------------- emoji --

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_TEST = "/usr/share/unicode/emoji/emoji-test.txt"
CLDR = "/usr/share/unicode/cldr/common"
PICKS = ["1F600", "2764 FE0F", "1F44D 1F3FD", "1F468 200D 1F469 200D 1F467 200D 1F466", "0023 FE0F 20E3",
         "1F1E8 1F1F3", "1F3F4 E0067 E0062 E0065 E006E E0067 E007F", "2764 FE0F 200D 1F525", "1FAE8", "1F9D1 200D 1F384",
         "1FAF1 1F3FB 200D 1FAF2 1F3FC", "1FAF1 1F3FC 200D 1FAF2 1F3FB"]  # these two share their keyword lists


def cldr_annotations(lang):
    """cp without U+FE0F -> (tts name, [keywords]), read with ElementTree."""
    import xml.etree.ElementTree as ET
    out = {}
    for sub in ["annotations", "annotationsDerived"]:
        path = os.path.join(CLDR, sub, lang + ".xml")
        if not os.path.exists(path):
            continue
        for a in ET.parse(path).getroot().iter("annotation"):
            key = a.get("cp").replace("\ufe0f", "")
            name, kw = out.get(key, (None, None))
            if a.get("type") == "tts":
                name = name or a.text
            else:
                kw = kw or a.text.split(" | ")
            out[key] = (name, kw)
    return out


def fnv1a(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def emoji_oracle(font, text, side):
    """PIL draws the shaped glyph on white at the strike size; pad to a
    centred square; PIL bicubic resize."""
    w, h = font.getbbox(text)[2:]
    im = Image.new("RGB", (w, h), (255, 255, 255))
    ImageDraw.Draw(im).text((0, 0), text, font=font, embedded_color=True)
    sq = max(w, h)
    canvas = Image.new("RGB", (sq, sq), (255, 255, 255))
    canvas.paste(im, ((sq - w) // 2, (sq - h) // 2))
    return np.asarray(canvas.resize((side, side), Image.BICUBIC)).astype(int)


def emoji_tests(tmp):
    missing = [p for p, pkg in [(FONT, "fonts-noto-color-emoji"), (EMOJI_TEST, "unicode-data"),
                                (os.path.join(CLDR, "annotations", "zh.xml"), "unicode-cldr-core")]
               if not os.path.exists(p)]
    if missing:
        print(f"skip - emoji: {', '.join(missing)} absent (scripts/install-deps.sh installs the Debian packages)")
        return
    from PIL import ImageFont, features
    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    font = ImageFont.truetype(FONT, 109, layout_engine=layout)
    names = {}
    lines = []
    for line in open(EMOJI_TEST, encoding="utf-8"):
        if "; fully-qualified" in line:
            seq = " ".join(line.split(";")[0].split())
            names[seq] = line.split("#", 1)[1].strip().split(" ", 2)[2]
            if seq in PICKS:
                lines.append(line)
    lines.append("1F600 1F600 ; fully-qualified # 😀😀 E1.0 two faces (no single glyph)\n")
    et = os.path.join(tmp, "emoji-test.txt")
    with open(et, "w", encoding="utf-8") as f:
        f.writelines(lines)
    out = os.path.join(tmp, "emoji")
    r = sail("data", "emoji", "-o", out, "--size", 64, "--emoji-test", et)
    if r.returncode:
        check(False, "sail data emoji on a chosen list: " + r.stderr.decode(errors="replace"))
        return
    zh, en = cldr_annotations("zh"), cldr_annotations("en")
    picks = [p for p in PICKS if p in names]
    key = lambda seq: "".join(chr(int(c, 16)) for c in seq.split()).replace("\ufe0f", "")
    want_skip_zh = sum(1 for p in picks if not zh.get(key(p), (None,))[0])
    check(f"1 without a glyph, {want_skip_zh} without a Chinese name".encode() in r.stderr,
          f"the sequence with no single glyph and the {want_skip_zh} emoji CLDR has no Chinese name for are "
          "skipped and counted")
    got = {}
    split_ok = True
    for split in ["train", "test"]:
        for l in open(os.path.join(out, split + ".jsonl"), encoding="utf-8"):
            d = json.loads(l)
            got.setdefault(d["group"], set()).add((d["lang"], d["text"], d["image"]))
            split_ok &= (fnv1a(d["group"]) % 10 == 0) == (split == "test")
    bad, want_all = [], {}
    for p in picks:
        name, kw = zh.get(key(p), (None, None))
        if not name:
            if p in got:
                bad.append(f"{p} has no zh name but was written")
            continue
        image = "images/" + "-".join(c.lower() for c in p.split()) + ".png"
        want = [("en", names[p], "name"), ("zh", name, "name")]
        if kw and len(kw) >= 2:
            want.append(("zh", "，".join(kw), "kw"))
        ekw = en.get(key(p), (None, None))[1]
        if ekw and len(ekw) >= 2:
            want.append(("en", ", ".join(ekw), "kw"))
        want_all[p] = (image, [w for i, w in enumerate(want) if w[:2] not in [v[:2] for v in want[:i]]])
    # A keyword line that several emoji share is dropped (it would name them all).
    shared = {}
    for image, want in want_all.values():
        for lg, t, kind in want:
            if kind == "kw":
                shared[(lg, t)] = shared.get((lg, t), 0) + 1
    n_dropped = 0
    for p, (image, want) in want_all.items():
        keep = {(lg, t, image) for lg, t, kind in want if kind == "name" or shared[(lg, t)] == 1}
        n_dropped += len(want) - len(keep)
        if got.get(p) != keep:
            bad.append(f"{p}: {sorted(got.get(p, []))} != {sorted(keep)}")
    for b in bad:
        print("# " + b)
    check(not bad and "1F600" in got, f"names and keywords of {len(picks)} emoji match emoji-test.txt and CLDR "
          f"(read by ElementTree), e.g. 1F600 zh '{zh.get(key('1F600'), ('?',))[0]}'")
    check(n_dropped >= 2 and f"{n_dropped} keyword lines shared by several emoji dropped".encode() in r.stderr,
          f"keyword lines shared by several emoji are dropped and counted ({n_dropped})")
    check(split_ok, "train/test split is FNV-1a(group) % 10 == 0 -> test")
    worst, blank = [], []
    for p in sorted(got):
        if layout == ImageFont.Layout.BASIC and " " in p:
            continue
        b = np.asarray(Image.open(os.path.join(out, next(iter(got[p]))[2])).convert("RGB")).astype(int)
        a = emoji_oracle(font, "".join(chr(int(c, 16)) for c in p.split()), 64)
        worst.append((np.abs(a - b).max(), p))
        if b.std() < 20 or (b < 200).mean() < 0.1:
            blank.append(p)
    check(not blank, f"no emoji image is blank ({blank})")
    check(worst and max(worst)[0] <= 2,
          f"{len(worst)} emoji images = PIL's drawing of the font (layout {layout.name}) padded and bicubic-resized, "
          f"max |diff| {max(worst)[0] if worst else '-'} (<= 2)")

    r = sail("data", "emoji", "-o", os.path.join(tmp, "e30"), "--limit", 30, "--size", 48)
    imgs = {json.loads(l)["image"] for s in ["train", "test"]
            for l in open(os.path.join(tmp, "e30", s + ".jsonl"), encoding="utf-8")} if r.returncode == 0 else set()
    check(len(imgs) == 30 and all(Image.open(os.path.join(tmp, "e30", i)).size == (48, 48) for i in imgs),
          "--limit 30 --size 48 on the Debian files: 30 images of 48x48")
    for opt, path, pkg in [("--font", "/nonexistent/emoji.ttf", "fonts-noto-color-emoji"),
                           ("--emoji-test", "/nonexistent/emoji-test.txt", "unicode-data"),
                           ("--cldr", "/nonexistent/cldr", "unicode-cldr-core")]:
        r = sail("data", "emoji", "-o", os.path.join(tmp, "e0"), opt, path)
        check(r.returncode == 1 and path.encode() in r.stderr and pkg.encode() in r.stderr,
              f"a missing {opt} file exits 1 naming it and the package {pkg}")
    bad_cldr = os.path.join(tmp, "cldr")
    os.makedirs(os.path.join(bad_cldr, "annotations"))
    with open(os.path.join(bad_cldr, "annotations", "zh.xml"), "w") as f:
        f.write("<ldml><annotations><annotation cp='x'>broken</annotations>")
    r = sail("data", "emoji", "-o", os.path.join(tmp, "e0"), "--cldr", bad_cldr, "--emoji-test", et)
    check(r.returncode == 1 and b"not well-formed" in r.stderr, "malformed CLDR XML is an error naming the file")


def main():
    if not os.access(SAIL, os.X_OK):
        print(f"skip - {SAIL} is not built")
        return 0
    return tap.run_cases(oracle_tests, caption_tests, emoji_tests)


if __name__ == "__main__":
    sys.exit(main())
