"""Reference Hugging Face SiglipModel for the SigLIP tests, rebuilt from
torch.nn with the module names of transformers' modeling_siglip.py, so that
state_dict() has a real checkpoint's keys. Formulas (transformers 4.x):

vision (SiglipVisionTransformer):
    x = patch_embedding(pixels) (Conv2d WITH bias) flattened + position_embedding
        (one row per patch, no class token)
    layers (SiglipEncoderLayer = CLIP's pre-norm layer, gelu_pytorch_tanh,
        layer_norm_eps 1e-6, no mask); x = post_layernorm(x)
    head (SiglipMultiheadAttentionPoolingHead): probe (1, 1, D) attends over x
        through nn.MultiheadAttention (in_proj_weight/bias packed q, k, v;
        out_proj); h = that output; h = h + mlp(layernorm(h)); pooled = h[:, 0]
    image_embeds = pooled (no projection)
text (SiglipTextTransformer):
    x = token_embedding[ids] + position_embedding[0..T); the same layers with
    NO attention mask; x = final_layer_norm(x); pooled = x[:, -1];
    text_embeds = head(pooled) (Linear with bias)
SiglipModel: logit_scale (1,), logit_bias (1,);
    logits_per_text = t @ i.T * exp(logit_scale) + logit_bias (t, i L2-normalised)
    loss = -mean_rows(sum_cols(logsigmoid((2 eye - 1) * logits_per_text)))
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import convert_oracle as O

O.ACTS["gelu_pytorch_tanh"] = lambda x: F.gelu(x, approximate="tanh")


class Head(nn.Module):
    """SiglipMultiheadAttentionPoolingHead."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.probe = nn.Parameter(torch.randn(1, 1, d))
        self.attention = nn.MultiheadAttention(d, c["num_attention_heads"], batch_first=True)
        self.layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = O.CLIPMLP(d, c["intermediate_size"], c["hidden_act"])  # SiglipMLP: the same fc1, act, fc2

    def forward(self, x):
        probe = self.probe.repeat(x.shape[0], 1, 1)
        h = self.attention(probe, x, x)[0]
        h = h + self.mlp(self.layernorm(h))
        return h[:, 0]


class SiglipVision(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        g = c["image_size"] // p
        self.embeddings = O.Embeddings()
        self.embeddings.patch_embedding = nn.Conv2d(3, d, p, stride=p)
        self.embeddings.position_embedding = nn.Embedding(g * g, d)
        self.encoder = O.CLIPEncoder(c)
        self.post_layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.head = Head(c)

    def hidden(self, pix):
        e = self.embeddings
        x = e.patch_embedding(pix).flatten(2).transpose(1, 2) + e.position_embedding.weight[None]
        return self.post_layernorm(self.encoder(x))

    def forward(self, pix):
        return self.head(self.hidden(pix))


class SiglipText(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.embeddings = O.Embeddings()
        self.embeddings.token_embedding = nn.Embedding(c["vocab_size"], d)
        self.embeddings.position_embedding = nn.Embedding(c["max_position_embeddings"], d)
        self.encoder = O.CLIPEncoder(c)
        self.final_layer_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.head = nn.Linear(d, c.get("projection_size", d))

    def forward(self, ids):
        T = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding(torch.arange(T))[None]
        x = self.final_layer_norm(self.encoder(x))
        return self.head(x[:, -1])


class SiglipModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.text_model = SiglipText(cfg["text_config"])
        self.vision_model = SiglipVision(cfg["vision_config"])
        self.logit_scale = nn.Parameter(torch.randn(1))
        self.logit_bias = nn.Parameter(torch.randn(1))

    def text(self, ids):
        return F.normalize(self.text_model(ids), dim=-1)

    def image(self, pix):
        return F.normalize(self.vision_model(pix), dim=-1)


def sigmoid_loss(t, i, logit_scale, logit_bias):
    """SiglipModel's loss on L2-normalised text (n, D) and image (n, D) rows."""
    logits = t @ i.T * logit_scale.exp() + logit_bias
    z = 2 * torch.eye(len(t), dtype=logits.dtype) - 1
    return -F.logsigmoid(z * logits).sum(-1).mean()


def config(vocab, d=32, heads=4, layers=2, ffn=64, image=32, patch=8, positions=16, pad=0):
    tower = {"hidden_size": d, "intermediate_size": ffn, "num_hidden_layers": layers,
             "num_attention_heads": heads, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6}
    tc = dict(tower, vocab_size=vocab, max_position_embeddings=positions, projection_size=d,
              pad_token_id=pad, model_type="siglip_text_model")
    vc = dict(tower, image_size=image, patch_size=patch, num_channels=3, model_type="siglip_vision_model")
    return {"architectures": ["SiglipModel"], "model_type": "siglip", "text_config": tc, "vision_config": vc}


def letters_tokenizer(d, extra=()):
    """A WordPiece vocab.txt of letters and ##letters: any lower-case English
    word splits into its letters, and a text of one-letter words "a b c" is
    [CLS] a b c [SEP] = [2, 5, 6, 7, 3]; extra tokens (e.g. CJK characters)
    follow."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    return O.write_wordpiece(d, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + letters + ["##" + x for x in letters] +
                             list(extra))


def letters_ids(text):
    return [2] + [5 + ord(ch) - ord("a") for ch in text.split()] + [3]


def padded(ids, ctx, pad=0):
    """ids right-padded to ctx as SiglipProcessor(padding="max_length") pads:
    the model sees (and pools the last of) all ctx positions."""
    return list(ids) + [pad] * (ctx - len(ids))


def make_folder(d, seed=5, image=32, patch=8, trainable=False, extra=(), spiece=None, **kw):
    """A small SiglipModel folder (config, letters tokenizer or, given its
    bytes, a spiece.model with SiglipTokenizer's default special tokens,
    preprocessor, model.safetensors); returns (model, cfg). trainable: PyTorch's default
    initialisation and SigLIP's initial temperature and bias (log 10, -10),
    standing in for a pretrained checkpoint; else seeded weights with
    non-trivial norms and biases."""
    os.makedirs(d)
    if spiece:
        import sentencepiece
        with open(os.path.join(d, "spiece.model"), "wb") as f:
            f.write(spiece)
        sp = sentencepiece.SentencePieceProcessor(model_proto=spiece)
        n, pad = sp.get_piece_size(), sp.piece_to_id("</s>")
    else:
        n, pad = letters_tokenizer(d, extra), 0
    cfg = config(n, image=image, patch=patch, pad=pad, **kw)
    torch.manual_seed(0)
    model = SiglipModel(cfg) if trainable else O.randomize(SiglipModel(cfg), seed)
    model.eval()
    with torch.no_grad():
        model.logit_scale.fill_(2.302585 if trainable else 2.3)
        model.logit_bias.fill_(-10.0 if trainable else -1.7)
    O.write_json(os.path.join(d, "config.json"), cfg)
    O.write_json(os.path.join(d, "preprocessor_config.json"), {
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3, "resample": 3, "rescale_factor": 1 / 255,
        "size": {"height": image, "width": image}, "image_processor_type": "SiglipImageProcessor"})
    st = O.state_numpy(model)
    st["text_model.embeddings.position_ids"] = torch.arange(cfg["text_config"]["max_position_embeddings"])[None].numpy()
    O.write_safetensors(os.path.join(d, "model.safetensors"), st)
    return model, cfg


def read_safetensors(path):
    """{name: float32 array} from an F32 safetensors file (the file layout:
    u64 header length, JSON header, raw data)."""
    with open(path, "rb") as f:
        b = f.read()
    n, = struct.unpack_from("<Q", b)
    head = json.loads(b[8:8 + n])
    head.pop("__metadata__", None)
    out = {}
    for k, v in head.items():
        assert v["dtype"] == "F32", (k, v["dtype"])
        lo, hi = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + lo:8 + n + hi], np.float32).reshape(v["shape"]).copy()
    return out


def spm_folder(tmp, d, ctx):
    """make_folder with SigLIP's own tokenizer: a spiece.model trained in tmp
    on tests/test_spm.py's corpus (SigLIP's ids: pad 0, eos 1, unk 2), and a
    tokenizer_config.json of only model_max_length ctx (SiglipTokenizer's
    defaults otherwise). Needs sentencepiece; returns (model, cfg, the
    spiece.model's bytes)."""
    import random
    import test_spm as TS
    proto = TS.train(tmp, "siglip-spm", TS.corpus(random.Random(4), 3000), vocab_size=400, model_type="unigram",
                     character_coverage=0.995, pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    model, cfg = make_folder(d, spiece=proto, seed=9)
    O.write_json(os.path.join(d, "tokenizer_config.json"), {"model_max_length": ctx})
    return model, cfg, proto
