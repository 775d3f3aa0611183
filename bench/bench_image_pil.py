#!/usr/bin/python3
"""bench_image_pil.py: the PIL + numpy side of bench_image.c: decode a JPEG,
resize the short side to 224 (BICUBIC), centre-crop 224, x/255, (x-mean)/std,
CHW float32. Same pattern and JPEG settings as the C bench. Run with
/usr/bin/python3 (the one with PIL and numpy).

    bench_image_pil.py [--sail BUILD/bench/bench_image]

With --sail it also runs the C bench right after and prints every line of
both, then PIL total / sail total per image size and sail thread count
(> 1 means sail is faster; PIL is single-threaded)."""
import io
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import pil_ref  # noqa: E402


def make_jpeg(w, h):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x ^ y) & 255], -1).astype(np.uint8)
    b = io.BytesIO()
    Image.fromarray(a, "RGB").save(b, "JPEG", quality=90)
    return b.getvalue()


def preprocess(im, size=224, crop=224):
    return pil_ref.preprocess(im, size, crop, pil_ref.CLIP_MEAN, pil_ref.CLIP_STD, Image.BICUBIC)


def bench(w, h, iters):
    data = make_jpeg(w, h)
    t_dec, t_pre, _ = pil_ref.timed(lambda: Image.open(io.BytesIO(data)).convert("RGB"), preprocess, iters)
    line = (f"PIL   {w:4d}x{h:<4d} JPEG -> 224x224: decode {1e3 * t_dec:7.3f} ms  "
            f"resize+normalise {1e3 * t_pre:7.3f} ms  total {1e3 * (t_dec + t_pre):7.3f} ms")
    print(line, flush=True)
    return line


LINE = re.compile(r"^(\w+)\s+(\d+x\d+)\s.*total\s+([\d.]+) ms(?:\s+\((\d+) threads?\))?")


def ratios(pil_lines, sail_lines):
    pil = {m.group(2): float(m.group(3)) for m in map(LINE.match, pil_lines) if m}
    print("== Ratios (PIL time / sail time; > 1 means sail is faster)")
    for m in map(LINE.match, sail_lines):
        if m and m.group(2) in pil:
            n = m.group(4) or "1"
            t = float(m.group(3))
            print(f"{m.group(2):>9} JPEG -> 224x224  PIL {pil[m.group(2)]:7.3f} ms  "
                  f"sail ({n} thread{'s' if n != '1' else ''}) {t:7.3f} ms  "
                  f"PIL/sail {pil[m.group(2)] / t:.2f}x")


if __name__ == "__main__":
    pil_lines = [bench(512, 512, 200), bench(2048, 1536, 30)]
    if len(sys.argv) == 3 and sys.argv[1] == "--sail":
        out = subprocess.run([sys.argv[2]], capture_output=True, text=True, check=True).stdout
        print(out, end="")
        ratios(pil_lines, out.splitlines())
    elif len(sys.argv) != 1:
        sys.exit("usage: bench_image_pil.py [--sail BUILD/bench/bench_image]")
