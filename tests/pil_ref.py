"""PIL's image preprocessing as CLIP-style processors do it: the reference
for sail's in the image tests and the converter oracle, and the peer that
bench/bench_image_pil.py and bench/bench_photo_pil.py time.
Not named test_*.py so tests/run.sh does not run it as a test."""
import time

import numpy as np

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def preprocess(im, size, crop, mean, std, resample, floor=False):
    """im (an RGB PIL image; resample: PIL's filter) with crop > 0: the shortest edge to size (the
    long side int(size * long / short)), then the centre crop x crop square,
    its offset (n - crop) // 2 when floor (Hugging Face's processors) else
    round((n - crop) / 2) (torchvision's); crop 0: squashed to size x size.
    Then /255 and (x - mean) / std, channel-major float32."""
    w, h = im.size
    if crop:
        s, l = min(w, h), max(w, h)
        nl = int(size * l / s)
        nw, nh = (size, nl) if w <= h else (nl, size)
        im = im.resize((nw, nh), resample)
        off = (lambda n: (n - crop) // 2) if floor else (lambda n: int(round((n - crop) / 2.0)))
        top, left = off(nh), off(nw)
        im = im.crop((left, top, left + crop, top + crop))
    else:
        im = im.resize((size, size), resample)
    x = np.asarray(im, np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def timed(decode, prep, iters):
    """The PIL peer's time per image: decode() (to an RGB PIL image), then
    prep(image), each run iters times after one warm-up. Returns (mean
    decode seconds, mean prep seconds, the last image)."""
    t_dec = t_pre = 0.0
    for i in range(iters + 1):
        t0 = time.perf_counter()
        im = decode()
        t1 = time.perf_counter()
        prep(im)
        t2 = time.perf_counter()
        if i:
            t_dec += t1 - t0
            t_pre += t2 - t1
    return t_dec / iters, t_pre / iters, im
