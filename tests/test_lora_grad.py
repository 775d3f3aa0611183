"""LoRA adapters' gradients against PyTorch autograd, and the merge at export.

tests/test_train_grad.c checks the adapters against finite differences; here
every adapter's A and B gradient is checked against autograd on independent
references that compute each adapted matrix as W + (alpha / r) B A:
  * a converted CLIP (the Hugging Face-layout reference of
    tests/convert_oracle.py, tests/test_finetune_grad.py's seeded model),
    adapters on the text and vision towers (q, k, v share one A and split B
    by rows, as sail stores them in one attn_qkv matrix);
  * a sail model with fusion (test_parity.py's reference), adapters on the
    text, vision and fusion parts.
tests/tools/train_dump.c adds the adapters (sail_tmodel_add_lora), moves A
and B off their start (so both have gradients) and runs one training step;
the reference reads the same A and B from its params.f32. Checks (one TAP
line each): loss relative error <= 1e-5, the step's embeddings <= 1e-4,
every adapter's A and B gradient max|g_sail - g_torch| / max|g_torch| <=
1e-3, the trained heads and temperature too, and the adapted matrices (and
their biases) get no gradient at all.

The merge: `sail finetune --lora_rank 2 --export_hf` on a Hugging Face CLIP
folder; the exported folder loads strictly into the reference, and its
embeddings equal the UNMERGED forward (the original folder's weights, each
adapted linear computing x W^T + b + s (x A^T) B^T with A and B read from
the run's checkpoint.gguf) to <= 1e-5, while the adapters moved the
embeddings by far more than that.
"""
import math
import os
import subprocess
import sys
import tempfile

import tap
from tap import SAIL, check, skip_import

try:
    import numpy as np
    import torch
    import convert_oracle as O
    import test_finetune_grad as G
    import test_train_grad as TG
    import test_parity as tp
    import test_export_hf as X
except ImportError as e:  # pragma: no cover
    skip_import("the LoRA gradient oracle needs Debian's python3-torch and python3-numpy", e)

TOL_MERGE = 1e-5  # the step's loss, embeddings and gradients: test_train_grad's tolerances
RANK, ALPHA = 2, 6.0
LINEARS = ("attn_qkv", "attn_out", "ffn_up", "ffn_down")


def dump_step(path, out, n, side_a, side_b, group, dims, parts, seed):
    return TG.dump_step(path, out, n, (side_a, side_b), group, ",".join("%d:1" % d for d in dims),
                        extra=("--lora", "%d:%g:%s:%d" % (RANK, ALPHA, "+".join(parts), seed)))


def read_dump(out):
    return TG.dumped(out), {name: (off, rows, cols) for name, off, rows, cols in TG.dump_index(out)}


def adapters_of(index, params):
    """{"text.blk.0.attn_qkv": (A, B)} as float64 leaf tensors with grad."""
    ad = {}
    for name, (off, rows, cols) in index.items():
        if name.endswith(".lora_a"):
            base = name[:-7]
            ob, rb, cb = index[base + ".lora_b"]
            a = torch.tensor(params[off:off + rows * cols].reshape(rows, cols), dtype=torch.float64, requires_grad=True)
            b = torch.tensor(params[ob:ob + rb * cb].reshape(rb, cb), dtype=torch.float64, requires_grad=True)
            ad[base] = (a, b)
    return ad


def patch(module, attr, w0, a, b, rows=None):
    """module.attr := W0 + (alpha / r) B[rows] A (a plain tensor, so the
    gradient flows to A and B only)."""
    if attr in module._parameters:
        del module._parameters[attr]
    bb = b if rows is None else b[rows]
    setattr(module, attr, w0 + (ALPHA / RANK) * (bb @ a))


def compare_grads(name, index, grads, ad, trained, adapted_prefixes):
    """adapters and trained tensors vs autograd; adapted matrices' own
    gradient must be exactly zero."""
    g, n_ad = TG.Grads(), 0
    for tname, (off, rows, cols) in index.items():
        s = grads[off:off + rows * cols]
        if tname.endswith((".lora_a", ".lora_b")):
            a, b = ad[tname[:-7]]
            w = (a if tname.endswith("_a") else b).grad
            n_ad += 1
        elif tname in trained:
            w = trained[tname]
        else:
            parts = tname.split(".")
            if tname.startswith(adapted_prefixes) and len(parts) == 5 and parts[3] in LINEARS and s.any():
                g.bad.append("%s (adapted, yet a gradient)" % tname)
            continue
        g.add(tname, s, None if w is None else w.detach().numpy().reshape(-1))
    check(n_ad > 0 and not g.bad, "%s: %d adapter tensors (A and B) and %d trained tensors within %.0e of autograd, "
          "adapted matrices without gradient (worst %.1e: %s)" % (name, n_ad, len(trained), TG.TOL_GRAD, g.worst,
                                                                  g.worst_name), "; ".join(g.bad[:6]))
    return n_ad


# ------------------------------------------------------- converted CLIP --

def clip_case(tmp):
    name = "lora-clip"
    d = os.path.join(tmp, name)
    model, cfg = G.clip_model(d)
    O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))
    path = os.path.join(tmp, name + ".gguf")
    r = O.convert(d, path)
    if not check(r.returncode == 0, "%s: sail convert" % name, r.stderr.strip()[-300:] if r.returncode else ""):
        return
    model = model.double()
    n, g = 4, torch.Generator().manual_seed(31)
    vocab = cfg["text_config"]["vocab_size"]
    made = [G.make_side("text", g, n, vocab, vocab - 2, vocab - 1, [3, 9, 1, 6], 32),
            G.make_side("image", g, n, vocab, 0, 0, None, 32)]
    out = tempfile.mkdtemp(dir=tmp)
    group = [0, 1, 2, 3]
    r = dump_step(path, out, n, G.write_side(made[0], out, "a"), G.write_side(made[1], out, "b"), group, [16],
                  ("text", "vision"), 7)
    if not check(r.returncode == 0, "%s: one training step with adapters on text and vision (train_dump)" % name,
                 r.stderr.strip()[-300:] if r.returncode else ""):
        return
    load, index = read_dump(out)
    ad = adapters_of(index, load("params"))
    for p in model.parameters():
        p.requires_grad_(False)
    for base, (a, b) in ad.items():
        names = G.torch_names("clip", base + ".weight")
        step = b.shape[0] // len(names)
        for k, wname in enumerate(names):
            mod = model.get_submodule(wname.rsplit(".", 1)[0])
            patch(mod, "weight", mod.weight.detach().clone(), a, b, slice(k * step, (k + 1) * step))
    heads = {"text.proj.weight": model.text_projection.weight, "vis.proj.weight": model.visual_projection.weight}
    for p in heads.values():
        p.requires_grad_(True)
    ls = torch.tensor(float(np.float32(3.1)), dtype=torch.float64, requires_grad=True)
    ea, eb = (G.embed_side("clip", model, s, None) for s in made)
    loss = TG.infonce(ea, eb, group, [16], [1.0], ls)
    loss.backward()
    TG.check_step(name, load, n, loss, ea, eb, " (with adapters)")
    trained = {k: p.grad for k, p in heads.items()}
    trained["train.logit_scale"] = ls.grad
    n_ad = compare_grads(name, index, load("grads"), ad, trained, ("text.", "vis."))
    layers = cfg["text_config"]["num_hidden_layers"] + cfg["vision_config"]["num_hidden_layers"]
    check(n_ad == 2 * 4 * layers, "%s: an A and a B on the 4 matrices of each of the %d blocks (%d)" %
          (name, layers, n_ad))


# ----------------------------------------------------------- sail model --

def sail_linears(ref):
    """sail block prefix -> [(module, attribute)] of the 4 adaptable matrices."""
    out = {}
    for pre, layers, tv in (("text", ref.text, False), ("vis", ref.vit.encoder.layers, True),
                            ("fuse", ref.fusion, False)):
        for i, layer in enumerate(layers):
            if tv:
                attn = layer.self_attention
                up, down = [m for m in layer.mlp if isinstance(m, torch.nn.Linear)]
            else:
                attn, up, down = layer.self_attn, layer.linear1, layer.linear2
            for lin, (m, attr) in zip(LINEARS, ((attn, "in_proj_weight"), (attn.out_proj, "weight"),
                                                (up, "weight"), (down, "weight"))):
                out["%s.blk.%d.%s" % (pre, i, lin)] = (m, attr)
    return out


def sail_case(tmp):
    name = "lora-sail-fusion"
    cfg = tp.Cfg(lf=1, max_pos=12)
    torch.manual_seed(23)
    ref = tp.Reference(cfg).eval()
    path = os.path.join(tmp, name + ".gguf")
    TG.write_model(ref, path, None)
    ref = ref.double()
    g = torch.Generator().manual_seed(24)
    group = [0, 1, 0, 2]
    n = len(group)
    sides = [TG.make_text(g, cfg, [5, 12, 2, 7]), ("image", torch.randn(n, 3, cfg.image, cfg.image, generator=g))]
    out = tempfile.mkdtemp(dir=tmp)
    r = dump_step(path, out, n, TG.write_side(sides[0], out, "a"), TG.write_side(sides[1], out, "b"), group,
                  [32, 16], ("text", "vision", "fusion"), 9)
    if not check(r.returncode == 0, "%s: one training step with adapters on text, vision and fusion (train_dump)"
                 % name, r.stderr.strip()[-300:] if r.returncode else ""):
        return
    load, index = read_dump(out)
    ad = adapters_of(index, load("params"))
    for p in ref.parameters():
        p.requires_grad_(False)
    lin = sail_linears(ref)
    check(set(ad) == set(lin), "%s: adapters on exactly the %d attention and MLP matrices of the three parts" %
          (name, len(lin)), "" if set(ad) == set(lin) else
          "sail %s vs %s" % (sorted(set(ad) - set(lin))[:3], sorted(set(lin) - set(ad))[:3]))
    for base, (a, b) in ad.items():
        m, attr = lin[base]
        patch(m, attr, getattr(m, attr).detach().clone(), a, b)
    ref.head.weight.requires_grad_(True)
    ref.head.bias.requires_grad_(True)
    ls = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    ea, eb = TG.torch_embed(ref, sides[0]), TG.torch_embed(ref, sides[1])
    loss = TG.infonce(ea, eb, group, [32, 16], [1.0, 1.0], ls)
    loss.backward()
    TG.check_step(name, load, n, loss, ea, eb, " (with adapters)")
    trained = {"head.proj.weight": ref.head.weight.grad, "head.proj.bias": ref.head.bias.grad,
               "train.logit_scale": ls.grad}
    compare_grads(name, index, load("grads"), ad, trained, ("text.", "vis.", "fuse."))


# ------------------------------------------------------ merge at export --

def checkpoint_tensors(path):
    """{sail name: float32 array (rows, cols)} of a checkpoint's flat block."""
    kv, tensors = X.read_gguf(path)
    names, lay = kv["train.tensor_names"], kv["train.tensor_layout"]
    flat = np.frombuffer(tensors["train.params"][2], np.float32)
    out = {}
    for i, nm in enumerate(names):
        off, rows, cols = lay[3 * i:3 * i + 3]
        out[nm] = flat[off:off + rows * cols].reshape(rows, cols)
    return out


def unmerged_hooks(model, ad):
    """Forward hooks that add (alpha / r) (x A^T) B^T to each adapted linear's
    output (q, k, v take their rows of B): the adapters unmerged."""
    hooks = []
    for base, (a, b) in ad.items():
        names = G.torch_names("clip", base + ".weight")
        step = b.shape[0] // len(names)
        for k, wname in enumerate(names):
            bb = b[k * step:(k + 1) * step]
            mod = model.get_submodule(wname.rsplit(".", 1)[0])
            hooks.append(mod.register_forward_hook(
                lambda m, inp, out, a=a, bb=bb: out + (ALPHA / RANK) * ((inp[0] @ a.T) @ bb.T)))
    return hooks


def merge_case(tmp):
    name = "lora-export"
    src = os.path.join(tmp, "merge-src")
    base, cfg = G.clip_model(src)
    O.write_safetensors(os.path.join(src, "model.safetensors"), O.state_numpy(base))
    data = os.path.join(tmp, "shapes")
    r = subprocess.run([SAIL, "data", "shapes", "-n", "24", "--seed", "4", "--size", "32", "-o", data],
                       capture_output=True, text=True)
    if not check(r.returncode == 0, "%s: shapes data" % name, r.stderr.strip()[-200:] if r.returncode else ""):
        return
    run = os.path.join(tmp, "lora-run")
    r = subprocess.run([SAIL, "finetune", "--model_name_or_path", src, "--train_data_path",
                        os.path.join(data, "train.jsonl"), "--output_dir", run, "--lora_rank", str(RANK),
                        "--lora_alpha", "%g" % ALPHA, "--learning_rate", "2e-2", "--num_train_epochs", "2",
                        "--batch_size", "8", "--warmup_steps", "1", "--threads", "2", "--export_hf"],
                       capture_output=True, text=True)
    if not check(r.returncode == 0, "%s: sail finetune --lora_rank %d --export_hf from a Hugging Face folder" %
                 (name, RANK), r.stderr.strip()[-300:] if r.returncode else ""):
        return
    hf = os.path.join(run, "hf")
    ecfg = X.load_json(hf, "config.json")
    merged = O.CLIPModel(ecfg).eval()
    st = X.read_safetensors(os.path.join(hf, "model.safetensors"))
    try:
        merged.load_state_dict({k: torch.from_numpy(X.st_array(v).copy()) for k, v in st.items()}, strict=True)
    except RuntimeError as e:
        check(False, "%s: the exported folder loads strictly into the reference" % name, str(e)[:300])
        return
    ck = checkpoint_tensors(os.path.join(run, "checkpoint.gguf"))
    ad = {k[:-7]: (torch.from_numpy(ck[k].copy()).double(), torch.from_numpy(ck[k[:-7] + ".lora_b"].copy()).double())
          for k in ck if k.endswith(".lora_a")}
    # the unmerged model: the original folder's towers (frozen under LoRA),
    # the trained heads of the export, adapters applied beside the matrices
    unmerged = O.CLIPModel(cfg).eval()
    state = {k: torch.from_numpy(v.copy()) for k, v in O.state_numpy(base).items()}
    for k in ("text_projection.weight", "visual_projection.weight"):
        state[k] = torch.from_numpy(X.st_array(st[k]).copy())
    unmerged.load_state_dict(state, strict=True)
    merged, unmerged, base = merged.double(), unmerged.double(), base.double().eval()
    hooks = unmerged_hooks(unmerged, ad)
    orig = {k: v.astype(np.float32) for k, v in O.state_numpy(base).items()}
    adapted = {w for b in ad for w in G.torch_names("clip", b + ".weight")}
    differ = {k for k, v in orig.items() if k in st and "projection" not in k and k != "logit_scale"
              and not np.array_equal(X.st_array(st[k]), v)}
    texts = ["ab cd", "a b c d e", "hello world", "the cat"]
    gguf = os.path.join(run, "model.gguf")
    ids = X.ids_of(gguf, texts, cfg["text_config"]["vocab_size"] - 1)
    imgs = O.write_images(tmp)
    pix = [O.preprocess(p, 32, 32, 3, O.CLIP_MEAN, O.CLIP_STD).double()[None] for p in imgs]
    with torch.no_grad():
        m_vec = np.concatenate([merged.text(i).numpy() for i in ids] + [merged.image(p).numpy() for p in pix])
        u_vec = np.concatenate([unmerged.text(i).numpy() for i in ids] + [unmerged.image(p).numpy() for p in pix])
        for h in hooks:
            h.remove()
        b_vec = np.concatenate([unmerged.text(i).numpy() for i in ids] + [unmerged.image(p).numpy() for p in pix])
    err = float(np.abs(m_vec - u_vec).max())
    moved = float(np.abs(u_vec - b_vec).max())
    check(len(ad) == 16 and err <= TOL_MERGE and moved > 100 * TOL_MERGE,
          "%s: the exported (merged) folder through the reference == the unmerged adapters (max|diff| %.1e over "
          "%d texts and %d images; %d adapted matrices; the adapters moved the embeddings by %.2e)" %
          (name, err, len(texts), len(imgs), len(ad), moved))
    check(differ == adapted and len(adapted) == 24,
          "%s: in the towers the export differs from the original in exactly the %d adapted matrices (q, k, v, out, "
          "fc1, fc2 of each block); every other tower tensor is the original's bit for bit" % (name, len(adapted)),
          "" if differ == adapted else
          "differ only: %s; same: %s" % (sorted(differ - adapted)[:3], sorted(adapted - differ)[:3]))
    got = np.concatenate([O.embed(gguf, "--text", texts, tmp), O.embed(gguf, "--image", imgs, tmp)])
    T = O.Tap()
    T.compare(got, u_vec, "%s: sail embed of the merged model.gguf == the unmerged reference" % name)


def main():
    if not tap.built(TG.DUMP):
        return 1
    torch.set_num_threads(1)
    return tap.run_cases(clip_case, sail_case, merge_case)


if __name__ == "__main__":
    sys.exit(main())
