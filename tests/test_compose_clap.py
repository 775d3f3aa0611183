"""A CLAP's HTSAT audio tower composed into a fused sail model and trained
into the shipped model's space, frozen and unfrozen.

Reference: test_convert_clap.py's independent PyTorch HTSAT (imported, not
copied) at its small geometry (3 stages of 2 blocks, width 16..64, window
4: shifted windows in the first two stages, two patch mergings; a 64x64
image of 16 mel bins, 48 kHz, 2 s), random weights, converted by `sail
convert`, and its ClapFeatureExtractor transcription.

1. `sail compose --text M --vision M --fusion M --audio CLAP` (M the shipped
   models/sail-tiny.gguf): the HTSAT tensors are the converted file's, its
   projection (audio.proj*) is left behind; on the same features the
   composed model's pooled audio token and its projection into the fusion
   (traced aud.pooled, aud.proj) equal the reference's pooled output and
   that times fuse.aud_proj (read from the file) within 1e-4; the shipped
   model's text vectors are unchanged. A full ClapModel's HTSAT composes
   too (its RoBERTa text tower: test_compose_roberta.py).
2. Gradients: a random CLIP's towers composed with the HTSAT under fresh
   fusion layers; one step of the trainer (tests/tools/train_dump) against
   autograd through test_compose_clip's fused reference, the clip's token
   from the PyTorch HTSAT on the composed file's tensors: loss rel <= 1e-5,
   embeddings <= 1e-4, every gradient max|g_sail - g_torch| / max|g_torch|
   <= 1e-3 (every HTSAT tensor's: BatchNorm weight and bias through the time
   stretch, patch linear and LayerNorm, each block's LayerNorms, q k v,
   relative position bias table, output, MLP, each merging's LayerNorm and
   reduction, the final LayerNorm), the BatchNorm's running statistics
   exactly 0, sail has a gradient for every reference tensor; clips against
   joint text + image items, images against text + clip items, and with
   --freeze audio the HTSAT gradients exactly zero.
3. `sail finetune --freeze text,vision,audio` on {"query": word, "item":
   {"audio": clip}} pairs (test_fused_audio.py's seven kinds of synthetic
   sound, each named by words the shipped model knows): the HTSAT tensors'
   bytes are identical after training, fuse.aud_proj (the fusion's part
   with an HTSAT tower) has trained, and held-out text->audio R@1 rises
   clearly above the untrained composed model's (chance 1/7). With
   `--freeze text,vision` the HTSAT tower trains too: every HTSAT tensor
   changes but its BatchNorm's running statistics, and held-out R@1 rises
   as clearly.
   The whole converted ClapModel (RoBERTa and HTSAT, no fusion) fine-tunes
   directly too: both towers and projections change, the loss falls (its
   gradients: test_finetune_grad.py).
4. A fused CLAP's HTSAT (enable_fusion=True, small random, 64 mel bins,
   1 s clips, four spectrograms each) trains: in (2) its gradients equal
   autograd the same way, its attentional feature fusion's too (the (p, 3p)
   mel_conv, the local and global bottlenecks' 1x1 convolutions and
   BatchNorm weights and biases, the mel BatchNorm reached from all four
   spectrograms), every running statistic's exactly 0; composed with the
   shipped model, `sail finetune --freeze text,vision` changes every HTSAT
   tensor but the running statistics and the loss falls. LoRA on an HTSAT
   tower stays refused, naming the fix (--freeze audio).
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
    from torch.nn.utils import stateless  # functional_call (torch 1.13: no torch.func)
    import test_compose_clip as CC  # the fused reference, grad_case, a converted CLIP
    import test_convert_clap as C  # the HTSAT reference, its small geometry, the CLAP front end
    import test_fused_audio as FA  # the synthetic sounds and the words that name them
    import test_train_grad as TG
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


# ------------------------------------------------------------- gradients --

def hf_params(P, a, shapes):
    """{Hugging Face name: tensor} of the HTSAT module (test_convert_clap's
    Clap, its tensors' shapes `shapes`) as views of the composed file's
    sail-named leaves P (C.htsat_names), so autograd's gradients land on P:
    q, k, v the thirds of attn_qkv, the convolutions' weights reshaped to
    theirs; the BatchNorms' running statistics are buffers, detached (torch
    has no gradient for them)."""
    hf = {}
    for sn, hns in C.htsat_names(a).items():
        t = P[sn].detach() if sn.endswith((".mean", ".var")) else P[sn]
        for hn, part in zip(hns, t.chunk(len(hns), 0)):
            hf[hn] = part.reshape(shapes[hn])
    return hf


class ClapRef(CC.Ref):
    """test_compose_clip's fused reference with an HTSAT audio token: the
    clip's pooled output from test_convert_clap's PyTorch HTSAT run on the
    composed file's tensors (fused: its attentional feature fusion too)."""

    def __init__(self, P, cfg, a):
        super().__init__(P, cfg)
        self.htsat = C.Clap(a, a["projection_dim"]).double().eval()
        self.hf = hf_params(P, a, {k: v.shape for k, v in self.htsat.state_dict().items()})
        # the running statistics: buffers, whose sail gradient must be 0 (CC.grad_case)
        self.BUFFERS = tuple(n for n in P if n.startswith("audio.") and n.endswith((".mean", ".var")))

    def audio_pooled(self, spec):
        """spec (n, [4,] mel bins, frames) -> (n, hidden)."""
        return stateless.functional_call(self.htsat, self.hf, (spec.transpose(-1, -2),))["pooled"]


def grad_cases(tmp, clap, fused):
    """One training step (test_compose_clip.grad_case: tests/tools/train_dump
    against autograd) of a converted random CLIP's text and vision towers
    composed with the CLAP's HTSAT under fresh fusion layers: clips against
    joint text + image items (every tower in the step), images against
    text + clip items, and with the audio tower
    frozen (its gradients exactly zero). Then the same with the fused
    CLAP's HTSAT (fused_clap: its fusion's convolutions and BatchNorms
    too), when it converted."""
    model, cfg, towers = CC.make_clip(os.path.join(tmp, "gclip"))
    for tag, path, a, prep, lens in (
            ("htsat", clap, C.audio_cfg(), C.prep_json(), (60000, 9000, 130000, 96000)),
            ("fused-htsat",) + (fused or (None,) * 4)):
        if path is None:
            continue
        comp = os.path.join(tmp, "g%s.gguf" % tag)
        r = sail("compose", "--text", towers, "--vision", towers, "--audio", path, "-o", comp, "--fusion-layers",
                 CC.FUSION_LAYERS, "--fusion-width", CC.FUSION_WIDTH, "--dim", CC.DIM)
        if not check(r.returncode == 0, "compose a CLIP's towers with the %s CLAP's HTSAT under fresh fusion layers"
                     % ("fused" if a["enable_fusion"] else "unfused"), r.stderr[-300:]):
            continue
        g, n = np.random.default_rng(3), 4
        feats = np.stack([C.extractor(g.standard_normal(k) * 0.1, prep) for k in lens])
        spec = torch.from_numpy(np.ascontiguousarray(feats.swapaxes(-1, -2)))  # (n, [4,] mel bins, frames)
        tg = torch.Generator().manual_seed(5)
        ta = ("text",) + CC.texts(tg, n, cfg["text_config"]["vocab_size"], [3, 9, 13, 6])
        img = ("image", torch.randn(n, 3, 32, 32, generator=tg))
        joint = ("joint", ta[1], ta[2], torch.randn(n, 3, 32, 32, generator=tg))
        ref = lambda P, c, a=a: ClapRef(P, c, a)  # noqa: E731
        CC.grad_case(tag + "-compose audio-joint", comp, cfg, tmp, (("audio", spec), joint), ref_cls=ref)
        CC.grad_case(tag + "-compose image-text+audio", comp, cfg, tmp, (img, ("withaudio", ta, spec)), ref_cls=ref)
        CC.grad_case(tag + "-compose frozen audio", comp, cfg, tmp, (("audio", spec), joint), freeze=("audio",),
                     ref_cls=ref)


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
    out = os.path.join(tmp, "unfrozen")
    r = finetune(comp, train, out, "text,vision")
    if not check(r.returncode == 0, "sail finetune --freeze text,vision (the HTSAT tower trains) runs",
                 r.stderr[-400:]):
        return
    trained = os.path.join(out, "model.gguf")
    stats = [n for n in names if n.endswith((".bn.mean", ".bn.var"))]
    moved = [n for n in names if raw(comp, n) != raw(trained, n)]
    check(htsat_names(trained) == names and sorted(moved) == sorted(set(names) - set(stats)),
          "every HTSAT tensor trained (%d of %d), its BatchNorm's running statistics (%s) kept"
          % (len(moved), len(names), ", ".join(stats)), "unchanged: %s" % sorted(set(names) - set(moved))[:6]
          if sorted(moved) != sorted(set(names) - set(stats)) else "")
    tuned = recall(trained, test)
    if tuned is not None:
        print("# held-out text -> audio R@1 with the HTSAT tower trained: %.3f" % tuned)
        check(tuned >= 0.6 and tuned > before + 0.3,
              "training the HTSAT tower too puts the clips in the text space: held-out text->audio R@1 %.3f "
              "(untrained %.3f, chance %.3f)" % (tuned, before, chance))
    imported(tmp, train)


def imported(tmp, train):
    """The whole ClapModel of full_clap, as converted (no fusion), fine-tunes
    directly: both towers and both projections train (the running
    statistics stay), and the training loss falls."""
    clap, out = os.path.join(tmp, "full.gguf"), os.path.join(tmp, "imported")
    r = sail("finetune", "--model_name_or_path", clap, "--train_data_path", train, "--output_dir", out,
             "--learning_rate", "3e-3", "--num_train_epochs", 6, "--batch_size", 14, "--seed", 5)
    trained = os.path.join(out, "model.gguf")
    if not check(r.returncode == 0 and os.path.exists(trained), "sail finetune of an imported ClapModel runs",
                 r.stderr[-400:]):
        return
    names = ("text.blk.0.attn_qkv.weight", "text.pos_emb", "text.proj2.weight", "audio.s0.b1.rel_bias",
             "audio.s1.merge.weight", "audio.bn.weight", "audio.proj2.weight")
    moved = [n for n in names if raw(clap, n) != raw(trained, n)]
    kept = [n for n in ("audio.bn.mean", "audio.bn.var") if raw(clap, n) == raw(trained, n)]
    losses = [float(x.split("train loss ")[1]) for x in r.stderr.splitlines() if "done: train loss" in x]
    check(len(moved) == len(names) and len(kept) == 2,
          "its RoBERTa, HTSAT and projections trained (%d of %d), the running statistics kept" % (len(moved), len(names)))
    check(len(losses) == 6 and losses[-1] < losses[0] - 0.3,
          "its training loss falls (epoch 1 %.3f, epoch 6 %.3f)" % (losses[0], losses[-1]) if losses else "no losses")


def fused_clap(tmp):
    """test_convert_clap's small random fused CLAP (C.fused_small)
    converted: (gguf path, audio config, extractor config, clip lengths
    shorter and longer than its 1 s), or None."""
    a, prep = C.fused_small()
    d = os.path.join(tmp, "fusedclap")
    C.make_folder(d, a, prep, seed=19)
    r = sail("convert", d, "-o", d + ".gguf")
    if not check(r.returncode == 0, "sail convert of a small random fused CLAP (enable_fusion=True)", r.stderr[-300:]):
        return None
    return d + ".gguf", a, prep, (30000, 9000, 70000, 130000)


def fused_training(tmp, clap):
    """The fused CLAP's HTSAT composed with the shipped model trains: every
    HTSAT tensor (its fusion's convolutions and BatchNorm weights and
    biases among them) changes but the running statistics, and the
    training loss falls. LoRA on an HTSAT tower is still refused, naming
    the fix."""
    comp = os.path.join(tmp, "fusedcomp.gguf")
    r = sail("compose", "--text", SHIPPED, "--vision", SHIPPED, "--fusion", SHIPPED, "--audio", clap, "-o", comp)
    if not check(r.returncode == 0, "a fused CLAP's HTSAT composes with the shipped model", r.stderr[-300:]):
        return
    rng = np.random.default_rng(13)
    clips = os.path.join(tmp, "fclips")
    os.makedirs(clips)
    train = os.path.join(tmp, "fused.jsonl")
    with open(train, "w") as f:
        for k in range(len(FA.WORDS)):
            for j in range(4):
                name = "%d_%d.wav" % (k, j)
                sf.write(os.path.join(clips, name), FA.sound(k, rng, rate=RATE), RATE, subtype="PCM_16")
                f.write(json.dumps({"query": FA.WORDS[k], "item": {"audio": "fclips/" + name}}) + "\n")
    out = os.path.join(tmp, "fusedrun")
    r = sail("finetune", "--model_name_or_path", comp, "--train_data_path", train, "--output_dir", out,
             "--learning_rate", "1e-3", "--num_train_epochs", 6, "--batch_size", 14, "--freeze", "text,vision",
             "--seed", 5)
    trained = os.path.join(out, "model.gguf")
    if not check(r.returncode == 0 and os.path.exists(trained), "sail finetune trains a fused HTSAT tower",
                 r.stderr.strip()[-400:]):
        return
    names = htsat_names(comp)
    stats = [n for n in names if n.endswith((".mean", ".var"))]
    moved = [n for n in names if raw(comp, n) != raw(trained, n)]
    fuse = [n for n in moved if n.startswith("audio.fuse.")]
    check(htsat_names(trained) == names and sorted(moved) == sorted(set(names) - set(stats)) and len(fuse) == 18,
          "every fused HTSAT tensor trained (%d of %d, %d of the fusion's), the running statistics (%d) kept"
          % (len(moved), len(names), len(fuse), len(stats)),
          "unchanged: %s" % sorted(set(names) - set(moved) - set(stats))[:6] + " moved: %s" %
          sorted(set(moved) & set(stats))[:6])
    losses = [float(x.split("train loss ")[1]) for x in r.stderr.splitlines() if "done: train loss" in x]
    check(len(losses) == 6 and losses[-1] < losses[0] - 0.1,
          "its training loss falls (epoch 1 %.3f, epoch 6 %.3f)" % (losses[0], losses[-1]) if losses else
          "its training loss falls", "" if losses else r.stderr[-300:])
    out = os.path.join(tmp, "fusedlora")
    r = sail("finetune", "--model_name_or_path", comp, "--train_data_path", train, "--output_dir", out,
             "--num_train_epochs", 1, "--lora_rank", 4, "--lora_parts", "audio")
    check(r.returncode != 0 and "HTSAT" in r.stderr and "--freeze audio" in r.stderr and
          not os.path.exists(os.path.join(out, "model.gguf")),
          "LoRA on an HTSAT tower is refused, naming the fix, writing nothing", r.stderr.strip()[-300:])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(1)
        model, comp = compose(tmp)
        fused = fused_clap(tmp)
        if comp:
            parity(tmp, model, comp)
            full_clap(tmp)
            if tap.built(TG.DUMP):
                grad_cases(tmp, os.path.join(tmp, "clap.gguf"), fused)
            training(tmp, comp)
        if fused:
            fused_training(tmp, fused[0])
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
