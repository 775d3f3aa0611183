"""Composing SigLIP's towers into a fused sail model, and training it.

A seeded random SigLIP with its own SentencePiece tokenizer (a spiece.model
trained here, tests/siglip_oracle.py and tests/test_spm.py; Hugging Face's
architecture and names) is converted with `sail convert`; `sail compose`
takes its text tower (SentencePiece, no causal mask, no embedding LayerNorm
nor token types, a final LayerNorm, texts padded with the pad id to the
context and pads attended, as SigLIP runs them) and its vision tower (patch
bias, no pre-LayerNorm, no class token: the fusion sees the patch tokens;
tanh GELU in both) and adds fresh fusion layers and head. The MAP head and
the text head are the imported model's pooling and are left behind. Checks,
one TAP line each:
  the composed file keeps SigLIP's tower tensors bit-identical, none it
  lacks (class token, embedding LayerNorm, token types) and none of its
  pooling heads; its layout keys (sail.text.padded, sail.vision.class_token)
  read back;
  (1) its per-tower outputs (trace text.out: every position of the padded
  text; vis.out: every patch token) equal SigLIP's in PyTorch (<= 1e-4), the
  last text row through SigLIP's text head its text embedding, and the joint
  text+image embedding the fused reference (<= 1e-4);
  (2) one training step (tests/tools/train_dump.c) against float64 autograd
  (test_compose_clip.grad_case: loss rel <= 1e-5, embeddings <= 1e-4, every
  gradient <= 1e-3 relative, a gradient for every reference tensor); with
  --freeze text,vision the frozen tensors' gradients are exactly zero;
  `sail tokenize` runs SigLIP's SentencePiece for the composed model as for
  the imported one, and `sail embed` embeds a joint input;
  SigLIP's text tower with a CLIP vision tower, and a BERT text tower with
  SigLIP's vision tower, compose and embed.
The reference: test_compose_clip.Ref with SigLIP's towers: each text padded
with the config's pad_token_id (SigLIP's </s>) to the context (16), through non-causal blocks and the final
norm, every position kept; each image through the patch convolution (with
bias), positions, blocks and the post norm, every patch token.
"""
import json
import os
import subprocess
import sys

from tap import SAIL, check, gguf_array, gguf_tensors, skip_import

try:
    import numpy as np
    import sentencepiece  # noqa: F401  (the fixture trains a spiece.model)
    import torch
    import torch.nn.functional as F
    import convert_oracle as O
    import siglip_oracle as S
    import test_compose_clip as C
    import test_finetune_grad as G
except ImportError as e:  # pragma: no cover
    skip_import("the SigLIP compose oracle needs Debian's python3-torch, python3-numpy and python3-sentencepiece", e)

CTX = 16  # the fixture's max_position_embeddings (= context)
TOL_EMB = C.TOL_EMB


class SigRef(C.Ref):
    """The fused reference over SigLIP's towers."""

    def text_states(self, ids):
        """(1, CTX, dt): every position of the padded text after the final norm."""
        P, c = self.P, self.tc
        ids = S.padded(ids, CTX, self.tc["pad_token_id"])
        x = P["text.tok_emb"][torch.tensor(ids)] + P["text.pos_emb"][:CTX]
        return C.ln(self.tower(x[None], "text", c, False), P, "text.final_norm", c["layer_norm_eps"])

    def vision_states(self, pix):
        """(1, patches, dv): every patch token after the post norm (no class token)."""
        P, c = self.P, self.vc
        p, dv = c["patch_size"], c["hidden_size"]
        x = F.conv2d(pix[None], P["vis.patch.weight"].reshape(dv, 3, p, p), P["vis.patch.bias"], stride=p)
        x = x.flatten(2).transpose(1, 2) + P["vis.pos"][None]
        return C.ln(self.tower(x, "vis", c, False), P, "vis.norm", c["layer_norm_eps"])


def make_siglip(tmp):
    d = os.path.join(tmp, "siglip")
    model, cfg, _ = S.spm_folder(tmp, d, CTX)
    r = O.convert(d, d + ".gguf")
    check(r.returncode == 0, "convert the random SigLIP (spiece.model)", r.stderr[-300:] if r.returncode else "")
    return model.double(), cfg, d + ".gguf"


def texts(g, vocab, lens):
    """Ids of the pieces (3.. vocab-1) ending with SigLIP's eos (1), zero-padded."""
    ids = torch.zeros(len(lens), max(lens), dtype=torch.long)
    for i, L in enumerate(lens):
        ids[i, :L] = torch.tensor(torch.randint(3, vocab, (L - 1,), generator=g).tolist() + [1])
    return ids, torch.tensor(lens)


def layout_case(comp, sig):
    t = gguf_tensors(comp)
    absent = [n for n in ("vis.cls", "text.emb_norm.weight", "text.type_emb", "vis.map.probe", "text.proj.weight",
                          "vis.pre_norm.weight") if n in t]
    kept = all(n in t for n in ("text.final_norm.weight", "vis.patch.bias", "vis.patch.weight", "vis.pos"))
    same = all(np.array_equal(gguf_array(comp, n), gguf_array(sig, n)) for n in t if n.startswith(("text.", "vis.")))
    rows = gguf_array(comp, "vis.pos").reshape(-1, 32).shape[0] if "vis.pos" in t else 0
    check(kept and not absent and same and rows == 16,
          "the composed model has SigLIP's tower tensors, bit-identical, 16 position rows (no class token), "
          "none SigLIP lacks and none of its pooling heads", "extra %s, pos rows %d" % (absent, rows))
    r = sail("info", comp)
    check(r.returncode == 0 and "tokenizer=sentencepiece text_causal=0 text_emb_norm=0 text_final_norm=1 "
          "vision_pre_norm=0 patch_bias=1 text_padded=1 class_token=0" in r.stdout,
          "sail info reads the composed model's layout back", (r.stdout + r.stderr)[-300:])
    raw = open(comp, "rb").read(1 << 20)
    check(all(k in raw for k in (b"sail.text.padded", b"sail.vision.class_token", b"tokenizer.spm.model")),
          "its file carries the layout keys (sail.text.padded, sail.vision.class_token) and the spiece.model")


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True)


def trace_case(comp, model, cfg, tmp):
    """(1): the composed towers against the original SigLIP module by module."""
    g = torch.Generator().manual_seed(11)
    n = 3
    ids, lens = texts(g, cfg["text_config"]["vocab_size"], [5, 12, 3])
    pix = torch.randn(n, 3, 32, 32, generator=g)
    acts = C.trace(comp, tmp, ids, lens, pix)
    if acts is None:
        return
    tm, vm = model.text_model, model.vision_model
    dt = cfg["text_config"]["hidden_size"]
    got_t = acts["text.out"].reshape(n, -1, dt)
    worst_t, worst_e = 0.0, 0.0
    with torch.no_grad():
        for i in range(n):
            full = torch.tensor([S.padded(ids[i, :lens[i]].tolist(), CTX, cfg["text_config"]["pad_token_id"])])
            x = tm.embeddings.token_embedding(full) + tm.embeddings.position_embedding(torch.arange(CTX))[None]
            want = tm.final_layer_norm(tm.encoder(x))[0].numpy()
            if got_t.shape[1] != CTX:
                worst_t = float("inf")
                break
            worst_t = max(worst_t, float(np.abs(got_t[i] - want).max()))
            head = tm.head(torch.tensor(got_t[i, -1], dtype=torch.float64)).numpy()
            worst_e = max(worst_e, float(np.abs(head - tm(full)[0].numpy()).max()))
        want_v = vm.hidden(pix.double()).numpy()
    got_v = acts["vis.out"]
    err_v = float(np.abs(got_v.reshape(want_v.shape) - want_v).max()) if got_v.size == want_v.size else float("inf")
    check(worst_t <= TOL_EMB, "text.out: all %d positions of each padded text equal SigLIP's final-norm output "
          "(max|err| %.1e)" % (CTX, worst_t))
    check(worst_e <= TOL_EMB, "its last row through SigLIP's text head is SigLIP's text embedding (max|err| %.1e)"
          % worst_e)
    check(err_v <= TOL_EMB, "vis.out: the %d patch tokens (no class token) equal SigLIP's post-norm states "
          "(max|err| %.1e)" % (want_v.shape[1], err_v))
    ref = SigRef(C.load_params(comp), cfg)
    with torch.no_grad():
        want_e = ref.side(("joint", ids, lens, pix)).numpy()
    err_e = float(np.abs(acts["embedding"] - want_e).max())
    check(err_e <= TOL_EMB, "the joint text+image embedding equals the fused reference (max|err| %.1e)" % err_e)


def grad_cases(comp, cfg, tmp):
    """(2): one trainer step against autograd (test_compose_clip's check)."""
    g = torch.Generator().manual_seed(5)
    vocab, n = cfg["text_config"]["vocab_size"], 4
    ta = ("text",) + texts(g, vocab, [3, 9, 13, 6])
    tb = ("text",) + texts(g, vocab, [7, 4, 11, 5])
    img = ("image", torch.randn(n, 3, 32, 32, generator=g))
    joint = ("joint", ta[1], ta[2], torch.randn(n, 3, 32, 32, generator=g))
    C.grad_case("siglip-compose text-image", comp, cfg, tmp, (ta, img), ref_cls=SigRef)
    C.grad_case("siglip-compose joint-text", comp, cfg, tmp, (joint, tb), ref_cls=SigRef)
    C.grad_case("siglip-compose frozen towers", comp, cfg, tmp, (ta, img), freeze=("text", "vision"), ref_cls=SigRef)


def cli_cases(comp, sig, tmp):
    img = O.write_images(tmp)[0]
    r = sail("embed", "--model", comp, "--text", "a photo of a cat", "--image", img)
    dim = len(json.loads(r.stdout)["data"][0]["embedding"]) if r.returncode == 0 else 0
    check(dim == C.DIM, "sail embed: the composed SigLIP embeds a joint text+image input (dim %d)" % dim,
          r.stderr[-200:])
    got = [subprocess.run([SAIL, "tokenize", "--model", m], input="A photo of a cat.\n", capture_output=True, text=True)
           for m in (comp, sig)]
    ids = [json.loads(x.stdout) if x.returncode == 0 else None for x in got]
    check(ids[0] is not None and ids[0] == ids[1] and len(ids[0]) > 1,
          "the composed model's front door runs SigLIP's SentencePiece as the imported SigLIP does: %s"
          % (ids[0] or [])[:8], got[0].stderr[-300:])


def mixed_case(sig, tmp):
    """SigLIP's text with CLIP's vision, BERT's text with SigLIP's vision."""
    clip = os.path.join(tmp, "clip")
    bert = os.path.join(tmp, "bert")
    for d, make in ((clip, G.clip_model), (bert, G.bert_model)):
        model, _ = make(d)
        O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
        r = O.convert(d, d + ".gguf")
        if not check(r.returncode == 0, "convert a random %s" % os.path.basename(d), r.stderr[-200:]):
            return
    img = O.write_images(tmp)[0]
    for label, text, vision, want, lack in (
            ("SigLIP text + CLIP vision", sig, clip + ".gguf", ("text.final_norm.weight", "vis.pre_norm.weight", "vis.cls"),
             ("text.emb_norm.weight", "vis.patch.bias")),
            ("BERT text + SigLIP vision", bert + ".gguf", sig, ("text.emb_norm.weight", "vis.patch.bias"),
             ("vis.cls", "vis.pre_norm.weight"))):
        out = os.path.join(tmp, label.replace(" ", "_") + ".gguf")
        r = sail("compose", "--text", text, "--vision", vision, "-o", out, "--dim", "24")
        if not check(r.returncode == 0, "compose %s" % label, r.stderr[-300:]):
            continue
        t = gguf_tensors(out)
        check(all(n in t for n in want) and not any(n in t for n in lack),
              "%s keeps each tower's layout (%s; no %s)" % (label, ", ".join(want), ", ".join(lack)))
        r = sail("embed", "--model", out, "--text", "a b c", "--image", img)
        dim = len(json.loads(r.stdout)["data"][0]["embedding"]) if r.returncode == 0 else 0
        check(dim == 24, "the %s model embeds a joint input (dim %d)" % (label, dim), r.stderr[-200:])


def main():
    return C.run("SigLIP", make_siglip, sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
