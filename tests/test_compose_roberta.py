"""CLAP's RoBERTa text tower composed into a fused sail model, and trained.

A seeded random ClapModel (test_convert_clap.py's: a RoBERTa text tower
with GPT-2's byte-level BPE and position ids from pad_token_id + 1, and an
HTSAT audio tower) and a seeded random CLIP (test_compose_clip.py's) are
converted with `sail convert`; `sail compose --text CLAP --vision CLIP`
takes CLAP's text tower (BERT's post-norm layers, an embedding LayerNorm,
one token type, positions from 2) and CLIP's vision tower under fresh
fusion layers and head. Checks, one TAP line each:
  with `--audio CLAP` too, the whole CLAP composes (its HTSAT's training:
  test_compose_clap.py);
  the composed file has the CLAP text tower's tensors bit-identical, its
  pooler and projection (the imported head) left behind, and reads back as
  tokenizer=gpt2-bpe, text_pos_offset=2 with GPT-2's merges; `sail tokenize
  --model` gives the CLAP model's own ids on English, Chinese and emoji;
  (1) its text tower's output (trace text.out: every real token's state)
  equals the original RoBERTa's last hidden state in PyTorch (<= 1e-4);
  (2) one training step (test_compose_clip.grad_case: tests/tools/train_dump
  against autograd, loss, embeddings and every gradient): texts against
  images, joint text+image items against texts, and with the towers frozen;
  `sail embed` embeds a joint text+image input, and one epoch of `sail
  finetune` on shapes pairs (the trainer's own GPT-2 BPE data path) trains
  the text tower, its positions and the text projection.
The reference is test_compose_clip's fused reference with RoBERTa's text
states: token + position (from pad_token_id + 1) + type-0 embeddings, the
embedding LayerNorm, post-norm BERT blocks, no final norm.
"""
import json
import os
import subprocess
import sys
import tempfile

import tap
from tap import SAIL, check, gguf_array, gguf_tensors, skip_import

try:
    import numpy as np
    import torch
    import convert_oracle as O
    import test_compose_clip as CC  # the fused reference, grad_case, trace, a converted CLIP
    import test_convert_clap as C  # the ClapModel fixture (RoBERTa + HTSAT)
    import test_train_grad as TG
except ImportError as e:  # pragma: no cover
    skip_import("the CLAP compose oracle needs Debian's python3-torch and python3-numpy", e)


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True)


def post_block(x, P, pre, heads, act, eps):
    """A post-norm block (BERT's and RoBERTa's encoder layer) by sail names."""
    q, k, v = CC.lin(x, P, pre + ".attn_qkv").chunk(3, -1)
    x = CC.ln(x + CC.lin(O.attention(q, k, v, heads, False), P, pre + ".attn_out"), P, pre + ".norm1", eps)
    return CC.ln(x + CC.lin(act(CC.lin(x, P, pre + ".ffn_up")), P, pre + ".ffn_down"), P, pre + ".norm2", eps)


class RobRef(CC.Ref):
    """The fused reference over CLAP's text tower and CLIP's vision tower."""

    def text_states(self, ids):
        """(1, T, dt): every token's state after the last layer."""
        P, c = self.P, self.tc
        at = c["pad_token_id"] + 1
        dt = P["text.tok_emb"].shape[1]
        typ = P["text.type_emb"].reshape(-1, dt)[0]  # one token type: load_params made the row a vector
        x = P["text.tok_emb"][torch.tensor(ids)] + P["text.pos_emb"][at:at + len(ids)] + typ
        x = CC.ln(x, P, "text.emb_norm", c["layer_norm_eps"])[None]
        for i in range(c["num_hidden_layers"]):
            x = post_block(x, P, "text.blk.%d" % i, c["num_attention_heads"], O.ACTS[c["hidden_act"]],
                           c["layer_norm_eps"])
        return x


def texts(g, n, vocab, lens):
    """RoBERTa-style ids: <s> 0, pieces (no <pad> 1, no </s> 2), </s>."""
    ids = torch.zeros(n, max(lens), dtype=torch.long)
    for i, L in enumerate(lens[:n]):
        ids[i, :L] = torch.tensor([0] + torch.randint(3, vocab - 1, (L - 2,), generator=g).tolist() + [2])
    return ids, torch.tensor(lens[:n])


def roberta_states(model, ids):
    """The original ClapTextModel's last hidden state of unpadded ids."""
    m, pad = model.text_model, model.t["pad_token_id"]
    e, t = m.embeddings, torch.tensor([ids])
    pos = torch.cumsum(t.ne(pad).long(), 1) * t.ne(pad).long() + pad
    x = e.LayerNorm(e.word_embeddings(t) + e.token_type_embeddings(torch.zeros_like(t)) + e.position_embeddings(pos))
    for layer in m.encoder.layer:
        x = layer(x, None)
    return x[0]


def layout_case(comp, clap):
    src, got = gguf_tensors(clap), gguf_tensors(comp)
    text = sorted(n for n in src if n.startswith("text."))
    kept = [n for n in text if n in got]
    left = sorted(set(text) - set(kept))
    same = all(np.array_equal(gguf_array(comp, n), gguf_array(clap, n)) for n in kept)
    check(same and len(kept) > 10 and all(n.startswith(("text.proj", "text.pooler")) for n in left),
          "the composed model has CLAP's %d text tower tensors bit-identical, its head left behind (%s)"
          % (len(kept), ", ".join(left)), "left %s" % left)
    r = sail("info", comp)
    check(r.returncode == 0 and "tokenizer=gpt2-bpe text_causal=0 text_emb_norm=1 text_final_norm=0" in r.stdout
          and "text_pos_offset=2" in r.stdout, "sail info reads the layout back: GPT-2 BPE, positions from 2",
          (r.stdout + r.stderr)[-400:])
    got = [subprocess.run([SAIL, "tokenize", "--model", m], input="\n".join(C.TEXTS) + "\n", capture_output=True,
                          text=True) for m in (comp, clap)]
    ids = [[json.loads(x) for x in r.stdout.splitlines()] if r.returncode == 0 else None for r in got]
    check(ids[0] is not None and ids[0] == ids[1] and len(ids[0]) == len(C.TEXTS),
          "the composed model tokenizes as the CLAP model does (GPT-2 BPE, <s> ... </s>) on %d texts" % len(C.TEXTS),
          (got[0].stderr + got[1].stderr)[-300:])


def trace_case(comp, model, vocab, tmp):
    g = torch.Generator().manual_seed(7)
    ids, lens = texts(g, 3, vocab, [5, 14, 3])
    acts = CC.trace(comp, tmp, ids, lens, torch.randn(3, 3, 32, 32, generator=g))
    if acts is None:
        return
    T, worst = ids.shape[1], 0.0
    with torch.no_grad():
        for i in range(3):
            want = roberta_states(model, ids[i, :lens[i]].tolist()).numpy()
            got = acts["text.out"][i * T:i * T + int(lens[i])]
            worst = max(worst, float(np.abs(got - want).max()))
    check(worst <= CC.TOL_EMB, "text.out: every real token's state equals RoBERTa's last hidden state, positions "
          "from pad + 1 (max|err| %.1e)" % worst)


def grad_cases(comp, cfg, tmp):
    g = torch.Generator().manual_seed(5)
    vocab, n = cfg["text_config"]["vocab_size"], 4
    ta = ("text",) + texts(g, n, vocab, [3, 9, 13, 6])
    tb = ("text",) + texts(g, n, vocab, [7, 4, 11, 5])
    img = ("image", torch.randn(n, 3, 32, 32, generator=g))
    joint = ("joint", ta[1], ta[2], torch.randn(n, 3, 32, 32, generator=g))
    CC.grad_case("roberta-compose text-image", comp, cfg, tmp, (ta, img), ref_cls=RobRef)
    CC.grad_case("roberta-compose joint-text", comp, cfg, tmp, (joint, tb), ref_cls=RobRef)
    CC.grad_case("roberta-compose frozen towers", comp, cfg, tmp, (ta, img), freeze=("text", "vision"),
                 ref_cls=RobRef)


def finetune_case(comp, tmp):
    """The trainer's own data path: JSONL texts through the GPT-2 BPE front
    door, images through CLIP's preprocessing, every part training."""
    data = tap.shapes(tmp, 96, 4)
    if not data:
        return
    out = os.path.join(tmp, "run")
    r = sail("finetune", "--model_name_or_path", comp, "--train_data_path", os.path.join(data, "train.jsonl"),
             "--output_dir", out, "--learning_rate", "1e-3", "--num_train_epochs", 1, "--batch_size", 16)
    trained = os.path.join(out, "model.gguf")
    if not check(r.returncode == 0 and os.path.exists(trained), "sail finetune trains the composed CLAP text model "
                 "on shapes pairs", r.stderr[-300:]):
        return
    moved = [n for n in ("text.tok_emb", "text.pos_emb", "text.blk.0.attn_qkv.weight", "fuse.text_proj.weight")
             if not np.array_equal(gguf_array(comp, n), gguf_array(trained, n))]
    check(len(moved) == 4, "its text tower, positions and text projection trained (%s)" % ", ".join(moved))


def main():
    if not tap.built(TG.DUMP, CC.TRACE):
        return tap.summary()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "clap")
        model, _, encoder = C.make_clap_folder(d, C.audio_cfg(), C.prep_json())
        clap = d + ".gguf"
        r = sail("convert", d, "-o", clap)
        _, clip_cfg, clip = CC.make_clip(os.path.join(tmp, "clip"))
        if not check(r.returncode == 0, "sail convert of a small random ClapModel", r.stderr[-300:]):
            return tap.summary()
        whole = os.path.join(tmp, "whole.gguf")
        r = sail("compose", "--text", clap, "--vision", clip, "--audio", clap, "-o", whole, "--dim", CC.DIM)
        i = sail("info", whole)
        check(r.returncode == 0 and "HTSAT" in i.stdout and "tokenizer=gpt2-bpe" in i.stdout,
              "a whole CLAP (RoBERTa text, HTSAT audio) composes with CLIP's vision tower", r.stderr[-300:])
        comp = os.path.join(tmp, "comp.gguf")
        r = sail("compose", "--text", clap, "--vision", clip, "-o", comp, "--fusion-layers", CC.FUSION_LAYERS,
                 "--fusion-width", CC.FUSION_WIDTH, "--dim", CC.DIM)
        if check(r.returncode == 0, "compose CLAP's RoBERTa text tower with CLIP's vision tower", r.stderr[-300:]):
            cfg = {"text_config": C.text_cfg(len(encoder)), "vision_config": clip_cfg["vision_config"]}
            layout_case(comp, clap)
            trace_case(comp, model.double(), len(encoder), tmp)
            grad_cases(comp, cfg, tmp)
            r = sail("embed", "--model", comp, "--text", "the sound of a dog barking", "--image",
                     O.write_images(tmp)[0])
            dim = len(json.loads(r.stdout)["data"][0]["embedding"]) if r.returncode == 0 else 0
            check(dim == CC.DIM, "sail embed: the composed model embeds a joint text+image input (dim %d)" % dim,
                  r.stderr[-200:])
            finetune_case(comp, tmp)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
