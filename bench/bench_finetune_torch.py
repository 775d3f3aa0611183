"""Fine-tuning throughput of a CLIP in PyTorch (Debian python3-torch), the
peer of bench_finetune.c: the same architecture (tests/convert_oracle.py's
CLIPModel, written from Hugging Face's), one forward + loss.backward() per
step in float32 on (16-token text, image) pairs, symmetric InfoNCE with the
learned temperature (tests/test_train_grad.py's loss), no optimiser; all
parameters trained, or the towers frozen (requires_grad False: only the
projections and the temperature train).

  bench_finetune_torch.py --make DIR     write the model as a Hugging Face folder
                                         (for `sail convert`)
  bench_finetune_torch.py DIR [--threads N] [--batch B] [--steps S] [--freeze]

The model is ViT-B/32-sized (vision 12 x 768 @224 patch 32, text 12 x 512,
projection 512) with a small byte-level tokenizer (516 tokens: the
vocabulary's size changes only the embedding table). Prints a line in the
shape bench_finetune.c prints.
"""
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import torch  # noqa: E402

import convert_oracle as O  # noqa: E402
import test_finetune_grad as G  # noqa: E402
from test_train_grad import infonce  # noqa: E402

TEXT_LEN = 16


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def config(n_vocab):
    tc = O.tower_cfg(512, 2048, 12, 8, "quick_gelu", 1e-5, vocab_size=n_vocab, max_position_embeddings=77,
                     eos_token_id=2)
    return O.clip_cfg(tc, O.tower_cfg(768, 3072, 12, 12, "quick_gelu", 1e-5, image_size=224, patch_size=32), 512)


def make(d):
    os.makedirs(d)
    cfg = config(G.clip_tokenizer(d))
    torch.manual_seed(0)
    model = O.CLIPModel(cfg)
    O.write_json(os.path.join(d, "config.json"), cfg)
    G.clip_preproc(d, 224)
    O.write_safetensors(os.path.join(d, "model.safetensors"), O.state_numpy(model))


def main():
    if "--make" in sys.argv:
        make(sys.argv[sys.argv.index("--make") + 1])
        return 0
    d = sys.argv[1]
    threads, batch, steps = arg("--threads", 2), arg("--batch", 16), arg("--steps", 3)
    freeze = "--freeze" in sys.argv
    torch.set_num_threads(threads)
    cfg = O.json.load(open(os.path.join(d, "config.json")))
    model = O.CLIPModel(cfg)
    n_vocab = cfg["text_config"]["vocab_size"]
    if freeze:
        for p in list(model.text_model.parameters()) + list(model.vision_model.parameters()):
            p.requires_grad_(False)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, n_vocab - 2, (batch, TEXT_LEN), generator=g)
    ids[:, 0], ids[:, -1] = n_vocab - 2, n_vocab - 1
    pix = torch.randn(batch, 3, 224, 224, generator=g)
    group = list(range(batch))
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        loss = infonce(model.text(ids), model.image(pix), group, [512], [1.0], model.logit_scale)
        loss.backward()
        if s:
            times.append(time.perf_counter() - t0)
    times.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("torch finetune batch %d threads %d freeze %s: %.2f pairs/s best, %.2f median, peak %.0f MiB (loss %.4f)"
          % (batch, threads, "text,vision" if freeze else "none", batch / times[0], batch / times[len(times) // 2],
             peak, loss.item()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
