"""`sail convert` of a Hugging Face SiglipModel folder.

A seeded random model with SigLIP's architecture and checkpoint names
(tests/siglip_oracle.py, written from the published modeling_siglip.py:
no class token, tanh GELU, the attention-pooling head, last-token text
pooling, a text head with bias, logit_scale and logit_bias), converted by
`sail convert` and run by `sail embed` on texts and on image files of odd
sizes; the reference is the PyTorch model on the same token ids padded to the context and PIL
preprocessing (squash to the model size, bicubic, mean = std = 0.5).
Pass: every vector with cosine >= 0.9999 and max abs error <= 1e-4 (f32);
every traced activation of both towers (embeddings, each layer, the final
norm, the pooled vector; tests/tools/trace_dump.c) within 1e-4 of PyTorch's.
Tokenizers: a letters WordPiece vocab.txt (the ids are known exactly), and
SigLIP's own spiece.model (trained here; ids from a transcription of
SiglipTokenizer, tests/test_spm.py).
"""
import json
import os
import sys
import tempfile

from tap import skip_import

try:
    import numpy as np
    import torch
    import convert_oracle as O
    import siglip_oracle as S
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch and python3-numpy", e)

tap = O.Tap()
TEXTS = ["a b c", "h e l l o w o r l d", "z", "s i g l i p t o w e r s x"]
HALF = [0.5] * 3
CTX = 16    # max_position_embeddings of the test model: SigLIP pads every text to it


def gguf_keys(path):
    r = O.run(["info", path])
    return r.stdout + r.stderr


def layers(out, model, tmp):
    """Every traced activation of one text (given unpadded: sail pads it to
    the context) and of two images (trace_dump) against the same point of
    the PyTorch model."""
    dump = os.path.join(os.environ.get("BUILD", "build"), "tools", "trace_dump")
    if not tap.check(os.path.exists(dump), "trace driver %s exists (make tools)" % dump):
        return
    given = S.letters_ids("s i g l i p")    # sail pads it itself
    ids = S.padded(given, CTX)
    g = torch.Generator().manual_seed(3)
    pix = torch.randn(2, 3, 32, 32, generator=g)
    want = {}
    with torch.no_grad():
        t, v = model.text_model, model.vision_model
        x = t.embeddings.token_embedding(torch.tensor([ids])) + t.embeddings.position_embedding.weight[:len(ids)][None]
        want["text.emb"] = x
        for i, layer in enumerate(t.encoder.layers):
            x = layer(x, False)
            want["text.blk.%d" % i] = x
        want["text:pooled"] = t.final_layer_norm(x)[:, -1]
        e = v.embeddings
        x = e.patch_embedding(pix).flatten(2).transpose(1, 2) + e.position_embedding.weight[None]
        want["vis.emb"] = x
        for i, layer in enumerate(v.encoder.layers):
            x = layer(x, False)
            want["vis.blk.%d" % i] = x
        want["vis.out"] = v.post_layernorm(x)
        want["vis:pooled"] = v.head(want["vis.out"])
    worst, bad = 0.0, []
    for side, args in (("text", ["--tokens", "ids", "lens", "1"]), ("vis", ["--images", "pix", "2", "32", "32"])):
        o = tempfile.mkdtemp(dir=tmp)
        np.array(given, np.int32).tofile(os.path.join(o, "ids"))
        np.array([len(given)], np.int32).tofile(os.path.join(o, "lens"))
        pix.numpy().astype(np.float32).tofile(os.path.join(o, "pix"))
        r = O.subprocess.run([dump, out, o] + [os.path.join(o, a) if a in ("ids", "lens", "pix") else a for a in args],
                             capture_output=True, text=True)
        if not tap.check(r.returncode == 0, "SigLIP: trace_dump of the %s tower" % side, r.stderr.strip()[-200:]):
            return
        for line in open(os.path.join(o, "index.txt")):
            name, rows, cols = line.split()
            key = side + ":pooled" if name == "pooled" else name
            if key not in want or not key.startswith(side):
                continue
            got = np.fromfile(os.path.join(o, name + ".bin"), np.float32).reshape(int(rows), int(cols))
            ref = want.pop(key).reshape(int(rows), int(cols)).numpy()
            err = float(np.abs(got - ref).max())
            worst = max(worst, err)
            if err > 1e-4:
                bad.append("%s %.1e" % (key, err))
    tap.check(not bad and not want, "SigLIP: every layer of both towers within 1e-4 of PyTorch (worst %.1e)" % worst,
              "; ".join(bad) + (" missing %s" % sorted(want) if want else ""))


def export(out, model, cfg, tmp, imgs, tag="SigLIP"):
    """sail export --format hf: a SiglipModel folder whose config.json,
    processor and tensors a fresh PyTorch SiglipModel loads strictly and
    which embeds as sail does; the folder converts back to the same file."""
    hf = os.path.join(tmp, tag + "-hf")
    r = O.run(["export", "--format", "hf", out, "-o", hf])
    if not tap.check(r.returncode == 0, "%s: sail export --format hf" % tag, r.stderr.strip()[-300:]):
        return
    ecfg = O.json.load(open(os.path.join(hf, "config.json")))
    tap.check(ecfg["architectures"] == ["SiglipModel"] and ecfg["model_type"] == "siglip" and
              all(ecfg["text_config"][k] == v for k, v in cfg["text_config"].items() if k != "model_type") and
              all(ecfg["vision_config"][k] == v for k, v in cfg["vision_config"].items() if k != "model_type"),
              "%s: the exported config.json keeps every architecture key" % tag)
    ref = S.SiglipModel(ecfg).eval()
    tensors = {k: torch.from_numpy(v) for k, v in S.read_safetensors(os.path.join(hf, "model.safetensors")).items()}
    try:
        ref.load_state_dict(tensors, strict=True)
        tap.check(True, "%s: a PyTorch SiglipModel loads the export with load_state_dict(strict=True)" % tag)
    except RuntimeError as e:
        tap.check(False, "%s: a PyTorch SiglipModel loads the export strictly" % tag, str(e)[:300])
        return
    pp = O.json.load(open(os.path.join(hf, "preprocessor_config.json")))
    tap.check(pp["image_processor_type"] == "SiglipImageProcessor" and pp["size"] == {"height": 32, "width": 32} and
              not pp["do_center_crop"] and pp["image_mean"] == HALF and pp["image_std"] == HALF and pp["resample"] == 3,
              "%s: preprocessor_config.json squashes to 32x32, bicubic, mean = std = 0.5" % tag, str(pp)[:200])
    with torch.no_grad():
        want = torch.cat([ref.text(torch.tensor([S.padded(S.letters_ids(t), CTX)])) for t in TEXTS]).numpy()
        pix = torch.stack([O.preprocess(p, 32, 0, 3, HALF, HALF) for p in imgs])
        want_img = ref.image(pix).numpy()
    tap.compare(O.embed(out, "--text", TEXTS, tmp), want, "%s: the export's text embeddings == sail embed" % tag)
    tap.compare(O.embed(out, "--image", imgs, tmp), want_img, "%s: the export's image embeddings == sail embed" % tag)
    again = os.path.join(tmp, tag + "-again.gguf")
    r = O.convert(hf, again)
    if tap.check(r.returncode == 0, "%s: the exported folder converts" % tag, r.stderr.strip()[-300:]):
        tap.check(open(out, "rb").read() == open(again, "rb").read(),
                  "%s: re-converting the export gives the same file byte for byte" % tag)
    return ref


def main(tmp):
    d = os.path.join(tmp, "siglip")
    model, cfg = S.make_folder(d)
    out = os.path.join(tmp, "siglip.gguf")
    r = O.convert(d, out)
    if not tap.check(r.returncode == 0, "SigLIP: sail convert (auto-detected)", r.stderr.strip()[-300:]):
        return
    with torch.no_grad():
        want = torch.cat([model.text(torch.tensor([S.padded(S.letters_ids(t), CTX)])) for t in TEXTS]).numpy()
    tap.compare(O.embed(out, "--text", TEXTS, tmp), want,
                "SigLIP: text embeddings (padded to the context, pads attended, final norm, last position, head)")
    imgs = O.write_images(tmp)
    with torch.no_grad():
        pix = torch.stack([O.preprocess(p, 32, 0, 3, HALF, HALF) for p in imgs])
        want_img = model.image(pix).numpy()
    tap.compare(O.embed(out, "--image", imgs, tmp), want_img,
                "SigLIP: image embeddings from files of odd sizes (squash, no class token, MAP head)")

    layers(out, model, tmp)

    # the same weights as pytorch_model.bin: the same sail file
    b = os.path.join(tmp, "siglip-bin")
    os.makedirs(b)
    for f in os.listdir(d):
        if f != "model.safetensors":
            with open(os.path.join(d, f), "rb") as src, open(os.path.join(b, f), "wb") as dst:
                dst.write(src.read())
    torch.save(model.state_dict(), os.path.join(b, "pytorch_model.bin"))
    out_bin = os.path.join(tmp, "siglip-bin.gguf")
    r = O.convert(b, out_bin, "--from", "hf-siglip")
    if tap.check(r.returncode == 0, "SigLIP: sail convert of pytorch_model.bin", r.stderr.strip()[-300:]):
        tap.check(open(out, "rb").read() == open(out_bin, "rb").read(),
                  "SigLIP: pytorch_model.bin gives the same sail file, byte for byte")

    ref = export(out, model, cfg, tmp, imgs)
    if ref is not None:
        same = all(torch.equal(p, model.state_dict()[k]) for k, p in ref.state_dict().items())
        tap.check(same, "SigLIP: every exported tensor, logit_scale and logit_bias included, equals the original")

    r = O.run(["info", out])
    tap.check(r.returncode == 0 and "variant=towers" in r.stdout and "gelu_tanh" in r.stdout,
              "SigLIP: sail info describes the imported model", (r.stdout + r.stderr).strip()[:300])

    # a checkpoint whose logit_bias is missing is refused by name
    st = O.state_numpy(model)
    del st["logit_bias"]
    O.write_safetensors(os.path.join(d, "model.safetensors"), st)
    r = O.convert(d, os.path.join(tmp, "bad.gguf"))
    tap.check(r.returncode != 0 and "logit_bias" in r.stderr, "SigLIP: a missing logit_bias is named",
              r.stderr.strip()[-200:])
    cfg2 = dict(cfg, vision_config=dict(cfg["vision_config"], vision_use_head=False))
    O.write_json(os.path.join(d, "config.json"), cfg2)
    r = O.convert(d, os.path.join(tmp, "bad.gguf"))
    tap.check(r.returncode != 0 and "vision_use_head" in r.stderr, "SigLIP: a model without the pooling head is refused",
              r.stderr.strip()[-200:])


def zero_shot(out, model, tok, tmp):
    """`sail classify --zero-shot` on a SigLIP model scores each label as
    SiglipModel does: sigmoid(image . text * exp(logit_scale) + logit_bias)."""
    labels = ["cat", "red dog", "bridge"]
    imgs = O.write_images(tmp)[:3]
    args = ["classify", "--zero-shot", "--model", out, "--labels", ",".join(labels), "--top", str(len(labels))]
    r = O.run(args + sum([["--image", p] for p in imgs], []))
    doc = json.loads(r.stdout) if r.returncode == 0 else {"results": []}
    with torch.no_grad():
        t = torch.cat([model.text(torch.tensor([tok.model_input(tok.ids("a photo of a " + l), CTX)[1]]))
                       for l in labels])
        i = model.image(torch.stack([O.preprocess(p, 32, 0, 3, HALF, HALF) for p in imgs]))
        want = torch.sigmoid(i @ t.T * model.logit_scale.exp() + model.logit_bias).numpy()
    got = np.array([[{x["label"]: x["probability"] for x in res["top"]}[l] for l in labels] for res in doc["results"]])
    ok = got.shape == want.shape and float(np.abs(got - want).max()) < 1e-4 and doc.get("probability") == "sigmoid"
    tap.check(ok, "SigLIP zero-shot: classify gives SiglipModel's sigmoid(scale * cosine + bias) per label "
              "(max |diff| %.1e)" % (float(np.abs(got - want).max()) if got.shape == want.shape else -1),
              r.stderr.strip()[-200:])


def spm_case(tmp):
    """A folder with SigLIP's own tokenizer: a spiece.model trained here
    (SigLIP's id layout: pad 0, eos 1, unk 2) and a tokenizer_config.json of
    only model_max_length (SiglipTokenizer's defaults otherwise). Raw strings
    through `sail embed` equal the reference on the ids of a transcription of
    SiglipTokenizer (tests/test_spm.py) padded to model_max_length; the
    export writes the same spiece.model back and converts to the same file."""
    try:
        import sentencepiece  # noqa: F401
    except ImportError:
        print("# skip the spiece.model case - needs Debian's python3-sentencepiece")
        return
    import test_spm as TS
    d = os.path.join(tmp, "siglip-spm")
    model, cfg, proto = S.spm_folder(tmp, d, CTX)
    out = os.path.join(tmp, "siglip-spm.gguf")
    r = O.convert(d, out)
    if not tap.check(r.returncode == 0, "SigLIP spiece.model: sail convert", r.stderr.strip()[-300:]):
        return
    tok = TS.SiglipTokenizer(proto)
    texts = ["A photo of a cat.", "the red dog, running under the bridge!", "一只红色的猫在桌子上睡觉",
             "city night " * 12, "</s> hello", ""]
    ids = [tok.model_input(tok.ids(t), CTX)[1] for t in texts]
    with torch.no_grad():
        want = torch.cat([model.text(torch.tensor([x])) for x in ids]).numpy()
    tap.compare(O.embed(out, "--text", texts, tmp), want,
                "SigLIP spiece.model: raw strings (SiglipTokenizer ids padded to 16, pooled last) == PyTorch")
    zero_shot(out, model, tok, tmp)
    hf = os.path.join(tmp, "siglip-spm-hf")
    r = O.run(["export", "--format", "hf", out, "-o", hf])
    if not tap.check(r.returncode == 0, "SigLIP spiece.model: sail export", r.stderr.strip()[-300:]):
        return
    tc = O.json.load(open(os.path.join(hf, "tokenizer_config.json")))
    tap.check(open(os.path.join(hf, "spiece.model"), "rb").read() == proto and tc["tokenizer_class"] == "SiglipTokenizer"
              and (tc["eos_token"], tc["unk_token"], tc["pad_token"]) == ("</s>", "<unk>", "</s>")
              and tc["model_max_length"] == CTX and tc["do_lower_case"] is True,
              "SigLIP spiece.model: the export writes the same spiece.model and SiglipTokenizer's config", str(tc))
    again = os.path.join(tmp, "siglip-spm-again.gguf")
    r = O.convert(hf, again)
    if tap.check(r.returncode == 0, "SigLIP spiece.model: the exported folder converts", r.stderr.strip()[-300:]):
        tap.check(open(out, "rb").read() == open(again, "rb").read(),
                  "SigLIP spiece.model: re-converting the export gives the same file byte for byte")


with tempfile.TemporaryDirectory() as tmp:
    main(tmp)
    spm_case(tmp)
sys.exit(1 if tap.failed else 0)
