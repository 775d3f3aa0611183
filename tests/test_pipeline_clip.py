"""One model, every front door: the same vectors from the CLI, the C API,
the server (the official `openai` npm client) and the Python binding, for
converted Hugging Face CLIP and Chinese-CLIP models, equal to PyTorch.

Each model is a seeded random folder in Hugging Face's layout
(tests/convert_oracle.py; the real tokenizer files from ../shared/golden)
converted by `sail convert`. The inputs: English, Chinese and product texts
and texts longer than the context (truncated, the end token kept), and
images of odd sizes as PNG and JPEG (colour and greyscale), sizes where the
Hugging Face processor's floor crop offset differs from a rounded one.
They are embedded by
  * `sail embed` (the CLI),
  * tests/tools/api_embed.c (a program of include/sail.h only),
  * `sail serve` through tests/server/pipeline.mjs (the `openai` client:
    strings, and images as image_url content parts with data URLs),
  * python/sail (Model.embed_text / embed_image),
and compared: the C API and the binding run the library call the CLI runs,
so they must equal it bit for bit; the server batches on its own, so it
must equal the CLI to 1e-5 (max abs). The reference is the PyTorch model
on the golden tokenizations and the Hugging Face processor's preprocessing
written in PIL + numpy (shortest edge bicubic, floor centre crop for CLIP;
a squash for Chinese-CLIP): cosine >= 0.9999 and max abs error <= 1e-4
for every vector. The node part is skipped with a message when node, npm
or the openai module is missing; the binding part under `make asan`.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import tap
from tap import BUILD, HERE, check, skip_import

try:
    import numpy as np
    import torch
    from PIL import Image
    import convert_oracle as O
    import pil_ref
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch, python3-numpy and python3-pil", e)

import server_util as TS

T = O.Tap()
API = os.path.join(BUILD, "tools", "api_embed")
# golden lines: English, a product title, Chinese, a Chinese promotion, a
# CLIP text of 167 ids and Chinese-CLIP texts of 63+ ids (truncated), a
# CLIP text of exactly 75 ids (fits with start and end, nothing cut)
TEXT_LINES = [14, 16, 44, 79, 82, 90, 97, 1, 78]
# (w, h, format, mode): 91x57 and 45x73 resize to a long side of 51
# (offset floor 9, rounded 10); the rest are other odd shapes
IMAGES = [(91, 57, "PNG", "RGB"), (45, 73, "JPEG", "RGB"), (47, 73, "PNG", "RGB"), (121, 33, "JPEG", "RGB"),
          (301, 199, "JPEG", "L"), (33, 34, "PNG", "RGBA")]


def write_images(tmp):
    rng = np.random.default_rng(5)
    out = []
    for i, (w, h, fmt, mode) in enumerate(IMAGES):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx * yy) % 255], -1)
        img = Image.fromarray(np.clip(base + rng.normal(0, 50, (h, w, 3)), 0, 255).astype(np.uint8))
        if mode == "L":
            img = img.convert("L")
        elif mode == "RGBA":
            img = img.convert("RGBA")
            img.putalpha(255)
        p = os.path.join(tmp, "in%d.%s" % (i, "png" if fmt == "PNG" else "jpg"))
        img.save(p, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        out.append((p, "image/png" if fmt == "PNG" else "image/jpeg"))
    return out


# -------------------------------------------------------------- models --

def clip_model(tmp):
    d = os.path.join(tmp, "clip")
    model = O.make_clip_folder(d)
    st = O.state_numpy(model)
    st["text_model.embeddings.position_ids"] = np.arange(77, dtype=np.int64)[None]
    O.write_safetensors(os.path.join(d, "model.safetensors"), st)
    rows = O.golden_lines("clip_bpe_golden.jsonl", TEXT_LINES)
    ids = [[49406] + r["ids"][:75] + [49407] for r in rows]
    return d, model, rows, ids, (32, 32)


def cnclip_model(tmp):
    d = os.path.join(tmp, "cnclip")
    model = O.cnclip_folder(d, image_processor_type="ChineseCLIPImageProcessor")
    rows = O.golden_lines("bert_wordpiece_golden.jsonl", TEXT_LINES)
    ids = [[101] + r["ids"][:50] + [102] for r in rows]   # Chinese-CLIP's context: 52
    return d, model, rows, ids, (32, 0)


def reference(model, ids, images, size_crop, floor=True):
    size, crop = size_crop
    with torch.no_grad():
        t = torch.cat([model.text(torch.tensor([x])) for x in ids]).numpy()
        if floor:
            pix = torch.stack([O.preprocess(p, size, crop, 3, O.CLIP_MEAN, O.CLIP_STD) for p, _ in images])
        else:
            pix = torch.stack([rounded_crop(p, size, crop) for p, _ in images])
        return t, model.image(pix).numpy()


def rounded_crop(path, size, crop):
    """torchvision's rounding of the crop offset (what sail did for
    converted CLIPs before it followed the checkpoint's processor)."""
    return torch.from_numpy(pil_ref.preprocess(Image.open(path).convert("RGB"), size, crop, O.CLIP_MEAN, O.CLIP_STD,
                                               Image.BICUBIC))


# ------------------------------------------------------------- the doors --

def cli(gguf, texts, images, tmp):
    return O.embed(gguf, "--text", texts, tmp), O.embed(gguf, "--image", [p for p, _ in images], tmp)


def c_api(gguf, texts, images, tmp, dim):
    out = os.path.join(tmp, "api.f32")
    args = [API, gguf, out] + sum([["--text", t] for t in texts], []) + sum([["--image", p] for p, _ in images], [])
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        return None, r.stderr.strip()[-300:]
    v = np.fromfile(out, np.float32).reshape(-1, dim)
    return (v[:len(texts)], v[len(texts):]), ""


def python_binding(gguf, texts, images):
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
    os.environ.setdefault("SAIL_LIB", os.path.abspath(os.path.join(BUILD, "libsail.so")))
    import sail
    with sail.Model(gguf) as m:
        return m.embed_text(texts), m.embed_image([p for p, _ in images]), m.context


def node_ready():
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm are missing (run scripts/install-deps.sh)"
    d = os.path.join(HERE, "server")
    if not os.path.isdir(os.path.join(d, "node_modules", "openai")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=d, capture_output=True, timeout=300)
        if r.returncode or not os.path.isdir(os.path.join(d, "node_modules", "openai")):
            return "npm ci in tests/server failed (no registry?)"
    return None


def server(name, gguf, texts, images, tmp):
    """The vectors the openai client receives, or None (skipped or failed)."""
    why = node_ready()
    if why:
        print("skip - %s: the openai-client part of %s not run" % (why, name))
        return None
    s = TS.Server(gguf)
    try:
        out = os.path.join(tmp, name + "-server.json")
        env = dict(os.environ, SAIL_URL="http://127.0.0.1:%d" % s.port, SAIL_NAME=name, SAIL_OUT=out,
                   SAIL_INPUTS=json.dumps({"texts": texts, "images": images}))
        r = subprocess.run(["node", os.path.join(HERE, "server", "pipeline.mjs")], capture_output=True, env=env,
                           timeout=120)
        text = r.stdout.decode(errors="replace")
        print(text, end="")
        tap.add(text.count("\nok ") + text.startswith("ok "), text.count("not ok "))
        if r.returncode or not os.path.exists(out):
            check(False, "%s: pipeline.mjs exited %d" % (name, r.returncode), r.stderr.decode(errors="replace")[-500:])
            return None
        with open(out) as f:
            return json.load(f)
    finally:
        rc = s.stop()
        check(rc == 0, "%s: the server exits 0 on SIGTERM" % name)


def same_bits(a, b):
    return a is not None and b is not None and a.shape == b.shape and a.tobytes() == b.tobytes()


def maxabs(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")


def model_case(name, make, tmp, images):
    d, model, rows, ids, size_crop = make(tmp)
    gguf = os.path.join(tmp, name + ".gguf")
    r = O.convert(d, gguf)
    if not check(r.returncode == 0, "%s: sail convert" % name, r.stderr.strip()[-300:] if r.returncode else ""):
        return
    texts = [x["text"] for x in rows]
    want_t, want_i = reference(model, ids, images, size_crop)
    dim = want_t.shape[1]
    long_ids = sum(len(x["ids"]) + 2 > len(i) for x, i in zip(rows, ids))
    cli_t, cli_i = cli(gguf, texts, images, tmp)
    T.compare(cli_t, want_t, "%s: sail embed of %d texts (%d longer than the context) == PyTorch on the golden ids"
              % (name, len(texts), long_ids))
    T.compare(cli_i, want_i, "%s: sail embed of %d PNG/JPEG images of odd sizes == PyTorch with the Hugging Face "
              "processor's preprocessing" % (name, len(images)))
    if size_crop[1]:
        _, round_i = reference(model, ids, images, size_crop, floor=False)
        cos = min(float(np.dot(g, w)) for g, w in zip(cli_i, round_i))
        check(cos < 0.9999, "%s: the images are ones where a rounded crop offset would miss (min cosine %.5f)"
              % (name, cos))

    api, why = c_api(gguf, texts, images, tmp, dim)
    if check(api is not None, "%s: the C API program (include/sail.h only) runs" % name, why):
        check(same_bits(api[0], cli_t) and same_bits(api[1], cli_i),
              "%s: C API sail_embed_texts / sail_embed_image_files == sail embed, bit for bit" % name,
              "max|diff| texts %.1e images %.1e" % (maxabs(api[0], cli_t), maxabs(api[1], cli_i)))

    if os.environ.get("SAIL_ASAN"):
        print("skip - %s: an ASan-built libsail.so cannot load into python; the binding part not run" % name)
    else:
        py_t, py_i, ctx = python_binding(gguf, texts, images)
        check(same_bits(py_t, cli_t) and same_bits(py_i, cli_i),
              "%s: python Model.embed_text / embed_image == sail embed, bit for bit" % name,
              "max|diff| texts %.1e images %.1e" % (maxabs(py_t, cli_t), maxabs(py_i, cli_i)))
        check(ctx == max(len(i) for i in ids),
              "%s: the binding reports the model's context (%d tokens)" % (name, ctx))

    got = server(name, gguf, texts, images, tmp)
    if got is not None:
        st, sf, si = (np.array(got[k], np.float32) for k in ("texts", "texts_float", "images"))
        et, ei = maxabs(st, cli_t), maxabs(si, cli_i)
        check(et <= 1e-5 and ei <= 1e-5, "%s: the server's vectors through the openai client == sail embed "
              "(max|diff| texts %.1e, images %.1e)" % (name, et, ei))
        check(maxabs(sf, st) <= 1e-6, "%s: encoding_format float == the default base64 (max|diff| %.1e)"
              % (name, maxabs(sf, st)))
        T.compare(st, want_t, "%s: server texts == PyTorch" % name)
        T.compare(si, want_i, "%s: server images (data URLs) == PyTorch with the processor's preprocessing" % name)


def main():
    need = ["bpe_simple_vocab_16e6.txt.gz", "clip_bpe_golden.jsonl", "chinese_clip_vocab.txt",
            "bert_wordpiece_golden.jsonl"]
    if not all(O.golden(x) for x in need):
        print("skip - ../shared/golden (tokenizer vocabularies and golden ids) is absent")
        return 0
    if not os.path.exists(API):
        check(False, "driver %s exists (run make tests-build)" % API)
        return 1
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        images = write_images(tmp)
        model_case("clip", clip_model, tmp, images)
        model_case("chinese-clip", cnclip_model, tmp, images)
    for rep in TS.SANITIZER_REPORTS:
        print("# " + rep.replace("\n", "\n# "))
    check(not TS.SANITIZER_REPORTS, "no sanitizer report in the servers' logs")
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
