"""Fine-tuning an imported SigLIP end to end through the CLI.

A SiglipModel folder in Hugging Face's layout (tests/siglip_oracle.py,
PyTorch's default initialisation, SigLIP's initial temperature log 10 and
bias -10, a WordPiece vocabulary of letters and the captions' Chinese
characters) is evaluated on held-out shapes
(`sail eval`), fine-tuned from the folder itself with `sail finetune
--export_hf` (the sigmoid loss; 30 epochs of generated shapes) and
evaluated again: text -> image R@1 must rise above what it was and above
twice chance. The loss parameters must have trained (logit_bias moved),
the result stays an imported SigLIP with the folder's tokenizer, and the
exported Hugging Face folder loads strictly into a PyTorch SiglipModel that
embeds as the fine-tuned sail model does. A temperature above log 100 is
not clamped (SigLIP's loss has no clamp).
"""
import json
import os
import sys
import tempfile

import tap
from tap import check, skip_import

try:
    import numpy as np  # noqa: F401
    import torch
    import convert_oracle as O
    import siglip_oracle as S
    import test_finetune_cli as FC
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch and python3-numpy", e)

HALF = [0.5] * 3


def exported_bias(d):
    return float(S.read_safetensors(os.path.join(d, "model.safetensors"))["logit_bias"][0])


def unclamped_case(data, tmp):
    """SigLIP's loss takes exp(logit_scale) as it is: a checkpoint above
    log 100 (CLIP's clamp, 4.605) keeps its temperature through fine-tuning
    (towers frozen, a small learning rate) instead of being cut to log 100."""
    src = os.path.join(tmp, "siglip-hot")
    model, _ = S.make_folder(src, trainable=True, positions=32)
    with torch.no_grad():
        model.logit_scale.fill_(4.9)
    O.write_safetensors(os.path.join(src, "model.safetensors"), O.state_numpy(model))
    out = os.path.join(tmp, "run-hot")
    r = FC.sail("finetune", "--model_name_or_path", src, "--train_data_path", os.path.join(data, "val.jsonl"),
                "--output_dir", out, "--learning_rate", "1e-4", "--num_train_epochs", "1", "--batch_size", "16",
                "--freeze", "text,vision", "--export_hf")
    if not check(r.returncode == 0, "SigLIP: a short fine-tuning of the head and temperature runs",
                 r.stderr.strip()[-300:]):
        return
    st = S.read_safetensors(os.path.join(out, "hf", "model.safetensors"))
    ls = float(st["logit_scale"][0])
    check(abs(ls - 4.9) < 0.05, "SigLIP: logit_scale 4.9 is not clamped to log 100 by the optimiser (now %.4f)" % ls)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "shapes")
        r = FC.sail("data", "shapes", "-n", "700", "--seed", "3", "-o", data)
        if not check(r.returncode == 0, "shapes data generated", r.stderr.strip()[-200:]):
            return tap.summary()
        src = os.path.join(tmp, "siglip")
        # the vocabulary covers the Chinese captions too (one token per character)
        chars = sorted({ch for f in ("train.jsonl", "val.jsonl", "test.jsonl") for line in open(os.path.join(data, f))
                        for ch in json.loads(line).get("text", "") if ord(ch) > 127})
        # 32 positions: texts are padded to them and pooled at the last one
        S.make_folder(src, trainable=True, positions=32, extra=chars)
        model = os.path.join(tmp, "siglip.gguf")
        r = O.convert(src, model)
        if not check(r.returncode == 0, "SigLIP: sail convert", r.stderr.strip()[-300:] if r.returncode else ""):
            return tap.summary()
        held = os.path.join(data, "test.jsonl")
        before, why = FC.recall1(model, held)
        if not check(before is not None, "SigLIP: sail eval of the converted model", why):
            return tap.summary()
        out = os.path.join(tmp, "run")
        r = FC.sail("finetune", "--model_name_or_path", src, "--train_data_path", os.path.join(data, "train.jsonl"),
                    "--output_dir", out, "--learning_rate", "3e-3", "--num_train_epochs", "30",
                    "--batch_size", "32", "--export_hf")
        if not check(r.returncode == 0, "SigLIP: sail finetune of the Hugging Face folder runs (sigmoid loss)",
                     r.stderr.strip()[-400:]):
            return tap.summary()
        tuned = os.path.join(out, "model.gguf")
        after, why = FC.recall1(tuned, held)
        if not check(after is not None, "SigLIP: sail eval of the fine-tuned model", why):
            return tap.summary()
        b, a = FC.t2i(before), FC.t2i(after)
        chance = 1.0 / max(1, sum(1 for _ in open(held)) // 2)
        check(a > b and a > 2 * chance, "SigLIP: held-out text->image R@1 rises with fine-tuning: %.3f -> %.3f "
              "(chance ~%.3f)" % (b, a, chance))
        texts = "a big red circle\nsmall blue square\n"
        t0, t1 = FC.sail("tokenize", "--model", model, input=texts), FC.sail("tokenize", "--model", tuned, input=texts)
        check(t0.returncode == 0 and t0.stdout == t1.stdout and t0.stdout.strip(),
              "SigLIP: the fine-tuned model keeps the checkpoint's tokenizer (same ids)",
              (t0.stderr + t1.stderr).strip()[-200:])
        info = FC.sail("info", tuned)
        check(info.returncode == 0 and "variant=towers" in info.stdout,
              "SigLIP: the fine-tuned model is still the imported two-tower model", info.stdout[:200])

        hf = os.path.join(out, "hf")
        if not check(os.path.exists(os.path.join(hf, "model.safetensors")), "SigLIP: --export_hf wrote %s" % hf):
            return tap.summary()
        bias = exported_bias(hf)
        check(bias != -10.0, "SigLIP: logit_bias trained with the sigmoid loss (-10 -> %.4f)" % bias)
        cfg = json.load(open(os.path.join(hf, "config.json")))
        ref = S.SiglipModel(cfg).eval()
        tensors = {k: torch.from_numpy(v) for k, v in S.read_safetensors(os.path.join(hf, "model.safetensors")).items()}
        try:
            ref.load_state_dict(tensors, strict=True)
        except RuntimeError as e:
            check(False, "SigLIP: PyTorch loads the fine-tuned export strictly", str(e)[:300])
            return tap.summary()
        check(True, "SigLIP: PyTorch loads the fine-tuned export with load_state_dict(strict=True)")
        lines = [json.loads(x) for x in open(held)][:6]
        caps = [x["text"] for x in lines if "text" in x][:3]
        ids = [json.loads(x) for x in FC.sail("tokenize", "--model", tuned, input="\n".join(caps) + "\n").stdout.split("\n")
               if x.strip()]
        with torch.no_grad():   # tokenize pads to the context, as SigLIP's processor does
            want = torch.cat([ref.text(torch.tensor([t])) for t in ids]).numpy()
        tap_cmp = O.Tap()
        tap_cmp.compare(O.embed(tuned, "--text", caps, tmp), want,
                        "SigLIP: the fine-tuned export's text embeddings == sail embed of model.gguf")
        unclamped_case(data, tmp)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
