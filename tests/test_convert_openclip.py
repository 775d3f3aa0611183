"""`sail convert` of OpenCLIP (mlfoundations/open_clip) checkpoints.

The reference is open_clip's CLIP written here from its published
architecture (open_clip/model.py, transformer.py: VisionTransformer with a
bias-free conv1, class_embedding, positional_embedding, ln_pre,
ResidualAttentionBlocks over nn.MultiheadAttention's packed in_proj, ln_post,
`x @ proj`; the text tower at the top level with a causal attn_mask buffer,
ln_final, pooling at the argmax of the ids and `x @ text_projection`), and its
SimpleTokenizer transcribed from open_clip/tokenizer.py (vocabulary built
from bytes_to_unicode + the merges + <start_of_text>, <end_of_text>; zero
padding; truncation keeps the end token last). Images go through
torchvision's Resize (shortest side, bicubic) + CenterCrop, the transform
open_clip builds from preprocess_cfg. Seeded small models with a tiny BPE
learned here (written as bpe_simple_vocab_16e6.txt.gz, or as a hub
folder's merges.txt), saved with torch.save (.bin, also wrapped as a
training checkpoint with "module." names) and as safetensors.

Checks: text and odd-size image embeddings equal the reference (cosine >=
0.9999, max abs err <= 1e-4); `sail tokenize` equals the transcription on
300+ strings; the Hugging Face layout of the same weights converts to the
same tensors; every gradient of a training step equals autograd; a short
`sail finetune` raises held-out R@1; `sail export --format hf` loads with
strict=True into the Hugging Face reference (tests/convert_oracle.py) and
embeds the same; bad inputs name the key, the shape or the presets.
"""
import collections
import gzip
import html
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import unicodedata

from tap import skip_import

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from PIL import Image
    import torchvision.transforms as T
    import convert_oracle as O
    import test_train_grad as TG
    import test_finetune_grad as FG
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch, torchvision, numpy and PIL", e)

tap = O.Tap()
MEAN, STD = O.CLIP_MEAN, O.CLIP_STD

# ------------------------------------------------- open_clip's tokenizer --


def learn_merges(words, n):
    """A tiny BPE (O.learn_merges) over byte symbols with </w> on the last
    one, as open_clip's merges file is laid out."""
    b2u = O.bytes_to_unicode()
    vocab = collections.Counter()
    for w in words:
        sym = [b2u[b] for b in w.encode("utf-8")]
        sym[-1] += "</w>"
        vocab[tuple(sym)] += 1
    return O.learn_merges(vocab, n, ties_last=True)


class SimpleTokenizer:
    """open_clip.tokenizer.SimpleTokenizer (clean='lower'), transcribed; the
    regex (the `regex` module's \\p{L}, \\p{N}) is written out with
    unicodedata, and basic_clean's ftfy.fix_text is the identity on the
    strings used here (NFC, no mojibake, no curly quotes or ligatures)."""

    def __init__(self, bpe_path, context_length):
        self.byte_encoder = O.bytes_to_unicode()
        merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        merges = merges[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        for m in merges:
            vocab.append("".join(m))
        self.special = ["<start_of_text>", "<end_of_text>"]
        vocab.extend(self.special)
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {t: t for t in self.special}
        self.sot, self.eot = self.encoder[self.special[0]], self.encoder[self.special[1]]
        self.context_length = context_length
        self.vocab_size = len(vocab)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        word = O.bpe_merge(word, self.bpe_ranks)
        word = " ".join(word)
        self.cache[token] = word
        return word

    @staticmethod
    def clean(text):
        text = unicodedata.normalize("NFC", text)          # ftfy.fix_text on these strings
        text = html.unescape(html.unescape(text)).strip()  # basic_clean
        text = re.sub(r"\s+", " ", text).strip()           # whitespace_clean
        return text.lower()

    def findall(self, text):
        """re.findall(special|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+, IGNORECASE)."""
        def letter(c):
            return unicodedata.category(c).startswith("L")

        def number(c):
            return unicodedata.category(c).startswith("N")
        lits = self.special + ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
        out, i, n = [], 0, len(text)
        while i < n:
            lit = next((x for x in lits if text[i:i + len(x)].lower() == x), None)
            if lit:
                out.append(text[i:i + len(lit)])
                i += len(lit)
                continue
            c, j = text[i], i
            if letter(c):
                while j < n and letter(text[j]):
                    j += 1
            elif number(c):
                j = i + 1
            elif not c.isspace():
                while j < n and not (text[j].isspace() or letter(text[j]) or number(text[j])):
                    j += 1
            else:
                i += 1
                continue
            out.append(text[i:j])
            i = j
        return out

    def encode(self, text):
        ids = []
        for token in self.findall(self.clean(text)):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids

    def __call__(self, text):
        tokens = [self.sot] + self.encode(text) + [self.eot]
        if len(tokens) > self.context_length:
            tokens = tokens[:self.context_length]
            tokens[-1] = self.eot
        return tokens + [0] * (self.context_length - len(tokens))


WORDS = ("a photo of the big red circle and small blue square on green grass with yellow triangles "
         "dog cat running jumping sitting street city night day sunny café naïve résumé über straße "
         "東京 北京 一个小的蓝色方块 Ελληνικά русский язык 2024 3.14 it's don't they're we've I'm you'll he'd "
         "hello world shapes colours colors purple orange pink black white grey gray").split()


def tokenizer_strings():
    rng = np.random.default_rng(11)
    fixed = ["", "   ", "a", "A PHOTO OF A DOG", "it's", "IT'S", "don't stop", "café au lait", "naïve résumé",
             "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "5 &gt; 3", "x<start_of_text>y", "a <end_of_text> b",
             "<|startoftext|> and <|endoftext|>", "<START_OF_TEXT>", "tabs\tand\nnewlines", "non\u00a0breaking",
             "emoji 🙂🐶🚀 ok", "東京タワー", "한국어 텍스트", "1234567890", "3.14159", "x" * 300,
             "supercalifragilisticexpialidocious", "the the the the", "hello,world!!!", "--==++", "a's b'S"]
    fixed += [" ".join(WORDS[k] for k in rng.integers(0, len(WORDS), 30))]  # longer than the context
    out = list(fixed)
    punct = [",", ".", "!", "?", "'s", "-", "(", ")", "'", "&amp;", "  ", "\t"]
    while len(out) < 320:
        k = int(rng.integers(1, 9))
        parts = []
        for _ in range(k):
            w = WORDS[int(rng.integers(0, len(WORDS)))]
            r = rng.random()
            if r < 0.2:
                w = w.upper()
            elif r < 0.3:
                w = w.capitalize()
            if rng.random() < 0.25:
                w += punct[int(rng.integers(0, len(punct)))]
            parts.append(w)
        out.append(" ".join(parts))
    return [s for s in out if "\n" not in s]  # `sail tokenize` reads one text per line


def write_bpe(path, merges):
    """open_clip's bpe_simple_vocab_16e6.txt.gz layout: a header line, then
    one merge per line (no final line break: SimpleTokenizer would read it
    as an empty merge in a file this short)."""
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("#version: tiny\n" + "\n".join(" ".join(m) for m in merges))


# ------------------------------------------------------ open_clip's CLIP --

class ResidualAttentionBlock(nn.Module):
    def __init__(self, d, heads, mlp, act):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(collections.OrderedDict(
            [("c_fc", nn.Linear(d, mlp)), ("gelu", act()), ("c_proj", nn.Linear(mlp, d))]))

    def forward(self, x, attn_mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, d, layers, heads, mlp, act):
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(d, heads, mlp, act) for _ in range(layers))

    def forward(self, x, attn_mask=None):
        for b in self.resblocks:
            x = b(x, attn_mask)
        return x


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch, width, layers, heads, mlp, out_dim, act):
        super().__init__()
        scale = width ** -0.5
        g = image_size // patch
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(g * g + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, mlp, act)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, out_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        x = self.ln_post(x)
        return x[:, 0] @ self.proj


class OpenCLIP(nn.Module):
    """open_clip.model.CLIP with a ViT (the text tower's modules at the top)."""

    def __init__(self, cfg):
        super().__init__()
        v, t, quick = cfg["vision_cfg"], cfg["text_cfg"], cfg.get("quick_gelu", False)
        act = QuickGELU if quick else nn.GELU
        vw = v["width"]
        self.visual = VisionTransformer(v["image_size"], v["patch_size"], vw, v["layers"], vw // v.get("head_width", 64),
                                        int(vw * v.get("mlp_ratio", 4.0)), cfg["embed_dim"], act)
        tw, ctx = t["width"], t["context_length"]
        self.transformer = Transformer(tw, t["layers"], t["heads"], int(tw * t.get("mlp_ratio", 4.0)), act)
        self.token_embedding = nn.Embedding(t["vocab_size"], tw)
        self.positional_embedding = nn.Parameter(torch.empty(ctx, tw))
        self.ln_final = nn.LayerNorm(tw)
        self.text_projection = nn.Parameter(torch.empty(tw, cfg["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.register_buffer("attn_mask", torch.full((ctx, ctx), float("-inf")).triu(1), persistent=False)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=tw ** -0.5)

    def encode_image(self, pix):
        return F.normalize(self.visual(pix), dim=-1)

    def encode_text(self, ids):
        T_ = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:T_].to(self.token_embedding.weight.dtype)
        x = self.transformer(x, attn_mask=self.attn_mask[:T_, :T_].to(x.dtype))
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection
        return F.normalize(x, dim=-1)

    # the interface test_finetune_grad's embed_side uses
    def text(self, ids):
        return self.encode_text(ids)

    def image(self, pix):
        return self.encode_image(pix)


def model_cfg(vocab, quick=False):
    return {"embed_dim": 24, "quick_gelu": quick,
            "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
            "text_cfg": {"context_length": 20, "vocab_size": vocab, "width": 32, "heads": 4, "layers": 2}}


def build(cfg, seed):
    torch.manual_seed(seed)
    m = OpenCLIP(cfg)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():   # non-trivial norms and biases, so a swapped tensor shows
        for name, p in m.named_parameters():
            if "ln" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
        m.logit_scale.fill_(3.3)
    return m.eval()


def state_dict(m):
    sd = m.state_dict()
    return {k: v.detach().clone().contiguous() for k, v in sd.items()}


def hf_state(sd, cfg):
    """The Hugging Face CLIPModel names of the same weights."""
    out = {}
    for tower, hp, op in (("vision", "vision_model.encoder.layers.", "visual.transformer.resblocks."),
                          ("text", "text_model.encoder.layers.", "transformer.resblocks.")):
        layers = cfg["vision_cfg" if tower == "vision" else "text_cfg"]["layers"]
        for i in range(layers):
            o, h = "%s%d." % (op, i), "%s%d." % (hp, i)
            for wb in ("weight", "bias"):
                q, k, v = sd[o + "attn.in_proj_" + wb].chunk(3)
                out[h + "self_attn.q_proj." + wb], out[h + "self_attn.k_proj." + wb] = q, k
                out[h + "self_attn.v_proj." + wb] = v
                out[h + "self_attn.out_proj." + wb] = sd[o + "attn.out_proj." + wb]
                out[h + "layer_norm1." + wb] = sd[o + "ln_1." + wb]
                out[h + "layer_norm2." + wb] = sd[o + "ln_2." + wb]
                out[h + "mlp.fc1." + wb] = sd[o + "mlp.c_fc." + wb]
                out[h + "mlp.fc2." + wb] = sd[o + "mlp.c_proj." + wb]
    fixed = {"vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
             "vision_model.embeddings.class_embedding": "visual.class_embedding",
             "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
             "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
             "text_model.embeddings.position_embedding.weight": "positional_embedding",
             "logit_scale": "logit_scale"}
    for h, o in fixed.items():
        out[h] = sd[o]
    for h, o in (("vision_model.pre_layrnorm.", "visual.ln_pre."), ("vision_model.post_layernorm.", "visual.ln_post."),
                 ("text_model.final_layer_norm.", "ln_final.")):
        for wb in ("weight", "bias"):
            out[h + wb] = sd[o + wb]
    out["visual_projection.weight"] = sd["visual.proj"].t()
    out["text_projection.weight"] = sd["text_projection"].t()
    return {k: v.detach().contiguous().numpy() for k, v in out.items()}


def hf_config(cfg, quick):
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    act = "quick_gelu" if quick else "gelu"
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": cfg["embed_dim"],
            "logit_scale_init_value": 2.6592,
            "text_config": {"vocab_size": t["vocab_size"], "hidden_size": t["width"], "intermediate_size": 4 * t["width"],
                            "num_hidden_layers": t["layers"], "num_attention_heads": t["heads"],
                            "max_position_embeddings": t["context_length"], "hidden_act": act,
                            "layer_norm_eps": 1e-5, "eos_token_id": 2},
            "vision_config": {"hidden_size": v["width"], "intermediate_size": 4 * v["width"],
                              "num_hidden_layers": v["layers"], "num_attention_heads": v["width"] // v["head_width"],
                              "image_size": v["image_size"], "patch_size": v["patch_size"], "hidden_act": act,
                              "layer_norm_eps": 1e-5}}


def write_folder(d, cfg, sd, merges, fmt="safetensors", preprocess=None):
    os.makedirs(d, exist_ok=True)
    O.write_json(os.path.join(d, "open_clip_config.json"), {
        "model_cfg": cfg, "preprocess_cfg": preprocess or {
            "mean": MEAN, "std": STD, "interpolation": "bicubic", "resize_mode": "shortest", "size": 32}})
    write_bpe(os.path.join(d, "bpe_simple_vocab_16e6.txt.gz"), merges)
    if fmt == "safetensors":
        O.write_safetensors(os.path.join(d, "open_clip_model.safetensors"),
                            {k: v.numpy() for k, v in sd.items()})
    else:
        torch.save(sd, os.path.join(d, "open_clip_pytorch_model.bin"))


def torchvision_pixels(path, size):
    """open_clip's eval transform for resize_mode 'shortest'."""
    tf = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size),
                    T.ToTensor(), T.Normalize(MEAN, STD)])
    return tf(Image.open(path).convert("RGB"))


def odd_images(d):
    """Sizes whose resize leaves h - crop = 3 (mod 4) on a side (torchvision
    rounds the crop offset where Hugging Face floors it) and others."""
    return O.write_images(d, 5, [(91, 57), (45, 73), (35, 32), (60, 60), (33, 97)], 50, "odd%d.png")


# ----------------------------------------------------------------- cases --

def sail(*args, **kw):
    return subprocess.run([O.SAIL] + [str(a) for a in args], capture_output=True, text=True, **kw)


def read_export(d):
    """model.safetensors of a `sail export --format hf` folder as tensors."""
    import struct
    raw = open(os.path.join(d, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", v
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32).reshape(v["shape"]).copy())
    return out


def parity_case(tmp, merges, tok, fmt, quick):
    name = "%s%s" % (fmt, "-quickgelu" if quick else "")
    cfg = model_cfg(tok.vocab_size, quick=quick)
    m = build(cfg, 1 if quick else 2)
    d = os.path.join(tmp, "oc-" + name)
    sd = state_dict(m)
    if fmt == "bin-wrapped":   # open_clip's training checkpoint: {"epoch", "name", "state_dict"} with DDP names
        os.makedirs(d)
        torch.save({"epoch": 3, "name": "run", "state_dict": collections.OrderedDict(
            ("module." + k, v) for k, v in sd.items())}, os.path.join(d, "epoch_3.pt"))
        write_bpe(os.path.join(d, "bpe_simple_vocab_16e6.txt.gz"), merges)
        O.write_json(os.path.join(d, "open_clip_config.json"), {"model_cfg": cfg})
        src = os.path.join(d, "epoch_3.pt")
    else:
        if fmt == "bin":    # older open_clip saved the causal mask with the weights
            sd["attn_mask"] = m.attn_mask.clone()
        write_folder(d, cfg, sd, merges, "bin" if fmt == "bin" else "safetensors")
        if fmt == "bin":    # a hub folder's tokenizer: Hugging Face's merges.txt instead of the .gz
            os.remove(os.path.join(d, "bpe_simple_vocab_16e6.txt.gz"))
            with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
                f.write("#version: 0.2\n" + "\n".join(" ".join(x) for x in merges) + "\n")
        src = d
    out = os.path.join(tmp, "oc-%s.gguf" % name)
    r = sail("convert", src, "-o", out)
    if not tap.check(r.returncode == 0, "open_clip %s: sail convert" % name, r.stderr.strip()[-300:]):
        return None, None, None
    texts = tokenizer_strings()[:40]
    texts = [t for t in texts if t.strip()]
    with torch.no_grad():
        want = m.encode_text(torch.tensor([tok(t) for t in texts])).numpy()
    tap.compare(O.embed(out, "--text", texts, tmp), want,
                "open_clip %s: %d text embeddings from raw strings (SimpleTokenizer, causal, argmax pooling, "
                "x @ text_projection)" % (name, len(texts)))
    imgs = odd_images(tmp)
    with torch.no_grad():
        want = m.encode_image(torch.stack([torchvision_pixels(p, 32) for p in imgs])).numpy()
    tap.compare(O.embed(out, "--image", imgs, tmp), want,
                "open_clip %s: image embeddings of odd sizes (torchvision Resize + CenterCrop, x @ proj)" % name)
    return m, cfg, out


def tokenizer_case(tmp, model, tok):
    strings = tokenizer_strings()
    r = subprocess.run([O.SAIL, "tokenize", "--model", model], input="\n".join(strings) + "\n",
                       capture_output=True, text=True)
    got = [json.loads(x) for x in r.stdout.splitlines()]
    want = [tok(s) for s in strings]
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    tap.check(r.returncode == 0 and len(got) == len(want) >= 300 and not bad,
              "open_clip tokenizer: sail tokenize equals SimpleTokenizer on all %d strings (zero padding, "
              "truncation keeps <end_of_text>, its special-token spellings)" % len(want),
              ("%s mismatches, first %s: %r got %s want %s" % (len(bad), bad[:3], strings[bad[0]], got[bad[0]],
                                                                want[bad[0]]) if bad else "") if got
              else r.stderr[-300:])


def hf_layout_case(tmp, merges, tok):
    """The same weights in a CLIPModel folder: the two conversions give the
    same tensors (compared through sail export)."""
    cfg = model_cfg(tok.vocab_size)
    m = build(cfg, 4)
    d1, d2 = os.path.join(tmp, "same-oc"), os.path.join(tmp, "same-hf")
    write_folder(d1, cfg, state_dict(m), merges)
    os.makedirs(d2)
    O.write_safetensors(os.path.join(d2, "model.safetensors"), hf_state(state_dict(m), cfg))
    O.write_json(os.path.join(d2, "config.json"), hf_config(cfg, False))
    sym = list(O.bytes_to_unicode().values())
    vocab = sym + [s + "</w>" for s in sym] + ["".join(x) for x in merges] + ["<|startoftext|>", "<|endoftext|>"]
    O.write_json(os.path.join(d2, "vocab.json"), dict(zip(vocab, range(len(vocab)))))
    with open(os.path.join(d2, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(x) for x in merges) + "\n")
    O.write_json(os.path.join(d2, "preprocessor_config.json"), {
        "crop_size": 32, "do_center_crop": True, "image_mean": MEAN, "image_std": STD, "resample": 3, "size": 32})
    g1, g2 = os.path.join(tmp, "same-oc.gguf"), os.path.join(tmp, "same-hf.gguf")
    r1, r2 = sail("convert", d1, "-o", g1), sail("convert", d2, "-o", g2)
    if not tap.check(r1.returncode == 0 and r2.returncode == 0, "same weights: both layouts convert",
                     (r1.stderr + r2.stderr).strip()[-300:]):
        return
    e1, e2 = os.path.join(tmp, "same-oc-hf"), os.path.join(tmp, "same-hf-hf")
    r1, r2 = sail("export", "--format", "hf", g1, "-o", e1), sail("export", "--format", "hf", g2, "-o", e2)
    if not tap.check(r1.returncode == 0 and r2.returncode == 0, "same weights: both export",
                     (r1.stderr + r2.stderr).strip()[-300:]):
        return
    a, b = read_export(e1), read_export(e2)
    diff = sorted(k for k in set(a) | set(b) if k not in a or k not in b or not torch.equal(a[k], b[k]))
    tap.check(not diff and len(a) > 40, "same weights: the open_clip and Hugging Face layouts give the same %d "
              "tensors bit for bit" % len(a), "differ: %s" % diff[:5])


def export_case(tmp, m, cfg, model):
    """sail export --format hf of the converted OpenCLIP: strict load into
    the Hugging Face reference, same embeddings as the open_clip model."""
    d = os.path.join(tmp, "oc-export")
    r = sail("export", "--format", "hf", model, "-o", d)
    if not tap.check(r.returncode == 0, "export: sail export --format hf of a converted OpenCLIP",
                     r.stderr.strip()[-300:]):
        return
    hcfg = json.load(open(os.path.join(d, "config.json")))
    ref = O.CLIPModel(hcfg).eval()
    st = read_export(d)
    try:
        ref.load_state_dict(st, strict=True)
        ok, why = True, ""
    except RuntimeError as e:
        ok, why = False, str(e)[:300]
    if not tap.check(ok and hcfg["architectures"] == ["CLIPModel"], "export: CLIPModel loads it with strict=True", why):
        return
    ids = torch.tensor([[0] * 20])
    ids[0, :5] = torch.tensor([cfg["text_cfg"]["vocab_size"] - 2, 600, 601, 70, cfg["text_cfg"]["vocab_size"] - 1])
    pix = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        err_t = float((ref.text(ids) - m.encode_text(ids)).abs().max())
        err_i = float((ref.image(pix) - m.encode_image(pix)).abs().max())
        scale = float(ref.logit_scale)
    tap.check(err_t <= 1e-5 and err_i <= 1e-5 and abs(scale - 3.3) < 1e-6,
              "export: the Hugging Face model embeds as the open_clip one (text %.1e, image %.1e), logit_scale %.4f"
              % (err_t, err_i, scale))


def grad_case(tmp, merges, tok, quick):
    """One training step of a converted OpenCLIP (tests/tools/train_dump)
    against autograd in float64: loss, embeddings, every parameter."""
    name = "grad%s" % ("-quickgelu" if quick else "")
    cfg = model_cfg(tok.vocab_size, quick=quick)
    m = build(cfg, 6)
    d = os.path.join(tmp, "oc-" + name)
    write_folder(d, cfg, state_dict(m), merges)
    path = d + ".gguf"
    r = sail("convert", d, "-o", path)
    if not tap.check(r.returncode == 0, "%s: sail convert" % name, r.stderr.strip()[-300:]):
        return
    m = m.double()
    n, g = 4, torch.Generator().manual_seed(9)
    vocab = tok.vocab_size
    lens = [[3, 9, 1, 6], [5, 2, 11, 4]]
    sides = [FG.make_side("text", g, n, vocab, vocab - 2, vocab - 1, lens[0], 32),
             FG.make_side("image", g, n, vocab, vocab - 2, vocab - 1, lens[1], 32)]
    out = tempfile.mkdtemp(dir=tmp)
    group = [0, 1, 2, 3]
    r = TG.dump_step(path, out, n, (FG.write_side(sides[0], out, "a"), FG.write_side(sides[1], out, "b")), group,
                     "24:1,8:1")
    if not tap.check(r.returncode == 0, "%s: one training step (train_dump)" % name, r.stderr.strip()[-300:]):
        return
    load = TG.dumped(out)
    ls = torch.tensor(float(np.float32(3.3)), dtype=torch.float64, requires_grad=True)
    m.zero_grad()
    ea, eb = (FG.embed_side("clip", m, s, None) for s in sides)
    loss = TG.infonce(ea, eb, group, [24, 8], [1.0, 1.0], ls)
    loss.backward()
    TG.check_step(name, load, n, loss, ea, eb)
    grads = {k: p.grad for k, p in m.named_parameters() if p.grad is not None}
    grads["logit_scale"] = ls.grad
    sail_grads = load("grads")
    covered, g = set(), TG.Grads()
    for tname, off, rows, cols in TG.dump_index(out):
        tn = "logit_scale" if tname == "train.logit_scale" else sail_to_openclip(tname)
        w = grads.get(tn)
        if w is not None:
            covered.add(tn)
            if tn in ("visual.proj", "text_projection"):
                w = w.t()   # applied as x @ P: sail's Linear weight is P^T
            w = w.reshape(-1).detach().numpy()
        g.add(tname, sail_grads[off:off + rows * cols], w)
    tap.check(not g.bad, "%s: the gradients of %d open_clip tensors within %.0e of autograd (worst %.1e: %s)" %
              (name, len(covered), TG.TOL_GRAD, g.worst, g.worst_name), "; ".join(g.bad[:6]))
    missing = sorted(set(grads) - covered)
    tap.check(not missing, "%s: sail trains every parameter open_clip does" % name, "missing %s" % missing[:6])


def sail_to_openclip(tname):
    fixed = {"vis.patch.weight": "visual.conv1.weight", "vis.cls": "visual.class_embedding",
             "vis.pos": "visual.positional_embedding", "vis.pre_norm.weight": "visual.ln_pre.weight",
             "vis.pre_norm.bias": "visual.ln_pre.bias", "vis.norm.weight": "visual.ln_post.weight",
             "vis.norm.bias": "visual.ln_post.bias", "vis.proj.weight": "visual.proj",
             "text.proj.weight": "text_projection", "text.tok_emb": "token_embedding.weight",
             "text.pos_emb": "positional_embedding", "text.final_norm.weight": "ln_final.weight",
             "text.final_norm.bias": "ln_final.bias"}
    if tname in fixed:
        return fixed[tname]
    p = tname.split(".")
    if len(p) != 5 or p[1] != "blk":
        return None
    pre = ("visual.transformer.resblocks.%s." if p[0] == "vis" else "transformer.resblocks.%s.") % p[2]
    part = {"attn_qkv": "attn.in_proj_", "attn_out": "attn.out_proj.", "norm1": "ln_1.", "norm2": "ln_2.",
            "ffn_up": "mlp.c_fc.", "ffn_down": "mlp.c_proj."}.get(p[3])
    return None if part is None else pre + part + p[4]


def finetune_case(tmp, merges, tok):
    """A trainable OpenCLIP (open_clip's initialisation, a 4x4 patch grid)
    fine-tuned on generated shapes: held-out text -> image R@1 rises."""
    import test_finetune_cli as FC
    data = os.path.join(tmp, "shapes")
    r = sail("data", "shapes", "-n", "700", "--seed", "3", "-o", data)
    if not tap.check(r.returncode == 0, "finetune: shapes data generated", r.stderr.strip()[-200:]):
        return
    cfg = model_cfg(tok.vocab_size)
    cfg["embed_dim"] = 32
    cfg["text_cfg"]["context_length"] = 32
    torch.manual_seed(0)
    m = OpenCLIP(cfg)
    d = os.path.join(tmp, "oc-trainable")
    write_folder(d, cfg, state_dict(m), merges)
    model = d + ".gguf"
    r = sail("convert", d, "-o", model)
    if not tap.check(r.returncode == 0, "finetune: sail convert", r.stderr.strip()[-300:]):
        return
    held = os.path.join(data, "test.jsonl")
    before, why = FC.recall1(model, held)
    if not tap.check(before is not None, "finetune: sail eval of the converted OpenCLIP", why):
        return
    out = os.path.join(tmp, "oc-run")
    r = sail("finetune", "--model_name_or_path", model, "--train_data_path", os.path.join(data, "train.jsonl"),
             "--output_dir", out, "--learning_rate", "3e-3", "--num_train_epochs", "15", "--batch_size", "32")
    if not tap.check(r.returncode == 0, "finetune: sail finetune of the converted OpenCLIP runs", r.stderr.strip()[-400:]):
        return
    after, why = FC.recall1(os.path.join(out, "model.gguf"), held)
    if not tap.check(after is not None, "finetune: sail eval of the fine-tuned model", why):
        return
    b, a = FC.t2i(before), FC.t2i(after)
    chance = 1.0 / max(1, sum(1 for _ in open(held)) // 2)
    tap.check(a > b and a > 2 * chance, "finetune: held-out text->image R@1 rises: %.3f -> %.3f (chance ~%.3f)"
              % (b, a, chance))


def real_vocab_case(tmp):
    """open_clip's own bpe_simple_vocab_16e6.txt.gz (../shared/golden): its
    48894 merges make the 49408-token vocabulary, and the converted model
    tokenizes the golden lines to their ids (made by OpenAI's tokenizer with
    ftfy, which open_clip's equals on texts without special tokens), in
    open_clip's context: zero padding, the end token kept last."""
    gz, golden = O.golden("bpe_simple_vocab_16e6.txt.gz"), O.golden("clip_bpe_golden.jsonl")
    if not gz or not golden:
        print("# skip real vocabulary case: ../shared/golden is absent")
        return
    tok = SimpleTokenizer(gz, 77)
    cfg = model_cfg(tok.vocab_size)
    cfg["text_cfg"]["context_length"] = 77
    m = build(cfg, 10)
    d = os.path.join(tmp, "oc-real")
    os.makedirs(d)
    torch.save(state_dict(m), os.path.join(d, "open_clip_pytorch_model.bin"))
    O.write_json(os.path.join(d, "open_clip_config.json"), {"model_cfg": cfg})
    out = d + ".gguf"
    r = sail("convert", d, "-o", out, "--tokenizer", gz)
    if not tap.check(r.returncode == 0 and tok.vocab_size == 49408,
                     "real vocabulary: --tokenizer bpe_simple_vocab_16e6.txt.gz gives 49408 tokens",
                     r.stderr.strip()[-300:]):
        return
    rows = [json.loads(x) for x in open(golden, encoding="utf-8")]
    rows = [x for x in rows if "\n" not in x["text"] and "\r" not in x["text"] and "<|" not in x["text"]]
    r = subprocess.run([O.SAIL, "tokenize", "--model", out], input="\n".join(x["text"] for x in rows) + "\n",
                       capture_output=True, text=True)
    got = [json.loads(x) for x in r.stdout.splitlines()]
    # docs/TOKENIZERS.md: sail's ftfy does not repair mojibake, so a few
    # golden lines differ for OpenAI's tokenizer too; those are left out
    r2 = subprocess.run([O.SAIL, "tokenize", "--vocab", gz], input="\n".join(x["text"] for x in rows) + "\n",
                        capture_output=True, text=True)
    openai = [json.loads(x) for x in r2.stdout.splitlines()]
    keep = [i for i, x in enumerate(rows) if i < len(openai) and openai[i] == x["ids"]]
    want = [([49406] + x["ids"][:75] + [49407] + [0] * 77)[:77] for x in rows]
    bad = [i for i in keep if i >= len(got) or got[i] != want[i]]
    tap.check(r.returncode == 0 and len(got) == len(rows) and len(keep) >= 460 and not bad,
              "real vocabulary: sail tokenize gives the golden ids of %d lines in open_clip's context "
              "(%d mojibake lines left out)" % (len(keep), len(rows) - len(keep)),
              ("first mismatch %r" % rows[bad[0]]["text"]) if bad else r.stderr[-200:])


def errors_case(tmp, merges, tok):
    cfg = model_cfg(tok.vocab_size)
    m = build(cfg, 8)
    sd = state_dict(m)
    out = os.path.join(tmp, "bad.gguf")
    d = os.path.join(tmp, "oc-missing")
    sd2 = dict(sd)
    del sd2["visual.transformer.resblocks.1.attn.in_proj_bias"]
    write_folder(d, cfg, sd2, merges)
    r = sail("convert", d, "-o", out)
    tap.check(r.returncode == 1 and "'visual.transformer.resblocks.1.attn.in_proj_bias'" in r.stderr,
              "errors: a missing tensor is named by its open_clip key", r.stderr.strip()[-200:])
    d = os.path.join(tmp, "oc-shape")
    sd2 = dict(sd)
    sd2["text_projection"] = torch.zeros(32, 16)
    write_folder(d, cfg, sd2, merges, "bin")
    r = sail("convert", d, "-o", out)
    tap.check(r.returncode == 1 and "'text_projection'" in r.stderr and "[32, 16]" in r.stderr
              and "[32, 24]" in r.stderr, "errors: a wrong shape names the key, its shape and the expected one",
              r.stderr.strip()[-200:])
    d = os.path.join(tmp, "oc-extra")
    sd2 = dict(sd)
    sd2["visual.ls_1.gamma"] = torch.zeros(32)
    write_folder(d, cfg, sd2, merges)
    r = sail("convert", d, "-o", out)
    tap.check(r.returncode == 1 and "'visual.ls_1.gamma'" in r.stderr, "errors: an unexpected tensor is named",
              r.stderr.strip()[-200:])
    bare = os.path.join(tmp, "bare.bin")
    torch.save(sd, bare)
    tok_path = os.path.join(tmp, "oc-missing", "bpe_simple_vocab_16e6.txt.gz")
    r = sail("convert", bare, "-o", out, "--tokenizer", tok_path)
    tap.check(r.returncode == 1 and "--arch" in r.stderr and "ViT-B-32" in r.stderr,
              "errors: a bare state dict without open_clip_config.json asks for --arch", r.stderr.strip()[-200:])
    r = sail("convert", bare, "-o", out, "--arch", "ViT-H-14", "--tokenizer", tok_path)
    tap.check(r.returncode == 1 and all(x in r.stderr for x in ("ViT-H-14", "ViT-B-32", "ViT-B-16")),
              "errors: an unknown --arch lists the known presets", r.stderr.strip()[-200:])
    r = sail("convert", bare, "-o", out, "--arch", "ViT-B-32", "--tokenizer", tok_path)
    tap.check(r.returncode == 1 and "'visual.conv1.weight'" in r.stderr and "[768, 3, 32, 32]" in r.stderr
              and "--arch ViT-B-32" in r.stderr,
              "errors: a checkpoint that is not the --arch preset names the first tensor that differs",
              r.stderr.strip()[-200:])
    d = os.path.join(tmp, "oc-timm")
    c2 = json.loads(json.dumps(cfg))
    c2["vision_cfg"]["timm_model_name"] = "vit_base_patch16_224"
    write_folder(d, c2, sd, merges)
    r = sail("convert", d, "-o", out)
    tap.check(r.returncode == 1 and "timm_model_name" in r.stderr, "errors: a timm vision tower is refused by name",
              r.stderr.strip()[-200:])
    r = sail("convert", "--help")
    tap.check(r.returncode == 0 and "open-clip" in r.stdout and "--arch" in r.stdout and "--tokenizer" in r.stdout,
              "sail convert --help describes the OpenCLIP import")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        words = WORDS + [w.lower() for s in tokenizer_strings()[:80] for w in s.split()]
        merges = learn_merges([w for w in words if w], 300)
        bpe = os.path.join(tmp, "bpe_simple_vocab_16e6.txt.gz")
        write_bpe(bpe, merges)
        tok = SimpleTokenizer(bpe, 20)
        m, cfg, model = parity_case(tmp, merges, tok, "safetensors", False)
        parity_case(tmp, merges, tok, "bin", True)
        parity_case(tmp, merges, tok, "bin-wrapped", False)
        if model:
            tokenizer_case(tmp, model, tok)
            export_case(tmp, m, cfg, model)
        hf_layout_case(tmp, merges, tok)
        real_vocab_case(tmp)
        errors_case(tmp, merges, tok)
        if os.path.exists(TG.DUMP):
            grad_case(tmp, merges, tok, False)
            grad_case(tmp, merges, tok, True)
        else:
            tap.check(False, "driver %s exists (run make tests-build)" % TG.DUMP)
        finetune_case(tmp, merges, tok)
    sys.exit(1 if tap.failed else 0)


if __name__ == "__main__":
    main()
