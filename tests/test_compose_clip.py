"""Composing CLIP's towers into a fused sail model, and training it.

A seeded random CLIP (tests/convert_oracle.py, Hugging Face's architecture
and names) is converted with `sail convert`; `sail compose` takes its text
tower (byte-level BPE, causal attention, no embedding LayerNorm nor token
types, a final LayerNorm) and its vision tower (pre-LayerNorm, no patch
bias, class token) and adds fresh fusion layers and head. Checks, one TAP
line each:
  the composed file keeps CLIP's layout keys and tokenizer, and no tensor
  CLIP lacks (patch bias, embedding LayerNorm, token types);
  (1) its per-tower outputs (trace text.out, vis.out: every real token's
  state) equal the original CLIP's in PyTorch (<= 1e-4), its end-of-text
  row CLIP's pooled text state, and its joint text+image embedding the
  reference below (<= 1e-4);
  (2) one training step (tests/tools/train_dump.c) against autograd: loss
  rel <= 1e-5, embeddings <= 1e-4, every gradient max|g_sail - g_torch| /
  max|g_torch| <= 1e-3, sail has a gradient for every reference tensor; with
  --freeze text,vision the frozen tensors' gradients are exactly zero and
  the rest still equal autograd; texts against images, and joint
  (text + image) items against texts;
  `sail embed` tokenizes a text with CLIP's BPE for the composed model;
  a BERT text tower with CLIP's vision tower composes and embeds;
  (3) an OpenCLIP trained as imported on shapes (its towers standing in
  for pretrained ones), composed with a fresh fusion layer: `sail finetune
  --freeze text,vision` (under a minute) keeps the towers bit-identical,
  trains fusion and head, and reaches a held-out text->image R@1 of at least
  5x chance and 0.15 above the same architecture from scratch.
The reference is the fused sail architecture written here with torch ops in
float64 over the composed file's float32 tensors, keyed by their sail names:
each text (at its own length) through CLIP's causal blocks and final norm,
each image through CLIP's embeddings, pre-norm, blocks and post-norm (every
token), both projected into the fusion width plus their modality rows,
[image; text] through pre-norm fusion blocks (GELU, eps 1e-6), the fusion
norm, the mean over tokens, the head, L2. Gradients use test_train_grad's
InfoNCE.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import tap
from tap import BUILD, SAIL, check, gguf_array, gguf_tensors, skip_import

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import convert_oracle as O
    import test_finetune_grad as G
    import test_train_grad as TG
except ImportError as e:  # pragma: no cover
    skip_import("the CLIP compose oracle needs Debian's python3-torch and python3-numpy", e)

TRACE = os.path.join(BUILD, "tools", "trace_dump")
TOL_EMB = 1e-4  # traced states (a train_dump step: test_train_grad's tolerances)
FUSION_LAYERS, FUSION_WIDTH, FUSION_HEADS, DIM = 2, 96, 3, 16  # compose: heads of 32 when 64 does not divide


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True)


# ------------------------------------------------------------ reference --

def load_params(path):
    """{sail name: float64 leaf} of every tensor of the composed file; a
    (1, n) row (norms, biases, the class token) as a vector."""
    P = {}
    for name in gguf_tensors(path):
        a = gguf_array(path, name).astype(np.float64)
        if a.ndim == 2 and a.shape[0] == 1:
            a = a.reshape(-1)
        P[name] = torch.tensor(a, requires_grad=True)
    return P


def ln(x, P, pre, eps):
    return F.layer_norm(x, x.shape[-1:], P[pre + ".weight"], P[pre + ".bias"], eps)


def lin(x, P, pre):
    return F.linear(x, P[pre + ".weight"], P.get(pre + ".bias"))


def block(x, P, pre, heads, act, eps, causal=False):
    """A pre-norm block (CLIP's encoder layer; sail's fusion layer)."""
    q, k, v = lin(ln(x, P, pre + ".norm1", eps), P, pre + ".attn_qkv").chunk(3, -1)
    x = x + lin(O.attention(q, k, v, heads, causal), P, pre + ".attn_out")
    return x + lin(act(lin(ln(x, P, pre + ".norm2", eps), P, pre + ".ffn_up")), P, pre + ".ffn_down")


class Ref:
    def __init__(self, P, cfg):
        self.P, self.tc, self.vc = P, cfg["text_config"], cfg["vision_config"]

    def tower(self, x, pre, c, causal):
        for i in range(c["num_hidden_layers"]):
            x = block(x, self.P, "%s.blk.%d" % (pre, i), c["num_attention_heads"], O.ACTS[c["hidden_act"]],
                      c["layer_norm_eps"], causal)
        return x

    def text_states(self, ids):
        """(1, T, dt): every token's state after the final norm."""
        P, c = self.P, self.tc
        x = P["text.tok_emb"][torch.tensor(ids)] + P["text.pos_emb"][:len(ids)]
        return ln(self.tower(x[None], "text", c, True), P, "text.final_norm", c["layer_norm_eps"])

    def vision_states(self, pix):
        """(1, 1 + patches, dv): every token's state after the post norm."""
        P, c = self.P, self.vc
        p, dv = c["patch_size"], c["hidden_size"]
        x = F.conv2d(pix[None], P["vis.patch.weight"].reshape(dv, 3, p, p), stride=p).flatten(2).transpose(1, 2)
        x = torch.cat([P["vis.cls"].reshape(1, 1, dv), x], 1) + P["vis.pos"][None]
        x = self.tower(ln(x, P, "vis.pre_norm", c["layer_norm_eps"]), "vis", c, False)
        return ln(x, P, "vis.norm", c["layer_norm_eps"])

    def embed(self, ids=None, pix=None, aud=None):
        """One item: its image, its clip's pooled audio state aud (a subclass's
        audio_pooled), its text, joined as sail orders them."""
        P, parts = self.P, []
        if pix is not None:
            parts.append(lin(self.vision_states(pix), P, "fuse.vis_proj") + P["fuse.modality"][0])
        if aud is not None:
            parts.append(lin(aud[None, None], P, "fuse.aud_proj") + P["fuse.modality"][2])
        if ids is not None:
            parts.append(lin(self.text_states(ids), P, "fuse.text_proj") + P["fuse.modality"][1])
        x = torch.cat(parts, 1)
        for i in range(FUSION_LAYERS):
            x = block(x, P, "fuse.blk.%d" % i, FUSION_HEADS, F.gelu, 1e-6)
        pooled = ln(x, P, "fuse.norm", 1e-6)[0].mean(0)
        return F.normalize(lin(pooled, P, "head.proj"), dim=-1)

    def side(self, s):
        """Embeddings (n, DIM) of a side: ("text", ids, lens), ("image", pix)
        or ("joint", ids, lens, pix); each item on its own; with clips
        (test_train_grad.write_side's ("audio", spec) or ("withaudio", side,
        spec)) through a subclass's audio_pooled."""
        aud = None
        if s[0] in ("audio", "withaudio"):
            aud = self.audio_pooled(s[-1].double())
            s = s[1] if s[0] == "withaudio" else ("audio", aud)
        n = len(s[1])
        rows = []
        for i in range(n):
            ids = s[1][i, :s[2][i]].tolist() if s[0] in ("text", "joint") else None
            pix = s[3][i] if s[0] == "joint" else s[1][i] if s[0] == "image" else None
            rows.append(self.embed(ids, None if pix is None else pix.double(), None if aud is None else aud[i]))
        return torch.stack(rows)


# ------------------------------------------------------------- fixtures --

def texts(g, n, vocab, lens):
    """CLIP-style ids: start, pieces, end (the largest id, where CLIP pools)."""
    T = max(lens)
    ids = torch.zeros(n, T, dtype=torch.long)
    for i, L in enumerate(lens[:n]):
        ids[i, :L] = torch.tensor([vocab - 2] + torch.randint(5, vocab - 2, (L - 2,), generator=g).tolist() + [vocab - 1])
    return ids, torch.tensor(lens[:n])


def make_clip(d):
    """A converted random CLIP (test_finetune_grad's)."""
    model, cfg = G.clip_model(d)
    O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
    r = O.convert(d, d + ".gguf")
    check(r.returncode == 0, "convert the random CLIP %s" % os.path.basename(d), r.stderr[-300:] if r.returncode else "")
    return model.double(), cfg, d + ".gguf"


# ---------------------------------------------------------------- cases --

def layout_case(comp, clip):
    t = gguf_tensors(comp)
    absent = [n for n in ("vis.patch.bias", "text.emb_norm.weight", "text.type_emb") if n in t]
    kept = all(n in t for n in ("text.final_norm.weight", "vis.pre_norm.weight", "vis.patch.weight"))
    same = all(np.array_equal(gguf_array(comp, n), gguf_array(clip, n)) for n in t if n.startswith(("text.", "vis.")))
    check(kept and not absent and same, "the composed model has CLIP's tower tensors, bit-identical, and none CLIP lacks",
          "extra %s" % absent if absent else "")
    r = sail("info", comp)
    check(r.returncode == 0 and "tokenizer=clip-bpe text_causal=1 text_emb_norm=0 text_final_norm=1 "
          "vision_pre_norm=1 patch_bias=0" in r.stdout, "sail info reads the composed model's layout back",
          (r.stdout + r.stderr)[-300:])
    raw = open(comp, "rb").read(1 << 20)
    check(all(k in raw for k in (b"sail.text.causal", b"sail.text.final_norm", b"sail.vision.pre_norm",
                                  b"sail.vision.patch_bias", b"tokenizer.ggml.merges")),
          "its file carries the towers' layout keys and CLIP's BPE merges")


def trace(comp, tmp, ids, lens, pix):
    out = tempfile.mkdtemp(dir=tmp)
    flat = np.concatenate([ids[i, :lens[i]].numpy() for i in range(len(lens))]).astype(np.int32)
    flat.tofile(os.path.join(out, "ids.i32"))
    lens.numpy().astype(np.int32).tofile(os.path.join(out, "lens.i32"))
    pix.numpy().astype(np.float32).tofile(os.path.join(out, "pix.f32"))
    r = subprocess.run([TRACE, comp, out, "--tokens", os.path.join(out, "ids.i32"), os.path.join(out, "lens.i32"),
                        str(len(lens)), "--images", os.path.join(out, "pix.f32")] +
                       [str(s) for s in (pix.shape[0], pix.shape[2], pix.shape[3])], capture_output=True, text=True)
    if not check(r.returncode == 0, "trace the composed model on joint items", r.stderr[-300:]):
        return None
    acts = {}
    for line in open(os.path.join(out, "index.txt")):
        name, rows, cols = line.split()
        acts[name] = np.fromfile(os.path.join(out, name + ".bin"), dtype=np.float32).reshape(int(rows), int(cols))
    return acts


def trace_case(comp, model, cfg, tmp):
    """(1): the composed towers against the original CLIP module by module."""
    g = torch.Generator().manual_seed(11)
    vocab, n = cfg["text_config"]["vocab_size"], 3
    ids, lens = texts(g, n, vocab, [5, 12, 3])
    pix = torch.randn(n, 3, 32, 32, generator=g)
    acts = trace(comp, tmp, ids, lens, pix)
    if acts is None:
        return
    T, tm, vm = ids.shape[1], model.text_model, model.vision_model
    worst_t, worst_eos = 0.0, 0.0
    with torch.no_grad():
        for i in range(n):
            x = tm.embeddings.token_embedding(ids[i:i + 1, :lens[i]])
            x = x + tm.embeddings.position_embedding(torch.arange(int(lens[i])))[None]
            want = tm.final_layer_norm(tm.encoder(x, causal=True))[0].numpy()
            got = acts["text.out"][i * T:i * T + int(lens[i])]
            worst_t = max(worst_t, float(np.abs(got - want).max()))
            eos = tm(ids[i:i + 1, :lens[i]])[0].numpy()  # CLIP's pooled text state: the end token's row
            worst_eos = max(worst_eos, float(np.abs(got[int(lens[i]) - 1] - eos).max()))
        e = vm.embeddings
        x = e.patch_embedding(pix.double()).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(n, 1, -1), x], 1)
        want_v = vm.post_layernorm(vm.encoder(vm.pre_layrnorm(x + e.position_embedding.weight[None])))
        pooled_v = vm(pix.double())
    got_v = acts["vis.out"].reshape(n, -1, want_v.shape[-1])
    err_v = float(np.abs(got_v - want_v.numpy()).max())
    err_cls = float(np.abs(got_v[:, 0] - pooled_v.numpy()).max())
    check(worst_t <= TOL_EMB, "text.out: every real token's state equals CLIP's final-norm output (max|err| %.1e)" % worst_t)
    check(worst_eos <= TOL_EMB, "its end-of-text row equals CLIP's pooled text state (max|err| %.1e)" % worst_eos)
    check(err_v <= TOL_EMB and err_cls <= TOL_EMB,
          "vis.out: every token equals CLIP's post-norm states, the class row its pooled state (%.1e, %.1e)"
          % (err_v, err_cls))
    ref = Ref(load_params(comp), cfg)
    with torch.no_grad():
        want_e = ref.side(("joint", ids, lens, pix)).numpy()
    err_e = float(np.abs(acts["embedding"] - want_e).max())
    check(err_e <= TOL_EMB, "the joint text+image embedding equals the fused reference (max|err| %.1e)" % err_e)


def frozen(name, freeze):
    part = {"text": "text", "vis": "vision", "audio": "audio", "fuse": "fusion",
            "head": "head"}.get(name.split(".")[0], "temperature")  # an HTSAT's audio.*
    return part in freeze


def grad_case(label, comp, cfg, tmp, sides, freeze=(), ref_cls=None):
    """(2): one step of the trainer on the composed model against autograd
    (ref_cls: the reference, Ref unless given; test_compose_siglip's)."""
    out = tempfile.mkdtemp(dir=tmp)
    n = len(sides[0][1])
    group = list(range(n))
    r = TG.dump_step(comp, out, n, (TG.write_side(sides[0], out, "a"), TG.write_side(sides[1], out, "b")), group,
                     "%d:1,8:1" % DIM, freeze)
    if not check(r.returncode == 0, "%s: one training step (train_dump)" % label, r.stderr[-300:]):
        return
    load = TG.dumped(out)
    P = load_params(comp)
    ref = (ref_cls or Ref)(P, cfg)
    ls = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)  # a fresh temperature
    ea, eb = ref.side(sides[0]), ref.side(sides[1])
    loss = TG.infonce(ea, eb, group, [DIM, 8], [1.0, 1.0], ls)
    loss.backward()
    TG.check_step(label, load, n, loss, ea, eb)
    grads = load("grads")
    covered, g = set(), TG.Grads()
    for name, off, rows, cols in TG.dump_index(out):
        w = ls.grad if name == "train.logit_scale" else P[name].grad if name in P else None
        if name in getattr(ref, "BUFFERS", ()):  # the reference's buffers (running statistics): sail's must be 0
            w = torch.zeros(rows * cols, dtype=torch.float64)
        if w is not None:
            covered.add(name)
            w = w.reshape(-1).numpy()
        g.add(name, grads[off:off + rows * cols], w, frozen(name, freeze))
    check(not g.bad, "%s: %d gradients within %.0e of autograd, frozen ones zero (worst %.1e: %s)" %
          (label, len(covered), TG.TOL_GRAD, g.worst, g.worst_name), "; ".join(g.bad[:6]))
    missing = sorted(k for k, p in P.items() if p.grad is not None and k not in covered)
    check(not missing, "%s: sail has a gradient for every reference tensor" % label, "missing %s" % missing[:6])


def grad_cases(comp, cfg, tmp):
    g = torch.Generator().manual_seed(5)
    vocab, n = cfg["text_config"]["vocab_size"], 4
    lens = [3, 9, 13, 6]
    ta = ("text",) + texts(g, n, vocab, lens)
    tb = ("text",) + texts(g, n, vocab, [7, 4, 11, 5])
    img = ("image", torch.randn(n, 3, 32, 32, generator=g))
    joint = ("joint", ta[1], ta[2], torch.randn(n, 3, 32, 32, generator=g))
    grad_case("clip-compose text-image", comp, cfg, tmp, (ta, img))
    grad_case("clip-compose joint-text", comp, cfg, tmp, (joint, tb))
    grad_case("clip-compose frozen towers", comp, cfg, tmp, (ta, img), freeze=("text", "vision"))


def cli_cases(comp, clip, tmp):
    r = sail("embed", "--model", comp, "--text", "ab cd", "--image", O.write_images(tmp)[0])
    dim = len(json.loads(r.stdout)["data"][0]["embedding"]) if r.returncode == 0 else 0
    check(dim == DIM, "sail embed: the composed CLIP embeds a joint text+image input (dim %d)" % dim, r.stderr[-200:])
    got = [subprocess.run([SAIL, "tokenize", "--model", m], input="ab cd\n", capture_output=True, text=True)
           for m in (comp, clip)]
    ids = [json.loads(r.stdout) if r.returncode == 0 else None for r in got]
    # test_finetune_grad's vocabulary: 256 bytes, 256 word ends, "ab</w>" 512, "cd</w>" 513, start 514, end 515
    check(ids[0] == ids[1] and ids[0][:4] == [514, 512, 513, 515],
          "the composed model's front door runs CLIP's byte-level BPE (merges, start and end) as CLIP's does: %s"
          % (ids[0] or [])[:6], got[0].stderr[-300:])


def mixed_case(clip_gguf, tmp):
    bert = os.path.join(tmp, "bert")
    model, _ = G.bert_model(bert)
    O.write_safetensors(os.path.join(bert, "model.safetensors"), O.state_numpy(model))
    r = O.convert(bert, bert + ".gguf")
    if not check(r.returncode == 0, "convert a random BERT", r.stderr[-200:] if r.returncode else ""):
        return
    out = os.path.join(tmp, "bert-clip.gguf")
    r = sail("compose", "--text", bert + ".gguf", "--vision", clip_gguf, "-o", out, "--dim", "24")
    if not check(r.returncode == 0, "compose a BERT text tower with CLIP's vision tower", r.stderr[-300:]):
        return
    t = gguf_tensors(out)
    check("text.emb_norm.weight" in t and "text.type_emb" in t and "vis.pre_norm.weight" in t and
          "vis.patch.bias" not in t, "it keeps BERT's embedding norm and token types, CLIP's pre-norm and no patch bias")
    r = sail("embed", "--model", out, "--text", "abc", "--image", O.write_images(tmp)[0])
    dim = len(json.loads(r.stdout)["data"][0]["embedding"]) if r.returncode == 0 else 0
    check(dim == 24, "the BERT+CLIP model embeds a joint input (dim %d)" % dim, r.stderr[-200:])


def recall(model, data):
    r = sail("eval", "--model", model, "--data", data, "--json")
    return json.loads(r.stdout)["text_to_image"]["R@1"] if r.returncode == 0 else -1.0


def finetune(model, data, out, lr, epochs, *extra):
    t0 = time.time()
    r = sail("finetune", "--model_name_or_path", model, "--train_data_path", os.path.join(data, "train.jsonl"),
             "--output_dir", out, "--learning_rate", lr, "--num_train_epochs", epochs, "--batch_size", "32", *extra)
    return r, os.path.join(out, "model.gguf"), time.time() - t0


def finetune_case(tmp):
    """(3): an OpenCLIP (test_convert_openclip's: open_clip's architecture,
    initialisation and word-level BPE; CLIP's tower layout) is first trained
    as imported on shapes, standing in for pretrained CLIP towers; its towers
    composed with a fresh fusion layer, frozen, then `sail finetune` trains
    the fusion and head through the trainer's own data path (the BPE on the
    JSONL texts, CLIP's preprocessing)."""
    try:
        import test_convert_openclip as OC
    except ImportError as e:  # pragma: no cover
        print("skip - the OpenCLIP fixture is unavailable (%s)" % e)
        return
    data = tap.shapes(tmp, 700, 3)
    if not data:
        return
    words = OC.WORDS + [w.lower() for s in OC.tokenizer_strings()[:80] for w in s.split()]
    merges = OC.learn_merges([w for w in words if w], 300)
    bpe = os.path.join(tmp, "bpe_simple_vocab_16e6.txt.gz")
    OC.write_bpe(bpe, merges)
    cfg = OC.model_cfg(OC.SimpleTokenizer(bpe, 20).vocab_size)
    cfg["embed_dim"], cfg["text_cfg"]["context_length"] = 32, 32
    torch.manual_seed(0)
    d = os.path.join(tmp, "openclip")
    OC.write_folder(d, cfg, OC.state_dict(OC.OpenCLIP(cfg)), merges)
    r = sail("convert", d, "-o", d + ".gguf")
    if not check(r.returncode == 0, "convert an OpenCLIP", r.stderr[-300:]):
        return
    r, pre, secs = finetune(d + ".gguf", data, os.path.join(tmp, "pre"), "3e-3", "15")
    if not check(r.returncode == 0, "train the imported OpenCLIP (%.0f s): its towers' pretraining" % secs,
                 r.stderr[-300:]):
        return
    comp, scratch = os.path.join(tmp, "oc-comp.gguf"), os.path.join(tmp, "oc-scratch.gguf")
    r = sail("compose", "--text", pre, "--vision", pre, "-o", comp, "--fusion-layers", "1", "--dim", "32")
    r2 = sail("compose", "--text", pre, "--vision", pre, "-o", scratch, "--fusion-layers", "1", "--dim", "32",
              "--scratch")
    if not check(r.returncode == 0 and r2.returncode == 0, "compose the OpenCLIP's towers (and --scratch)",
                 (r.stderr + r2.stderr)[-300:]):
        return
    test = os.path.join(data, "test.jsonl")
    r, out, secs = finetune(comp, data, os.path.join(tmp, "run"), "3e-3", "6", "--freeze", "text,vision")
    # the 60 s bound holds for the optimised build; an ASan build runs several times slower
    quick = secs < 60 or bool(os.environ.get("SAIL_ASAN"))
    if not check(r.returncode == 0 and quick, "finetune the composed OpenCLIP with frozen towers (%.0f s)" % secs,
                 r.stderr[-300:]):
        return
    towers = [n for n in gguf_tensors(comp) if n.startswith(("text.", "vis."))]
    fresh = [n for n in gguf_tensors(comp) if n.startswith(("fuse.", "head."))]
    check(all(np.array_equal(gguf_array(comp, n), gguf_array(out, n)) for n in towers) and
          all(not np.array_equal(gguf_array(comp, n), gguf_array(out, n)) for n in fresh if n.endswith("weight")),
          "its %d frozen tower tensors are bit-identical after training; every fusion and head weight moved"
          % len(towers))
    r, base, _ = finetune(scratch, data, os.path.join(tmp, "run-scratch"), "3e-3", "6")
    images = len({json.loads(x)["image"] for x in open(test)})
    a, b, chance = recall(out, test), recall(base, test), 1.0 / images
    check(r.returncode == 0 and a >= 5 * chance and a >= b + 0.15,
          "held-out text->image R@1 %.3f with frozen pretrained towers, %.3f from scratch after the same steps, "
          "chance %.3f (%d images)" % (a, b, chance, images), r.stderr[-200:])


def run(label, make, cases, *after):
    """The driver this test and test_compose_siglip share: make(tmp) converts
    a random model (its torch module, config and .gguf); `sail compose` fuses
    its own text and vision towers with the fusion shape above; the module
    `cases` checks the result (layout_case, trace_case, grad_cases,
    cli_cases) and mixes the model's towers with others (mixed_case); then
    each of after(tmp) runs."""
    if not tap.built(TG.DUMP, TRACE):
        return tap.summary()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model, cfg, towers = make(tmp)
        comp = os.path.join(tmp, "comp.gguf")
        r = sail("compose", "--text", towers, "--vision", towers, "-o", comp, "--fusion-layers", FUSION_LAYERS,
                 "--fusion-width", FUSION_WIDTH, "--dim", DIM)
        if check(r.returncode == 0, "compose a converted %s's text and vision towers" % label, r.stderr[-300:]):
            cases.layout_case(comp, towers)
            cases.trace_case(comp, model, cfg, tmp)
            cases.grad_cases(comp, cfg, tmp)
            cases.cli_cases(comp, towers, tmp)
        cases.mixed_case(towers, tmp)
        for case in after:
            case(tmp)
    return tap.summary()


def main():
    return run("CLIP", lambda tmp: make_clip(os.path.join(tmp, "clip")), sys.modules[__name__], finetune_case)


if __name__ == "__main__":
    sys.exit(main())
