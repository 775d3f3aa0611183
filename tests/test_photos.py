#!/usr/bin/python3
"""test_photos.py: phone-photo sizes through the `sail` CLI, against PIL 9.4.

- A 4032x3024 JPEG (a real photo, scipy's raccoon, tiled to 12 Mpx, plus
  grain) embeds; the default used to refuse it.
- DCT-scaled decoding: `sail preprocess` of a large JPEG equals PIL's
  decode after Image.draft at the scale sail's rule picks (the same
  libjpeg-turbo call), and stays within a stated tolerance of PIL's full
  decode + resize; --exact-decode, sizes the factor does not divide and
  images under 4x the target equal the full decode.
- Headers claiming 100000x100000 (PNG) and 65500x65500 (JPEG, its largest)
  are refused with a message naming the limit and --max-image-pixels, with
  no more peak memory than a run that decodes nothing.
- Every command that reads images takes --max-image-pixels and
  --exact-decode and documents them; index add names a skipped file once and
  exits 0 when something was added.
Prints TAP lines; tests/run.sh counts them.
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from PIL import Image, ImageOps

import tap
from tap import SAIL

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
EXACT = 1e-5             # the same bytes: float rounding only
COS_MIN = 0.9995         # DCT-scaled vs PIL full decode, photos
MAX_DIFF = 0.1           # ... largest |difference| of a normalised value (~6.5/255)
COS_MIN_STRIPES = 0.95   # 3-7 px stripes, the aliasing worst case (0.972 measured at 336)
MAX_DIFF_STRIPES = 0.2
LIMIT_MSG = "the limit is 67108864 pixels (--max-image-pixels)"


def check(ok, name, detail=""):
    """A TAP line; the detail (stderr, usually) only when the check fails."""
    return tap.check(ok, name, "" if ok else detail.strip().replace("\n", " | "))


def sail(*args, **kw):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, **kw)


def peak_kib(*args):
    """Exit status, stderr and peak RSS (KiB) of one sail run."""
    p = subprocess.Popen([SAIL] + [str(a) for a in args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    err = p.stderr.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err, ru.ru_maxrss


def photo(w, h, seed=1):
    """A real photo at phone resolution: the raccoon (1024x768) tiled, with
    sensor-like grain; a synthetic scene when scipy is absent."""
    rng = np.random.default_rng(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import scipy.misc
            face = scipy.misc.face()
        a = np.tile(face, (h // face.shape[0] + 1, w // face.shape[1] + 1, 1))[:h, :w]
    except Exception:
        y, x = np.mgrid[0:h, 0:w]
        a = np.stack([x * 255 // w, y * 255 // h, ((x // 50 + y // 50) % 2) * 120 + 60], -1)
    a = a.astype(np.float32) + rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def stripes(w, h):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x // 3) % 2, (y // 5) % 2, ((x + y) // 7) % 2], -1) * 255
    return Image.fromarray(a.astype(np.uint8))


def preprocess(im, size, crop):
    """torchvision Resize + CenterCrop (crop > 0) or a squash, then normalise."""
    w, h = im.size
    if crop:
        nl = int(size * max(w, h) / min(w, h))
        nw, nh = (size, nl) if w <= h else (nl, size)
        r = im.resize((nw, nh), Image.BICUBIC)
        top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
        r = r.crop((left, top, left + crop, top + crop))
    else:
        r = im.resize((size, size), Image.BICUBIC)
    return ((np.asarray(r, np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)


def expected_scale(w, h, size):
    """The rule sail documents: the largest of 8, 4, 2 dividing both sides
    that keeps the short side >= 2 * size; 1 for none."""
    for d in (8, 4, 2):
        if w % d == 0 and h % d == 0 and min(w, h) // d >= 2 * size:
            return d
    return 1


def pil_full(path):
    return ImageOps.exif_transpose(Image.open(path).convert("RGB"))


def pil_draft(path, d):
    im = Image.open(path)
    w, h = im.size
    im.draft("RGB", (w // d, h // d))
    return ImageOps.exif_transpose(im.convert("RGB"))


def sail_pre(tmp, path, size, crop, *extra):
    out = os.path.join(tmp, "x.npy")
    args = ["preprocess", "--image", path, "--size", size, "-o", out] + (["--crop", crop] if crop else [])
    r = sail(*(args + list(extra)))
    return (np.load(out) if r.returncode == 0 else None), r.stderr.decode()


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def check_parity(tmp, path, label, cos_min, max_diff=MAX_DIFF):
    """sail's default decode of a large JPEG against PIL draft and full."""
    w, h = Image.open(path).size
    for size, crop in ((224, 224), (224, 0), (336, 336)):
        mode = "crop %d" % crop if crop else "squash"
        d = expected_scale(w, h, size)
        got, err = sail_pre(tmp, path, size, crop)
        if got is None:
            check(False, "%s -> %d %s: sail preprocess failed" % (label, size, mode), err)
            continue
        draft = pil_draft(path, d)
        full = preprocess(pil_full(path), size, crop)
        e_draft = float(np.abs(got - preprocess(draft, size, crop)).max())
        check(d > 1 and draft.size in ((w // d, h // d), (h // d, w // d)) and e_draft <= EXACT,
              "%s -> %d %s: decoded at 1/%d (%dx%d), equal to PIL's draft decode + resize "
              "(max |diff| %.1e)" % (label, size, mode, d, draft.size[0], draft.size[1], e_draft))
        cs, mx = cosine(got, full), float(np.abs(got - full).max())
        check(cs >= cos_min and mx <= max_diff,
              "%s -> %d %s: vs PIL full decode + resize: cosine %.6f (>= %g), max |diff| %.4f "
              "(<= %g), mean |diff| %.5f" % (label, size, mode, cs, cos_min, mx, max_diff,
                                              float(np.abs(got - full).mean())))
        ex, err = sail_pre(tmp, path, size, crop, "--exact-decode")
        e_full = float(np.abs(ex - full).max()) if ex is not None else float("inf")
        check(e_full <= EXACT, "%s -> %d %s --exact-decode equals PIL's full decode (max |diff| %.1e)"
              % (label, size, mode, e_full), err)


def check_unreduced(tmp, im, label, size=224, crop=224):
    path = os.path.join(tmp, "u.jpg")
    im.save(path, quality=90)
    got, err = sail_pre(tmp, path, size, crop)
    full = preprocess(pil_full(path), size, crop)
    e = float(np.abs(got - full).max()) if got is not None else float("inf")
    check(expected_scale(*im.size, size) == 1 and e <= EXACT,
          "%s: not reduced, equal to PIL's full decode (max |diff| %.1e)" % (label, e), err)


def png_header(w, h):
    import struct
    import zlib
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def jpeg_bomb():
    """A 16x16 JPEG whose SOF0 is patched to 65500x65500 (JPEG stores 16-bit
    sides and libjpeg reads at most 65500)."""
    b = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 9, 9)).save(b, "JPEG")
    d = bytearray(b.getvalue())
    i = d.index(b"\xff\xc0")
    d[i + 5:i + 9] = (65500).to_bytes(2, "big") * 2
    return bytes(d)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = tap.init_tiny(tmp, tap.small_vocab(tmp, "abcdefghijklmnopqrstuvwxyz"), 3)
        if not model:
            return 1
        big = os.path.join(tmp, "photo.jpg")
        photo(4032, 3024).save(big, quality=90)

        # --- a phone photo embeds, with and without DCT scaling
        r = sail("embed", "--model", model, "--image", big, "--format", "tsv")
        fast = np.array(r.stdout.split(), np.float64) if r.returncode == 0 else np.zeros(1)
        check(r.returncode == 0 and fast.size > 1, "sail embed --image 4032x3024.jpg (12 Mpx) succeeds",
              r.stderr.decode())
        r = sail("embed", "--model", model, "--image", big, "--format", "tsv", "--exact-decode")
        exact = np.array(r.stdout.split(), np.float64) if r.returncode == 0 else np.zeros(fast.size)
        cs = float(fast @ exact) if exact.size == fast.size else 0.0
        check(r.returncode == 0 and cs > 0.999 and not np.array_equal(fast, exact),
              "embedding with DCT scaling vs --exact-decode: cosine %.6f (> 0.999), not identical" % cs)

        # --- parity of the reduced decode, stated tolerances
        check_parity(tmp, big, "4032x3024 photo", COS_MIN)
        rot = os.path.join(tmp, "rot.jpg")
        ex = Image.Exif()
        ex[0x0112] = 6
        photo(2048, 1536, seed=2).save(rot, quality=92, exif=ex.tobytes())
        check_parity(tmp, rot, "2048x1536 photo, EXIF orientation 6", COS_MIN)
        st = os.path.join(tmp, "stripes.jpg")
        stripes(4032, 3024).save(st, quality=95)
        check_parity(tmp, st, "4032x3024 stripes", COS_MIN_STRIPES, MAX_DIFF_STRIPES)
        check_unreduced(tmp, photo(3001, 2001), "3001x2001 photo (no factor divides both sides)")
        check_unreduced(tmp, photo(1184, 888), "1184x888 photo (short side under 4 x 224)")

        # --- decompression bombs
        bombs = {"bomb.png": png_header(100000, 100000), "bomb.jpg": jpeg_bomb()}
        for name, data in bombs.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        _, _, base = peak_kib("embed", "--model", model, "--text", "abc")
        for name, dims in (("bomb.png", "100000x100000 (10000000000 pixels)"),
                           ("bomb.jpg", "65500x65500 (4290250000 pixels)")):
            rc, err, kib = peak_kib("embed", "--model", model, "--image", os.path.join(tmp, name))
            check(rc == 1 and "image is %s; %s" % (dims, LIMIT_MSG) in err and kib < base + 32 * 1024,
                  "%s (%d bytes) refused from its header: peak RSS %d KiB (a text-only run: %d KiB)"
                  % (name, len(bombs[name]), kib, base), err)

        # --- every command that reads images takes the options
        small = ["--max-image-pixels", 1000000]
        refusal = "photo.jpg: image is 4032x3024 (12192768 pixels); the limit is 1000000 pixels (--max-image-pixels)"
        jl = os.path.join(tmp, "items.jsonl")
        with open(jl, "w") as f:
            f.write(json.dumps({"image": "photo.jpg"}) + "\n")
        ix = os.path.join(tmp, "ix")
        runs = {
            "embed": ["embed", "--model", model, "--image", big],
            "preprocess": ["preprocess", "--image", big, "--size", 224, "-o", os.path.join(tmp, "p.npy")],
            "index add": ["index", "add", "--index", ix, "--model", model, "--kind", "exact", jl],
            "classify": ["classify", "--zero-shot", "--model", model, "--labels", "a,b", "--image", big],
            "cluster": ["cluster", "--model", model, "--data", jl, "--k", 1],
        }
        for name, args in runs.items():
            r = sail(*(args + small))
            e = r.stderr.decode()
            check(r.returncode == 1 and e.count(refusal) == 1, "%s --max-image-pixels 1000000 refuses the photo" % name, e)
            r = sail(*(args + ["--exact-decode"]))
            check(r.returncode == 0, "%s --exact-decode runs" % name, r.stderr.decode())
        r = sail("search", "--index", ix, "--model", model, "--image", big, *small)
        check(r.returncode == 1 and refusal in r.stderr.decode(), "search --image --max-image-pixels refuses the photo",
              r.stderr.decode())
        r = sail("search", "--index", ix, "--model", model, "--image", big, "--json")
        check(r.returncode == 0 and len(json.loads(r.stdout)["results"]) == 1, "search --image with the photo",
              r.stderr.decode())
        r = sail("embed", "--model", model, "--image", big, "--max-image-pixels", 0)
        check(r.returncode == 2 and "--max-image-pixels needs an integer in 1..1073741824" in r.stderr.decode(),
              "--max-image-pixels 0 is a usage error", r.stderr.decode())
        for cmd in (["embed"], ["search"], ["index"], ["preprocess"], ["classify"], ["cluster"]):
            h = sail(*(cmd + ["--help"])).stdout.decode()
            check("--max-image-pixels N" in h and "67108864" in h and "--exact-decode" in h,
                  "sail %s --help documents --max-image-pixels and --exact-decode" % cmd[0])
        h = sail("serve", "--help").stdout.decode()
        check("--max-image-pixels N" in h and "67108864" in h, "sail serve --help: default 67108864")

        # --- index add: photos embed, a bad file is named once, exit 0
        folder = os.path.join(tmp, "photos")
        os.makedirs(folder)
        photo(4032, 3024, seed=5).save(os.path.join(folder, "a.jpg"), quality=85)
        photo(3000, 4000, seed=6).save(os.path.join(folder, "b.jpg"), quality=85)
        with open(os.path.join(folder, "bomb.png"), "wb") as f:
            f.write(bombs["bomb.png"])
        r = sail("index", "add", "--index", os.path.join(tmp, "ix2"), "--model", model, folder)
        e = r.stderr.decode()
        ok = r.returncode == 0 and "added 2 items (1 skipped)" in e and e.count("bomb.png") == 1 and LIMIT_MSG in e
        check(ok, "index add: two phone photos added, the bomb named once with the reason, exit 0", e)
    return tap.failed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
