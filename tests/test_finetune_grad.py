"""Gradients of fine-tuning imported checkpoints against PyTorch autograd.

Each case builds a seeded random model with Hugging Face's architecture and
names (tests/convert_oracle.py: CLIP, Chinese-CLIP, BERT, ViT, written from
the published architectures; tests/test_convert_clap.py: a ClapModel, its
RoBERTa text tower and HTSAT audio tower with their linear-ReLU-linear
projections, texts against spectrograms; and one whose HTSAT is fused,
enable_fusion=True, four spectrograms a clip, C.fused_small), saves it as a Hugging Face folder, converts
it with `sail convert`, and runs one training step through
tests/tools/train_dump.c (the trainer's own step). The reference runs the
same model in float64 on the same float32 weights with the symmetric InfoNCE
of train.h (test_train_grad.infonce), the learned temperature taken from the
checkpoint's logit_scale. Checks, one TAP line each:
  loss relative error <= 1e-5; embeddings <= 1e-4;
  every parameter's gradient: max|g_sail - g_torch| / max|g_torch| <= 1e-3
  (q, k, v gradients concatenated as sail stores them), the temperature's too;
  sail has a gradient for every torch parameter;
  with --freeze (towers frozen, train.h's parts) the frozen tensors' gradients
  are exactly zero and the heads' (projections, pooler) still equal autograd.
Tokenizers are tiny ones written here, so no golden file is needed.
"""
import math
import os
import sys
import tempfile
import zlib

import tap
from tap import check, skip_import

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import convert_oracle as O
    import test_convert_clap as C
    import test_train_grad as TG
except ImportError as e:  # pragma: no cover
    skip_import("the gradient oracle needs Debian's python3-torch and python3-numpy", e)


def clip_tokenizer(d):
    """vocab.json + merges.txt in CLIPTokenizer's layout: the 512 byte
    symbols, two merges, start and end tokens (end = the largest id)."""
    sym = list(O.bytes_to_unicode().values())
    merges = [("a", "b</w>"), ("c", "d</w>")]
    vocab = sym + [s + "</w>" for s in sym] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return O.write_bpe(d, vocab, merges)


def bert_tokenizer(d):
    return O.write_wordpiece(d, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
                             [chr(c) for c in range(ord("a"), ord("z") + 1)])


def clip_preproc(d, size):
    O.write_json(os.path.join(d, "preprocessor_config.json"), {
        "crop_size": size, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "image_mean": O.CLIP_MEAN, "image_std": O.CLIP_STD, "resample": 3, "size": size})


def trainable_clip(d, n_vocab):
    """config.json and preprocessor_config.json of a CLIP of width 32, 2
    layers, 32 px images in 8 px patches, for the tokenizer of n_vocab
    tokens already in d; returns the model, PyTorch's default initialisation
    (seed 0): random, but trainable in a few hundred steps, so it stands in
    for a pretrained checkpoint."""
    tc = O.tower_cfg(32, 64, 2, 4, "quick_gelu", 1e-5, vocab_size=n_vocab, max_position_embeddings=32, eos_token_id=2)
    cfg = O.clip_cfg(tc, O.tower_cfg(32, 64, 2, 4, "quick_gelu", 1e-5, image_size=32, patch_size=8), 32)
    torch.manual_seed(0)
    model = O.CLIPModel(cfg)
    O.write_json(os.path.join(d, "config.json"), cfg)
    clip_preproc(d, 32)
    return model


# --------------------------------------------------------------- models --

def clip_model(d, chinese=False):
    os.makedirs(d)
    if chinese:
        n = bert_tokenizer(d)
        tc = O.tower_cfg(32, 64, 2, 4, "gelu", 1e-12, vocab_size=n, max_position_embeddings=16, type_vocab_size=2)
    else:
        n = clip_tokenizer(d)
        tc = O.tower_cfg(32, 64, 2, 4, "quick_gelu", 1e-5, vocab_size=n, max_position_embeddings=16,
                         eos_token_id=2)
    vc = O.tower_cfg(24, 48, 2, 3, "gelu" if chinese else "quick_gelu", 1e-5, image_size=32, patch_size=16)
    cfg = O.clip_cfg(tc, vc, 16, chinese)
    torch.manual_seed(0)
    model = O.randomize(O.CLIPModel(cfg, text_cls=O.ChineseText if chinese else O.CLIPTextTransformer), 3)
    with torch.no_grad():
        model.logit_scale.fill_(3.1)
    O.write_json(os.path.join(d, "config.json"), cfg)
    clip_preproc(d, 32)
    return model, cfg


def bert_model(d):
    os.makedirs(d)
    n = bert_tokenizer(d)
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": n, "hidden_size": 24,
           "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 3,
           "max_position_embeddings": 16, "type_vocab_size": 2, "hidden_act": "gelu",
           "layer_norm_eps": 1e-12, "position_embedding_type": "absolute"}
    torch.manual_seed(0)
    model = O.randomize(O.BertModel(cfg), 4)
    O.write_json(os.path.join(d, "config.json"), cfg)
    return model, cfg


def clap_model(d, fused=False):
    """test_convert_clap's ClapModel folder (RoBERTa text, HTSAT audio at its
    small geometry, random BatchNorm statistics and bias tables; fused: its
    small fused HTSAT, C.fused_small); cfg has the audio and extractor
    configurations and the lengths of the clips to embed (shorter and
    longer than max_length_s)."""
    a, prep = C.fused_small() if fused else (C.audio_cfg(), C.prep_json())
    model, _, encoder = C.make_clap_folder(d, a, prep)
    lens = (30000, 9000, 70000, 130000) if fused else (60000, 9000, 130000, 96000)
    cfg = {"vocab_size": len(encoder), "audio_config": a, "prep": prep, "clips": lens}
    return model, cfg


def vit_model(d):
    torch.manual_seed(0)
    model = O.make_vit_folder(d)
    return model, None


# ------------------------------------------------- names sail <- torch --

CLIP_BLOCK = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
              "layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2")
BERT_BLOCK = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
              "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm")
VIT_BLOCK = ("attention.attention.query", "attention.attention.key", "attention.attention.value",
             "attention.output.dense", "layernorm_before", "intermediate.dense", "output.dense", "layernorm_after")

CLIP_VISION = {"vis.patch.weight": "vision_model.embeddings.patch_embedding.weight",
               "vis.cls": "vision_model.embeddings.class_embedding",
               "vis.pos": "vision_model.embeddings.position_embedding.weight",
               "vis.pre_norm.weight": "vision_model.pre_layrnorm.weight",
               "vis.pre_norm.bias": "vision_model.pre_layrnorm.bias",
               "vis.norm.weight": "vision_model.post_layernorm.weight",
               "vis.norm.bias": "vision_model.post_layernorm.bias",
               "vis.proj.weight": "visual_projection.weight", "text.proj.weight": "text_projection.weight"}
FIXED = {
    "clip": dict(CLIP_VISION, **{"text.tok_emb": "text_model.embeddings.token_embedding.weight",
                                 "text.pos_emb": "text_model.embeddings.position_embedding.weight",
                                 "text.final_norm.weight": "text_model.final_layer_norm.weight",
                                 "text.final_norm.bias": "text_model.final_layer_norm.bias"}),
    "cnclip": dict(CLIP_VISION, **{"text.tok_emb": "text_model.embeddings.word_embeddings.weight",
                                   "text.pos_emb": "text_model.embeddings.position_embeddings.weight",
                                   "text.type_emb": "text_model.embeddings.token_type_embeddings.weight",
                                   "text.emb_norm.weight": "text_model.embeddings.LayerNorm.weight",
                                   "text.emb_norm.bias": "text_model.embeddings.LayerNorm.bias"}),
    "bert": {"text.tok_emb": "embeddings.word_embeddings.weight",
             "text.pos_emb": "embeddings.position_embeddings.weight",
             "text.type_emb": "embeddings.token_type_embeddings.weight",
             "text.emb_norm.weight": "embeddings.LayerNorm.weight",
             "text.emb_norm.bias": "embeddings.LayerNorm.bias",
             "text.pooler.weight": "pooler.dense.weight", "text.pooler.bias": "pooler.dense.bias"},
    "clap": {"text.tok_emb": "text_model.embeddings.word_embeddings.weight",
             "text.pos_emb": "text_model.embeddings.position_embeddings.weight",
             "text.type_emb": "text_model.embeddings.token_type_embeddings.weight",
             "text.emb_norm.weight": "text_model.embeddings.LayerNorm.weight",
             "text.emb_norm.bias": "text_model.embeddings.LayerNorm.bias",
             "text.pooler.weight": "text_model.pooler.dense.weight", "text.pooler.bias": "text_model.pooler.dense.bias",
             "text.proj.weight": "text_projection.linear1.weight", "text.proj.bias": "text_projection.linear1.bias",
             "text.proj2.weight": "text_projection.linear2.weight", "text.proj2.bias": "text_projection.linear2.bias",
             "audio.proj1.weight": "audio_projection.linear1.weight", "audio.proj1.bias": "audio_projection.linear1.bias",
             "audio.proj2.weight": "audio_projection.linear2.weight", "audio.proj2.bias": "audio_projection.linear2.bias"},
    "vit": {"vis.patch.weight": "embeddings.patch_embeddings.projection.weight",
            "vis.patch.bias": "embeddings.patch_embeddings.projection.bias",
            "vis.cls": "embeddings.cls_token", "vis.pos": "embeddings.position_embeddings",
            "vis.norm.weight": "layernorm.weight", "vis.norm.bias": "layernorm.bias",
            "vis.pooler.weight": "pooler.dense.weight", "vis.pooler.bias": "pooler.dense.bias"},
}
FIXED["fclap"] = FIXED["clap"]
LAYERS = {"clip": ("text_model.encoder.layers.%d.", CLIP_BLOCK, "vision_model.encoder.layers.%d.", CLIP_BLOCK),
          "cnclip": ("text_model.encoder.layer.%d.", BERT_BLOCK, "vision_model.encoder.layers.%d.", CLIP_BLOCK),
          "bert": ("encoder.layer.%d.", BERT_BLOCK, None, None),
          "clap": ("text_model.encoder.layer.%d.", BERT_BLOCK, None, None),
          "fclap": ("text_model.encoder.layer.%d.", BERT_BLOCK, None, None),
          "vit": (None, None, "encoder.layer.%d.", VIT_BLOCK)}


def torch_names(kind, name, audio=None):
    """The torch parameters that make up the sail tensor `name` (q, k, v
    are three torch tensors in one sail tensor; audio: a CLAP's audio
    config); [] when there is none."""
    if name in FIXED[kind]:
        return [FIXED[kind][name]]
    if name.startswith("audio."):  # CLAP's HTSAT
        return C.htsat_names(audio).get(name, [])
    parts = name.split(".")  # text.blk.0.attn_qkv.weight
    if len(parts) != 5 or parts[1] != "blk":
        return []
    tl, tb, vl, vb = LAYERS[kind]
    layer, block = (tl, tb) if parts[0] == "text" else (vl, vb)
    if layer is None:
        return []
    pre = layer % int(parts[2])
    what, wb = parts[3], parts[4]
    if what == "attn_qkv":
        return [pre + block[i] + "." + wb for i in range(3)]
    idx = {"attn_out": 3, "norm1": 4, "ffn_up": 5, "ffn_down": 6, "norm2": 7}.get(what)
    return [] if idx is None else [pre + block[idx] + "." + wb]


# ----------------------------------------------------------------- case --

def embed_side(kind, model, side, how):
    """The reference embedding of one side (texts: one sequence each, as
    sail's padded batch with its key mask computes them)."""
    if side[0] == "audio":  # spectrograms (n, [4,] mel bins, frames)
        return model(side[1].double().transpose(-1, -2))["embedding"]
    if side[0] == "image":
        pix = side[1].double()
        if kind == "vit":
            return F.normalize(model(pix, how), dim=-1)
        return model.image(pix)
    rows = []
    for ids in side[1]:
        x = torch.tensor([ids])
        if kind == "bert":
            rows.append(F.normalize(model.pooled(x, how), dim=-1))
        else:
            rows.append(model.text(x))
    return torch.cat(rows)


def make_side(kind, g, n, vocab, start, end, lens, image, cfg=None):
    """One side of a gradient case; cfg (the audio case's CLAP config) only for audio."""
    if kind == "audio":  # CLAP's features of noise clips, shorter and longer than its max_length_s
        rng = np.random.default_rng(int(torch.randint(1000, (1,), generator=g)))
        feats = [C.extractor(rng.standard_normal(k) * 0.1, cfg["prep"]) for k in cfg["clips"][:n]]
        return ("audio", torch.from_numpy(np.ascontiguousarray(np.stack(feats).swapaxes(-1, -2))))
    if kind == "image":
        return ("image", torch.randn(n, 3, image, image, generator=g))
    texts = []
    for L in lens[:n]:
        ids = torch.randint(5, vocab - 2, (L,), generator=g).tolist()
        texts.append([start] + ids + [end])
    return ("text", texts)


def write_side(side, out, tag):
    if side[0] in ("image", "audio"):
        return TG.write_side(side, out, tag)
    flat = np.array([i for t in side[1] for i in t], dtype=np.int32)
    flat.tofile(os.path.join(out, tag + "_ids.i32"))
    np.array([len(t) for t in side[1]], dtype=np.int32).tofile(os.path.join(out, tag + "_lens.i32"))
    return "tokens:%s:%s" % (os.path.join(out, tag + "_ids.i32"), os.path.join(out, tag + "_lens.i32"))


def frozen(tname, freeze):
    """Whether sail tensor tname belongs to a frozen part (train.h's parts:
    an imported tower's projection and pooler are its head)."""
    head = tname.startswith(("text.proj.", "text.proj2.", "vis.proj.", "text.pooler.", "vis.pooler.", "audio.proj"))
    part = "head" if head else {"text": "text", "vis": "vision", "aud": "audio", "audio": "audio",
                                "fuse": "fusion"}.get(tname.split(".")[0], "temperature")
    return part in freeze


def case(name, kind, tmp, sides, pool=None, dims=None, freeze=()):
    d = os.path.join(tmp, name)
    model, cfg = {"clip": lambda: clip_model(d), "cnclip": lambda: clip_model(d, chinese=True),
                  "bert": lambda: bert_model(d), "vit": lambda: vit_model(d), "clap": lambda: clap_model(d),
                  "fclap": lambda: clap_model(d, fused=True)}[kind]()
    clap = kind in ("clap", "fclap")
    if not clap:  # make_clap_folder writes its own
        O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
    path = os.path.join(tmp, name + ".gguf")
    r = O.convert(d, path, *(["--pool", pool] if pool else []))
    if not check(r.returncode == 0, "%s: sail convert" % name, r.stderr.strip()[-300:] if r.returncode else ""):
        return
    model = model.double()
    n, g = 4, torch.Generator().manual_seed(zlib.crc32(name.encode()) % 1000)  # the same inputs every run
    if kind == "clip":
        vocab = cfg["text_config"]["vocab_size"]
        start, end = vocab - 2, vocab - 1     # <|endoftext|> is the largest id: argmax pooling
    elif clap:
        vocab, start, end = cfg["vocab_size"], 0, 2   # RoBERTa's <s> ... </s>; <pad> 1 never inside
    else:
        vocab, start, end = 31, 2, 3
    image = 32
    lens = [[3, 9, 1, 6], [5, 2, 11, 4]]
    made = [make_side(k, g, n, vocab, start, end, lens[i], image, cfg) for i, k in enumerate(sides)]
    out = tempfile.mkdtemp(dir=tmp)
    group = [0, 1, 2, 3]
    dim = 16 if kind in ("clip", "cnclip") else 24 if kind in ("bert", "clap", "fclap") else 32
    dims = dims or [dim]
    r = TG.dump_step(path, out, n, (write_side(made[0], out, "a"), write_side(made[1], out, "b")), group,
                     ",".join("%d:1" % x for x in dims), freeze)
    if not check(r.returncode == 0, "%s: one training step (train_dump)" % name, r.stderr.strip()[-300:]):
        return
    load = TG.dumped(out)
    ls0 = float(np.float32(3.1)) if kind in ("clip", "cnclip") else math.log(1 / 0.07)
    if clap:  # the checkpoint's logit_scale_a
        ls0 = float(np.float32(model.logit_scale_a.item()))
    ls = torch.tensor(ls0, dtype=torch.float64, requires_grad=True)
    model.zero_grad()
    ea, eb = (embed_side(kind, model, s, pool) for s in made)
    loss = TG.infonce(ea, eb, group, dims, [1.0] * len(dims), ls)
    loss.backward()
    TG.check_step(name, load, n, loss, ea, eb)
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    grads["logit_scale"] = ls.grad
    if clap:  # the BatchNorms' running statistics are buffers: no gradient, sail's must be 0
        for k, b in model.named_buffers():
            if k.endswith(("running_mean", "running_var")):
                grads[k] = torch.zeros_like(b)
    sail_grads = load("grads")
    audio = cfg["audio_config"] if clap else None
    compare_grads(name, out, grads, sail_grads, freeze,
                  lambda t: ["logit_scale"] if t == "train.logit_scale" else torch_names(kind, t, audio))


def compare_grads(name, out, grads, sail_grads, freeze, names_of):
    """Each tensor train_dump listed in out/index.txt: sail's gradient equals
    torch's (names_of(tensor) -> the torch parameters it packs) within
    TG.TOL_GRAD relative to its largest entry; a frozen one is all zero; and
    every parameter torch trains is covered."""
    covered, g = set(), TG.Grads()
    for tname, off, rows, cols in TG.dump_index(out):
        names, w = names_of(tname), None
        if names and all(x in grads for x in names):
            covered.update(names)
            w = torch.cat([grads[x].reshape(-1) for x in names]).detach().numpy()
        g.add(tname, sail_grads[off:off + rows * cols], w, frozen(tname, freeze))
    check(not g.bad, "%s: the gradients of %d torch tensors within %.0e of autograd (worst %.1e: %s)" %
          (name, len(covered), TG.TOL_GRAD, g.worst, g.worst_name), "; ".join(g.bad[:6]))
    missing = sorted(set(grads) - covered)
    check(not missing, "%s: sail trains every parameter torch does" % name, "missing %s" % missing[:6])


def main():
    if not tap.built(TG.DUMP):
        return 1
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        case("clip-text-image", "clip", tmp, ("text", "image"), dims=[16, 8])
        case("clip-image-text", "clip", tmp, ("image", "text"))
        case("cnclip-text-image", "cnclip", tmp, ("text", "image"))
        case("bert-cls", "bert", tmp, ("text", "text"), pool="cls")
        case("bert-pooler", "bert", tmp, ("text", "text"), pool="pooler")
        case("bert-mean", "bert", tmp, ("text", "text"), pool="mean")
        case("vit-pooler", "vit", tmp, ("image", "image"), pool="pooler")
        case("clip-frozen-towers", "clip", tmp, ("text", "image"), freeze=("text", "vision"))
        case("bert-pooler-frozen-tower", "bert", tmp, ("text", "text"), pool="pooler", freeze=("text",))
        case("clap-text-audio", "clap", tmp, ("text", "audio"))
        case("clap-audio-text", "clap", tmp, ("audio", "text"), dims=[24, 8])
        case("clap-frozen-towers", "clap", tmp, ("text", "audio"), freeze=("text", "audio"))
        case("fused-clap-text-audio", "fclap", tmp, ("text", "audio"))
        case("fused-clap-audio-text", "fclap", tmp, ("audio", "text"), dims=[24, 8])
        case("fused-clap-frozen-audio", "fclap", tmp, ("text", "audio"), freeze=("audio",))
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
