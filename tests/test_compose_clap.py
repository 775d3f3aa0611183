"""A CLAP's HTSAT audio tower composed into a fused sail model and trained
around, frozen, into the shipped model's space.

Reference: test_convert_clap.py's independent PyTorch HTSAT (imported, not
copied) at its small geometry (3 stages of 2 blocks, width 16..64, window
4, a 64x64 image of 16 mel bins, 48 kHz, 2 s), random weights, converted
by `sail convert`, and its ClapFeatureExtractor transcription.

1. `sail compose --text M --vision M --fusion M --audio CLAP` (M the shipped
   models/sail-tiny.gguf): the HTSAT tensors are the converted file's, its
   projection (audio.proj*) is left behind; on the same features the
   composed model's pooled audio token and its projection into the fusion
   (traced aud.pooled, aud.proj) equal the reference's pooled output and
   that times fuse.aud_proj (read from the file) within 1e-4; the shipped
   model's text vectors are unchanged. A full ClapModel's HTSAT composes
   too (its RoBERTa text tower: test_compose_roberta.py).
2. `sail finetune --freeze text,vision,audio` on {"query": word, "item":
   {"audio": clip}} pairs (test_fused_audio.py's seven kinds of synthetic
   sound, each named by words the shipped model knows): the HTSAT tensors'
   bytes are identical after training, fuse.aud_proj (the fusion's part
   with an HTSAT tower) has trained, and held-out text->audio R@1 rises
   clearly above the untrained composed model's (chance 1/7).
3. Training with the HTSAT tower unfrozen is refused with a message naming
   the fix (--freeze audio), and nothing is written.
"""
import json
import os
import subprocess
import sys
import tempfile

import tap
from tap import HERE, SAIL, check, gguf_array, gguf_tensors, skip_import

try:
    import numpy as np
    import soundfile as sf
    import torch
    import test_convert_clap as C  # the HTSAT reference, its small geometry, the CLAP front end
    import test_fused_audio as FA  # the synthetic sounds and the words that name them
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch, numpy and soundfile", e)

TOL = 1e-4
SHIPPED = os.path.join(HERE, "..", "models", "sail-tiny.gguf")
RATE = C.prep_json()["sampling_rate"]


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True)


def raw(path, name):
    """Tensor `name`'s stored bytes."""
    t, shape, off = gguf_tensors(path)[name]
    n = int(np.prod(shape)) * {0: 4, 1: 2}[t]
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def htsat_names(path):
    return sorted(n for n in gguf_tensors(path) if n.startswith("audio."))


def texts(model):
    r = sail("embed", "--model", model, "--separate", *[a for w in FA.WORDS for a in ("--text", w)])
    return np.array([d["embedding"] for d in json.loads(r.stdout)["data"]]) if r.returncode == 0 else None


def compose(tmp):
    d = os.path.join(tmp, "clap")
    model = C.make_folder(d, C.audio_cfg(), C.prep_json())
    clap = d + ".gguf"
    r = sail("convert", d, "-o", clap)
    if not check(r.returncode == 0, "sail convert of a small random CLAP audio model", r.stderr[-300:]):
        return None, None
    comp = os.path.join(tmp, "comp.gguf")
    r = sail("compose", "--text", SHIPPED, "--vision", SHIPPED, "--fusion", SHIPPED, "--audio", clap, "-o", comp)
    if not check(r.returncode == 0, "sail compose --fusion M --audio CLAP runs", r.stderr[-300:]):
        return None, None
    r = sail("info", comp)
    ok = r.returncode == 0 and "audio:      HTSAT (CLAP), stages (blocks x heads) 2x2, 2x4, 2x8" in r.stdout \
        and "fusion:     1 layers" in r.stdout
    check(ok, "sail info shows the HTSAT tower inside the fused model", "" if ok else r.stdout[-600:] + r.stderr[-300:])
    want = [n for n in htsat_names(clap) if not n.startswith("audio.proj")]
    got = htsat_names(comp)
    same = got == want and all(np.array_equal(gguf_array(comp, n), gguf_array(clap, n)) for n in want)
    check(same and len(want) > 40, "the composed HTSAT tensors are the converted file's (%d), its projection left "
          "behind" % len(want), "composed %d, source %d" % (len(got), len(want)))
    a, b = texts(SHIPPED), texts(comp)
    err = float(np.abs(a - b).max()) if a is not None and b is not None else 1.0
    check(err <= 1e-6, "the shipped model's text vectors are unchanged by the composition (max|err| %.1e)" % err)
    return model, comp


def full_clap(tmp):
    """A ClapModel (RoBERTa text and HTSAT audio): its audio tower composes
    beside another model's text (its text tower composes too:
    test_compose_roberta.py)."""
    d = os.path.join(tmp, "full")
    C.make_clap_folder(d, C.audio_cfg(), C.prep_json())
    clap, comp = d + ".gguf", os.path.join(tmp, "comp_full.gguf")
    r = sail("convert", d, "-o", clap)
    if not check(r.returncode == 0, "sail convert of a small random ClapModel", r.stderr[-300:]):
        return
    r = sail("compose", "--text", SHIPPED, "--vision", SHIPPED, "--audio", clap, "--fusion-layers", 1, "--dim", 64,
             "-o", comp)
    want = [n for n in htsat_names(clap) if not n.startswith("audio.proj")]
    check(r.returncode == 0 and htsat_names(comp) == want and
          all(np.array_equal(gguf_array(comp, n), gguf_array(clap, n)) for n in want),
          "a ClapModel's HTSAT tower composes under a fresh fusion", r.stderr[-300:])


def parity(tmp, model, comp):
    g = np.random.default_rng(5)
    prep = C.prep_json()
    # shorter than 2 s (repeated), and longer (its first 2 s)
    feats = np.stack([C.extractor(g.standard_normal(n) * 0.1, prep) for n in (60000, 9000, 130000)])
    acts = C.trace(comp, tmp, feats)
    if acts is None:
        return
    with torch.no_grad():
        pooled = model(torch.from_numpy(feats))["pooled"].double().numpy()
    w = gguf_array(comp, "fuse.aud_proj.weight").astype(np.float64)
    b = gguf_array(comp, "fuse.aud_proj.bias").astype(np.float64)
    for name, want in (("aud.pooled", pooled), ("aud.proj", pooled @ w.T + b)):
        got = acts.get(name)
        ok = got is not None and got.shape == want.shape
        err = float(np.abs(got - want).max()) if ok else 1.0
        check(ok and err <= TOL, "the composed model's %s equals the reference HTSAT's pooled output%s (max|err| "
              "%.1e)" % (name, " times fuse.aud_proj" if name == "aud.proj" else "", err),
              "" if ok else "traced %s" % (None if got is None else got.shape,))


def data(tmp):
    rng = np.random.default_rng(11)
    d = os.path.join(tmp, "clips")
    os.makedirs(d)
    for split, per in (("train", 24), ("test", 4)):
        with open(os.path.join(tmp, split + ".jsonl"), "w") as f:
            for k in range(len(FA.WORDS)):
                for j in range(per):
                    name = "%s_%d_%d.wav" % (split, k, j)
                    sf.write(os.path.join(d, name), FA.sound(k, rng, rate=RATE), RATE, subtype="PCM_16")
                    f.write(json.dumps({"query": FA.WORDS[k], "item": {"audio": "clips/" + name},
                                        "group": FA.WORDS[k]}) + "\n")
    return os.path.join(tmp, "train.jsonl"), os.path.join(tmp, "test.jsonl")


def recall(model, test):
    r = sail("eval", "--model", model, "--data", test, "--json")
    try:
        return json.loads(r.stdout)["query_to_item"]["R@1"]
    except (ValueError, KeyError):
        check(False, "sail eval reports query->item recall", r.stderr[-300:])
        return None


def finetune(comp, train, out, freeze):
    return sail("finetune", "--model_name_or_path", comp, "--train_data_path", train, "--output_dir", out,
                "--learning_rate", "1e-3", "--num_train_epochs", 12, "--batch_size", 14, "--freeze", freeze,
                "--seed", 5)


def training(tmp, comp):
    train, test = data(tmp)
    out = os.path.join(tmp, "run")
    before = recall(comp, test)
    r = finetune(comp, train, out, "text,vision,audio")
    if not check(r.returncode == 0, "sail finetune --freeze text,vision,audio on text -> audio pairs runs",
                 r.stderr[-400:]):
        return
    trained = os.path.join(out, "model.gguf")
    names = htsat_names(comp)
    same = htsat_names(trained) == names and all(raw(comp, n) == raw(trained, n) for n in names)
    check(same, "the frozen HTSAT tower's bytes are identical after training (%d tensors)" % len(names))
    moved = float(np.abs(gguf_array(trained, "fuse.aud_proj.weight") - gguf_array(comp, "fuse.aud_proj.weight")).max())
    check(moved > 0, "fuse.aud_proj trained with the fusion (max change %.1e)" % moved)
    after = recall(trained, test)
    if before is None or after is None:
        return
    chance = 1 / len(FA.WORDS)
    print("# held-out text -> audio R@1: untrained %.3f, trained %.3f (chance %.3f)" % (before, after, chance))
    check(after >= 0.6 and after > before + 0.3,
          "training around the frozen HTSAT puts the clips in the text space: held-out text->audio R@1 %.3f "
          "(untrained %.3f, chance %.3f)" % (after, before, chance))
    for freeze in ("text,vision", "text,vision,fusion,head"):
        out = os.path.join(tmp, "unfrozen")
        r = finetune(comp, train, out, freeze)
        check(r.returncode != 0 and "HTSAT" in r.stderr and "--freeze audio" in r.stderr
              and not os.path.exists(os.path.join(out, "model.gguf")),
              "training the HTSAT tower (--freeze %s) is refused, naming the fix" % freeze, r.stderr.strip()[-300:])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(1)
        model, comp = compose(tmp)
        if comp:
            parity(tmp, model, comp)
            full_clap(tmp)
            training(tmp, comp)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
