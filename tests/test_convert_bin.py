"""`sail convert` from pytorch_model.bin, sharded and half-precision
safetensors, and its refusals.

* A pytorch_model.bin written by torch.save converts to the same sail file,
  byte for byte, as the model.safetensors of the same weights; so does a
  sharded model.safetensors.index.json folder.
* F16 and BF16 safetensors convert to the f32 model of the rounded weights,
  and F16 / BF16 pytorch_model.bin files (HalfStorage, BFloat16Storage) to
  the same bytes as those.
* Hostile pytorch_model.bin files are refused without running anything: a
  pickle whose payload calls os.system (PyTorch's own loader does create the
  marker file, proving the payload live; sail must not), an unknown global,
  a truncated zip.
* A tensor missing, misshaped or unexpected is named in the error; an
  unsupported activation is refused.
"""
import os
import shutil
import sys
import tempfile
import zipfile

from tap import skip_import

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import convert_oracle as O
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch and python3-numpy", e)

tap = O.Tap()


def read(p):
    with open(p, "rb") as f:
        return f.read()


def same_bytes(d, ref, name):
    out = os.path.join(d, "..", os.path.basename(d) + ".gguf")
    r = O.convert(d, out)
    if tap.check(r.returncode == 0, name + ": sail convert", r.stderr.strip()[-300:]):
        tap.check(read(out) == read(ref), name + ": the same sail file, byte for byte, as from model.safetensors")


def formats_case(tmp, kind):
    base = os.path.join(tmp, kind)
    model = O.make_clip_folder(base) if kind == "clip" else O.make_vit_folder(base)
    sd = model.state_dict()
    if kind == "clip":  # the integer buffer real CLIP checkpoints carry
        sd["text_model.embeddings.position_ids"] = torch.arange(77)[None]
    st = {k: v.numpy() for k, v in sd.items()}
    O.write_safetensors(os.path.join(base, "model.safetensors"), st)
    ref = os.path.join(tmp, kind + "-st.gguf")
    r = O.convert(base, ref)
    if not tap.check(r.returncode == 0, "%s: safetensors reference converts" % kind, r.stderr.strip()[-300:]):
        return
    aux = [f for f in os.listdir(base) if f != "model.safetensors"]

    def sibling(name):
        d = os.path.join(tmp, kind + "-" + name)
        os.makedirs(d)
        for f in aux:
            shutil.copy(os.path.join(base, f), d)
        return d

    d = sibling("bin")
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    same_bytes(d, ref, "%s: pytorch_model.bin (torch.save)" % kind)

    d = sibling("shards")
    names = list(st)
    half = len(names) // 2
    wm = {}
    for i, part in enumerate([names[:half], names[half:]]):
        fn = "model-%05d-of-00002.safetensors" % (i + 1)
        O.write_safetensors(os.path.join(d, fn), {k: st[k] for k in part})
        wm.update({k: fn for k in part})
    O.write_json(os.path.join(d, "model.safetensors.index.json"), {"metadata": {}, "weight_map": wm})
    same_bytes(d, ref, "%s: sharded safetensors with an index" % kind)

    if kind == "vit":  # F16 weights: sail computes in f32 from the rounded values
        d = sibling("f16")
        O.write_safetensors(os.path.join(d, "model.safetensors"), {k: v.astype(np.float16) for k, v in st.items()})
        out = os.path.join(tmp, "vit-f16.gguf")
        r = O.convert(d, out)
        if tap.check(r.returncode == 0, "vit: F16 safetensors convert", r.stderr.strip()[-300:]):
            rounded_case(model, torch.float16, out, tmp)
            d = sibling("f16bin")
            torch.save({k: v.half() for k, v in sd.items()}, os.path.join(d, "pytorch_model.bin"))
            same_bytes(d, out, "vit: an F16 pytorch_model.bin (HalfStorage)")
        d = sibling("bf16")
        bf = {k: ("BF16", (v.bfloat16().view(torch.int16).numpy().view(np.uint16))) for k, v in sd.items()}
        O.write_safetensors(os.path.join(d, "model.safetensors"), bf)
        out = os.path.join(tmp, "vit-bf16.gguf")
        r = O.convert(d, out)
        if tap.check(r.returncode == 0, "vit: BF16 safetensors convert", r.stderr.strip()[-300:]):
            d = sibling("bf16bin")
            torch.save({k: v.bfloat16() for k, v in sd.items()}, os.path.join(d, "pytorch_model.bin"))
            same_bytes(d, out, "vit: a BF16 pytorch_model.bin (BFloat16Storage)")
            rounded_case(model, torch.bfloat16, out, tmp)
    return base


def rounded_case(model, dtype, out, tmp):
    """The ViT converted from dtype (f16 / bf16) weights embeds as the torch
    model with its weights rounded to dtype (sail computes in f32 from the
    rounded values)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())
    imgs = O.write_images(tmp)
    pix = torch.stack([O.preprocess(p, 32, 0, 2, [0.5] * 3, [0.5] * 3) for p in imgs])
    with torch.no_grad():
        want = F.normalize(model(pix), dim=-1).numpy()
    kind = {torch.float16: "f16", torch.bfloat16: "bf16"}[dtype]
    tap.compare(O.embed(out, "--image", imgs, tmp), want,
                "vit: %s weights give the %s-rounded model's vectors" % (kind.upper(), kind))


class Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def hostile_case(tmp, base):
    aux = [f for f in os.listdir(base) if not f.endswith(".safetensors")]

    def folder(name):
        d = os.path.join(tmp, "bad-" + name)
        os.makedirs(d)
        for f in aux:
            shutil.copy(os.path.join(base, f), d)
        return os.path.join(d, "pytorch_model.bin")

    marker = os.path.join(tmp, "PWNED")
    p = folder("system")
    sd = {"embeddings.cls_token": torch.zeros(1, 1, 32), "evil": Evil("touch " + marker)}
    torch.save(sd, p)
    torch.load(p)  # PyTorch 1.13's loader runs the payload: the file is live
    live = os.path.exists(marker)
    if live:
        os.remove(marker)
    r = O.convert(os.path.dirname(p), os.path.join(tmp, "x.gguf"))
    tap.check(live and r.returncode == 1 and not os.path.exists(marker) and "system" in r.stderr,
              "a pickle calling os.system is refused and runs nothing",
              "payload live under torch.load: %s; sail: %s" % (live, r.stderr.strip()[-200:]))

    p = folder("global")
    torch.save({"w": torch.nn.Parameter(torch.zeros(2))}, p)   # torch._utils._rebuild_parameter
    r = O.convert(os.path.dirname(p), os.path.join(tmp, "x.gguf"))
    tap.check(r.returncode == 1 and "_rebuild_parameter" in r.stderr, "an unknown global is refused, named",
              r.stderr.strip()[-200:])

    good = os.path.join(tmp, "vit-bin", "pytorch_model.bin")
    data = read(good)
    for frac in (0.5, 0.9):
        p = folder("trunc%d" % int(frac * 10))
        with open(p, "wb") as f:
            f.write(data[:int(len(data) * frac)])
        r = O.convert(os.path.dirname(p), os.path.join(tmp, "x.gguf"))
        tap.check(r.returncode == 1 and "pytorch_model.bin" in r.stderr,
                  "a zip truncated to %d%% is refused" % (frac * 100), r.stderr.strip()[-200:])

    # a storage entry shorter than the pickle claims
    p = folder("short")
    with zipfile.ZipFile(good) as zi, zipfile.ZipFile(p, "w") as zo:
        for item in zi.infolist():
            b = zi.read(item)
            if "/data/" in item.filename and not item.filename.endswith("serialization_id"):
                b = b[:-4]
            zo.writestr(item, b)
    r = O.convert(os.path.dirname(p), os.path.join(tmp, "x.gguf"))
    tap.check(r.returncode == 1 and "bytes" in r.stderr, "a storage shorter than its tensors is refused",
              r.stderr.strip()[-200:])


def checks_case(tmp, base):
    model = O.make_vit_folder(os.path.join(tmp, "chk-src"))
    st = O.state_numpy(model)
    cases = [
        ("missing", lambda s: s.pop("encoder.layer.1.attention.attention.value.bias"),
         "encoder.layer.1.attention.attention.value.bias"),
        ("misshaped", lambda s: s.__setitem__("encoder.layer.0.intermediate.dense.weight", np.zeros((63, 32), np.float32)),
         "encoder.layer.0.intermediate.dense.weight' has shape [63, 32]"),
        ("unexpected", lambda s: s.__setitem__("encoder.layer.2.output.dense.weight", np.zeros((32, 64), np.float32)),
         "unexpected tensor 'encoder.layer.2.output.dense.weight'"),
    ]
    for name, edit, want in cases:
        d = os.path.join(tmp, "chk-" + name)
        shutil.copytree(os.path.join(tmp, "chk-src"), d)
        s = dict(st)
        edit(s)
        O.write_safetensors(os.path.join(d, "model.safetensors"), s)
        r = O.convert(d, os.path.join(tmp, "x.gguf"))
        tap.check(r.returncode == 1 and want in r.stderr, "a %s tensor is named in the error" % name,
                  r.stderr.strip()[-250:])
    d = os.path.join(tmp, "chk-act")
    shutil.copytree(os.path.join(tmp, "chk-src"), d)
    O.write_safetensors(os.path.join(d, "model.safetensors"), st)
    cfg = O.json.load(open(os.path.join(d, "config.json")))
    cfg["hidden_act"] = "silu"
    O.write_json(os.path.join(d, "config.json"), cfg)
    r = O.convert(d, os.path.join(tmp, "x.gguf"))
    tap.check(r.returncode == 1 and "silu" in r.stderr, "an unsupported activation is refused", r.stderr.strip()[-200:])
    r = O.convert(d, os.path.join(tmp, "x.gguf"), "--type", "f16")
    tap.check(r.returncode == 2 and "f32" in r.stderr, "--type other than f32 is a usage error", r.stderr.strip()[-200:])
    r = O.run(["convert", "--help"])
    tap.check(r.returncode == 0 and "f32 (the only one)" in r.stdout and "sail quantize" in r.stdout and
              "will come" not in r.stdout, "--help says convert writes f32 and sail quantize makes the other types",
              r.stdout[-300:])


with tempfile.TemporaryDirectory() as tmp:
    vit = formats_case(tmp, "vit")
    if O.golden("bpe_simple_vocab_16e6.txt.gz"):
        formats_case(tmp, "clip")
    else:
        print("skip - ../shared/golden is absent: CLIP's pytorch_model.bin case needs its BPE merges")
    if vit:
        hostile_case(tmp, vit)
        checks_case(tmp, vit)
sys.exit(1 if tap.failed else 0)
