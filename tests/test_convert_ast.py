"""`sail convert` of Hugging Face Audio Spectrogram Transformer folders
(ASTModel; ASTForAudioClassification, whose classifier is left out) and the
audio tower they become: `sail embed --audio`, the C API's
sail_embed_audio_files / _bytes / _pcm, `sail info`.

Reference: an independent PyTorch transcription of AST (below: patch
Conv2d(1, d, p, stride (frequency_stride, time_stride)) over the transposed
fbank, class + distillation tokens, positions, ViT layers, final LayerNorm,
pooled = (h[:, 0] + h[:, 1]) / 2), fed with ASTFeatureExtractor's features:
torchaudio.compliance.kaldi.fbank with its arguments (in float64, the exact
features; torchaudio's float32 run is itself ~1e-3 off them, docs/AUDIO.md),
zero-padded or cut to max_length, (x - mean) / (2 std). Audio files are
decoded for the reference by the ffmpeg command with sail's settings
(equal-weight mono, libswresample's aresample to 16 kHz), as
tests/test_audio_features.py checks the decoder.

Pass: every traced activation (embeddings, each layer, final norm, pooled,
the vector) within 1e-4 of the reference's on the same features; vectors
from files within 1e-4 (cosine >= 0.9999) through the CLI and the C API;
one training step's loss, embeddings and gradients equal autograd's
(tests/test_finetune_grad.py's tolerances).
"""
import math
import os
import subprocess
import sys
import tempfile

from tap import BUILD, HERE, skip_import, text_image_model, tool

try:
    import numpy as np
    import soundfile as sf
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchaudio.compliance.kaldi as kaldi
    import audio_towers as AT
    import convert_oracle as O
    import test_finetune_grad as FG
    import test_train_grad as TG
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch, torchaudio, numpy and soundfile", e)

API = tool("api_embed")
TOL = 1e-4
tap = O.Tap()
torch.set_num_threads(2)


# --------------------------------------------------------------- reference --

class AST(nn.Module):
    """ASTModel (+ ASTForAudioClassification's head, unused by sail), with
    Hugging Face's parameter names; forward records each stage."""

    def __init__(self, c, head=False):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.c = c
        self.f_dim = (c["num_mel_bins"] - p) // c["frequency_stride"] + 1
        self.t_dim = (c["max_length"] - p) // c["time_stride"] + 1
        e = self.embeddings = nn.Module()
        e.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        e.distillation_token = nn.Parameter(torch.zeros(1, 1, d))
        e.patch_embeddings = nn.Module()
        e.patch_embeddings.projection = nn.Conv2d(1, d, p, stride=(c["frequency_stride"], c["time_stride"]))
        e.position_embeddings = nn.Parameter(torch.zeros(1, self.f_dim * self.t_dim + 2, d))
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(O.ViTLayer(c) for _ in range(c["num_hidden_layers"]))
        self.layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        if head:
            self.classifier = nn.Module()
            self.classifier.layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
            self.classifier.dense = nn.Linear(d, 5)

    def forward(self, feats):
        """feats (B, max_length, mel) -> {stage: (B*T, d) or (B, d)}."""
        e, rec = self.embeddings, {}
        x = feats.unsqueeze(1).transpose(2, 3)                     # (B, 1, mel, frames)
        x = e.patch_embeddings.projection(x).flatten(2).transpose(1, 2)  # frequency-major patches
        B = x.shape[0]
        x = torch.cat([e.cls_token.expand(B, -1, -1), e.distillation_token.expand(B, -1, -1), x], 1)
        x = x + e.position_embeddings
        rec["aud.emb"] = x
        for i, layer in enumerate(self.encoder.layer):
            x = layer(x)
            rec["aud.blk.%d" % i] = x
        x = self.layernorm(x)
        rec["aud.out"] = x
        rec["pooled"] = (x[:, 0] + x[:, 1]) / 2
        rec["embedding"] = F.normalize(rec["pooled"], dim=-1)
        return {k: v.reshape(-1, v.shape[-1]) for k, v in rec.items()}


def extractor(wave, cfg, mean, std):
    """ASTFeatureExtractor on 16 kHz samples, its fbank in float64."""
    w = torch.from_numpy(np.asarray(wave, np.float64))[None]
    if w.shape[1] < 400:  # under one window: no frames (torchaudio asserts; sail's fbank gives none)
        fb = np.zeros((0, cfg["num_mel_bins"]))
    else:
        fb = kaldi.fbank(w, htk_compat=True, sample_frequency=16000, use_energy=False, window_type="hanning",
                         num_mel_bins=cfg["num_mel_bins"], dither=0.0, frame_shift=10).numpy()
    n, L = fb.shape[0], cfg["max_length"]
    if n < L:
        fb = np.concatenate([fb, np.zeros((L - n, fb.shape[1]))])
    return ((fb[:L] - mean) / (std * 2)).astype(np.float32)


# ------------------------------------------------------------------ folders --

def make_folder(d, cfg, prep, head=False, seed=11, fmt="safetensors"):
    os.makedirs(d)
    model = O.randomize(AST(cfg, head), seed).eval()
    O.write_json(os.path.join(d, "config.json"), cfg)
    if prep is not None:
        O.write_json(os.path.join(d, "preprocessor_config.json"), prep)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if head:  # ASTForAudioClassification: the base model under a prefix, the head beside it
        sd = {(k if k.startswith("classifier.") else "audio_spectrogram_transformer." + k): v for k, v in sd.items()}
    if fmt == "bin":
        torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    else:
        O.write_safetensors(os.path.join(d, "model.safetensors"), {k: v.numpy() for k, v in sd.items()})
    return model


def prep_json(cfg, mean=-4.2677393, std=4.5689974):
    return {"feature_extractor_type": "ASTFeatureExtractor", "feature_size": 1, "sampling_rate": 16000,
            "num_mel_bins": cfg["num_mel_bins"], "max_length": cfg["max_length"], "padding_value": 0.0,
            "do_normalize": True, "mean": mean, "std": std, "return_attention_mask": False}


def base_cfg(**kw):
    cfg = {"architectures": ["ASTModel"], "model_type": "audio-spectrogram-transformer", "hidden_size": 64,
           "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "hidden_act": "gelu",
           "layer_norm_eps": 1e-12, "patch_size": 16, "frequency_stride": 10, "time_stride": 10,
           "max_length": 200, "num_mel_bins": 128, "qkv_bias": True}
    cfg.update(kw)
    return cfg


def write_clips(tmp):
    """(path, channels, seconds): rates 16, 44.1 and 8 kHz; int16 WAV,
    24-bit FLAC, float WAV; shorter and longer than max_length frames."""
    specs = (("a.wav", 16000, 1, 1.3, "PCM_16"), ("b.flac", 44100, 2, 1.7, "PCM_24"), ("c.wav", 8000, 1, 2.6, "FLOAT"))
    return [(path, ch, secs) for path, (_, _, ch, secs, _) in zip(AT.write_clips(tmp, specs), specs)]


# -------------------------------------------------------------------- checks --

def layer_case(tag, model, model_path, cfg, feats, tmp):
    """sail's traced activations on the same features (the tower alone)."""
    acts = AT.trace(model_path, tmp, feats.transpose(0, 2, 1), "audio tower")  # (n, mel, frames)
    if acts is not None:
        with torch.no_grad():
            AT.check_layers(tag, acts, model(torch.from_numpy(feats)), TOL)


def file_case(tag, model, model_path, cfg, mean, std, clips, tmp):
    """Vectors of audio files: CLI, C API files / bytes / pcm."""
    want = AT.check_files(tag, model, model_path, clips, 16000, lambda w: extractor(w, cfg, mean, std), tmp, TOL,
                          "16/44.1/8 kHz WAV, FLAC")
    if want is None:
        return
    paths = [c[0] for c in clips]
    binding_case(tag, model_path, clips, want)
    # stored narrower: f16 to float rounding, q8_0 to its quantisation
    for kind, cos_min, abs_max in (("f16", 0.99999, 1e-3), ("q8_0", 0.9995, 1e-2)):
        q = os.path.join(tmp, "q-%s.gguf" % kind)
        r = O.run(["quantize", model_path, "--type", kind, "-o", q])
        if tap.check(r.returncode == 0, "%s: sail quantize --type %s" % (tag, kind), r.stderr[-300:]):
            tap.compare(O.embed(q, "--audio", paths, tmp), want, "%s: the %s model's audio vectors are the reference's"
                        % (tag, kind), cos_min=cos_min, abs_max=abs_max)
    # a Matryoshka prefix is the re-normalised head of the vector
    out = os.path.join(tmp, "api.f32")
    r = subprocess.run([API, model_path, out, "--dim", "16", "--audio", paths[0]], capture_output=True, text=True)
    if tap.check(r.returncode == 0, "%s: --dim 16" % tag, r.stderr[-300:]):
        tap.compare(np.fromfile(out, np.float32)[None], F.normalize(torch.from_numpy(want[:1, :16]), dim=-1).numpy(),
                    "%s: a 16-dimension prefix of an audio vector" % tag, abs_max=TOL)


def binding_case(tag, model_path, clips, want):
    """The Python binding's embed_audio: paths, bytes, samples with a rate."""
    if os.environ.get("SAIL_ASAN"):
        print("skip - the Python binding: not under ASan (it loads the plain libsail.so)")
        return
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
    os.environ.setdefault("SAIL_LIB", os.path.abspath(os.path.join(BUILD, "libsail.so")))
    import sail
    m = sail.Model(model_path, threads=1)
    paths = [c[0] for c in clips]
    tap.compare(m.embed_audio(paths), want, "%s: Python embed_audio(paths)" % tag, abs_max=TOL)
    blobs = [open(p, "rb").read() for p in paths]
    tap.compare(m.embed_audio(blobs), want, "%s: Python embed_audio(bytes)" % tag, abs_max=TOL)
    x, rate = sf.read(paths[1], dtype="float32", always_2d=True)
    tap.compare(m.embed_audio(x.mean(1, dtype=np.float32), rate=rate), want[1:2],
                "%s: Python embed_audio(samples, rate=%d)" % (tag, rate), abs_max=TOL)
    try:
        m.embed_audio(b"not audio at all")
        tap.check(False, "%s: Python embed_audio refuses junk bytes" % tag)
    except sail.SailError as e:
        tap.check(e.status == "format error" and "not an audio or video file" in str(e),
                  "%s: Python embed_audio refuses junk bytes" % tag, str(e))


def bad_inputs(ast_path, clips, tmp):
    wav = clips[0][0]
    tiny = text_image_model(tmp, tap.check)
    if tiny:
        r = O.run(["embed", "--model", tiny, "--audio", wav])
        tap.check(r.returncode == 1 and "no audio encoder (it embeds texts and images)" in r.stderr,
                  "a model without an audio tower refuses --audio clearly", r.stderr.strip())
    vit = os.path.join(tmp, "vit")
    O.write_safetensors(os.path.join(vit, "model.safetensors"), O.state_numpy(O.make_vit_folder(vit)))
    if tap.check(O.convert(vit, os.path.join(tmp, "vit.gguf")).returncode == 0, "a ViT converts (for the next check)"):
        r = O.run(["embed", "--model", os.path.join(tmp, "vit.gguf"), "--audio", wav])
        tap.check(r.returncode == 1 and "no audio encoder (it embeds images only)" in r.stderr,
                  "an image model refuses --audio clearly", r.stderr.strip())
        r = subprocess.run([API, os.path.join(tmp, "vit.gguf"), os.path.join(tmp, "x.f32"), "--pcm", wav, "16000"],
                           capture_output=True, text=True)
        tap.check(r.returncode == 1 and "no audio encoder" in r.stderr, "sail_embed_audio_pcm on an image model",
                  r.stderr.strip())
    r = O.run(["export", "--format", "hf", ast_path, "-o", os.path.join(tmp, "exported")])
    tap.check(r.returncode == 1 and "audio model" in r.stderr, "sail export refuses an audio model", r.stderr.strip())
    r = O.run(["embed", "--model", ast_path, "--text", "hello"])
    tap.check(r.returncode == 1 and "no text encoder (it embeds audio only)" in r.stderr,
              "the audio model refuses a text clearly", r.stderr.strip())
    img = O.write_images(tmp)[0]
    r = O.run(["embed", "--model", ast_path, "--image", img])
    tap.check(r.returncode == 1 and "no vision encoder (it embeds audio only)" in r.stderr,
              "the audio model refuses an image clearly", r.stderr.strip())
    junk = os.path.join(tmp, "junk.wav")
    with open(junk, "wb") as f:
        f.write(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    r = O.run(["embed", "--model", ast_path, "--audio", wav, "--audio", junk])
    tap.check(r.returncode == 1 and "clip 1" in r.stderr and "junk.wav" in r.stderr and
              "not an audio or video file" in r.stderr, "a corrupt audio file is refused, named", r.stderr.strip())
    r = O.run(["embed", "--model", ast_path, "--audio", os.path.join(tmp, "missing.wav")])
    tap.check(r.returncode == 1 and "No such file" in r.stderr, "a missing audio file is refused", r.stderr.strip())
    r = subprocess.run([API, ast_path, os.path.join(tmp, "x.f32"), "--dim", "65", "--audio", wav],
                       capture_output=True, text=True)
    tap.check(r.returncode == 1 and "dim 65 is out of range" in r.stderr, "a dim over the model's is refused",
              r.stderr.strip())


def convert_errors(tmp):
    cfg = base_cfg()
    d = os.path.join(tmp, "mismatch")
    make_folder(d, cfg, dict(prep_json(cfg), max_length=300))
    r = O.convert(d, os.path.join(tmp, "mm.gguf"))
    tap.check(r.returncode == 1 and "300 frames" in r.stderr and "max_length" in r.stderr,
              "a feature extractor whose max_length is not the model's is refused", r.stderr.strip())
    d = os.path.join(tmp, "badstride")
    make_folder(d, cfg, None)
    O.write_json(os.path.join(d, "config.json"), base_cfg(time_stride=0))
    r = O.convert(d, os.path.join(tmp, "bs.gguf"))
    tap.check(r.returncode == 1 and "time_stride" in r.stderr, "a zero time_stride is refused", r.stderr.strip())
    d = os.path.join(tmp, "extra")
    make_folder(d, cfg, None)
    st = os.path.join(d, "model.safetensors")
    os.remove(st)
    model = O.randomize(AST(cfg), 1)
    sd = O.state_numpy(model)
    sd["embeddings.extra"] = np.zeros(3, np.float32)
    O.write_safetensors(st, sd)
    r = O.convert(d, os.path.join(tmp, "ex.gguf"))
    tap.check(r.returncode == 1 and "embeddings.extra" in r.stderr, "an unexpected tensor is refused",
              r.stderr.strip())


AST_FIXED = {"aud.patch.weight": "embeddings.patch_embeddings.projection.weight",
             "aud.patch.bias": "embeddings.patch_embeddings.projection.bias",
             "aud.cls": "embeddings.cls_token", "aud.dist": "embeddings.distillation_token",
             "aud.pos": "embeddings.position_embeddings", "aud.norm.weight": "layernorm.weight",
             "aud.norm.bias": "layernorm.bias", "train.logit_scale": "logit_scale"}
BLOCK = {"attn_out": 3, "norm1": 4, "ffn_up": 5, "ffn_down": 6, "norm2": 7}


def ast_names(name):
    """The torch parameters packed into sail tensor `name`."""
    if name in AST_FIXED:
        return [AST_FIXED[name]]
    parts = name.split(".")  # aud.blk.0.attn_qkv.weight
    if len(parts) != 5 or parts[:2] != ["aud", "blk"]:
        return []
    pre, vb = "encoder.layer.%d." % int(parts[2]), FG.VIT_BLOCK
    if parts[3] == "attn_qkv":
        return [pre + vb[i] + "." + parts[4] for i in range(3)]
    return [pre + vb[BLOCK[parts[3]]] + "." + parts[4]] if parts[3] in BLOCK else []


def grad_case(tmp, freeze=()):
    """One training step of an AST (the trainer's own, tests/tools/train_dump)
    against autograd in float64 on the same weights: symmetric InfoNCE
    between two sides of spectrograms (tests/test_train_grad.py's)."""
    tag = "AST training step" + (" (--freeze %s)" % ",".join(freeze) if freeze else "")
    cfg = base_cfg(hidden_size=32, num_attention_heads=2, intermediate_size=64, frequency_stride=10,
                   time_stride=12, max_length=60, num_mel_bins=48)
    d = os.path.join(tmp, "grad" + "-".join(freeze))
    model = make_folder(d, cfg, prep_json(cfg), seed=21)
    path = d + ".gguf"
    if not tap.check(O.convert(d, path).returncode == 0, "%s: sail convert" % tag):
        return
    model = model.double()
    g = torch.Generator().manual_seed(4)
    n, out = 4, tempfile.mkdtemp(dir=tmp)
    feats = [torch.randn(n, cfg["max_length"], cfg["num_mel_bins"], generator=g).float() for _ in range(2)]
    sides = []
    for k, f in enumerate(feats):
        spec = os.path.join(out, "s%d.f32" % k)
        f.transpose(1, 2).contiguous().numpy().tofile(spec)  # (n, mel, frames)
        sides.append("audio:" + spec)
    group = [0, 1, 2, 3]
    dim = cfg["hidden_size"]
    r = TG.dump_step(path, out, n, sides, group, "%d:1,16:0.5" % dim, freeze)
    if not tap.check(r.returncode == 0, "%s: train_dump runs" % tag, r.stderr.strip()[-300:]):
        return
    load = TG.dumped(out)
    ls = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    model.zero_grad()
    ea, eb = (model(f.double())["embedding"] for f in feats)
    loss = TG.infonce(ea, eb, group, [dim, 16], [1.0, 0.5], ls)
    loss.backward()
    got = float(load("loss")[0])
    rel = abs(got - loss.item()) / abs(loss.item())
    tap.check(rel <= 1e-5, "%s: loss sail %.7f torch %.7f (rel %.1e)" % (tag, got, loss.item(), rel))
    for k, e in (("a", ea), ("b", eb)):
        err = float(np.abs(load("emb_" + k).reshape(n, -1) - e.detach().numpy()).max())
        tap.check(err <= TOL, "%s: embeddings of side %s equal autograd's forward" % (tag, k), "max abs err %.1e" % err)
        err = float(np.abs(load("embed_" + k) - load("infer_" + k)).max())
        tap.check(err <= 1e-6, "%s: the trainable model embeds side %s as inference does" % (tag, k),
                  "max abs err %.1e" % err)
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    grads["logit_scale"] = ls.grad
    FG.compare_grads(tag, out, grads, load("grads"), freeze, ast_names)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        clips = write_clips(tmp)
        g = np.random.default_rng(5)
        # 1. ASTModel, AST's front end at a small size
        cfg = base_cfg()
        d = os.path.join(tmp, "ast")
        model = make_folder(d, cfg, prep_json(cfg))
        out = os.path.join(tmp, "ast.gguf")
        r = O.convert(d, out)
        if tap.check(r.returncode == 0, "ASTModel: sail convert", r.stderr.strip()[-300:]):
            r = O.run(["info", out])
            tap.check(r.returncode == 0 and "audio:      2 layers, width 64, 4 heads" in r.stdout and
                      "16000 Hz mono, Kaldi fbank 128 mel bins" in r.stdout and "200 frames (2.00 s)" in r.stdout
                      and "mean -4.2677393, std 4.5689974" in r.stdout
                      and "stride 10x10" in r.stdout, "sail info shows the audio tower and its front end",
                      r.stdout[-600:])
            feats = np.stack([extractor(g.standard_normal(n) * 0.1, cfg, -4.2677393, 4.5689974)
                              for n in (30000, 9000)])
            layer_case("ASTModel", model, out, cfg, feats, tmp)
            file_case("ASTModel", model, out, cfg, -4.2677393, 4.5689974, clips, tmp)
            bad_inputs(out, clips, tmp)
        # 2. ASTForAudioClassification (prefixed base model, classifier beside
        #    it), pytorch_model.bin, other patch / strides / bins / norm
        cfg = base_cfg(architectures=["ASTForAudioClassification"], hidden_size=48, num_attention_heads=3,
                       intermediate_size=80, num_hidden_layers=3, layer_norm_eps=1e-6, patch_size=12,
                       frequency_stride=8, time_stride=6, max_length=150, num_mel_bins=64)
        mean, std = -3.5, 3.25
        d = os.path.join(tmp, "astc")
        model = make_folder(d, cfg, prep_json(cfg, mean, std), head=True, seed=12, fmt="bin")
        out = os.path.join(tmp, "astc.gguf")
        r = O.convert(d, out)
        if tap.check(r.returncode == 0, "ASTForAudioClassification: sail convert (classifier left out)",
                     r.stderr.strip()[-300:]):
            feats = np.stack([extractor(g.standard_normal(n) * 0.1, cfg, mean, std) for n in (25000, 4000, 300)])
            layer_case("ASTForAudioClassification", model, out, cfg, feats, tmp)
            file_case("ASTForAudioClassification", model, out, cfg, mean, std, clips, tmp)
        convert_errors(tmp)
        grad_case(tmp)
        grad_case(tmp, freeze=("audio",))
    sys.exit(1 if tap.failed else 0)


if __name__ == "__main__":
    main()
