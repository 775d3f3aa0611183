"""Parity of sail's forward pass with PyTorch, layer by layer.

The reference models are assembled from modules nobody here wrote:
  text   : nn.Embedding x3 + nn.LayerNorm + nn.TransformerEncoderLayer
           (post-norm, erf GELU, eps 1e-12), as BERT computes;
  vision : torchvision.models.VisionTransformer (its conv_proj, class token,
           encoder with pos_embedding, EncoderBlocks and final ln); a second
           input size uses torchvision's own interpolate_embeddings (bicubic);
  fusion : nn.Linear projections + a learned modality embedding, optional
           perceiver (nn.MultiheadAttention cross-attention from 16 learned
           queries), nn.TransformerEncoderLayer(norm_first=True) layers and a
           final nn.LayerNorm; masked mean / mean(tanh) / CLS pooling;
           nn.Linear head; F.normalize.
Their seeded random weights are exported to a sail GGUF (tools/gguf_write.py),
the same inputs go through sail (tests/tools/trace_dump.c), and every traced
activation is compared on its real (unpadded) rows:
max abs error <= 1e-4 and cosine >= 0.99999. The test fails on mismatch.
"""
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import numpy as np  # noqa: E402

import tap
from tap import BUILD, check, skip_import

try:
    import torch  # noqa: E402
    import torch.nn as nn  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
    import torchvision  # noqa: E402
    from torchvision.models.vision_transformer import interpolate_embeddings  # noqa: E402
except ImportError as e:  # pragma: no cover
    skip_import("parity needs Debian's python3-torch and python3-torchvision", e)

import gguf_write  # noqa: E402

DUMP = os.path.join(BUILD, "tools", "trace_dump")
TOL_ABS, TOL_COS = 1e-4, 0.99999


class Cfg:
    def __init__(self, **kw):
        self.vocab = 120
        self.max_pos = 24
        self.dt, self.lt, self.ht, self.ft = 64, 2, 4, 128
        self.image, self.patch = 32, 8
        self.dv, self.lv, self.hv, self.fv = 48, 2, 3, 96
        self.df, self.lf, self.hf, self.ff = 64, 2, 4, 128
        self.latents = 0
        self.audio = None  # or dict(d, L, h, f, mel, frames, p, sf, st, dist): an AST-style audio tower
        self.pooling = "mean"
        self.dim = 32
        self.__dict__.update(kw)


class Reference(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.tok = nn.Embedding(c.vocab, c.dt)
        self.pos = nn.Embedding(c.max_pos, c.dt)
        self.typ = nn.Embedding(2, c.dt)
        self.emb_ln = nn.LayerNorm(c.dt, eps=1e-12)
        self.text = nn.ModuleList(
            nn.TransformerEncoderLayer(c.dt, c.ht, c.ft, dropout=0.0, activation="gelu",
                                       batch_first=True, layer_norm_eps=1e-12) for _ in range(c.lt))
        self.vit = torchvision.models.VisionTransformer(
            image_size=c.image, patch_size=c.patch, num_layers=c.lv, num_heads=c.hv,
            hidden_dim=c.dv, mlp_dim=c.fv)
        nn.init.normal_(self.vit.class_token, std=0.5)
        self.text_proj = nn.Linear(c.dt, c.df)
        self.vis_proj = nn.Linear(c.dv, c.df)
        if c.audio:  # a ViT over the spectrogram (AST): strided patches, class + distillation tokens
            a = c.audio
            gh, gw = (a["mel"] - a["p"]) // a["sf"] + 1, (a["frames"] - a["p"]) // a["st"] + 1
            self.a_conv = nn.Conv2d(1, a["d"], a["p"], stride=(a["sf"], a["st"]))
            self.a_cls = nn.Parameter(torch.randn(a["d"]) * 0.5)
            self.a_dist = nn.Parameter(torch.randn(a["d"]) * 0.5) if a["dist"] else None
            self.a_pos = nn.Parameter(torch.randn(1 + a["dist"] + gh * gw, a["d"]) * 0.5)
            self.a_layers = nn.ModuleList(
                nn.TransformerEncoderLayer(a["d"], a["h"], a["f"], dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True, layer_norm_eps=1e-6)
                for _ in range(a["L"]))
            self.a_ln = nn.LayerNorm(a["d"], eps=1e-6)
            self.aud_proj = nn.Linear(a["d"], c.df)
        self.modality = nn.Parameter(torch.randn(3 if c.audio else 2, c.df) * 0.5)
        if c.latents:
            self.latents = nn.Parameter(torch.randn(c.latents, c.df))
            self.p_norm_q = nn.LayerNorm(c.df, eps=1e-6)
            self.p_norm_kv = nn.LayerNorm(c.df, eps=1e-6)
            self.p_attn = nn.MultiheadAttention(c.df, c.hf, batch_first=True)
            self.p_norm_ffn = nn.LayerNorm(c.df, eps=1e-6)
            self.p_up = nn.Linear(c.df, c.ff)
            self.p_down = nn.Linear(c.ff, c.df)
        self.fusion = nn.ModuleList(
            nn.TransformerEncoderLayer(c.df, c.hf, c.ff, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True, layer_norm_eps=1e-6)
            for _ in range(c.lf))
        self.fuse_ln = nn.LayerNorm(c.df, eps=1e-6)
        self.head = nn.Linear(c.df, c.dim)
        # LayerNorm affine parameters start at 1/0: randomise so they are tested.
        for m in self.modules():
            if isinstance(m, nn.LayerNorm):
                nn.init.normal_(m.weight, 1.0, 0.2)
                nn.init.normal_(m.bias, 0.0, 0.2)

    def text_forward(self, ids, lens, tr):
        B, T = ids.shape
        mask = torch.arange(T)[None, :] < lens[:, None]
        x = self.tok(ids) + self.pos(torch.arange(T))[None] + self.typ(torch.zeros_like(ids))
        x = self.emb_ln(x)
        tr["text.emb"] = (x, mask)
        for i, layer in enumerate(self.text):
            x = layer(x, src_key_padding_mask=~mask)
            tr["text.blk.%d" % i] = (x, mask)
        return x, mask

    def vision_forward(self, pix, tr, vit):
        x = vit._process_input(pix)
        x = torch.cat([vit.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + vit.encoder.pos_embedding
        tr["vis.emb"] = (x, None)
        for i, layer in enumerate(vit.encoder.layers):
            x = layer(x)
            tr["vis.blk.%d" % i] = (x, None)
        x = vit.encoder.ln(x)
        tr["vis.out"] = (x, None)
        return x

    def audio_forward(self, spec, tr):
        """(B, mel, frames) -> the pooled token (B, d): mean of class and distillation rows."""
        x = self.a_conv(spec[:, None]).flatten(2).transpose(1, 2)  # frequency-major grid
        pre = [self.a_cls] + ([self.a_dist] if self.a_dist is not None else [])
        x = torch.cat([torch.stack(pre)[None].expand(x.shape[0], -1, -1), x], 1) + self.a_pos
        tr["aud.emb"] = (x, None)
        for i, layer in enumerate(self.a_layers):
            x = layer(x)
            tr["aud.blk.%d" % i] = (x, None)
        x = self.a_ln(x)
        tr["aud.out"] = (x, None)
        pooled = x[:, :len(pre)].mean(1)
        tr["aud.pooled"] = (pooled, None)
        return pooled

    def perceiver(self, v, tr):
        B = v.shape[0]
        lat = self.latents[None].expand(B, -1, -1)
        kv = self.p_norm_kv(v)
        a, _ = self.p_attn(self.p_norm_q(lat), kv, kv, need_weights=False)
        x = lat + a
        x = x + self.p_down(F.gelu(self.p_up(self.p_norm_ffn(x))))
        tr["fuse.perceiver"] = (x, None)
        return x

    def forward(self, ids=None, lens=None, pix=None, vit=None, spec=None):
        tr = {}
        parts, masks = [], []
        if pix is not None:
            # (B, F, 3, H, W): F frames of one item, each through the vision
            # tower (and perceiver) alone, their tokens side by side
            B = pix.shape[0]
            frames = pix.reshape(-1, *pix.shape[-3:])
            v = self.vis_proj(self.vision_forward(frames, tr, vit or self.vit))
            if self.c.latents:
                v = self.perceiver(v, tr)
            v = v.reshape(B, -1, v.shape[-1])
            parts.append(v + self.modality[0])
            masks.append(torch.ones(v.shape[:2], dtype=torch.bool))
        if spec is not None:  # one token per clip, after the images
            a = self.aud_proj(self.audio_forward(spec, tr))[:, None]
            parts.append(a + self.modality[2])
            masks.append(torch.ones(a.shape[:2], dtype=torch.bool))
        if ids is not None:
            t, m = self.text_forward(ids, lens, tr)
            parts.append(self.text_proj(t) + self.modality[1])
            masks.append(m)
        x, mask = torch.cat(parts, 1), torch.cat(masks, 1)
        tr["fuse.in"] = (x, mask)
        for i, layer in enumerate(self.fusion):
            x = layer(x, src_key_padding_mask=~mask)
            tr["fuse.blk.%d" % i] = (x, mask)
        x = self.fuse_ln(x)
        tr["fuse.out"] = (x, mask)
        if self.c.pooling == "cls":
            pooled = x[:, 0]
        else:
            h = torch.tanh(x) if self.c.pooling == "mean_tanh" else x
            w = mask.float()[..., None]
            pooled = (h * w).sum(1) / w.sum(1)
        tr["pooled"] = (pooled, None)
        tr["embedding"] = (F.normalize(self.head(pooled), dim=-1), None)
        return tr


def block_tensors(prefix, layer, torchvision_block=False):
    if torchvision_block:
        attn, n1, n2 = layer.self_attention, layer.ln_1, layer.ln_2
        up, down = [m for m in layer.mlp if isinstance(m, nn.Linear)]
    else:
        attn, n1, n2, up, down = layer.self_attn, layer.norm1, layer.norm2, layer.linear1, layer.linear2
    return [
        (prefix + ".attn_qkv.weight", attn.in_proj_weight), (prefix + ".attn_qkv.bias", attn.in_proj_bias),
        (prefix + ".attn_out.weight", attn.out_proj.weight), (prefix + ".attn_out.bias", attn.out_proj.bias),
        (prefix + ".norm1.weight", n1.weight), (prefix + ".norm1.bias", n1.bias),
        (prefix + ".ffn_up.weight", up.weight), (prefix + ".ffn_up.bias", up.bias),
        (prefix + ".ffn_down.weight", down.weight), (prefix + ".ffn_down.bias", down.bias),
        (prefix + ".norm2.weight", n2.weight), (prefix + ".norm2.bias", n2.bias),
    ]


def export(ref, path):
    c = ref.c
    vit = ref.vit
    t = [("text.tok_emb", ref.tok.weight), ("text.pos_emb", ref.pos.weight), ("text.type_emb", ref.typ.weight),
         ("text.emb_norm.weight", ref.emb_ln.weight), ("text.emb_norm.bias", ref.emb_ln.bias)]
    for i, layer in enumerate(ref.text):
        t += block_tensors("text.blk.%d" % i, layer)
    t += [("vis.patch.weight", vit.conv_proj.weight.reshape(c.dv, -1)), ("vis.patch.bias", vit.conv_proj.bias),
          ("vis.cls", vit.class_token.reshape(-1)), ("vis.pos", vit.encoder.pos_embedding[0])]
    for i, layer in enumerate(vit.encoder.layers):
        t += block_tensors("vis.blk.%d" % i, layer, torchvision_block=True)
    t += [("vis.norm.weight", vit.encoder.ln.weight), ("vis.norm.bias", vit.encoder.ln.bias)]
    if c.audio:
        t += [("aud.patch.weight", ref.a_conv.weight.reshape(c.audio["d"], -1)), ("aud.patch.bias", ref.a_conv.bias),
              ("aud.cls", ref.a_cls)] + ([("aud.dist", ref.a_dist)] if c.audio["dist"] else []) + [
              ("aud.pos", ref.a_pos)]
        for i, layer in enumerate(ref.a_layers):
            t += block_tensors("aud.blk.%d" % i, layer)
        t += [("aud.norm.weight", ref.a_ln.weight), ("aud.norm.bias", ref.a_ln.bias)]
    t += [("fuse.text_proj.weight", ref.text_proj.weight), ("fuse.text_proj.bias", ref.text_proj.bias),
          ("fuse.vis_proj.weight", ref.vis_proj.weight), ("fuse.vis_proj.bias", ref.vis_proj.bias)]
    if c.audio:
        t += [("fuse.aud_proj.weight", ref.aud_proj.weight), ("fuse.aud_proj.bias", ref.aud_proj.bias)]
    t += [("fuse.modality", ref.modality)]
    if c.latents:
        a = ref.p_attn
        t += [("fuse.perc.latents", ref.latents),
              ("fuse.perc.norm_kv.weight", ref.p_norm_kv.weight), ("fuse.perc.norm_kv.bias", ref.p_norm_kv.bias),
              ("fuse.perc.attn_qkv.weight", a.in_proj_weight), ("fuse.perc.attn_qkv.bias", a.in_proj_bias),
              ("fuse.perc.attn_out.weight", a.out_proj.weight), ("fuse.perc.attn_out.bias", a.out_proj.bias),
              ("fuse.perc.norm1.weight", ref.p_norm_q.weight), ("fuse.perc.norm1.bias", ref.p_norm_q.bias),
              ("fuse.perc.ffn_up.weight", ref.p_up.weight), ("fuse.perc.ffn_up.bias", ref.p_up.bias),
              ("fuse.perc.ffn_down.weight", ref.p_down.weight), ("fuse.perc.ffn_down.bias", ref.p_down.bias),
              ("fuse.perc.norm2.weight", ref.p_norm_ffn.weight), ("fuse.perc.norm2.bias", ref.p_norm_ffn.bias)]
    for i, layer in enumerate(ref.fusion):
        t += block_tensors("fuse.blk.%d" % i, layer)
    t += [("fuse.norm.weight", ref.fuse_ln.weight), ("fuse.norm.bias", ref.fuse_ln.bias),
          ("head.proj.weight", ref.head.weight), ("head.proj.bias", ref.head.bias)]
    tensors = [(n, p.detach().numpy()) for n, p in t]
    kv = {"general.architecture": "sail", "general.name": "parity"}

    def tower(pre, L, d, h, f, eps, norm):
        kv.update({"sail.%s.layers" % pre: L, "sail.%s.width" % pre: d, "sail.%s.heads" % pre: h,
                   "sail.%s.ffn" % pre: f, "sail.%s.eps" % pre: eps, "sail.%s.act" % pre: "gelu",
                   "sail.%s.norm" % pre: norm})
    tower("text", c.lt, c.dt, c.ht, c.ft, 1e-12, "post")
    tower("vision", c.lv, c.dv, c.hv, c.fv, 1e-6, "pre")
    tower("fusion", c.lf, c.df, c.hf, c.ff, 1e-6, "pre")
    if c.audio:  # the tower and a front end (fbank; these tests feed spectrograms)
        a = c.audio
        tower("audio", a["L"], a["d"], a["h"], a["f"], 1e-6, "pre")
        kv.update({"sail.audio.patch_size": a["p"], "sail.audio.stride_freq": a["sf"],
                   "sail.audio.stride_time": a["st"], "sail.audio.dist_token": bool(a["dist"]),
                   "sail.audio.sample_rate": 16000, "sail.audio.frame_length_ms": 25.0,
                   "sail.audio.frame_shift_ms": 10.0, "sail.audio.mel_bins": a["mel"], "sail.audio.low_freq": 20.0,
                   "sail.audio.high_freq": 0.0, "sail.audio.preemphasis": 0.97, "sail.audio.remove_dc_offset": True,
                   "sail.audio.window": "hanning", "sail.audio.max_length": a["frames"],
                   "sail.audio.mean": float(a.get("mean", -4.27)), "sail.audio.std": float(a.get("std", 4.57))})
    kv.update({"sail.text.vocab_size": c.vocab, "sail.text.max_positions": c.max_pos,
               "sail.text.type_vocab": 2, "sail.text.context": c.max_pos,
               "sail.vision.image_size": c.image, "sail.vision.patch_size": c.patch,
               "sail.fusion.perceiver_latents": c.latents, "sail.pooling": c.pooling, "sail.dim": c.dim,
               "sail.image.size": c.image, "sail.image.crop": c.image, "sail.image.resample": "bicubic",
               "sail.image.mean": [0.5, 0.5, 0.5], "sail.image.std": [0.25, 0.25, 0.25],
               "tokenizer.ggml.model": "bert",
               "tokenizer.ggml.tokens": ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + ["t%d" % i for i in range(c.vocab - 4)],
               "tokenizer.ggml.padding_token_id": 0, "tokenizer.ggml.unknown_token_id": 1,
               "tokenizer.ggml.cls_token_id": 2, "tokenizer.ggml.seperator_token_id": 3})
    gguf_write.write(path, kv, tensors)


def run_sail(model, tmp, ids=None, lens=None, pix=None):
    out = tempfile.mkdtemp(dir=tmp)
    args = [DUMP, model, out]
    if ids is not None:
        flat = np.concatenate([ids[i, :lens[i]] for i in range(len(lens))]).astype(np.int32)
        flat.tofile(os.path.join(out, "ids.i32"))
        np.asarray(lens, dtype=np.int32).tofile(os.path.join(out, "lens.i32"))
        args += ["--tokens", os.path.join(out, "ids.i32"), os.path.join(out, "lens.i32"), str(len(lens))]
    if pix is not None:
        pix.astype(np.float32).tofile(os.path.join(out, "pix.f32"))
        args += ["--images", os.path.join(out, "pix.f32")] + [str(s) for s in (pix.shape[0], pix.shape[2], pix.shape[3])]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("trace_dump failed: " + r.stderr)
    acts = {}
    for line in open(os.path.join(out, "index.txt")):
        name, rows, cols = line.split()
        acts[name] = np.fromfile(os.path.join(out, name + ".bin"), dtype=np.float32).reshape(int(rows), int(cols))
    return acts


def compare(case, ref_tr, acts):
    missing = sorted(set(ref_tr) - set(acts))
    check(not missing, "%s: sail traces every reference layer" % case, "missing %s" % missing if missing else "")
    worst_abs, worst_cos, worst = 0.0, 1.0, ""
    for name, (x, mask) in ref_tr.items():
        if name not in acts:
            continue
        r = x.detach().numpy().reshape(-1, x.shape[-1])
        s = acts[name]
        if s.shape != r.shape:
            check(False, "%s: %s shape" % (case, name), "sail %s vs torch %s" % (s.shape, r.shape))
            continue
        if mask is not None:
            keep = mask.reshape(-1).numpy()
            r, s = r[keep], s[keep]
        err = float(np.abs(r - s).max())
        cos = float(np.min(np.sum(r * s, 1) / (np.linalg.norm(r, axis=1) * np.linalg.norm(s, axis=1) + 1e-30)))
        ok = err <= TOL_ABS and cos >= TOL_COS
        if not ok or err > worst_abs:
            worst_abs, worst_cos, worst = max(err, worst_abs), min(cos, worst_cos), name
        check(ok, "%s: %s max|err| %.2e cos %.7f" % (case, name, err, cos))
    return worst


def case(name, cfg, seed, tmp, text=True, image=True, image_size=None):
    torch.manual_seed(seed)
    ref = Reference(cfg).eval()
    path = os.path.join(tmp, name + ".gguf")
    export(ref, path)
    g = torch.Generator().manual_seed(seed + 1)
    ids = lens = pix = None
    B = 3
    if text:
        lens = torch.tensor([5, cfg.max_pos, 2][:B])
        T = int(lens.max())
        ids = torch.randint(4, cfg.vocab, (B, T), generator=g)
        ids[:, 0] = 2
        for i in range(B):
            ids[i, lens[i] - 1] = 3
            ids[i, lens[i]:] = 0
    vit = None
    if image:
        size = image_size or cfg.image
        pix = torch.randn(B, 3, size, size, generator=g)
        if size != cfg.image:
            vit = torchvision.models.VisionTransformer(
                image_size=size, patch_size=cfg.patch, num_layers=cfg.lv, num_heads=cfg.hv,
                hidden_dim=cfg.dv, mlp_dim=cfg.fv)
            sd = interpolate_embeddings(size, cfg.patch, ref.vit.state_dict())
            vit.load_state_dict(sd)
            vit.eval()
    with torch.no_grad():
        tr = ref(ids, lens, pix, vit)
    acts = run_sail(path, tmp, None if ids is None else ids.numpy(), None if lens is None else lens.numpy().tolist(),
                    None if pix is None else pix.numpy())
    compare(name, tr, acts)


def main():
    if not tap.built(DUMP):
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        case("text-padded-batch", Cfg(), 1, tmp, image=False)
        case("images", Cfg(), 2, tmp, text=False)
        case("images-interpolated-48px", Cfg(), 3, tmp, text=False, image_size=48)
        case("text+image", Cfg(), 4, tmp)
        case("perceiver-mean-tanh", Cfg(latents=16, pooling="mean_tanh"), 5, tmp)
        case("cls-pooling-no-fusion-layers", Cfg(pooling="cls", lf=0), 6, tmp)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
