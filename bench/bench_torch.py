"""PyTorch (Debian python3-torch) timings of the same towers bench_model.c
runs: torchvision ViT-S/16 @224 encoder and a BERT-base encoder built from
nn.TransformerEncoderLayer (post-norm, GELU), 16 tokens, batch 1 and 8,
inference mode. Prints lines in the same shape as bench_model.c."""
import sys
import time

import torch
import torch.nn as nn
import torchvision

threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 5
# --clock cpu: process CPU time, the cost of a pass on a machine shared with
# other work (use it with --threads 1, as bench_model.c --clock cpu).
clock = time.process_time if "--clock" in sys.argv and sys.argv[sys.argv.index("--clock") + 1] == "cpu" \
    else time.perf_counter
torch.set_num_threads(threads)
torch.manual_seed(0)

vit = torchvision.models.VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=6,
                                           hidden_dim=384, mlp_dim=1536).eval()


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(21128, 768)
        self.pos = nn.Embedding(512, 768)
        self.ln = nn.LayerNorm(768, eps=1e-12)
        self.enc = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu", batch_first=True,
                                       layer_norm_eps=1e-12), 12, enable_nested_tensor=False)

    def forward(self, ids):
        x = self.ln(self.tok(ids) + self.pos(torch.arange(ids.shape[1]))[None])
        return self.enc(x)


bert = Bert().eval()


def vit_forward(x):
    h = vit._process_input(x)
    h = torch.cat([vit.class_token.expand(h.shape[0], -1, -1), h], dim=1)
    return vit.encoder(h)


def best(fn, arg, n):
    with torch.inference_mode():
        fn(arg)
        t = 1e30
        for _ in range(reps):
            t0 = clock()
            fn(arg)
            t = min(t, clock() - t0)
    return t / n


for B in (1, 8):
    x = torch.randn(B, 3, 224, 224)
    ids = torch.randint(1000, 21000, (B, 16))
    print("torch vit_s16_224 batch %d threads %d: %.2f ms/image" % (B, threads, 1e3 * best(vit_forward, x, B)))
    print("torch bert_base_16tok batch %d threads %d: %.2f ms/text" % (B, threads, 1e3 * best(bert, ids, B)))
    sys.stdout.flush()
