"""`sail export --format hf`: a converted model written back as a Hugging Face
folder, `sail finetune` from a Hugging Face folder with --export_hf, and the
centre crop of Hugging Face's image processors.

Each family (CLIP, Chinese-CLIP, BERT with pooler and mean pooling, ViT
with pooler and class-token pooling) is a seeded random model in Hugging
Face's layout (tests/convert_oracle.py) with a tiny tokenizer written here
(tests/test_finetune_grad.py), converted, exported and checked:
  * every exported tensor equals the original of that name bit for bit
    (dtype, shape, bytes); the names are the original's, less only the
    pooler a pooling does not use;
  * config.json keeps every original key that matters (sizes, activations,
    eps as float32, ids), the tokenizer files give the same vocabulary,
    merges and special tokens, preprocessor_config.json the same values;
  * converting the exported folder again gives a file identical to the
    first conversion, byte for byte;
  * the exported safetensors load into the PyTorch reference with
    load_state_dict(strict=True), and that model embeds texts and images as
    `sail embed` does on the .gguf (cosine >= 0.9999, max abs error <= 1e-4).
f16, bf16 and q8_0 models export as F16 / BF16 (the stored values) and F32
(widened).
Crop: a converted CLIP crops with Hugging Face's floor offset (written here
in PIL + numpy): `sail preprocess` and `sail embed` on odd-sized images
match that reference where torchvision's rounding gives a different crop;
a native sail model still rounds.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import tap
from tap import SAIL, check, skip_import

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    import convert_oracle as O
    import pil_ref
    import test_finetune_grad as G
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch, python3-numpy and python3-pil", e)

T = O.Tap()
TEXTS = ["ab cd", "a b c d e", "hello world"]


def sail(*args, **kw):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True, **kw)


def ok(r, name):
    return check(r.returncode == 0, name, r.stderr.strip()[-300:] if r.returncode else "")


# ------------------------------------------------------------ readers --

def read_safetensors(path):
    """{name: (dtype, shape, raw bytes)}, read from the file layout."""
    with open(path, "rb") as f:
        b = f.read()
    n, = struct.unpack_from("<Q", b)
    head = json.loads(b[8:8 + n])
    head.pop("__metadata__", None)
    return {k: (v["dtype"], tuple(v["shape"]), b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in head.items()}


def st_array(entry):
    dtype, shape, raw = entry
    dt = {"F32": np.float32, "F16": np.float16}[dtype]
    return np.frombuffer(raw, dt).reshape(shape).astype(np.float32)


def read_gguf(path):
    """(kv {key: value}, tensors {name: (type, shape rows first, bytes)}) of a GGUF v3 file."""
    with open(path, "rb") as f:
        b = f.read()
    n_t, n_kv = struct.unpack_from("<QQ", b, 8)
    fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def string(o):
        n, = struct.unpack_from("<Q", b, o)
        return b[o + 8:o + 8 + n].decode("utf-8", "surrogateescape"), o + 8 + n

    def value(t, o):
        if t == 8:
            return string(o)
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, o)
            o, out = o + 12, []
            for _ in range(n):
                v, o = value(et, o)
                out.append(v)
            return out, o
        v, = struct.unpack_from("<" + fmt[t], b, o)
        return v, o + struct.calcsize(fmt[t])
    o, kv = 24, {}
    for _ in range(n_kv):
        k, o = string(o)
        t, = struct.unpack_from("<I", b, o)
        kv[k], o = value(t, o + 4)
    infos = []
    for _ in range(n_t):
        name, o = string(o)
        nd, = struct.unpack_from("<I", b, o)
        ne = struct.unpack_from("<%dQ" % nd, b, o + 4)
        t, off = struct.unpack_from("<IQ", b, o + 4 + 8 * nd)
        o += 16 + 8 * nd
        infos.append((name, t, tuple(reversed(ne)), off))
    align = kv.get("general.alignment", 32)
    base = (o + align - 1) // align * align
    out = {}
    for name, t, shape, off in infos:
        n = int(np.prod(shape))
        nb = {0: 4 * n, 1: 2 * n, 30: 2 * n}.get(t, n // 32 * 34)
        out[name] = (t, shape, b[base + off:base + off + nb])
    return kv, out


def load_json(d, name):
    with open(os.path.join(d, name), encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------- models --

def make(kind, d):
    """A Hugging Face folder of kind with weights; returns (model, pool)."""
    if kind in ("clip", "cnclip"):
        model, _ = G.clip_model(d, chinese=kind == "cnclip")
    elif kind.startswith("bert"):
        model, _ = G.bert_model(d)
    else:
        model, _ = G.vit_model(d)
    O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
    return model.eval()


def reference(kind, cfg, pool):
    """The PyTorch reference built from an exported config.json."""
    if kind == "clip":
        return O.CLIPModel(cfg)
    if kind == "cnclip":
        return O.CLIPModel(cfg, text_cls=O.ChineseText)
    if kind.startswith("bert"):
        return O.BertModel(cfg, add_pooling_layer=pool == "pooler")
    return O.ViTModel(cfg)


def ids_of(model_gguf, texts, end):
    """The ids sail's tokenizer gives, cut after the first end token (the
    reference runs unpadded sequences)."""
    r = sail("tokenize", "--model", model_gguf, input="\n".join(texts) + "\n")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    return [torch.tensor([row[:row.index(end, 1) + 1]]) for row in rows]


def embed_ref(kind, m, pool, ids=None, pix=None):
    with torch.no_grad():
        if ids is not None:
            if kind.startswith("bert"):
                return F.normalize(m.pooled(ids, pool), dim=-1)[0].numpy()
            return m.text(ids)[0].numpy()
        if kind.startswith("vit"):
            return F.normalize(m(pix[None], pool), dim=-1)[0].numpy()
        return m.image(pix[None])[0].numpy()


def config_keeps(orig, got, path=""):
    """The keys of orig that differ in got (floats compared as float32)."""
    bad = []
    for k, v in orig.items():
        g = got.get(k) if isinstance(got, dict) else None
        if isinstance(v, dict):
            bad += config_keeps(v, g or {}, path + k + ".")
        elif isinstance(v, float) or isinstance(g, float):
            if g is None or np.float32(v) != np.float32(g):
                bad.append("%s%s: %r vs %r" % (path, k, v, g))
        elif v != g:
            bad.append("%s%s: %r vs %r" % (path, k, v, g))
    return bad


def family_case(kind, tmp, images):
    pool = {"bert-pooler": "pooler", "bert-mean": "mean", "vit-pooler": "pooler", "vit-cls": "cls"}.get(kind)
    src = os.path.join(tmp, kind)
    model = make(kind, src)
    orig = O.state_numpy(model)
    g1, g2, out = (os.path.join(tmp, kind + x) for x in (".gguf", "-again.gguf", "-hf"))
    extra = ["--pool", pool] if pool else []
    if not ok(sail("convert", src, "-o", g1, *extra), "%s: converted" % kind):
        return
    if not ok(sail("export", "--format", "hf", g1, "-o", out), "%s: sail export --format hf" % kind):
        return

    # the tensors, bit for bit, under the original names
    st = read_safetensors(os.path.join(out, "model.safetensors"))
    dropped = {"pooler.dense.weight", "pooler.dense.bias"} if pool in ("mean", "cls") else set()
    want = set(orig) - dropped
    check(set(st) == want, "%s: the exported tensors are the original's names%s" %
          (kind, " less the unused pooler" if dropped else ""),
          "missing %s, extra %s" % (sorted(want - set(st))[:4], sorted(set(st) - want)[:4]))
    diff = [k for k in want & set(st) if st[k] != ("F32", orig[k].shape, orig[k].astype(np.float32).tobytes())]
    check(not diff, "%s: all %d tensors equal the original bit for bit (dtype, shape, bytes)" % (kind, len(want)),
          "differ: %s" % ["%s %s vs %s" % (k, st[k][:2], orig[k].shape) for k in diff[:3]])

    # config.json and the other files
    ocfg, ecfg = load_json(src, "config.json"), load_json(out, "config.json")
    ocfg.pop("logit_scale_init_value", None)   # the exported one is the learned value (the tensor)
    bad = config_keeps(ocfg, ecfg)
    check(not bad, "%s: config.json keeps every original key" % kind, "; ".join(bad[:4]))
    if "logit_scale" in orig:
        check(np.float32(ecfg["logit_scale_init_value"]) == orig["logit_scale"],
              "%s: logit_scale_init_value is the checkpoint's temperature" % kind)
    if pool:
        check(ecfg.get("sail_pool") == pool, "%s: config.json records the pooling (sail_pool %s)" % (kind, pool))
    if kind == "clip":
        same = open(os.path.join(src, "merges.txt"), "rb").read() == open(os.path.join(out, "merges.txt"), "rb").read()
        check(load_json(src, "vocab.json") == load_json(out, "vocab.json") and same,
              "clip: vocab.json and merges.txt are the original's")
    elif not kind.startswith("vit"):
        check(open(os.path.join(src, "vocab.txt"), "rb").read() == open(os.path.join(out, "vocab.txt"), "rb").read(),
              "%s: vocab.txt is the original's" % kind)
    if not kind.startswith("vit"):
        otc, etc = load_json(src, "tokenizer_config.json"), load_json(out, "tokenizer_config.json")
        bad = config_keeps({k: v for k, v in otc.items() if k != "model_max_length"}, etc)
        check(not bad, "%s: tokenizer_config.json names the same special tokens and class" % kind, "; ".join(bad))
    if os.path.exists(os.path.join(src, "preprocessor_config.json")):
        opp, epp = load_json(src, "preprocessor_config.json"), load_json(out, "preprocessor_config.json")
        same = all(np.float32(opp[k][i]) == np.float32(epp[k][i]) for k in ("image_mean", "image_std") for i in range(3))
        check(same and opp["resample"] == epp["resample"],
              "%s: preprocessor_config.json has the same mean, std and filter" % kind)

    # the exported folder converts back to the same file
    if ok(sail("convert", out, "-o", g2), "%s: the exported folder converts" % kind):
        with open(g1, "rb") as a, open(g2, "rb") as b:
            check(a.read() == b.read(), "%s: re-converting the export gives the first conversion byte for byte" % kind)

    # the PyTorch reference loads it strictly and embeds as sail does
    ref = reference(kind, ecfg, pool).eval()
    tensors = {k: torch.from_numpy(st_array(v).copy()) for k, v in st.items()}
    try:
        missing = ref.load_state_dict(tensors, strict=not dropped or kind.startswith("bert"))
        missing = [k for k in missing.missing_keys if k not in dropped] + list(missing.unexpected_keys)
        check(not missing, "%s: the reference loads the exported safetensors (load_state_dict strict%s)" %
              (kind, ", less the unused pooler" if dropped and kind.startswith("vit") else ""), str(missing[:4]))
    except RuntimeError as e:
        check(False, "%s: the reference loads the exported safetensors" % kind, str(e)[:300])
        return
    if not kind.startswith("vit"):
        kv, _ = read_gguf(g1)
        end = kv["tokenizer.ggml.seperator_token_id"]
        want = np.stack([embed_ref(kind, ref, pool, ids=i) for i in ids_of(g1, TEXTS, end)])
        T.compare(O.embed(g1, "--text", TEXTS, tmp), want, "%s: text embeddings of the export == sail embed" % kind)
    if kind in ("clip", "cnclip") or kind.startswith("vit"):
        pp = load_json(out, "preprocessor_config.json")
        size = pp["size"].get("shortest_edge") or pp["size"]["height"]
        crop = pp["crop_size"]["height"] if pp.get("do_center_crop") else 0
        want = np.stack([embed_ref(kind, ref, pool, pix=O.preprocess(p, size, crop, pp["resample"], pp["image_mean"],
                                                                      pp["image_std"])) for p in images])
        T.compare(O.embed(g1, "--image", images, tmp), want, "%s: image embeddings of the export == sail embed" % kind)
    return g1, orig


def stored16(a, typ):
    """a as f16 or bf16 bytes, rounded to nearest even (numpy; PyTorch's bfloat16)."""
    if typ == "f16":
        return a.astype(np.float16).tobytes()
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()


def quantized_case(g1, orig, tmp):
    """f16 / bf16 export the stored halves; q8_0 widens to F32, within a step."""
    for typ in ("f16", "bf16", "q8_0"):
        q, out = os.path.join(tmp, "q-%s.gguf" % typ), os.path.join(tmp, "q-%s-hf" % typ)
        if not ok(sail("quantize", g1, "--type", typ, "-o", q), "%s model made" % typ):
            continue
        if not ok(sail("export", q, "-o", out), "%s: sail export (default --format hf)" % typ):
            continue
        st = read_safetensors(os.path.join(out, "model.safetensors"))
        if typ in ("f16", "bf16"):
            name = typ.upper()
            halves = [k for k, v in st.items() if v[0] == name]
            bad = [k for k, v in st.items() if v[2] != (stored16(orig[k], typ) if v[0] == name else
                                                        orig[k].astype(np.float32).tobytes())]
            check(halves and not bad, "%s: %d matrices exported as %s, every tensor the stored value" %
                  (typ, len(halves), name), "differ: %s" % bad[:3])
        else:
            worst = max(float(np.abs(st_array(v) - orig[k]).max() / (np.abs(orig[k]).max() / 127 + 1e-30))
                        for k, v in st.items())
            wide = sum(v[0] == "F32" and len(v[1]) > 1 for v in st.values())
            check(wide and {v[0] for v in st.values()} <= {"F32", "F16"} and worst <= 1.0,
                  "q8_0: %d matrices widened to F32 (rows q8_0 cannot split stay F16), within one quantisation "
                  "step of the original (worst %.2f steps)" % (wide, worst))


# ---------------------------------------------------------------- crop --

def processor_crop(path, size, crop, mean, std, floor):
    """Shortest edge -> size (bicubic, long side int(size * long / short)),
    centre crop with Hugging Face's offset (h - crop) // 2 when floor, else
    torchvision's round((h - crop) / 2); then /255 and normalise (CHW)."""
    return pil_ref.preprocess(Image.open(path).convert("RGB"), size, crop, mean, std, Image.BICUBIC, floor)


def odd_images(tmp, sizes, seed=11):
    rng = np.random.default_rng(seed)
    paths = []
    for w, h in sizes:
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx * yy) % 255], -1)
        img = np.clip(base + rng.normal(0, 60, (h, w, 3)), 0, 255).astype(np.uint8)
        p = os.path.join(tmp, "odd%dx%d.png" % (w, h))
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


def sail_tensor(model, path, tmp):
    out = os.path.join(tmp, "pp.npy")
    r = sail("preprocess", "--image", path, "--model", model, "-o", out)
    return np.load(out) if r.returncode == 0 else None


def crop_case(clip_gguf, tmp):
    kv, _ = read_gguf(clip_gguf)
    check(kv.get("sail.image.crop_floor") is True, "converted CLIP records sail.image.crop_floor = true")
    size, crop = kv["sail.image.size"], kv["sail.image.crop"]
    mean, std = kv["sail.image.mean"], kv["sail.image.std"]
    # 91x57 and 45x73 resize to a long side of 51 (51 - 32 = 19: floor 9, round 10); 47x73 to 49 (both 8)
    paths = odd_images(tmp, [(91, 57), (45, 73), (47, 73)])
    worst, differs = 0.0, 0
    for p in paths:
        got = sail_tensor(clip_gguf, p, tmp)
        hf = processor_crop(p, size, crop, mean, std, True)
        tv = processor_crop(p, size, crop, mean, std, False)
        if got is None:
            check(False, "sail preprocess %s" % os.path.basename(p))
            return
        worst = max(worst, float(np.abs(got - hf).max()))
        differs += float(np.abs(tv - hf).max()) > 0.05
    check(worst <= 1e-5 and differs == 2,
          "odd sizes: sail preprocess of a converted CLIP == Hugging Face's floor crop (max |diff| %.1e; "
          "torchvision's rounding crops %d of 3 differently)" % (worst, differs))
    m = make_reference_clip(tmp)
    want = np.stack([m.image(torch.from_numpy(processor_crop(p, size, crop, mean, std, True))[None])[0].detach().numpy()
                     for p in paths])
    old = np.stack([m.image(torch.from_numpy(processor_crop(p, size, crop, mean, std, False))[None])[0].detach().numpy()
                    for p in paths])
    got = O.embed(clip_gguf, "--image", paths, tmp)
    T.compare(got, want, "odd sizes: image embeddings == the reference with Hugging Face's floor crop")
    cos_old = min(float(np.dot(g, o)) for g, o in zip(got, old))
    check(cos_old < 0.9999, "odd sizes: the rounded crop would differ (min cosine %.5f)" % cos_old)


def make_reference_clip(tmp):
    """The seeded CLIP of the family case, rebuilt (the same seeds)."""
    d = os.path.join(tmp, "clip-again")
    model, _ = G.clip_model(d)
    return model.eval()


def native_crop_case(tmp):
    """A native sail model keeps torchvision's rounding (no crop_floor key)."""
    vocab = os.path.join(tmp, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + list("abcdefgh")) + "\n")
    native = os.path.join(tmp, "native.gguf")
    if not ok(sail("init", "--config", "tiny", "--vocab", vocab, "--seed", "1", "-o", native), "native model made"):
        return None
    kv, _ = read_gguf(native)
    size, crop = kv["sail.image.size"], kv["sail.image.crop"]
    # 103x57 -> long side int(128 * 103 / 57) = 231: 231 - 128 = 103, floor 51, round 52
    (p,) = odd_images(tmp, [(103, 57)])
    got = sail_tensor(native, p, tmp)
    tv = processor_crop(p, size, crop, kv["sail.image.mean"], kv["sail.image.std"], False)
    hf = processor_crop(p, size, crop, kv["sail.image.mean"], kv["sail.image.std"], True)
    check("sail.image.crop_floor" not in kv and got is not None and float(np.abs(got - tv).max()) <= 1e-5
          and float(np.abs(tv - hf).max()) > 0.05,
          "a native model has no crop_floor key and still crops as torchvision rounds (103x57)")
    return native


# ------------------------------------------------------------ finetune --

def finetune_case(tmp, native):
    data = os.path.join(tmp, "shapes")
    if not ok(sail("data", "shapes", "-n", "40", "--seed", "2", "-o", data), "shapes data generated"):
        return
    src, run = os.path.join(tmp, "ft-clip"), os.path.join(tmp, "run")
    make("clip", src)
    r = sail("finetune", "--model_name_or_path", src, "--train_data_path", os.path.join(data, "train.jsonl"),
             "--output_dir", run, "--num_train_epochs", "1", "--batch_size", "8", "--warmup_steps", "1",
             "--learning_rate", "1e-3", "--threads", "2", "--export-hf")
    if not ok(r, "finetune --model_name_or_path HF_DIR --export-hf: 1 epoch"):
        return
    model, hf = os.path.join(run, "model.gguf"), os.path.join(run, "hf")
    check(os.path.exists(model) and os.path.exists(os.path.join(hf, "model.safetensors")) and
          not os.path.exists(os.path.join(run, "converted.gguf")),
          "finetune: OUTPUT_DIR/model.gguf and OUTPUT_DIR/hf written, the temporary conversion removed")
    again = os.path.join(tmp, "ft-again.gguf")
    if not ok(sail("convert", hf, "-o", again), "finetune: OUTPUT_DIR/hf converts"):
        return
    (kv1, t1), (kv2, t2) = read_gguf(model), read_gguf(again)
    check(t1 == t2 and kv1 == kv2, "finetune: OUTPUT_DIR/hf converts to model.gguf's tensors and metadata exactly",
          "tensors differ: %s" % [k for k in t1 if t1[k] != t2.get(k)][:3])
    first = os.path.join(tmp, "ft-first.gguf")
    sail("convert", src, "-o", first)
    _, t0 = read_gguf(first)
    changed = sum(t0[k] != t1[k] for k in t0)
    check(changed == len(t0) and kv1["sail.logit_scale"] != read_gguf(first)[0]["sail.logit_scale"],
          "finetune: training changed all %d tensors and the temperature" % len(t0), "%d changed" % changed)
    if native:
        run2 = os.path.join(tmp, "run-native")
        r = sail("finetune", "--model_name_or_path", native, "--train_data_path", os.path.join(data, "train.jsonl"),
                 "--output_dir", run2, "--num_train_epochs", "1", "--export_hf")
        check(r.returncode == 2 and "native sail model" in r.stderr and not os.path.exists(os.path.join(run2, "model.gguf")),
              "finetune --export_hf of a native model is refused before training", r.stderr.strip()[-200:])


def refusals(native, tmp):
    r = sail("export", native, "-o", os.path.join(tmp, "x"))
    check(r.returncode == 1 and "native sail model" in r.stderr, "export of a native model is refused, saying why",
          r.stderr.strip()[-200:])
    r = sail("export", "--format", "onnx", native, "-o", os.path.join(tmp, "x"))
    check(r.returncode == 2 and "--format" in r.stderr, "export --format onnx is a usage error")
    r = sail("export", "--help")
    check(r.returncode == 0 and "--format hf" in r.stdout, "export --help")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        images = O.write_images(tmp)
        clip = None
        for kind in ("clip", "cnclip", "bert-pooler", "bert-mean", "vit-pooler", "vit-cls"):
            res = family_case(kind, tmp, images)
            if kind == "clip":
                clip = res
        if clip:
            quantized_case(clip[0], clip[1], tmp)
            crop_case(clip[0], tmp)
        native = native_crop_case(tmp)
        if native:
            refusals(native, tmp)
        finetune_case(tmp, native)
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
