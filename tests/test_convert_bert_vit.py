"""`sail convert` of Hugging Face BertModel (text encoder; cls, pooler and
mean pooling) and ViTModel (image encoder; cls and pooler) folders.

Reference: tests/convert_oracle.py (Hugging Face's formulas on torch.nn,
seeded weights), the golden WordPiece ids for text, PIL preprocessing for
images. Pass: cosine >= 0.9999 and max abs error <= 1e-4 per vector.
"""
import os
import sys
import tempfile

from tap import skip_import

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import convert_oracle as O
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch and python3-numpy", e)

tap = O.Tap()
LINES = [0, 4, 73, 79]


def bert_case(tmp):
    if not O.have_golden("WordPiece vocabulary and golden ids", "chinese_clip_vocab.txt", "bert_wordpiece_golden.jsonl"):
        return
    d = os.path.join(tmp, "bert")
    os.makedirs(d)
    n_vocab = O.write_bert_tokenizer(d)
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": n_vocab, "hidden_size": 48,
           "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
           "max_position_embeddings": 40, "type_vocab_size": 2, "hidden_act": "gelu",
           "layer_norm_eps": 1e-12, "position_embedding_type": "absolute"}
    model = O.randomize(O.BertModel(cfg), 5).eval()
    O.write_json(os.path.join(d, "config.json"), cfg)
    st = O.state_numpy(model)
    # a BertForMaskedLM-style checkpoint: every name under "bert."
    st = {"bert." + k: v for k, v in st.items()}
    st["cls.predictions.bias"] = np.zeros(n_vocab, np.float32)   # an MLM head beside the base model
    O.write_safetensors(os.path.join(d, "model.safetensors"), st)
    rows = O.golden_lines("bert_wordpiece_golden.jsonl", LINES)
    ids = [torch.tensor([[101] + x["ids"][:38] + [102]]) for x in rows]
    for how in ("cls", "pooler", "mean"):
        out = os.path.join(tmp, "bert-%s.gguf" % how)
        r = O.convert(d, out, "--pool", how)
        if not tap.check(r.returncode == 0, "BERT (%s): sail convert" % how, r.stderr.strip()[-300:]):
            continue
        with torch.no_grad():
            want = torch.cat([F.normalize(model.pooled(i, how), dim=-1) for i in ids]).numpy()
        got = O.embed(out, "--text", [x["text"] for x in rows], tmp)
        tap.compare(got, want, "BERT (%s pooling): text embeddings from raw strings" % how)
    # A padded batch gives the vectors of the texts alone (masked mean).
    out = os.path.join(tmp, "bert-mean.gguf")
    if os.path.exists(out):
        alone = np.concatenate([O.embed(out, "--text", [x["text"]], tmp) for x in rows])
        tap.compare(O.embed(out, "--text", [x["text"] for x in rows], tmp), alone,
                    "BERT (mean): a padded batch equals each text alone")
    img = O.write_images(tmp)[0]
    r = O.run(["embed", "--model", os.path.join(tmp, "bert-cls.gguf"), "--image", img])
    tap.check(r.returncode == 1 and "no vision encoder" in r.stderr, "BERT: an image input is refused clearly",
              r.stderr.strip())


def vit_case(tmp):
    d = os.path.join(tmp, "vit")
    model = O.make_vit_folder(d)
    mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
    imgs = O.write_images(tmp)
    pix = torch.stack([O.preprocess(p, 32, 0, 2, mean, std) for p in imgs])
    for how in ("cls", "pooler"):
        out = os.path.join(tmp, "vit-%s.gguf" % how)
        r = O.convert(d, out, "--pool", how)
        if not tap.check(r.returncode == 0, "ViT (%s): sail convert" % how, r.stderr.strip()[-300:]):
            continue
        with torch.no_grad():
            want = F.normalize(model(pix, how), dim=-1).numpy()
        tap.compare(O.embed(out, "--image", imgs, tmp), want, "ViT (%s pooling): image embeddings from files" % how)
    r = O.run(["embed", "--model", os.path.join(tmp, "vit-cls.gguf"), "--text", "hello"])
    tap.check(r.returncode == 1 and "no text encoder" in r.stderr, "ViT: a text input is refused clearly",
              r.stderr.strip())


with tempfile.TemporaryDirectory() as tmp:
    bert_case(tmp)
    vit_case(tmp)
sys.exit(1 if tap.failed else 0)
