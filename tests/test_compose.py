"""Composing a fused model from pretrained towers, and training parts of it.

`sail compose` takes the text tower of one model and the vision tower of
another (here the shipped model's, and converted random BERT / ViT
checkpoints), adds fresh fusion layers and head. Checks:
  the towers' tensors equal their sources; the fresh parts are new;
  `sail finetune --freeze text,vision` leaves every frozen tensor's bytes
  unchanged and trains the rest; --part_learning_rate gives a part its own
  rate; a composed model with pretrained, frozen towers reaches a higher
  held-out R@1 than the same architecture from scratch (`--scratch`) after
  the same steps; a BERT text tower and a ViT vision tower compose into a
  model that embeds joint inputs, and so do CLIP's text tower and a ViT
  (tests/test_compose_clip.py checks composed CLIP towers against PyTorch).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import HERE, SAIL, check, gguf_array, gguf_tensors

MODEL = os.path.join(HERE, "..", "models", "sail-tiny.gguf")


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True)


def names(path, prefix):
    return sorted(n for n in gguf_tensors(path) if n.startswith(prefix))


def r1(model, data):
    r = sail("eval", "--model", model, "--data", data, "--json")
    return json.loads(r.stdout)["text_to_image"]["R@1"] if r.returncode == 0 else None


def finetune(model, data, out, *extra):
    r = sail("finetune", "--model_name_or_path", model, "--train_data_path", data, "--output_dir", out,
             "--learning_rate", "5e-4", "--num_train_epochs", "2", "--batch_size", "32", *extra)
    return r, os.path.join(out, "model.gguf")


def max_change(a, b, prefix):
    return max(float(np.abs(gguf_array(a, n) - gguf_array(b, n)).max()) for n in names(a, prefix))


def shipped_case(tmp, data):
    comp, scratch = os.path.join(tmp, "comp.gguf"), os.path.join(tmp, "scratch.gguf")
    r = sail("compose", "--text", MODEL, "--vision", MODEL, "-o", comp, "--fusion-layers", "1")
    if not check(r.returncode == 0, "compose the shipped model's towers with a fresh fusion layer", r.stderr[-300:]):
        return
    same = all(np.array_equal(gguf_array(comp, n), gguf_array(MODEL, n)) for n in names(comp, "text.") +
               names(comp, "vis."))
    check(same and len(names(comp, "text.")) > 10 and len(names(comp, "vis.")) > 10,
          "the composed model's text.* and vis.* tensors equal the source's")
    fresh = [n for n in names(comp, "fuse.") + names(comp, "head.")
             if n.endswith("weight") and gguf_array(comp, n).ndim == 2]
    check(fresh and all(not np.array_equal(gguf_array(comp, n), gguf_array(MODEL, n)) for n in fresh),
          "its fusion and head weights are fresh (%d matrices)" % len(fresh))
    r = sail("compose", "--text", MODEL, "--vision", MODEL, "-o", scratch, "--fusion-layers", "1", "--scratch",
             "--name", "sail-scratch")
    check(r.returncode == 0 and not np.array_equal(gguf_array(scratch, "text.tok_emb"), gguf_array(MODEL, "text.tok_emb")),
          "--scratch: the same architecture with every weight fresh", r.stderr[-200:])
    names_shown = [re.search(r"^model: +(\S+)$", sail("info", m).stdout, re.M) for m in (comp, scratch)]
    check([m and m.group(1) for m in names_shown] == ["sail-composed", "sail-scratch"],
          "sail info shows the composed models' names: sail-composed by default, --name's otherwise")
    r = sail("compose", "--text", MODEL, "--vision", MODEL, "-o", scratch, "--name", "")
    check(r.returncode == 1 and "model name must be 1 to" in r.stderr, "an empty --name is refused",
          r.stderr[-200:])

    train, test = os.path.join(data, "train.jsonl"), os.path.join(data, "test.jsonl")
    r, frozen = finetune(comp, train, os.path.join(tmp, "run-frozen"), "--freeze", "text,vision")
    if not check(r.returncode == 0, "finetune with --freeze text,vision", r.stderr[-300:]):
        return
    same = all(np.array_equal(gguf_array(comp, n), gguf_array(frozen, n))
               for n in names(comp, "text.") + names(comp, "vis."))
    check(same, "every frozen tensor (text.*, vis.*) is bit-identical after training")
    check(max_change(comp, frozen, "fuse.") > 1e-3 and max_change(comp, frozen, "head.") > 1e-3,
          "the unfrozen fusion and head trained")
    check("text is frozen" in r.stderr and "vision is frozen" in r.stderr, "the run says what is frozen")

    r, slow = finetune(comp, train, os.path.join(tmp, "run-slow"), "--freeze", "vision",
                       "--part_learning_rate", "text=1e-9")
    if check(r.returncode == 0, "finetune with --part_learning_rate text=1e-9", r.stderr[-300:]):
        t, f = max_change(comp, slow, "text."), max_change(comp, slow, "fuse.")
        check(0 < t < 1e-6 < 1e-3 < f, "a part's own rate: text moved %.1e (rate 1e-9), fusion %.1e (5e-4)" % (t, f))

    r, base = finetune(scratch, train, os.path.join(tmp, "run-scratch"))
    if check(r.returncode == 0, "the scratch baseline trains", r.stderr[-300:]):
        a, b = r1(frozen, test), r1(base, test)
        check(a is not None and b is not None and a >= b + 0.2,
              "pretrained frozen towers beat the same architecture from scratch after the same steps: "
              "held-out text->image R@1 %s vs %s" % (a, b))

    r = sail("finetune", "--model_name_or_path", comp, "--train_data_path", train, "--output_dir",
             os.path.join(tmp, "x"), "--freeze", "text,vision,fusion,head")
    check(r.returncode != 0 and "frozen" in r.stderr, "freezing every part is refused", r.stderr[-200:])
    r = sail("finetune", "--model_name_or_path", comp, "--train_data_path", train, "--output_dir",
             os.path.join(tmp, "x"), "--freeze", "text,tower")
    check(r.returncode == 2 and "'tower' is not a part" in r.stderr, "an unknown part is named", r.stderr[-200:])


def converted_case(tmp):
    try:
        import convert_oracle as O
        import test_finetune_grad as G
    except ImportError as e:  # pragma: no cover
        print("skip - converted towers need python3-torch (%s)" % e)
        return
    bert, vit, clip = (os.path.join(tmp, x) for x in ("bert", "vit", "clip"))
    for d, make in ((bert, G.bert_model), (vit, G.vit_model), (clip, G.clip_model)):
        model, _ = make(d)
        O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
        r = O.convert(d, d + ".gguf")
        if not check(r.returncode == 0, "convert %s" % os.path.basename(d), r.stderr[-200:] if r.returncode else ""):
            return
    out = os.path.join(tmp, "bert-vit.gguf")
    r = sail("compose", "--text", bert + ".gguf", "--vision", vit + ".gguf", "-o", out, "--dim", "64")
    check(r.returncode == 0, "compose a BERT text tower with a ViT vision tower", r.stderr[-300:])
    img = O.write_images(tmp)[0]
    r = sail("embed", "--model", out, "--text", "abc", "--image", img)
    dim = len(json.loads(r.stdout)["data"][0]["embedding"]) if r.returncode == 0 else 0
    check(dim == 64, "the composed BERT+ViT model embeds a joint text+image input (dim %d)" % dim, r.stderr[-200:])
    same = all(np.array_equal(gguf_array(out, n), gguf_array(vit + ".gguf", n)) for n in names(out, "vis."))
    check(same, "its vision tensors equal the converted ViT's")
    out = os.path.join(tmp, "clip-vit.gguf")
    r = sail("compose", "--text", clip + ".gguf", "--vision", vit + ".gguf", "-o", out, "--dim", "32")
    check(r.returncode == 0, "compose CLIP's causal text tower with a ViT vision tower", r.stderr[-300:])
    r = sail("embed", "--model", out, "--text", "abc", "--image", img)
    dim = len(json.loads(r.stdout)["data"][0]["embedding"]) if r.returncode == 0 else 0
    check(dim == 32, "the composed CLIP+ViT model embeds a joint text+image input (dim %d)" % dim, r.stderr[-200:])


def ears_case(tmp):
    """A model that hears: a fresh audio tower keeps its fusion and head but
    not its audio projection (that adapts the old tower); its own audio
    tower composed back takes the projection with it."""
    if not names(MODEL, "aud."):
        print("skip - the shipped model has no audio tower: recomposing its ears is not tested")
        return
    fresh, back = os.path.join(tmp, "fresh-ears.gguf"), os.path.join(tmp, "same-ears.gguf")
    r = sail("compose", "--text", MODEL, "--vision", MODEL, "--fusion", MODEL, "--audio-config", "tiny", "-o", fresh)
    if not check(r.returncode == 0, "a fresh audio tower onto the shipped model, which hears", r.stderr[-300:]):
        return
    kept = [n for n in names(fresh, "fuse.") + names(fresh, "head.") if not n.startswith("fuse.aud_proj.")]
    moved = names(fresh, "aud.") + names(fresh, "fuse.aud_proj.")
    check(kept and all(np.array_equal(gguf_array(fresh, n), gguf_array(MODEL, n)) for n in kept)
          and names(fresh, "fuse.aud_proj.") and names(fresh, "fuse.aud_proj.") == names(MODEL, "fuse.aud_proj.")
          and all(not np.array_equal(gguf_array(fresh, n), gguf_array(MODEL, n)) for n in moved if n.endswith("weight")),
          "its fusion and head are the shipped model's, its audio tower and projection fresh (%d kept)" % len(kept))
    r = sail("compose", "--text", MODEL, "--vision", MODEL, "--fusion", MODEL, "--audio", MODEL, "-o", back)
    every = names(MODEL, "")
    check(r.returncode == 0 and names(back, "") == every
          and all(np.array_equal(gguf_array(back, n), gguf_array(MODEL, n)) for n in every),
          "its own audio tower composed back brings its projection: every tensor equals the shipped model's",
          r.stderr[-300:])


def main():
    if not tap.have(MODEL):
        return tap.summary()
    with tempfile.TemporaryDirectory() as tmp:
        data = tap.shapes(tmp, 400, 5)
        if data:
            shipped_case(tmp, data)
        ears_case(tmp)
        converted_case(tmp)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
