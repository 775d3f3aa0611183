"""PyTorch (Debian python3-torch) timings of the same towers bench_model.c
runs, batch 1 and 8, inference mode, f32. Prints lines in the same shape as
bench_model.c. --arch:

  base        torchvision ViT-S/16 @224 encoder and a BERT-base encoder built
              from nn.TransformerEncoderLayer (post-norm, GELU), 16 tokens
  clip-b32    OpenAI CLIP ViT-B/32: tests/convert_oracle.py's CLIPModel (Hugging
              Face's CLIPVisionTransformer and causal CLIPTextTransformer
              rebuilt from torch.nn), towers with their projections and the
              final L2 normalisation, texts at the full 77 tokens
  cnclip-b16  Chinese-CLIP ViT-B/16: the same vision tower at patch 16 and the
              BERT text tower (ChineseCLIPTextModel), 52 tokens

  bench_torch.py [--arch A] [--threads N] [--reps R] [--clock wall|cpu]

The caller sets OPENBLAS_NUM_THREADS to the same thread count."""
import os
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


def opt(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


arch = opt("--arch", "base")


def tower(d, f, layers, heads, act, eps, **kw):
    return dict(hidden_size=d, intermediate_size=f, num_hidden_layers=layers, num_attention_heads=heads,
                hidden_act=act, layer_norm_eps=eps, **kw)


# The config.json values bench_model.c gives hf_clip_config.
CLIPS = {
    "clip-b32": dict(projection_dim=512, logit_scale_init_value=2.6592,
                     text_config=tower(512, 2048, 12, 8, "quick_gelu", 1e-5, max_position_embeddings=77,
                                       vocab_size=49408, eos_token_id=2),
                     vision_config=tower(768, 3072, 12, 12, "quick_gelu", 1e-5, image_size=224, patch_size=32)),
    "cnclip-b16": dict(projection_dim=512, logit_scale_init_value=2.6592,
                       text_config=tower(768, 3072, 12, 12, "gelu", 1e-12, max_position_embeddings=512,
                                         vocab_size=21128, type_vocab_size=2),
                       vision_config=tower(768, 3072, 12, 12, "quick_gelu", 1e-5, image_size=224, patch_size=16)),
}
# name: labels of the two towers, text length, first and last ids
SHAPES = {"clip-b32": ("clip_b32_image", "clip_b32_text_77tok", 77, 49406, 49407),
          "cnclip-b16": ("cnclip_b16_image", "cnclip_b16_text_52tok", 52, 101, 102)}


def base_towers():
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

    return ("vit_s16_224", vit_forward), ("bert_base_16tok", bert), 16, lambda B: torch.randint(1000, 21000, (B, 16))


def clip_towers():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import convert_oracle as O
    model = O.CLIPModel(CLIPS[arch], text_cls=O.ChineseText if arch == "cnclip-b16" else O.CLIPTextTransformer).eval()
    image, text, T, bos, eos = SHAPES[arch]
    count = [sum(p.numel() for m in tower for p in m.parameters()) for tower in
             ((model.vision_model, model.visual_projection), (model.text_model, model.text_projection))]
    print("# torch %s parameters: image tower %d, text tower %d (each with its projection)" % (arch, *count))

    def ids(B):
        x = torch.randint(1000, 21000, (B, T))
        x[:, 0], x[:, -1] = bos, eos
        return x

    return (image, model.image), (text, model.text), T, ids


def best(fn, arg, n):
    with torch.inference_mode():
        fn(arg)
        t = 1e30
        for _ in range(reps):
            t0 = clock()
            fn(arg)
            t = min(t, clock() - t0)
    return t / n


(image, image_fn), (text, text_fn), T, make_ids = base_towers() if arch == "base" else clip_towers()
for B in (1, 8):
    x = torch.randn(B, 3, 224, 224)
    ids = make_ids(B)
    print("torch %s batch %d threads %d: %.2f ms/image" % (image, B, threads, 1e3 * best(image_fn, x, B)))
    print("torch %s batch %d threads %d: %.2f ms/text" % (text, B, threads, 1e3 * best(text_fn, ids, B)))
    sys.stdout.flush()
