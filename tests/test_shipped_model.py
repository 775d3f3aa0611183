"""The shipped model (models/sail-tiny.gguf) retrieves what its card says it
learned: on a fresh shapes set (a seed never used in training), English and
Chinese captions find their images far above chance, through `sail eval`;
and a caption is closer to its own image than to the others (cosines from
`sail embed`). When the model has an audio tower, the same captions spoken
by espeak-ng (`sail data speech`, a seed never used in training) find their
images too. A replaced, corrupted or untrained file fails these."""
import json
import os
import sys
import tempfile

import numpy as np

from tap import HERE, check, have, sail, summary

MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")


def main():
    if not have(MODEL):
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "shapes")
        sail("data", "shapes", "-n", 120, "--seed", 4242, "--size", 64, "-o", data)
        lines = []
        for split in ("train", "val", "test", "test_novel"):
            with open(os.path.join(data, split + ".jsonl")) as f:
                lines += [json.loads(x) for x in f if x.strip()]
        manifest = os.path.join(data, "all.jsonl")
        with open(manifest, "w") as f:
            f.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
        images = len({x["image"] for x in lines})
        for lang in ("en", "zh"):
            r = sail("eval", "--model", MODEL, "--data", manifest, "--lang", lang, "--json")
            res = json.loads(r.stdout) if r.returncode == 0 else {}
            t2i = res.get("text_to_image", {})
            # Measured when the model shipped: R@1 0.74-0.75, R@5 1.0 on these 120 fresh images;
            # chance is ~1/120 and ~5/120.
            check(t2i.get("R@1", 0) >= 0.2 and t2i.get("R@5", 0) >= 0.5,
                  "%s captions -> %d fresh images: R@1 %.3f, R@5 %.3f (chance %.3f, %.3f)"
                  % (lang, images, t2i.get("R@1", 0), t2i.get("R@5", 0), 1 / images, 5 / images))
        # The same image described in both languages: the two captions land
        # closer to each other than to captions of other scenes.
        en = [x for x in lines if x["lang"] == "en"][:20]
        zh = {x["image"]: x["text"] for x in lines if x["lang"] == "zh"}
        args = ["embed", "--model", MODEL, "--separate", "--format", "npy", "-o", os.path.join(tmp, "v.npy")]
        for x in en:
            args += ["--text", x["text"], "--text", zh[x["image"]]]
        r = sail(*args)
        v = np.load(os.path.join(tmp, "v.npy")) if r.returncode == 0 else np.zeros((40, 4))
        e, z = v[0::2], v[1::2]
        sim = e @ z.T
        groups = [x["group"] for x in en]
        right = sum(groups[int(np.argmax(sim[i]))] == groups[i] for i in range(len(en)))
        check(right >= 0.6 * len(en), "English caption -> Chinese caption of the same scene: %d/%d" % (right, len(en)))
        spoken(tmp, data, images)
    return summary()


def spoken(tmp, data, images):
    """Spoken captions -> images, per language, when the model hears."""
    r = sail("info", MODEL)
    if r.returncode != 0 or b"audio:" not in r.stdout:
        print("skip - the shipped model has no audio tower")
        return
    r = sail("data", "speech", "--data", data, "--seed", 4243, "--variants", 1)
    if not check(r.returncode == 0, "sail data speech speaks the fresh captions", r.stderr[-300:].decode()):
        return
    manifest = os.path.join(data, "spoken.jsonl")
    with open(manifest, "w") as f:
        for split in ("train", "val", "test", "test_novel"):
            for x in open(os.path.join(data, "speech_%s.jsonl" % split)):
                x = json.loads(x)
                f.write(json.dumps({"query": {"audio": x["audio"]}, "item": {"image": x["image"]},
                                    "group": x["group"], "lang": x["lang"]}) + "\n")
    for lang in ("en", "zh"):
        r = sail("eval", "--model", MODEL, "--data", manifest, "--lang", lang, "--json")
        res = json.loads(r.stdout).get("query_to_item", {}) if r.returncode == 0 else {}
        # the audio issue's target for a shipped model that hears
        check(res.get("R@1", 0) >= 0.5,
              "%s spoken captions -> %d fresh images: R@1 %.3f, R@5 %.3f (chance %.3f, %.3f)"
              % (lang, images, res.get("R@1", 0), res.get("R@5", 0), 1 / images, 5 / images))


if __name__ == "__main__":
    sys.exit(main())
