"""Joint items (text + image on one side of a pair) in training and eval.

Manifest lines {"query": Q, "item": {"text": T, "image": P}} are joint
pairs; an item with only a text or only an image is an ordinary pair; mixed
or malformed forms are skipped with their reason. End to end, with the
shipped model and generated shapes: every picture is sold under several
"brands" (a word in the item's title, invisible in the picture), and a query
names the brand and describes the picture, as a shop search does. The model
fine-tuned on joint items (query -> title + photo) must retrieve the right
item (query -> item R@1 in `sail eval`) clearly better than the same model
fine-tuned for the same steps on image-only items (query -> photo), which
cannot learn what the title adds.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

import tap
from tap import HERE, SAIL, check

MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")
BRANDS = ["cat", "dog", "car", "fish", "tree", "house", "apple", "rocket"]


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True)


def rows(d, split):
    return [r for r in (json.loads(x) for x in open(os.path.join(d, split + ".jsonl"))) if r["lang"] == "en"]


def write(d, name, rs, per, rng):
    with open(os.path.join(d, name + "_joint.jsonl"), "w") as fj, \
            open(os.path.join(d, name + "_image.jsonl"), "w") as fi:
        for r in rs:
            for b in rng.sample(BRANDS, per):
                q, g = "%s %s" % (b, r["text"]), "%s|%s" % (r["group"], b)
                fj.write(json.dumps({"query": q, "item": {"text": b, "image": r["image"]}, "group": g}) + "\n")
                fi.write(json.dumps({"text": q, "image": r["image"], "group": g}) + "\n")


def q2i(model, data):
    r = sail("eval", "--model", model, "--data", data, "--json")
    try:
        return json.loads(r.stdout)["query_to_item"]["R@1"], ""
    except (ValueError, KeyError):
        return None, (r.stdout + r.stderr)[-300:]


def manifest_case(d):
    img = os.path.join(d, "images", sorted(os.listdir(os.path.join(d, "images")))[0])
    lines = [
        {"query": "a red thing", "item": {"text": "acme", "image": img}},   # joint
        {"query": "a red thing", "item": {"image": img}},                   # text -> image
        {"query": "a red thing", "item": {"text": "acme red"}},             # text -> text
        {"query": "x", "text": "y", "item": {"image": img}},                # mixed forms
        {"query": "x", "item": {"image": img, "video": img}},               # an image and a video
        {"query": "", "item": {"text": "t"}},
    ]
    path = os.path.join(d, "forms.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(json.dumps(x) for x in lines) + "\n")
    r = sail("eval", "--model", MODEL, "--data", path, "--json")
    doc = json.loads(r.stdout) if r.returncode == 0 else {}
    check(doc.get("n") == 3 and "query_to_item" in doc and "text_to_image" in doc and "text_to_text" in doc
          and list(doc.get("query_to_item_by_kind", {})) == ["text->text+image"],
          "query/item lines: joint, image-only and text-only items read as their kinds (%s)" % doc,
          r.stderr[-300:])
    err = r.stderr
    check("skipped 3 lines" in err and "line 4: mixes" in err and "line 5:" in err and "line 6:" in err,
          "malformed query/item lines are skipped with their line and reason", err.strip()[-400:])
    r = sail("eval", "--model", MODEL, "--data", path)
    check(r.returncode == 0 and "query->item" in r.stdout, "the eval table has a query->item row", r.stdout[-300:])


def main():
    if not tap.have(MODEL):
        return tap.summary()
    with tempfile.TemporaryDirectory() as tmp:
        d = tap.shapes(tmp, 400, 5)
        if not d:
            return tap.summary()
        manifest_case(d)
        rng = random.Random(1)
        write(d, "train", rows(d, "train"), 2, rng)
        write(d, "test", rows(d, "test") + rows(d, "val"), 4, rng)
        got = {}
        for kind in ("joint", "image"):
            out = os.path.join(tmp, "run-" + kind)
            r = sail("finetune", "--model_name_or_path", MODEL, "--train_data_path",
                     os.path.join(d, "train_%s.jsonl" % kind), "--output_dir", out, "--learning_rate", "2e-4",
                     "--num_train_epochs", "2", "--batch_size", "32")
            if not check(r.returncode == 0, "fine-tuning on %s items runs" % kind, r.stderr[-300:] if r.returncode else ""):
                return tap.summary()
            got[kind], why = q2i(os.path.join(out, "model.gguf"), os.path.join(d, "test_joint.jsonl"))
            check(got[kind] is not None, "sail eval reports query->item recall (%s)" % kind, why)
        if None not in got.values():
            check(got["joint"] >= got["image"] + 0.1,
                  "joint-item training beats image-only items on held-out query->item R@1: %.3f vs %.3f"
                  % (got["joint"], got["image"]))
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
