#!/usr/bin/python3
"""test_image_pil.py: sail's image decoding, resizing and preprocessing
against PIL 9.4 + numpy, the reference the models were trained with.

Route: this test compiles tests/image_tool.c together with the src/image
sources (plus src/format/npy.c and src/core) into a temporary binary and
sends it jobs on stdin, so it needs neither the `sail` CLI nor anyone else's
module to build. Under `make asan` (SAIL_ASAN=1) the tool is built with
AddressSanitizer + UBSan, so the parity cases double as memory checks.
When the `sail` binary has the `preprocess` command, one case also goes
through the real CLI and its .npy output.

Prints TAP lines; tests/run.sh counts them.
"""
import glob
import io
import os
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps

import pil_ref
import tap
from tap import check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


# ------------------------------------------------------------------ driver --

def build_tool(tmp, ref=False):
    """ref=True forces the portable resize kernels (no AVX2)."""
    srcs = sorted(glob.glob(os.path.join(ROOT, "src/image/*.c")))
    srcs += [os.path.join(ROOT, p) for p in
             ("src/format/npy.c", "src/core/alloc.c", "src/core/fault.c", "src/core/cpu.c", "src/core/error.c",
              "src/core/pool.c",
              "tests/image_tool.c")]
    exe = os.path.join(tmp, "image_tool_ref" if ref else "image_tool")
    cmd = ["gcc", "-std=c11", "-O2", "-g", "-D_GNU_SOURCE", "-I" + ROOT + "/include",
           "-I" + ROOT + "/src", "-I" + ROOT + "/src/core", "-o", exe] + srcs + \
          ["-ljpeg", "-lpng", "-lwebp", "-lz", "-lm"] + (["-DSAIL_FORCE_REF"] if ref else [])
    if os.environ.get("SAIL_ASAN"):
        cmd[2:3] = ["-O1", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                    "-fno-sanitize-recover=undefined"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        print(r.stderr)
        return None
    return exe


class Tool:
    def __init__(self, exe):
        self.p = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, *args):
        self.p.stdin.write(" ".join(str(a) for a in args) + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().rstrip("\n")

    def close(self):
        self.p.stdin.close()
        return self.p.wait()


# ----------------------------------------------------------------- images --

def patterns(w, h, rng):
    """Noise, and a structured image: gradients, a 1-pixel and a 7-pixel
    checkerboard of 0/255 (overshoot -> clipping) and hard edges."""
    yield "noise", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    a[..., 1] = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    a[..., 2] = np.where(((x // 7) + (y // 7)) % 2, 255, 0)
    a[(x + y) % 2 == 0, 1] = np.where(x[(x + y) % 2 == 0] < w // 2, 0, 255)
    a[:, w // 3:w // 3 + 1] = (255, 0, 255)
    yield "structured", a


def targets(w, h):
    if w * h >= 2048 * 2048:
        return [(224, 224), (336, 200)]
    t = [(224, 224), (max(1, w // 3), max(1, h // 2)), (97, 131),
         (w, max(1, h // 2 + 1)), (max(1, w // 2 + 1), h)]
    if w * h <= 640 * 480:
        t.append((min(2048, w * 2 + 1), min(2048, h * 3)))
    return [s for s in dict.fromkeys(t) if s != (w, h)]


def check_resize(tool, tmp, rng, label=""):
    sizes = [(1, 1), (2, 3), (7, 5), (224, 224), (225, 223), (640, 480), (2048, 2048),
             (1, 2000), (2000, 1)]
    tot = eq = 0
    worst = 0
    for (w, h) in sizes:
        for name, arr in patterns(w, h, rng):
            src = os.path.join(tmp, "in.raw")
            arr.tofile(src)
            im = Image.fromarray(arr, "RGB")
            for fname, f in FILTERS.items():
                bad = []
                for (ow, oh) in targets(w, h):
                    out = os.path.join(tmp, "out.raw")
                    r = tool.ask("resize", src, w, h, ow, oh, f, out)
                    if not r.startswith("ok"):
                        bad.append(f"{ow}x{oh}: {r}")
                        continue
                    got = np.fromfile(out, np.uint8).reshape(oh, ow, 3)
                    ref = np.asarray(im.resize((ow, oh), f))
                    d = np.abs(got.astype(int) - ref.astype(int))
                    tot += d.size
                    eq += int((d == 0).sum())
                    worst = max(worst, int(d.max()))
                    if d.max():
                        bad.append(f"{ow}x{oh}: {int((d != 0).sum())} values differ, max {d.max()}")
                check(not bad, f"resize{label} {name} {w}x{h} {fname} == PIL" +
                      (": " + "; ".join(bad[:3]) if bad else ""))
    print(f"# resize{label} exactness: {eq}/{tot} values equal ({100.0 * eq / max(tot, 1):.4f}%), "
          f"max diff {worst}")
    check(tot > 0 and eq / tot >= 0.999 and worst <= 1,
          f"resize{label}: >= 99.9% of values equal to PIL and none off by more than 1")


# ------------------------------------------------------------- preprocess --

def ref_preprocess(im, size, crop, f):
    return pil_ref.preprocess(im, size, crop, MEAN, STD, f)


def check_preprocess(tool, tmp, rng, sail):
    tol = 1.0 / 255.0 / float(STD.min())
    cases = [((640, 480), 224, 224), ((480, 640), 224, 224), ((225, 223), 224, 224),
             ((300, 1001), 224, 224), ((7, 5), 224, 224), ((640, 480), 336, 336),
             ((640, 480), 256, 224), ((643, 480), 224, 0), ((480, 640), 224, 0)]
    for (w, h), size, crop in cases:
        arr = next(patterns(w, h, rng))[1]
        path = os.path.join(tmp, "pre.png")
        Image.fromarray(arr, "RGB").save(path)
        for fname, f in FILTERS.items():
            out = os.path.join(tmp, "pre.npy")
            r = tool.ask("preprocess", path, size, crop, f, out)
            ref = ref_preprocess(Image.open(path).convert("RGB"), size, crop, f)
            if not r.startswith("ok"):
                check(False, f"preprocess {w}x{h} size {size} crop {crop} {fname}: {r}")
                continue
            got = np.load(out)
            d = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
            mode = f"crop {crop}" if crop else "squash"
            check(got.dtype == np.float32 and d <= tol,
                  f"preprocess {w}x{h} -> {size} {mode} {fname}: shape {got.shape}, "
                  f"max |diff| {d:.2e} (tolerance {tol:.2e})")
    if not sail or subprocess.run([sail, "preprocess", "--help"],
                                  capture_output=True).returncode != 0:
        print("skip - sail preprocess CLI (not built or not dispatched yet)")
        return
    path = os.path.join(tmp, "cli.png")
    Image.fromarray(next(patterns(500, 333, rng))[1], "RGB").save(path)
    out = os.path.join(tmp, "cli.npy")
    r = subprocess.run([sail, "preprocess", "--image", path, "--size", "224", "--crop", "224",
                        "-o", out], capture_output=True, text=True)
    ok = r.returncode == 0 and os.path.exists(out)
    d = float(np.abs(np.load(out) - ref_preprocess(Image.open(path).convert("RGB"), 224, 224,
                                                   Image.BICUBIC)).max()) if ok else -1
    check(ok and d <= tol, f"sail preprocess CLI == PIL+numpy (max |diff| {d:.2e}) {r.stderr}")


# ------------------------------------------------------------------ decode --

def png_file(w, h, ctype, depth, rng, plte=None, trns=None, small16=False):
    """A PNG written by hand, so every colour type and bit depth exists."""
    chans = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    hi = (1 << depth) - 1
    s = rng.integers(0, hi + 1, (h, w * chans), dtype=np.uint32)
    if small16:
        s[::2] = rng.integers(0, 300, s[::2].shape)
    rows = []
    for r in s:
        if depth == 16:
            rows.append(r.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(r.astype(np.uint8).tobytes())
        else:
            bits = "".join(format(int(v), f"0{depth}b") for v in r)
            bits += "0" * (-len(bits) % 8)
            rows.append(bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if plte is not None:
        out += chunk(b"PLTE", plte)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(b"".join(b"\0" + r for r in rows)))
    return out + chunk(b"IEND", b"")


def ppm_file(w, h, magic, maxval, rng):
    bands = 3 if magic == "P6" else 1
    v = rng.integers(0, maxval + 1, (h, w * bands))
    data = v.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    return f"{magic}\n# a comment\n{w} {h}\n{maxval}\n".encode() + data


def smooth(w, h, rng):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * y) % 256], -1)
    return np.clip(a + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)


def decode_cases(rng):
    """(label, file bytes, expect error substring or None)."""
    w, h = 13, 7
    for ct, depths in ((0, (1, 2, 4, 8, 16)), (2, (8, 16)), (3, (1, 2, 4, 8)), (4, (8, 16)),
                       (6, (8, 16))):
        for d in depths:
            plte = rng.integers(0, 256, 3 * (1 << min(d, 8)), dtype=np.uint8).tobytes() \
                if ct == 3 else None
            yield f"PNG type {ct} {d}-bit", png_file(w, h, ct, d, rng, plte, small16=(d == 16)), None
    yield "PNG palette shorter than indices", png_file(w, h, 3, 8, rng, bytes(range(24))), None
    yield "PNG RGB + tRNS", png_file(w, h, 2, 8, rng, trns=b"\0\1\0\2\0\3"), None
    yield "PNG palette + tRNS", png_file(w, h, 3, 4, rng, bytes(48), trns=b"\0\x80"), None
    yield "PNG gray 16 + tRNS", png_file(w, h, 0, 16, rng, trns=b"\0\5", small16=True), None

    for size in ((13, 7), (640, 480)):
        im = Image.fromarray(smooth(*size, rng), "RGB")
        for label, kw in (("baseline", {}), ("4:4:4", {"subsampling": 0}),
                          ("4:2:2", {"subsampling": 1}), ("progressive", {"progressive": True})):
            b = io.BytesIO()
            im.save(b, "JPEG", quality=90, **kw)
            yield f"JPEG {label} {size[0]}x{size[1]}", b.getvalue(), None
        for mode in ("L", "CMYK"):
            b = io.BytesIO()
            src = im.convert(mode) if mode == "L" else Image.fromarray(
                rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8), "CMYK")
            src.save(b, "JPEG", quality=92)
            yield f"JPEG {mode} {size[0]}x{size[1]}", b.getvalue(), None
    im = Image.fromarray(smooth(13, 7, rng), "RGB")
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        b = io.BytesIO()
        im.save(b, "JPEG", quality=95, exif=exif.tobytes())
        yield f"JPEG EXIF orientation {o}", b.getvalue(), None
    b = io.BytesIO()
    Image.fromarray(smooth(64, 48, rng), "RGB").save(b, "JPEG")
    yield "JPEG truncated", b.getvalue()[:len(b.getvalue()) // 2], "truncated JPEG data"

    rgb = Image.fromarray(smooth(37, 23, rng), "RGB")
    rgba = Image.fromarray(rng.integers(0, 256, (23, 37, 4), dtype=np.uint8), "RGBA")
    for label, src, kw in (("lossy", rgb, {"quality": 80}), ("lossless", rgb, {"lossless": True}),
                           ("lossy alpha", rgba, {"quality": 80}),
                           ("lossless alpha", rgba, {"lossless": True})):
        b = io.BytesIO()
        src.save(b, "WEBP", **kw)
        yield f"WebP {label}", b.getvalue(), None
    b = io.BytesIO()
    rgb.save(b, "WEBP", save_all=True, append_images=[rgba.convert("RGB")], duration=100)
    yield "WebP animated", b.getvalue(), "animated WebP is not supported"

    for magic, maxval in (("P6", 255), ("P5", 255), ("P6", 100), ("P6", 1000), ("P6", 65535),
                          ("P5", 15), ("P5", 1000), ("P5", 65535)):
        yield f"{magic} maxval {maxval}", ppm_file(w, h, magic, maxval, rng), None


def check_decode(tool, tmp, rng):
    for label, data, want_err in decode_cases(rng):
        path = os.path.join(tmp, "dec.bin")
        with open(path, "wb") as f:
            f.write(data)
        out = os.path.join(tmp, "dec.raw")
        r = tool.ask("decode", path, out)
        if want_err:
            check(r.startswith("err") and want_err in r, f"decode {label}: error '{r[4:]}'")
            continue
        ref = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        if not r.startswith("ok"):
            check(False, f"decode {label}: {r}")
            continue
        w, h = map(int, r.split()[1:3])
        got = np.fromfile(out, np.uint8).reshape(h, w, 3)
        same = got.shape == ref.shape and np.array_equal(got, ref)
        detail = "" if same else (f": shape {got.shape} vs {ref.shape}" if got.shape != ref.shape
                                  else f": max diff {np.abs(got.astype(int) - ref).max()}")
        check(same, f"decode {label} == PIL convert('RGB'){detail}")
        if label.startswith("JPEG EXIF orientation 6"):
            r = tool.ask("decode", path, out, "noexif")
            raw = np.asarray(Image.open(path).convert("RGB"))
            got = np.fromfile(out, np.uint8).reshape(raw.shape) if r.startswith("ok") else None
            check(got is not None and np.array_equal(got, raw),
                  "decode with exif_rotate=0 == PIL open() without exif_transpose")


def main():
    warnings.simplefilter("ignore")  # PIL's note on palette transparency
    t0 = time.time()
    rng = np.random.default_rng(20240607)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_tool(tmp)
        check(exe is not None, "build tests/image_tool.c with src/image")
        if exe is None:
            return 1
        tool = Tool(exe)
        check_decode(tool, tmp, rng)
        check_resize(tool, tmp, rng)
        ref_exe = build_tool(tmp, ref=True)
        check(ref_exe is not None, "build image_tool with -DSAIL_FORCE_REF (portable kernels)")
        if ref_exe:
            ref_tool = Tool(ref_exe)
            check_resize(ref_tool, tmp, np.random.default_rng(7), " (portable)")
            check(ref_tool.close() == 0, "portable image_tool exited cleanly")
        check_preprocess(tool, tmp, rng, os.environ.get("SAIL"))
        check(tool.close() == 0, "image_tool exited cleanly (no sanitizer reports)")
    print(f"# {tap.n - tap.failed} passed, {tap.failed} failed in {time.time() - t0:.1f} s")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
