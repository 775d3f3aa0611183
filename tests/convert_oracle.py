"""Reference Hugging Face architectures for the `sail convert` tests.

transformers is not available here, so each architecture is rebuilt from
torch.nn building blocks with the SAME module names as Hugging Face's
modeling files, so that `model.state_dict()` has exactly the checkpoint keys
a real CLIPModel / ChineseCLIPModel / BertModel / ViTModel has. Formulas
followed (transformers 4.x):

CLIP text (CLIPTextTransformer):
    x = token_embedding[ids] + position_embedding[0..T)
    layer (CLIPEncoderLayer, pre-norm):
        x = x + out_proj(attn(layer_norm1(x)))   attn: q = q_proj(h) * hd^-0.5,
                                                  causal mask, softmax, v
        x = x + fc2(act(fc1(layer_norm2(x))))     act = quick_gelu x*sigmoid(1.702x) or erf gelu
    x = final_layer_norm(x); pooled = x[eos position]  (argmax of ids when
    eos_token_id == 2, else the first position of eos_token_id)
    text_embeds = text_projection(pooled)        (Linear, no bias)
CLIP vision (CLIPVisionTransformer):
    x = [class_embedding; patch_embedding(pixels) (Conv2d, no bias) flattened]
        + position_embedding;  x = pre_layrnorm(x); CLIPEncoderLayers (not causal)
    pooled = post_layernorm(x[:, 0]); image_embeds = visual_projection(pooled)
Chinese-CLIP text (ChineseCLIPTextModel, add_pooling_layer=False) = BERT:
    x = LayerNorm(word[ids] + position[0..T) + token_type[0])
    layer (post-norm): x = LN1(x + dense(attn(x))); x = LN2(x + out(gelu(inter(x))))
    text_embeds = text_projection(x[:, 0])       (CLS, no pooler)
BERT (BertModel): the same text encoder; pooled = x[:, 0] (cls),
    tanh(pooler.dense(x[:, 0])) (pooler) or the masked mean (mean).
ViT (ViTModel): x = [cls_token; patch conv (with bias)] + position_embeddings;
    pre-norm layers (layernorm_before / layernorm_after, gelu, eps 1e-12);
    x = layernorm(x); pooled = x[:, 0] (cls) or tanh(pooler.dense(x[:, 0])).
Every output vector is L2-normalised (sail's convention) before comparison.

Files are written as a Hugging Face folder: model.safetensors (written here
with numpy: u64 header length, JSON header, raw data), config.json,
tokenizer files and preprocessor_config.json.
"""
import collections
import gzip
import json
import os
import struct
import subprocess

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import pil_ref
import tap

GOLDEN, SAIL = tap.GOLDEN, tap.SAIL


class Tap:
    """The TAP lines of tests/tap.py plus a comparison of embeddings; the
    process fails at the end on any mismatch (tap.failed)."""

    check = staticmethod(tap.check)

    @property
    def failed(self):
        return tap.failed

    def compare(self, got, want, name, cos_min=0.9999, abs_max=1e-4):
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            return self.check(False, name, "shape %s vs %s" % (got.shape, want.shape))
        cos = min(float(np.dot(g, w) / (np.linalg.norm(g) * np.linalg.norm(w))) for g, w in zip(got, want))
        err = float(np.abs(got - want).max())
        return self.check(cos >= cos_min and err <= abs_max, name, "min cosine %.7f, max abs err %.2e" % (cos, err))


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


ACTS = {"quick_gelu": quick_gelu, "gelu": F.gelu}


def attention(q, k, v, heads, causal=False, key_mask=None):
    B, T, D = q.shape
    hd = D // heads
    q, k, v = (t.view(B, T, heads, hd).transpose(1, 2) for t in (q, k, v))
    s = (q * hd ** -0.5) @ k.transpose(-1, -2)
    if causal:
        s = s + torch.full((T, T), float("-inf")).triu(1)
    if key_mask is not None:
        s = s.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)


# ------------------------------------------------------------------ CLIP --

class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, causal):
        return self.out_proj(attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, causal))


class CLIPMLP(nn.Module):
    def __init__(self, d, f, act):
        super().__init__()
        self.act = ACTS[act]
        self.fc1, self.fc2 = nn.Linear(d, f), nn.Linear(f, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.self_attn = CLIPAttention(d, c["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = CLIPMLP(d, c["intermediate_size"], c["hidden_act"])
        self.layer_norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, x, causal):
        x = x + self.self_attn(self.layer_norm1(x), causal)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList(CLIPEncoderLayer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x, causal=False):
        for layer in self.layers:
            x = layer(x, causal)
        return x


class Embeddings(nn.Module):
    pass


class CLIPTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.embeddings = Embeddings()
        self.embeddings.token_embedding = nn.Embedding(c["vocab_size"], d)
        self.embeddings.position_embedding = nn.Embedding(c["max_position_embeddings"], d)
        self.encoder = CLIPEncoder(c)
        self.final_layer_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.eos = c.get("eos_token_id", 2)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding(torch.arange(T))[None]
        x = self.final_layer_norm(self.encoder(x, causal=True))
        if self.eos == 2:
            pos = ids.argmax(-1)
        else:
            pos = (ids == self.eos).int().argmax(-1)
        return x[torch.arange(x.shape[0]), pos]


class CLIPVisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        g = c["image_size"] // p
        self.embeddings = Embeddings()
        self.embeddings.class_embedding = nn.Parameter(torch.randn(d))
        self.embeddings.patch_embedding = nn.Conv2d(3, d, p, stride=p, bias=False)
        self.embeddings.position_embedding = nn.Embedding(g * g + 1, d)
        self.pre_layrnorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.encoder = CLIPEncoder(c)
        self.post_layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, pix):
        e = self.embeddings
        x = e.patch_embedding(pix).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(x.shape[0], 1, -1), x], 1)
        x = self.pre_layrnorm(x + e.position_embedding.weight[None])
        return self.post_layernorm(self.encoder(x)[:, 0])


class CLIPModel(nn.Module):
    def __init__(self, cfg, text_cls=CLIPTextTransformer):
        super().__init__()
        tc, vc = cfg["text_config"], cfg["vision_config"]
        self.text_model = text_cls(tc)
        self.vision_model = CLIPVisionTransformer(vc)
        self.text_projection = nn.Linear(tc["hidden_size"], cfg["projection_dim"], bias=False)
        self.visual_projection = nn.Linear(vc["hidden_size"], cfg["projection_dim"], bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(cfg["logit_scale_init_value"]))

    def text(self, ids):
        return F.normalize(self.text_projection(self.text_model(ids)), dim=-1)

    def image(self, pix):
        return F.normalize(self.visual_projection(self.vision_model(pix)), dim=-1)


# ------------------------------------------------------------------ BERT --

class BertSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(d, d) for _ in range(3))

    def forward(self, x, mask):
        return attention(self.query(x), self.key(x), self.value(x), self.heads, key_mask=mask)


class DenseNorm(nn.Module):
    def __init__(self, din, d, eps):
        super().__init__()
        self.dense = nn.Linear(din, d)
        self.LayerNorm = nn.LayerNorm(d, eps=eps)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.attention = nn.Module()
        self.attention.self = BertSelfAttention(d, c["num_attention_heads"])
        self.attention.output = DenseNorm(d, d, eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, c["intermediate_size"])
        self.output = DenseNorm(c["intermediate_size"], d, eps)
        self.act = ACTS[c["hidden_act"]]

    def forward(self, x, mask):
        a = self.attention
        x = a.output.LayerNorm(x + a.output.dense(a.self(x, mask)))
        return self.output.LayerNorm(x + self.output.dense(self.act(self.intermediate.dense(x))))


class BertModel(nn.Module):
    """BertModel; pooler only when add_pooling_layer (Chinese-CLIP has none)."""

    def __init__(self, c, add_pooling_layer=True):
        super().__init__()
        d = c["hidden_size"]
        self.embeddings = Embeddings()
        e = self.embeddings
        e.word_embeddings = nn.Embedding(c["vocab_size"], d)
        e.position_embeddings = nn.Embedding(c["max_position_embeddings"], d)
        e.token_type_embeddings = nn.Embedding(c["type_vocab_size"], d)
        e.LayerNorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(BertLayer(c) for _ in range(c["num_hidden_layers"]))
        if add_pooling_layer:
            self.pooler = nn.Module()
            self.pooler.dense = nn.Linear(d, d)

    def hidden(self, ids, mask=None):
        e = self.embeddings
        T = ids.shape[1]
        x = e.word_embeddings(ids) + e.position_embeddings(torch.arange(T))[None] + \
            e.token_type_embeddings(torch.zeros_like(ids))
        x = e.LayerNorm(x)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x

    def forward(self, ids):  # Chinese-CLIP's text tower: [CLS] without pooler
        return self.hidden(ids)[:, 0]

    def pooled(self, ids, how):
        x = self.hidden(ids)
        if how == "cls":
            return x[:, 0]
        if how == "pooler":
            return torch.tanh(self.pooler.dense(x[:, 0]))
        return x.mean(1)  # one unpadded sequence: the masked mean is the mean


def ChineseText(c):
    return BertModel(c, add_pooling_layer=False)


# ------------------------------------------------------------------- ViT --

class ViTLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.attention = nn.Module()
        self.attention.attention = BertSelfAttention(d, c["num_attention_heads"])
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(d, d)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, c["intermediate_size"])
        self.output = nn.Module()
        self.output.dense = nn.Linear(c["intermediate_size"], d)
        self.layernorm_before = nn.LayerNorm(d, eps=eps)
        self.layernorm_after = nn.LayerNorm(d, eps=eps)
        self.act = ACTS[c["hidden_act"]]

    def forward(self, x):
        a = self.attention
        x = x + a.output.dense(a.attention(self.layernorm_before(x), None))
        return x + self.output.dense(self.act(self.intermediate.dense(self.layernorm_after(x))))


class ViTModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        g = c["image_size"] // p
        self.embeddings = Embeddings()
        e = self.embeddings
        e.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        e.patch_embeddings = nn.Module()
        e.patch_embeddings.projection = nn.Conv2d(3, d, p, stride=p)
        e.position_embeddings = nn.Parameter(torch.randn(1, g * g + 1, d) * 0.02)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(ViTLayer(c) for _ in range(c["num_hidden_layers"]))
        self.layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.pooler = nn.Module()
        self.pooler.dense = nn.Linear(d, d)

    def forward(self, pix, how="cls"):
        e = self.embeddings
        x = e.patch_embeddings.projection(pix).flatten(2).transpose(1, 2)
        x = torch.cat([e.cls_token.expand(x.shape[0], -1, -1), x], 1) + e.position_embeddings
        for layer in self.encoder.layer:
            x = layer(x)
        x = self.layernorm(x)[:, 0]
        return torch.tanh(self.pooler.dense(x)) if how == "pooler" else x


# ------------------------------------------------------------- weights --

def randomize(model, seed):
    """Seeded weights with non-trivial norms and biases (so a swapped or
    missing tensor shows)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("logit_scale"):
                continue
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return model


def write_safetensors(path, tensors):
    """tensors: {name: np.ndarray or ("BF16", np.uint16 array)}; the file
    layout of safetensors."""
    header, blobs, off = {}, [], 0
    codes = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64"}
    for name, a in tensors.items():
        dtype = None
        if isinstance(a, tuple):  # ("BF16", uint16 array): numpy has no bfloat16
            dtype, a = a
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": dtype or codes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def state_numpy(model):
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)


# ----------------------------------------------------------- tokenizers --

def golden(name):
    """The golden file's path, or None when ../shared/golden is absent."""
    p = os.path.join(GOLDEN, name)
    return p if os.path.exists(p) else None


def have_golden(what, *names):
    """Whether the golden files names are there; a skip line says what is
    absent if not."""
    if all(golden(n) for n in names):
        return True
    print("skip - ../shared/golden (%s) is absent" % what)
    return False


def golden_lines(name, idx):
    with open(golden(name), encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    return [json.loads(lines[i]) for i in idx]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def bpe_merge(word, ranks):
    """The merge loop of CLIP's and GPT-2's bpe(): join the lowest-ranked
    adjacent pair of symbols everywhere, until no pair has a rank."""
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        first, second = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if (first, second) not in ranks:
            break
        new, i = [], 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                new.append(first + second)
                i += 2
            else:
                new.append(word[i])
                i += 1
        word = tuple(new)
    return word


def learn_merges(words, n=None, ties_last=False):
    """Byte-pair merges learnt on words (a Counter of symbol tuples): the
    most frequent adjacent pair first, ties to the first pair in order (the
    last with ties_last), n of them (None: until every word is one symbol)."""
    merges = []
    while n is None or len(merges) < n:
        pairs = collections.Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += c
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p)) if ties_last else max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        merged = collections.Counter()
        for w, c in words.items():
            merged[bpe_merge(w, {best: 0})] += c
        words = merged
    return merges


def write_clip_tokenizer(d):
    """vocab.json + merges.txt exactly as Hugging Face's CLIPTokenizer files
    are laid out, built from OpenAI's bpe_simple_vocab_16e6.txt.gz."""
    with gzip.open(golden("bpe_simple_vocab_16e6.txt.gz"), "rt", encoding="utf-8") as f:
        merges = f.read().split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    return write_bpe(d, vocab + ["<|startoftext|>", "<|endoftext|>"], merges)


def write_bpe(d, vocab, merges):
    """vocab.json (vocab's tokens, numbered in order), merges.txt and
    tokenizer_config.json as Hugging Face's CLIPTokenizer lays them out;
    returns the vocabulary size."""
    write_json(os.path.join(d, "vocab.json"), dict(zip(vocab, range(len(vocab)))))
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "model_max_length": 77, "tokenizer_class": "CLIPTokenizer"})
    return len(vocab)


def write_bert_tokenizer(d):
    """vocab.txt (Chinese-CLIP's, read in place and copied into the temporary
    model folder) + tokenizer_config.json."""
    with open(golden("chinese_clip_vocab.txt"), encoding="utf-8", newline="") as f:
        toks = f.read().split("\n")
    return write_wordpiece(d, toks[:-1] if toks[-1] == "" else toks)


def write_wordpiece(d, toks):
    """vocab.txt (toks, one a line) and BertTokenizer's tokenizer_config.json;
    returns the vocabulary size."""
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(toks) + "\n")
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "do_lower_case": True, "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "unk_token": "[UNK]", "tokenizer_class": "BertTokenizer"})
    return len(toks)


# ---------------------------------------------------------------- images --

def write_images(d, seed=7, sizes=((90, 60), (48, 72), (40, 40)), noise=40, name="img%d.png"):
    """PNGs of colour ramps under Gaussian noise (sigma noise), one of each
    (w, h) size; the default three resize+crop the same under torchvision's
    and Hugging Face's crop rounding (sail follows torchvision)."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    paths = []
    for i, (w, h) in enumerate(sizes):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
        img = np.clip(base + rng.normal(0, noise, (h, w, 3)), 0, 255).astype(np.uint8)
        p = os.path.join(d, name % i)
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


def preprocess(path, size, crop, resample, mean, std):
    """Hugging Face's image processors with PIL (tests/pil_ref.py): crop > 0:
    shortest edge to size, centre crop; crop 0: resize to size x size. Then
    /255, (x - mean) / std, channel-major."""
    from PIL import Image
    return torch.from_numpy(pil_ref.preprocess(Image.open(path).convert("RGB"), size, crop, mean, std, resample,
                                               floor=True))


# --------------------------------------------------------- test models --

CLIP_MEAN, CLIP_STD = pil_ref.CLIP_MEAN, pil_ref.CLIP_STD


def tower_cfg(d, f, layers, heads, act, eps, **kw):
    """A tower's Hugging Face config: width d, feed-forward f, layers,
    heads, activation act, LayerNorm epsilon eps, then kw."""
    c = {"hidden_size": d, "intermediate_size": f, "num_hidden_layers": layers, "num_attention_heads": heads,
         "hidden_act": act, "layer_norm_eps": eps}
    c.update(kw)
    return c


def clip_cfg(tc, vc, proj, chinese=False):
    """The config.json of a CLIPModel (a ChineseCLIPModel when chinese) of
    text tower tc and vision tower vc, projected to proj."""
    return {"architectures": ["ChineseCLIPModel" if chinese else "CLIPModel"],
            "model_type": "chinese_clip" if chinese else "clip", "projection_dim": proj,
            "logit_scale_init_value": 2.6592, "text_config": tc, "vision_config": vc}


def make_clip_folder(d, text_act="quick_gelu"):
    """A small CLIPModel folder without weights (config, tokenizer,
    preprocessor); returns the seeded model. Text: quick_gelu (or text_act),
    argmax EOS pooling (eos_token_id 2); vision: gelu; logit_scale 4.2."""
    os.makedirs(d)
    n_vocab = write_clip_tokenizer(d)
    cfg = clip_cfg(tower_cfg(32, 64, 2, 4, text_act, 1e-5, vocab_size=n_vocab, max_position_embeddings=77,
                             eos_token_id=2),
                   tower_cfg(32, 80, 2, 2, "gelu", 1e-5, image_size=32, patch_size=8), 24)
    torch.manual_seed(0)
    model = randomize(CLIPModel(cfg), 1).eval()
    with torch.no_grad():
        model.logit_scale.fill_(4.2)
    write_json(os.path.join(d, "config.json"), cfg)
    write_json(os.path.join(d, "preprocessor_config.json"), {
        "crop_size": {"height": 32, "width": 32}, "do_center_crop": True, "do_normalize": True,
        "do_resize": True, "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "resample": 3,
        "size": {"shortest_edge": 32}, "image_processor_type": "CLIPImageProcessor"})
    return model


def make_vit_folder(d):
    """A small ViTModel folder without weights; returns the seeded model."""
    os.makedirs(d)
    cfg = {"architectures": ["ViTModel"], "model_type": "vit", "hidden_size": 32, "intermediate_size": 64,
           "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32, "patch_size": 8,
           "num_channels": 3, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "qkv_bias": True}
    model = randomize(ViTModel(cfg), 6).eval()
    write_json(os.path.join(d, "config.json"), cfg)
    write_json(os.path.join(d, "preprocessor_config.json"), {
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3, "resample": 2, "rescale_factor": 1 / 255, "size": {"height": 32, "width": 32}})
    return model


# -------------------------------------------------------------- clip.cpp --

def _gstr(b):
    b = b.encode("utf-8") if isinstance(b, str) else b
    return struct.pack("<Q", len(b)) + b


def _gval(v):
    if isinstance(v, bool):
        return struct.pack("<IB", 7, int(v))
    if isinstance(v, int):
        return struct.pack("<II", 4, v)
    if isinstance(v, float):
        return struct.pack("<If", 6, v)
    if isinstance(v, str):
        return struct.pack("<I", 8) + _gstr(v)
    if all(isinstance(x, str) for x in v):
        return struct.pack("<IIQ", 9, 8, len(v)) + b"".join(_gstr(x) for x in v)
    return struct.pack("<IIQ", 9, 6, len(v)) + struct.pack("<%df" % len(v), *v)


def write_clipcpp(path, model, cfg, tokens, mean, std):
    """The GGUF file monatis/clip.cpp's convert_hf_to_gguf.py writes (f16
    mode): its keys, its tensor renaming, squeezed shapes, 2-D weights and the
    patch convolution in F16, the rest F32. Returns the tensors as stored
    (numpy), so a reference can use the rounded values."""
    tc, vc = cfg["text_config"], cfg["vision_config"]
    kv = {"general.architecture": "clip", "clip.has_text_encoder": True, "clip.has_vision_encoder": True,
          "general.file_type": 1, "general.name": "test-clip", "general.description": "two-tower CLIP model"}
    for pre, c in (("clip.text", tc), ("clip.vision", vc)):
        kv[pre + ".embedding_length"] = c["hidden_size"]
        kv[pre + ".feed_forward_length"] = c["intermediate_size"]
        kv[pre + ".projection_dim"] = cfg["projection_dim"]
        kv[pre + ".attention.head_count"] = c["num_attention_heads"]
        kv[pre + ".attention.layer_norm_epsilon"] = float(c["layer_norm_eps"])
        kv[pre + ".block_count"] = c["num_hidden_layers"]
    kv["clip.text.context_length"] = tc["max_position_embeddings"]
    kv["tokenizer.ggml.tokens"] = tokens
    kv["clip.vision.image_size"] = vc["image_size"]
    kv["clip.vision.patch_size"] = vc["patch_size"]
    kv["clip.vision.image_mean"] = [float(x) for x in mean]
    kv["clip.vision.image_std"] = [float(x) for x in std]
    kv["clip.use_gelu"] = vc["hidden_act"] == "gelu"
    stored = {}
    for name, t in model.state_dict().items():
        if name in ("logit_scale",) or name.endswith("position_ids"):
            continue
        if "projection" not in name:
            for a, b in (("text_model", "t"), ("vision_model", "v"), ("encoder.layers", "blk"), ("embeddings.", ""),
                         ("_proj", ""), ("self_attn.", "attn_"), ("layer_norm", "ln"), ("layernorm", "ln"),
                         ("mlp.fc1", "ffn_down"), ("mlp.fc2", "ffn_up"), ("embedding", "embd"), ("final", "post"),
                         ("layrnorm", "ln")):
                name = name.replace(a, b)
        a = t.detach().squeeze().numpy()
        if a.ndim == 4 or (name.endswith(".weight") and a.ndim == 2):
            a = a.astype(np.float16)
        stored[name] = np.ascontiguousarray(a)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(stored), len(kv))
    head += b"".join(_gstr(k) + _gval(v) for k, v in kv.items())
    off, infos, blobs = 0, b"", []
    for name, a in stored.items():
        infos += _gstr(name) + struct.pack("<I", a.ndim) + struct.pack("<%dQ" % a.ndim, *a.shape[::-1])
        infos += struct.pack("<IQ", 1 if a.dtype == np.float16 else 0, off)
        b = a.tobytes()
        b += b"\0" * (-len(b) % 32)
        blobs.append(b)
        off += len(b)
    head += infos
    head += b"\0" * (-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head + b"".join(blobs))
    return stored


# ------------------------------------------------------------------ sail --

def run(args, **kw):
    return subprocess.run([SAIL] + args, capture_output=True, text=True, **kw)


def convert(d, out, *extra):
    r = run(["convert", d, "-o", out] + list(extra))
    return r


def embed(model, flag, inputs, tmp):
    args = ["embed", "--model", model, "--separate", "--format", "npy", "-o", os.path.join(tmp, "e.npy")]
    for x in inputs:
        args += [flag, x]
    r = run(args)
    if r.returncode:
        raise RuntimeError("sail embed failed: " + r.stderr)
    return np.load(os.path.join(tmp, "e.npy"))


def cnclip_folder(d, **processor):
    """A random-weight Chinese-CLIP folder at d (WordPiece from the golden
    vocabulary, 32x32 squashed images); processor adds preprocessor keys.
    Returns the PyTorch reference model."""
    os.makedirs(d)
    n_vocab = write_bert_tokenizer(d)
    cfg = clip_cfg(tower_cfg(32, 64, 2, 4, "gelu", 1e-12, vocab_size=n_vocab, max_position_embeddings=64,
                             type_vocab_size=2),
                   tower_cfg(24, 48, 2, 3, "quick_gelu", 1e-5, image_size=32, patch_size=16), 16, chinese=True)
    torch.manual_seed(0)
    model = randomize(CLIPModel(cfg, text_cls=ChineseText), 2).eval()
    write_json(os.path.join(d, "config.json"), cfg)
    write_json(os.path.join(d, "preprocessor_config.json"), dict({
        "crop_size": 32, "do_center_crop": False, "do_normalize": True, "do_resize": True,
        "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "resample": 3, "size": 32}, **processor))
    write_safetensors(os.path.join(d, "model.safetensors"), state_numpy(model))
    return model
