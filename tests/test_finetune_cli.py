"""Fine-tuning imported checkpoints end to end through the CLI.

A seeded random CLIP in Hugging Face's layout with a small tokenizer
written here is converted by `sail convert`, evaluated on held-out shapes
(`sail eval`), fine-tuned with `sail finetune` on generated shapes (30
epochs, about 20 s) and evaluated again: text -> image R@1 must rise above
what it was and above twice chance. A Chinese-CLIP runs the same pipeline
for two epochs. The fine-tuned model keeps the checkpoint's own tokenizer
(the same ids for the same texts) and its kind (an imported two-tower
model). `sail serve` answers texts for a CLIP-tokenizer model (it used to
count tokens with WordPiece and fail) with the vectors `sail embed` gives.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import tap
from tap import SAIL, check, free_port, skip_import

try:
    import numpy as np
    import torch  # noqa: F401  (convert_oracle builds the models with it)
    import convert_oracle as O
    import test_finetune_grad as G
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch and python3-numpy", e)


def sail(*args, **kw):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True, **kw)


def recall1(model, data):
    r = sail("eval", "--model", model, "--data", data, "--json")
    if r.returncode:
        return None, r.stderr.strip()[-300:]
    j = json.loads(r.stdout)
    return j, ""


def t2i(j):
    """text -> image R@1 from `sail eval --json`."""
    for k in ("text_image", "text->image", "t2i"):
        if k in j:
            return j[k]["R@1"] if isinstance(j[k], dict) else j[k]
    for k, v in j.items():
        if isinstance(v, dict) and "t2i" in k.replace("->", "2").replace("text_to_image", "t2i"):
            return v.get("R@1")
    raise KeyError("no text->image recall in %s" % list(j))


def convert(kind, tmp):
    d = os.path.join(tmp, kind)
    if kind == "clip":
        os.makedirs(d)
        model = G.trainable_clip(d, G.clip_tokenizer(d))
    else:
        model = G.clip_model(d, chinese=True)[0]
    O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
    out = os.path.join(tmp, kind + ".gguf")
    r = O.convert(d, out)
    check(r.returncode == 0, "%s: sail convert" % kind, r.stderr.strip()[-300:] if r.returncode else "")
    return out if r.returncode == 0 else None


def finetune_case(kind, data, tmp):
    model = convert(kind, tmp)
    if not model:
        return None
    held = os.path.join(data, "test.jsonl")
    before, why = recall1(model, held)
    if not check(before is not None, "%s: sail eval of the converted model" % kind, why):
        return None
    out = os.path.join(tmp, kind + "-run")
    epochs = "30" if kind == "clip" else "2"
    r = sail("finetune", "--model_name_or_path", model, "--train_data_path", os.path.join(data, "train.jsonl"),
             "--output_dir", out, "--learning_rate", "3e-3", "--num_train_epochs", epochs,
             "--batch_size", "32")
    if not check(r.returncode == 0, "%s: sail finetune of the converted model runs" % kind, r.stderr.strip()[-400:]):
        return None
    tuned = os.path.join(out, "model.gguf")
    after, why = recall1(tuned, held)
    if not check(after is not None, "%s: sail eval of the fine-tuned model" % kind, why):
        return None
    b, a = t2i(before), t2i(after)
    chance = 1.0 / max(1, sum(1 for _ in open(held)) // 2)
    if kind == "clip":  # the others run briefly: the pipeline, not the learning
        check(a > b and a > 2 * chance, "%s: held-out text->image R@1 rises with fine-tuning: %.3f -> %.3f "
              "(chance ~%.3f)" % (kind, b, a, chance))
    texts = "a big red circle\n一个小的蓝色方块\n"
    t0 = sail("tokenize", "--model", model, input=texts)
    t1 = sail("tokenize", "--model", tuned, input=texts)
    check(t0.returncode == 0 and t0.stdout == t1.stdout and t0.stdout.strip(),
          "%s: the fine-tuned model keeps the checkpoint's tokenizer (same ids)" % kind,
          (t0.stderr + t1.stderr).strip()[-200:])
    info = sail("info", tuned)
    check(info.returncode == 0 and "variant=towers" in info.stdout,
          "%s: the fine-tuned model is still the imported two-tower model" % kind, info.stdout[:200])
    return model


def serve_case(model, tmp):
    port = free_port()
    p = subprocess.Popen([SAIL, "serve", "--model", model, "--port", str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        url = "http://127.0.0.1:%d" % port
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        body = json.dumps({"input": ["a big red circle", "一个小的蓝色方块"]}).encode()
        req = urllib.request.Request(url + "/v1/embeddings", body, {"Content-Type": "application/json"})
        try:
            got = json.loads(urllib.request.urlopen(req, timeout=30).read())
            vecs = np.array([d["embedding"] for d in got["data"]], dtype=np.float32)
            status = 200
        except urllib.error.HTTPError as e:
            vecs, status = None, "%d %s" % (e.code, e.read()[:200])
        if not check(status == 200, "serve: a CLIP-tokenizer model answers texts (200)", str(status)):
            return
        want = O.embed(model, "--text", ["a big red circle", "一个小的蓝色方块"], tmp)
        err = float(np.abs(vecs - want).max())
        check(err <= 1e-5, "serve: its vectors equal sail embed's (max|err| %.1e)" % err)
    finally:
        p.terminate()
        p.wait(10)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "shapes")
        r = sail("data", "shapes", "-n", "700", "--seed", "3", "-o", data)
        if not check(r.returncode == 0, "shapes data generated", r.stderr.strip()[-200:]):
            return tap.summary()
        clip = finetune_case("clip", data, tmp)
        finetune_case("cnclip", data, tmp)
        if clip:
            serve_case(clip, tmp)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
