#!/usr/bin/python3
"""bench_photo_pil.py: a 12-Mpx phone photo (4032x3024 JPEG, quality 90: a
real photo, scipy's raccoon, tiled, with grain) to the CLIP input tensor,
PIL 9.4 + numpy vs sail (bench_photo.c). The PIL side does what
CLIPImageProcessor does: decode, convert("RGB"), resize the short side to
224 (BICUBIC), centre-crop 224, x/255, (x-mean)/std, CHW float32; once
after a full decode and once after Image.draft (the DCT scaling sail uses by
default), for reference. Run with /usr/bin/python3.

    bench_photo_pil.py [--sail BUILD/bench/bench_photo] [--iters N]

With --sail it runs the C bench on the same file and prints ratios (PIL full
decode time / sail time; > 1 means sail is faster)."""
import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import pil_ref  # noqa: E402


def make_photo(w=4032, h=3024):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import scipy.misc
        face = scipy.misc.face()
    a = np.tile(face, (h // face.shape[0] + 1, w // face.shape[1] + 1, 1))[:h, :w].astype(np.float32)
    a += np.random.default_rng(1).normal(0, 4, a.shape)
    b = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(b, "JPEG", quality=90)
    return b.getvalue()


def preprocess(im, size=224, crop=224):
    return pil_ref.preprocess(im, size, crop, pil_ref.CLIP_MEAN, pil_ref.CLIP_STD, Image.BICUBIC)


def bench(data, iters, draft):
    def decode():
        im = Image.open(io.BytesIO(data))
        if draft:
            im.draft("RGB", (448, 448))  # keeps >= 2 x 224, as sail does
        return im.convert("RGB")
    t_dec, t_pre, im = pil_ref.timed(decode, preprocess, iters)
    w, h = Image.open(io.BytesIO(data)).size
    kind = "draft" if draft else "full"
    line = (f"PIL  {kind:5s} {w}x{h} JPEG -> 224x224: decode {1e3 * t_dec:8.3f} ms  "
            f"resize+normalise {1e3 * t_pre:7.3f} ms  total {1e3 * (t_dec + t_pre):8.3f} ms  "
            f"(decoded {im.size[0]}x{im.size[1]})")
    print(line, flush=True)
    return 1e3 * (t_dec + t_pre)


TOTAL = re.compile(r"^sail (\w+)\s.*total\s+([\d.]+) ms.*; (\d+) threads?\)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sail")
    ap.add_argument("--iters", type=int, default=10)
    a = ap.parse_args()
    data = make_photo()
    pil_full = bench(data, a.iters, False)
    bench(data, a.iters, True)
    if not a.sail:
        return
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(data)
        f.flush()
        out = subprocess.run([a.sail, f.name, str(a.iters)], capture_output=True, text=True, check=True).stdout
    print(out, end="")
    print("== Ratios (PIL full decode + preprocess time / sail time; > 1 means sail is faster)")
    for m in map(TOTAL.match, out.splitlines()):
        if m:
            t, n = float(m.group(2)), m.group(3)
            print(f"4032x3024 JPEG -> 224x224  PIL {pil_full:8.3f} ms  sail {m.group(1):5s} ({n} thread"
                  f"{'s' if n != '1' else ''}) {t:8.3f} ms  PIL/sail {pil_full / t:.2f}x")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
