"""`sail convert` of Hugging Face CLIPModel and ChineseCLIPModel folders.

Seeded random models with Hugging Face's architecture and names (see
tests/convert_oracle.py for the formulas), real vocabularies from
../shared/golden (read in place), converted by `sail convert` and run by
`sail embed` on raw strings and image files; the reference is the PyTorch
model on the golden tokenizations and PIL preprocessing. Pass: every vector
with cosine >= 0.9999 and max abs error <= 1e-4 (f32). Fails on mismatch.
"""
import os
import sys
import tempfile

from tap import skip_import

try:
    import numpy as np  # noqa: F401
    import torch
    import convert_oracle as O
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch and python3-numpy", e)

CLIP_MEAN, CLIP_STD = O.CLIP_MEAN, O.CLIP_STD
TEXTS = [0, 1, 2, 3, 5, 8]       # golden lines (CLIP BPE matches them exactly)
CN_TEXTS = [0, 1, 72, 75, 79]

tap = O.Tap()


def clip_case(tmp):
    if not O.have_golden("CLIP BPE merges and golden ids", "bpe_simple_vocab_16e6.txt.gz", "clip_bpe_golden.jsonl"):
        return
    d = os.path.join(tmp, "clip")
    model = O.make_clip_folder(d)
    st = O.state_numpy(model)
    st["text_model.embeddings.position_ids"] = np.arange(77, dtype=np.int64)[None]
    O.write_safetensors(os.path.join(d, "model.safetensors"), st)
    out = os.path.join(tmp, "clip.gguf")
    r = O.convert(d, out)
    if not tap.check(r.returncode == 0, "CLIP: sail convert (auto-detected)", r.stderr.strip()[-300:]):
        return
    rows = O.golden_lines("clip_bpe_golden.jsonl", TEXTS)
    # A literal <|endoftext|> inside a text is the end token too: CLIP pools
    # at its FIRST occurrence (argmax), not at the last token.
    first = rows[0]
    rows.append({"text": first["text"] + " <|endoftext|> " + first["text"],
                 "ids": first["ids"] + [49407] + first["ids"]})
    texts = [x["text"] for x in rows]
    with torch.no_grad():
        want = torch.cat([model.text(torch.tensor([[49406] + x["ids"][:75] + [49407]])) for x in rows]).numpy()
    got = O.embed(out, "--text", texts, tmp)
    tap.compare(got, want, "CLIP: text embeddings from raw strings (BPE, causal, EOS pooling at the first end token, projection)")
    imgs = image_case(model, out, tmp, 32, "CLIP: image embeddings from files (resize, crop, pre/post norm, projection)")
    corpus = O.golden("corpus_public.txt")
    if corpus:  # the BPE rebuilt from vocab.json + merges.txt = the one read from OpenAI's .gz
        text = open(corpus, "rb").read()
        a = O.subprocess.run([O.SAIL, "tokenize", "--model", out], input=text, capture_output=True)
        b = O.subprocess.run([O.SAIL, "tokenize", "--vocab", O.golden("bpe_simple_vocab_16e6.txt.gz")],
                             input=text, capture_output=True)
        got = [O.json.loads(x) for x in a.stdout.decode().splitlines()]
        ref = [O.json.loads(x) for x in b.stdout.decode().splitlines()]
        want = [([49406] + x[:75] + [49407] + [49407] * 77)[:77] for x in ref]
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        tap.check(a.returncode == 0 and len(got) == len(want) > 400 and not bad,
                  "CLIP: the model file's tokenizer equals OpenAI's on all %d corpus lines" % len(want),
                  "mismatched lines %s" % bad[:5])
    r = O.run(["embed", "--model", out, "--text", "a", "--image", imgs[0]])
    tap.check(r.returncode == 1 and "no fusion" in r.stderr, "CLIP: a joint text+image input is refused clearly",
              r.stderr.strip())
    r = O.run(["info", out])
    tap.check(r.returncode == 0 and "variant=towers" in r.stdout, "CLIP: sail info describes the imported model",
              (r.stdout + r.stderr).strip()[:200])
    return out


def clipcpp_case(tmp):
    """A clip.cpp GGUF of the same kind of model: sail must compute the model
    of the values clip.cpp stored (F16-rounded 2-D weights and convolution)."""
    if not O.have_golden("CLIP BPE merges and golden ids", "bpe_simple_vocab_16e6.txt.gz", "clip_bpe_golden.jsonl"):
        return
    d = os.path.join(tmp, "clipcpp-src")
    model = O.make_clip_folder(d, text_act="gelu")  # clip.cpp records one activation for both towers
    cfg = O.json.load(open(os.path.join(d, "config.json")))
    vocab = O.json.load(open(os.path.join(d, "vocab.json"), encoding="utf-8"))
    path = os.path.join(tmp, "ggml-model-f16.gguf")
    O.write_clipcpp(path, model, cfg, sorted(vocab, key=vocab.get), O.CLIP_MEAN, O.CLIP_STD)
    with torch.no_grad():   # the reference computes from the rounded values
        for name, p in model.named_parameters():
            if (name.endswith(".weight") and p.dim() == 2 and "embeddings.class" not in name) or p.dim() == 4:
                p.copy_(p.half().float())
    out = os.path.join(tmp, "clipcpp.gguf")
    r = O.run(["convert", path, "-o", out])
    tap.check(r.returncode == 1 and "--merges" in r.stderr, "clip.cpp: without --merges the error says what to pass",
              r.stderr.strip()[-200:])
    r = O.run(["convert", path, "--merges", os.path.join(d, "merges.txt"), "-o", out])
    if not tap.check(r.returncode == 0, "clip.cpp: sail convert of a clip.cpp GGUF file", r.stderr.strip()[-300:]):
        return
    rows = O.golden_lines("clip_bpe_golden.jsonl", TEXTS)
    with torch.no_grad():
        want = torch.cat([model.text(torch.tensor([[49406] + x["ids"][:75] + [49407]])) for x in rows]).numpy()
    tap.compare(O.embed(out, "--text", [x["text"] for x in rows], tmp), want, "clip.cpp: text embeddings")
    image_case(model, out, tmp, 32, "clip.cpp: image embeddings")


def image_case(model, out, tmp, crop, name):
    """sail embed --image of O.write_images' files equals the model on PIL's
    preprocessing (32 px, bicubic, CLIP's mean and std; crop 0: squashed).
    Returns the files."""
    imgs = O.write_images(tmp)
    with torch.no_grad():
        want = model.image(torch.stack([O.preprocess(p, 32, crop, 3, CLIP_MEAN, CLIP_STD) for p in imgs])).numpy()
    tap.compare(O.embed(out, "--image", imgs, tmp), want, name)
    return imgs


def cn_clip_case(tmp):
    if not O.have_golden("Chinese-CLIP vocabulary and golden ids", "chinese_clip_vocab.txt",
                         "bert_wordpiece_golden.jsonl"):
        return
    d = os.path.join(tmp, "cnclip")
    model = O.cnclip_folder(d)
    out = os.path.join(tmp, "cnclip.gguf")
    r = O.convert(d, out, "--from", "hf-chinese-clip")
    if not tap.check(r.returncode == 0, "Chinese-CLIP: sail convert", r.stderr.strip()[-300:]):
        return
    rows = O.golden_lines("bert_wordpiece_golden.jsonl", CN_TEXTS)
    with torch.no_grad():
        want = torch.cat([model.text(torch.tensor([[101] + x["ids"][:50] + [102]])) for x in rows]).numpy()
    got = O.embed(out, "--text", [x["text"] for x in rows], tmp)
    tap.compare(got, want, "Chinese-CLIP: text embeddings (WordPiece, context 52, BERT tower, CLS, projection)")
    image_case(model, out, tmp, 0, "Chinese-CLIP: image embeddings (squash resize, no crop)")


with tempfile.TemporaryDirectory() as tmp:
    clip_case(tmp)
    clipcpp_case(tmp)
    cn_clip_case(tmp)
sys.exit(1 if tap.failed else 0)
