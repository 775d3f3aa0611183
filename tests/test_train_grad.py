"""Gradients of sail's hand-written backward pass against PyTorch autograd.

The reference model is test_parity.py's (nn.Embedding, nn.TransformerEncoderLayer,
torchvision's VisionTransformer, nn.MultiheadAttention perceiver, nn.Linear
head), run in float64 on the exact float32 weights that go into the sail
file. On top: the loss of train.h (symmetric InfoNCE with
min(exp(logit_scale), 100), Matryoshka prefixes re-normalised, in-batch
negatives of the same group dropped) written with torch ops. sail runs one
step through tests/tools/train_dump.c. Checks, one TAP line each:
  loss relative error <= 1e-5;
  every parameter's gradient: max|g_sail - g_torch| / max(max|g_torch|, 1e-8) <= 1e-3;
  the step's embeddings against torch (<= 1e-4);
  sail_tmodel_embed against the inference path sail_forward (<= 1e-5).
Cases: padded texts vs images and texts vs texts (mean pooling), perceiver
latents with mean(tanh) pooling, CLS pooling, and a logit scale past the
clamp (its gradient must be exactly 0), joint text + image items (one
sequence through the fusion, with and without the perceiver), items of
several video frames (each frame through the vision tower and perceiver on
its own, all its tokens in the item's one sequence), frozen text
and vision towers (the trained parameters' gradients as without freezing,
the frozen ones exactly zero), no fusion layers, and an audio tower (an
AST-style ViT over spectrograms, its pooled output one token of the item's
sequence): clips alone, text + clip, video frames + text + clip, frozen.
"""
import copy
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import BUILD, check, skip_import

try:
    import torch
    import torch.nn.functional as F
    import test_parity as tp  # exits with a skip line without torch
except ImportError as e:  # pragma: no cover
    skip_import("gradient oracle needs Debian's python3-torch and python3-torchvision", e)

DUMP = os.path.join(BUILD, "tools", "train_dump")
TOL_LOSS, TOL_GRAD, TOL_EMB, TOL_INFER = 1e-5, 1e-3, 1e-4, 1e-5


def named_tensors(ref):
    """name -> tensor in the model file's layout, via test_parity.export."""
    got = {}

    class Capture:
        @staticmethod
        def write(path, kv, tensors):
            got.update(tensors)
    real = tp.gguf_write
    tp.gguf_write = Capture
    try:
        tp.export(ref, None)
    finally:
        tp.gguf_write = real
    return got


def write_model(ref, path, logit_scale):
    real = tp.gguf_write

    class Extra:
        @staticmethod
        def write(p, kv, tensors):
            if logit_scale is not None:
                kv["sail.logit_scale"] = float(logit_scale)
            real.write(p, kv, tensors)
    tp.gguf_write = Extra
    try:
        tp.export(ref, path)
    finally:
        tp.gguf_write = real


FROZEN_PREFIX = {"text": "text", "vision": "vis", "audio": "aud"}


def infonce(a, b, group, dims, weights, ls):
    s = torch.clamp(ls.exp(), max=100.0)
    n = a.shape[0]
    g = torch.tensor(group)
    drop = (g[:, None] == g[None, :]) & ~torch.eye(n, dtype=torch.bool)
    target = torch.arange(n)
    total = 0
    for d, w in zip(dims, weights):
        L = s * F.normalize(a[:, :d], dim=-1) @ F.normalize(b[:, :d], dim=-1).T
        L = L.masked_fill(drop, float("-inf"))
        total = total + w * (F.cross_entropy(L, target) + F.cross_entropy(L.T, target)) / 2
    return total


def make_text(g, cfg, lens):
    T = max(lens)
    ids = torch.randint(4, cfg.vocab, (len(lens), T), generator=g)
    ids[:, 0] = 2
    for i, n in enumerate(lens):
        ids[i, n - 1] = 3
        ids[i, n:] = 0
    return ("text", ids, torch.tensor(lens))


def write_side(side, out, tag):
    if side[0] in ("audio", "withaudio"):  # clips alone, or with another side's items
        path = os.path.join(out, tag + "_spec.f32")
        side[-1].numpy().astype(np.float32).tofile(path)
        return "audio:" + path if side[0] == "audio" else write_side(side[1], out, tag) + "@" + path
    if side[0] == "joint":
        t = write_side(("text", side[1], side[2]), out, tag)
        i = write_side(("image", side[3]), out, tag)
        return "joint:%s:%s" % (t.split(":", 1)[1], i.split(":", 1)[1])
    if side[0] == "video":  # (n, F, 3, S, S): F frames per item, text optional
        side[-1].numpy().astype(np.float32).tofile(os.path.join(out, tag + "_pix.f32"))
        pix = "%s:%d" % (os.path.join(out, tag + "_pix.f32"), side[-1].shape[1])
        if len(side) == 2:
            return "images:" + pix
        t = write_side(("text", side[1], side[2]), out, tag)
        return "joint:%s:%s" % (t.split(":", 1)[1], pix)
    if side[0] == "text":
        _, ids, lens = side
        flat = np.concatenate([ids[i, :lens[i]].numpy() for i in range(len(lens))]).astype(np.int32)
        flat.tofile(os.path.join(out, tag + "_ids.i32"))
        lens.numpy().astype(np.int32).tofile(os.path.join(out, tag + "_lens.i32"))
        return "tokens:%s:%s" % (os.path.join(out, tag + "_ids.i32"), os.path.join(out, tag + "_lens.i32"))
    side[1].numpy().astype(np.float32).tofile(os.path.join(out, tag + "_pix.f32"))
    return "images:" + os.path.join(out, tag + "_pix.f32")


def torch_embed(ref, side):
    if side[0] == "audio":
        return ref(spec=side[1].double())["embedding"][0]
    if side[0] == "withaudio":
        inner = side[1]
        kw = {"spec": side[2].double()}
        if inner[0] in ("text", "joint") or (inner[0] == "video" and len(inner) > 2):
            kw.update(ids=inner[1], lens=inner[2])
        if inner[0] != "text":
            kw["pix"] = inner[-1].double()
        return ref(**kw)["embedding"][0]
    if side[0] == "video":
        if len(side) == 2:
            return ref(pix=side[1].double())["embedding"][0]
        return ref(ids=side[1], lens=side[2], pix=side[3].double())["embedding"][0]
    if side[0] == "joint":
        return ref(ids=side[1], lens=side[2], pix=side[3].double())["embedding"][0]
    if side[0] == "text":
        return ref(ids=side[1], lens=side[2])["embedding"][0]
    return ref(pix=side[1].double())["embedding"][0]


def dump_step(path, out, n, sides, group, loss, freeze=(), extra=()):
    """One training step of tests/tools/train_dump on the model at path: the
    two side arguments (write_side's), the batch's positive groups, the loss
    "dim:weight,...", the parts to freeze, then extra flags. It writes
    out/NAME.f32 (loss, emb_a, grads, ...) and out/index.txt; returns the
    finished process."""
    np.asarray(group, dtype=np.int32).tofile(os.path.join(out, "group.i32"))
    args = [DUMP, path, out, str(n)] + list(sides) + ["--group", os.path.join(out, "group.i32"), "--loss", loss]
    if freeze:
        args += ["--freeze", ",".join(freeze)]
    return subprocess.run(args + list(extra), capture_output=True, text=True)


def dumped(out):
    """train_dump's out/NAME.f32 by NAME, as float32."""
    return lambda name: np.fromfile(os.path.join(out, name + ".f32"), dtype=np.float32)


def check_step(name, load, n, loss, ea, eb, note=""):
    """The step's loss within TOL_LOSS (relative) of torch's, and each side's
    step embeddings within TOL_EMB of torch's ea / eb."""
    s_loss = float(load("loss")[0])
    rel = abs(s_loss - loss.item()) / abs(loss.item())
    check(rel <= TOL_LOSS, "%s: loss sail %.7f torch %.7f rel %.1e" % (name, s_loss, loss.item(), rel))
    for tag, e in (("a", ea), ("b", eb)):
        err = float(np.abs(load("emb_" + tag).reshape(n, -1) - e.detach().numpy()).max())
        check(err <= TOL_EMB, "%s: step embeddings %s%s vs torch max|err| %.1e" % (name, tag, note, err))


def dump_index(out):
    """train_dump's out/index.txt: (tensor, offset, rows, cols) of each
    gradient in out/grads.f32 (and parameter in params.f32)."""
    for line in open(os.path.join(out, "index.txt")):
        name, off, rows, cols = line.split()
        yield name, int(off), int(rows), int(cols)


class Grads:
    """sail's gradients of one step against autograd's, tensor by tensor:
    the worst error relative to torch's largest entry, and each tensor that
    fails (over TOL_GRAD, misshaped, without a torch gradient, frozen yet
    moved, or what a caller adds), for the one check a test makes at the
    end."""

    def __init__(self):
        self.worst, self.worst_name, self.bad = 0.0, "", []

    def add(self, tname, s, w, frozen=False):
        """sail's gradient s of tensor tname against torch's w (flat; None:
        torch has none); a frozen tensor's must be all zero instead."""
        if w is None:
            self.bad.append(tname + " (no torch gradient)")
            return
        if frozen:
            if np.any(s):
                self.bad.append(tname + " (frozen, yet a gradient)")
            return
        s, w = np.asarray(s, np.float64), np.asarray(w, np.float64)
        if w.size != s.size:
            self.bad.append("%s (size %d vs %d)" % (tname, s.size, w.size))
            return
        err = float(np.abs(s - w).max()) / max(float(np.abs(w).max()), 1e-8)
        if err > self.worst:
            self.worst, self.worst_name = err, tname
        if err > TOL_GRAD:
            self.bad.append("%s (rel %.1e)" % (tname, err))


def case(name, cfg, seed, tmp, kinds, group, dims, weights, logit_scale=None, freeze=()):
    torch.manual_seed(seed)
    ref = tp.Reference(cfg).eval()
    path = os.path.join(tmp, name + ".gguf")
    write_model(ref, path, logit_scale)
    ref = ref.double()  # the float32 weights, exactly, in float64
    g = torch.Generator().manual_seed(seed + 1)
    n = len(group)
    text_lens = [[5, cfg.max_pos, 2, 7, 3, 9][:n], [4, 6, 11, 2, 8, 3][:n]]
    sides = []
    for k, kind in enumerate(kinds):
        clip = kind.endswith("+audio") or kind == "audio"
        kind = kind[:-len("+audio")] if kind.endswith("+audio") else kind
        if kind == "audio":
            pass
        elif kind == "text":
            sides.append(make_text(g, cfg, text_lens[k]))
        elif kind == "joint":
            sides.append(("joint",) + make_text(g, cfg, text_lens[k])[1:] +
                         (torch.randn(n, 3, cfg.image, cfg.image, generator=g),))
        elif kind.startswith("video"):  # "videoF" (frames only) or "text+videoF"
            f = int(kind.split("video")[1])
            pix = (torch.randn(n, f, 3, cfg.image, cfg.image, generator=g),)
            text = make_text(g, cfg, text_lens[k])[1:] if kind.startswith("text+") else ()
            sides.append(("video",) + text + pix)
        else:
            sides.append(("image", torch.randn(n, 3, cfg.image, cfg.image, generator=g)))
        if clip:
            spec = torch.randn(n, cfg.audio["mel"], cfg.audio["frames"], generator=g)
            sides.append(("audio", spec) if kind == "audio" else ("withaudio", sides.pop(), spec))
    out = tempfile.mkdtemp(dir=tmp)
    r = dump_step(path, out, n, (write_side(sides[0], out, "a"), write_side(sides[1], out, "b")), group,
                  ",".join("%d:%g" % (d, w) for d, w in zip(dims, weights)), freeze)
    if r.returncode:
        check(False, "%s: train_dump runs" % name, r.stderr.strip())
        return
    load = dumped(out)
    ls = torch.tensor(math.log(1 / 0.07) if logit_scale is None else float(np.float32(logit_scale)),
                      dtype=torch.float64, requires_grad=True)
    ea, eb = torch_embed(ref, sides[0]), torch_embed(ref, sides[1])
    loss = infonce(ea, eb, group, dims, weights, ls)
    ref.zero_grad()
    loss.backward()

    check_step(name, load, n, loss, ea, eb)
    for tag in ("a", "b"):
        err = float(np.abs(load("embed_" + tag) - load("infer_" + tag)).max())
        check(err <= TOL_INFER, "%s: sail_tmodel_embed %s vs sail_forward max|err| %.1e" % (name, tag, err))

    grad_ref = copy.deepcopy(ref)
    for p, q in zip(ref.parameters(), grad_ref.parameters()):
        q.data = p.grad if p.grad is not None else torch.zeros_like(p.data)
    want = named_tensors(grad_ref)
    want["train.logit_scale"] = ls.grad.detach().numpy().reshape(1)
    grads = load("grads")
    seen = set()
    for tname, off, rows, cols in dump_index(out):
        size = rows * cols
        seen.add(tname)
        if tname not in want:
            check(False, "%s: %s has a torch gradient" % (name, tname))
            continue
        w = np.asarray(want[tname], dtype=np.float64).reshape(-1)
        s = grads[off:off + size].astype(np.float64)
        part = "aud" if tname.startswith("fuse.aud_proj.") else tname.split(".")[0]  # train.h's parts
        if part in [FROZEN_PREFIX[p] for p in freeze]:  # frozen: no gradient at all
            check(not s.any(), "%s: frozen %s has no gradient" % (name, tname))
            continue
        if w.size != size:
            check(False, "%s: %s size sail %d torch %d" % (name, tname, size, w.size))
            continue
        scale = max(float(np.abs(w).max()), 1e-8)
        err = float(np.abs(s - w).max()) / scale
        check(err <= TOL_GRAD, "%s: grad %s rel %.1e (max|g| %.1e)" % (name, tname, err, scale))
    missing = sorted(set(want) - seen)
    check(not missing, "%s: sail has every torch parameter" % name, "missing %s" % missing if missing else "")


def main():
    if not tap.built(DUMP):
        return 1
    torch.set_num_threads(1)
    base = dict(lf=1, max_pos=12)
    with tempfile.TemporaryDirectory() as tmp:
        case("text-image", tp.Cfg(**base), 11, tmp, ("text", "image"), [0, 1, 0, 2], [32, 16], [1.0, 0.5])
        case("text-text", tp.Cfg(**base), 12, tmp, ("text", "text"), [3, 3, 1, 2, 0], [32, 8], [1.0, 0.25])
        case("perceiver-mean-tanh", tp.Cfg(latents=4, pooling="mean_tanh", **base), 13, tmp,
             ("image", "text"), [0, 1, 1, 2], [32, 16], [1.0, 0.5])
        case("cls-clamped-scale", tp.Cfg(pooling="cls", **base), 14, tmp, ("text", "image"),
             [0, 1, 2, 2], [32], [1.0], logit_scale=math.log(150.0))
        case("joint-item-vs-text", tp.Cfg(**base), 16, tmp, ("text", "joint"), [0, 1, 2, 3], [32], [1.0])
        case("joint-perceiver", tp.Cfg(latents=4, pooling="mean_tanh", **base), 17, tmp, ("joint", "image"),
             [0, 1, 2, 0], [32, 16], [1.0, 0.5])
        case("frozen-towers", tp.Cfg(latents=4, **base), 18, tmp, ("text", "joint"), [0, 1, 2, 3], [32], [1.0],
             freeze=("text", "vision"))
        case("text-video-frames", tp.Cfg(**base), 19, tmp, ("text", "text+video3"), [0, 1, 2, 3], [32, 16],
             [1.0, 0.5])
        case("video-perceiver-vs-joint", tp.Cfg(latents=4, pooling="mean_tanh", **base), 20, tmp,
             ("text+video2", "joint"), [0, 1, 2, 0], [32], [1.0])
        case("frames-only", tp.Cfg(latents=3, **base), 21, tmp, ("video4", "text"), [0, 1, 2], [32], [1.0])
        case("no-fusion-layers", tp.Cfg(lf=0, max_pos=12), 15, tmp, ("image", "text"), [0, 1, 2], [32, 16],
             [0.5, 1.0], logit_scale=1.0)
        # an audio tower in the fusion: its pooled output one token of the item
        aud = dict(d=32, L=2, h=2, f=64, mel=24, frames=30, p=8, sf=4, st=6, dist=1)
        case("audio-vs-text", tp.Cfg(audio=aud, **base), 22, tmp, ("audio", "text"), [0, 1, 2, 3], [32, 16],
             [1.0, 0.5])
        case("text+audio-vs-image", tp.Cfg(audio=dict(aud, dist=0), latents=3, **base), 23, tmp,
             ("text+audio", "image"), [0, 1, 2], [32], [1.0])
        case("video+audio-vs-joint", tp.Cfg(audio=aud, pooling="mean_tanh", **base), 24, tmp,
             ("text+video2+audio", "joint+audio"), [0, 1, 2, 0], [32], [1.0])
        case("frozen-audio", tp.Cfg(audio=aud, **base), 25, tmp, ("audio", "joint"), [0, 1, 2], [32], [1.0],
             freeze=("audio", "text"))
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
