"""PyTorch (Debian python3-torch) training throughput of the model
bench/bench_train.c trains: the "tiny" preset at --image_size, 4000-token
vocabulary, 16-token texts vs images, Matryoshka InfoNCE on {512, 256, 128},
one forward + loss.backward() per step in float32, no optimiser.

The model is the one the gradient oracle checks sail against
(tests/test_parity.py's Reference: nn.Embedding, nn.TransformerEncoderLayer,
torchvision's VisionTransformer, nn.Linear head) with the loss of
tests/test_train_grad.py, so both sides compute the same function. Prints a
line in the shape bench_train.c prints.

  bench_train_torch.py [--threads N] [--batch B] [--image_size PX] [--steps S] [--warmup W]
"""
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import torch  # noqa: E402

import test_parity as tp  # noqa: E402
from test_train_grad import infonce  # noqa: E402

TEXT_LEN = 16


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main():
    threads, batch, image = arg("--threads", 2), arg("--batch", 32), arg("--image_size", 64)
    steps, warmup = arg("--steps", 5), arg("--warmup", 1)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    # sail's "tiny" preset (src/model/config.c), fields named as in tests/test_parity.py
    cfg = tp.Cfg(vocab=4000, max_pos=64, dt=256, lt=4, ht=4, ft=1024, image=image, patch=16,
                 dv=256, lv=4, hv=4, fv=1024, df=256, lf=1, hf=4, ff=1024, dim=512)
    ref = tp.Reference(cfg).train()
    ls = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(5, cfg.vocab, (batch, TEXT_LEN), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3  # [CLS] ... [SEP]
    lens = torch.full((batch,), TEXT_LEN)
    pix = torch.randn(batch, 3, image, image, generator=g)
    group = list(range(batch))  # every pair its own group: all in-batch negatives

    dt, cpu = [], []
    for s in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.process_time()
        ref.zero_grad(set_to_none=True)
        ls.grad = None
        a = ref(ids=ids, lens=lens)["embedding"][0]
        b = ref(pix=pix)["embedding"][0]
        loss = infonce(a, b, group, (512, 256, 128), (1.0, 1.0, 1.0), ls)
        loss.backward()
        if s >= warmup:
            dt.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    dt.sort()
    # the parameters the step trains: torchvision's unused classifier (vit.heads)
    # gets no gradient; + 1 for the logit scale, as sail counts it
    n_params = sum(p.numel() for p in ref.parameters() if p.grad is not None) + 1
    print("torch train tiny img %d batch %d threads %d: %.1f pairs/s best, %.1f median, %.1f per cpu-s (%d params, loss %.4f)"
          % (image, batch, threads, batch / dt[0], batch / dt[len(dt) // 2], batch / min(cpu),
             n_params, loss.item()))


if __name__ == "__main__":
    main()
