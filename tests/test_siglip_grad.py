"""Gradients of fine-tuning an imported SigLIP against PyTorch autograd.

A seeded random SiglipModel (tests/siglip_oracle.py, Hugging Face's names
and architecture) is saved as a Hugging Face folder, converted with
`sail convert`, and one training step runs through tests/tools/train_dump.c
(the trainer's own step). Sail trains a model that has a logit bias with
SigLIP's sigmoid loss; the reference is that loss written from
modeling_siglip.py (siglip_oracle.sigmoid_loss), summed over Matryoshka
prefixes (each re-normalised) with in-group pairs i != j left out, as the
InfoNCE of train.h does, in float64 on the same float32 weights. Checks,
one TAP line each:
  loss relative error <= 1e-5; step embeddings and the inference embeddings
  of the same file (sail_forward) <= 1e-4;
  every parameter's gradient, logit_scale and logit_bias included:
  max|g_sail - g_torch| / max|g_torch| <= 1e-3 (the MAP head's packed
  in_proj as sail stores it; q, k, v of the layers concatenated);
  sail has a gradient for every torch parameter;
  with --freeze text,vision the towers' gradients are exactly zero and the
  text head and both loss parameters still equal autograd.
"""
import os
import sys
import tempfile

import tap
from tap import check, skip_import

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import convert_oracle as O
    import siglip_oracle as S
    import test_finetune_grad as FG
    import test_train_grad as TG
except ImportError as e:  # pragma: no cover
    skip_import("the gradient oracle needs Debian's python3-torch and python3-numpy", e)

TOL_LOSS, TOL_EMB = 1e-5, 1e-4  # gradients: FG.compare_grads (1e-3)
BLOCK = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
         "layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2")
FIXED = {
    "text.tok_emb": "text_model.embeddings.token_embedding.weight",
    "text.pos_emb": "text_model.embeddings.position_embedding.weight",
    "text.final_norm.weight": "text_model.final_layer_norm.weight",
    "text.final_norm.bias": "text_model.final_layer_norm.bias",
    "text.proj.weight": "text_model.head.weight", "text.proj.bias": "text_model.head.bias",
    "vis.patch.weight": "vision_model.embeddings.patch_embedding.weight",
    "vis.patch.bias": "vision_model.embeddings.patch_embedding.bias",
    "vis.pos": "vision_model.embeddings.position_embedding.weight",
    "vis.norm.weight": "vision_model.post_layernorm.weight", "vis.norm.bias": "vision_model.post_layernorm.bias",
    "vis.map.probe": "vision_model.head.probe",
    "vis.map.attn_qkv.weight": "vision_model.head.attention.in_proj_weight",
    "vis.map.attn_qkv.bias": "vision_model.head.attention.in_proj_bias",
    "vis.map.attn_out.weight": "vision_model.head.attention.out_proj.weight",
    "vis.map.attn_out.bias": "vision_model.head.attention.out_proj.bias",
    "vis.map.norm.weight": "vision_model.head.layernorm.weight",
    "vis.map.norm.bias": "vision_model.head.layernorm.bias",
    "vis.map.ffn_up.weight": "vision_model.head.mlp.fc1.weight",
    "vis.map.ffn_up.bias": "vision_model.head.mlp.fc1.bias",
    "vis.map.ffn_down.weight": "vision_model.head.mlp.fc2.weight",
    "vis.map.ffn_down.bias": "vision_model.head.mlp.fc2.bias",
    "logit_bias": "logit_bias", "train.logit_scale": "logit_scale",
}


def torch_names(name):
    if name in FIXED:
        return [FIXED[name]]
    parts = name.split(".")  # vis.blk.0.attn_qkv.weight
    if len(parts) != 5 or parts[1] != "blk":
        return []
    pre = "%s_model.encoder.layers.%s." % ("text" if parts[0] == "text" else "vision", parts[2])
    if parts[3] == "attn_qkv":
        return [pre + BLOCK[i] + "." + parts[4] for i in range(3)]
    idx = {"attn_out": 3, "norm1": 4, "ffn_up": 5, "ffn_down": 6, "norm2": 7}.get(parts[3])
    return [] if idx is None else [pre + BLOCK[idx] + "." + parts[4]]


def reference_loss(ea, eb, group, dims, ls, lb):
    """sigmoid_loss per Matryoshka prefix, in-group pairs i != j left out."""
    n = len(ea)
    keep = torch.tensor([[i == j or group[i] != group[j] for j in range(n)] for i in range(n)])
    total = 0
    for m in dims:
        a, b = F.normalize(ea[:, :m], dim=-1), F.normalize(eb[:, :m], dim=-1)
        logits = a @ b.T * ls.exp() + lb
        z = 2 * torch.eye(n, dtype=logits.dtype) - 1
        total = total - (F.logsigmoid(z * logits) * keep).sum() / n
    return total


def embed_side(model, side, ctx):
    if side[0] == "image":
        return model.image(side[1].double())
    return torch.cat([model.text(torch.tensor([S.padded(ids, ctx)])) for ids in side[1]])


def case(name, tmp, kinds, group, dims, freeze=()):
    d = os.path.join(tmp, name)
    model, cfg = S.make_folder(d, seed=len(name))
    path = os.path.join(tmp, name + ".gguf")
    r = O.convert(d, path)
    if not check(r.returncode == 0, "%s: sail convert" % name, r.stderr.strip()[-300:] if r.returncode else ""):
        return
    model = model.double()
    n, g = 4, torch.Generator().manual_seed(len(name))
    lens = [[3, 9, 1, 6], [5, 2, 11, 4]]
    vocab = cfg["text_config"]["vocab_size"]
    made = [FG.make_side(k, g, n, vocab, 2, 3, lens[i], 32) for i, k in enumerate(kinds)]
    out = tempfile.mkdtemp(dir=tmp)
    r = TG.dump_step(path, out, n, (FG.write_side(made[0], out, "a"), FG.write_side(made[1], out, "b")), group,
                     ",".join("%d:1" % x for x in dims), freeze)
    if not check(r.returncode == 0, "%s: one training step (train_dump)" % name, r.stderr.strip()[-300:]):
        return
    load = TG.dumped(out)
    model.zero_grad()
    ctx = cfg["text_config"]["max_position_embeddings"]
    ea, eb = (embed_side(model, s, ctx) for s in made)
    loss = reference_loss(ea, eb, group, dims, model.logit_scale, model.logit_bias)
    loss.backward()
    s_loss = float(load("loss")[0])
    rel = abs(s_loss - loss.item()) / abs(loss.item())
    check(rel <= TOL_LOSS, "%s: sigmoid loss sail %.7f torch %.7f rel %.1e" % (name, s_loss, loss.item(), rel))
    for tag, e in (("a", ea), ("b", eb)):
        for what in ("emb_", "infer_"):
            err = float(np.abs(load(what + tag).reshape(n, -1) - e.detach().numpy()).max())
            check(err <= TOL_EMB, "%s: %s%s vs torch max|err| %.1e" % (name, what, tag, err))
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    sail_grads = load("grads")
    FG.compare_grads(name, out, grads, sail_grads, freeze, torch_names)


def main():
    if not tap.built(TG.DUMP):
        return 1
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        case("siglip-text-image", tmp, ("text", "image"), [0, 1, 2, 3], [32, 16])
        case("siglip-image-text-groups", tmp, ("image", "text"), [0, 0, 1, 2], [32])
        case("siglip-frozen-towers", tmp, ("text", "image"), [0, 1, 2, 3], [32], freeze=("text", "vision"))
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
