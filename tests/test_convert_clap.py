"""`sail convert` of Hugging Face CLAP folders (ClapModel,
ClapAudioModelWithProjection; enable_fusion=False) and the audio tower they
become: `sail embed --audio`, the C API, `sail info`.

Reference: an independent PyTorch transcription of HTSAT (below, with
Hugging Face's module names, so state_dict() holds the checkpoint's tensor
names): BatchNorm2d over the mel bins (eval), the spectrogram stretched to
spec_size * freq_ratio frames (F.interpolate bicubic, align_corners=True)
and folded into a spec_size square (reshape_mel2img), Conv2d patches +
LayerNorm, Swin stages written the textbook way (torch.roll by -shift,
window partition, q k^T / sqrt(hd) + the bias table gathered by the
relative position index + the -100 mask between the wrapped regions,
softmax, window reverse, roll back; pre-norm MLP; patch merging of the
(0,0) (1,0) (0,1) (1,1) neighbours, LayerNorm, bias-free reduction), the
final LayerNorm, the token mean (pooler_output), the projection
linear1 -> ReLU -> linear2, F.normalize. It is fed with
ClapFeatureExtractor's features ("rand_trunc", "repeatpad"): the clip
repeated int(max / n) times, zero-padded to max_length_s * rate, then the
numpy transcription of its log-mel (tests/test_audio_features.py: periodic
Hann STFT, power, librosa's Slaney mel filters, 10 log10 max(., 1e-10)).
Clips longer than max_length_s: sail takes the first max_length_s seconds
where Hugging Face takes a random window; the reference takes the first.
Audio files are decoded for the reference by the ffmpeg command with sail's
settings (equal-weight mono, aresample to the model's rate).

Pass: every traced activation (patch embedding, each Swin block, each
merging, final norm, pooled, the vector) within 1e-4 of the reference's on
the same features; vectors from 16 / 44.1 / 48 kHz WAV files within 1e-4
through the CLI and the C API.
"""
import json
import os
import subprocess
import sys
import tempfile

from tap import BUILD, skip_import

try:
    import numpy as np
    import soundfile as sf
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import audio_towers as AT
    import convert_oracle as O
    import test_audio_features as AF
    import gpt2_oracle as G
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch, numpy and soundfile", e)

TOL = 1e-4
tap = O.Tap()
torch.set_num_threads(2)


# --------------------------------------------------------------- reference --

class Dense(nn.Module):
    def __init__(self, i, o, bias=True):
        super().__init__()
        self.dense = nn.Linear(i, o, bias=bias)


class SwinSelfAttention(nn.Module):
    def __init__(self, d, heads, w):
        super().__init__()
        self.heads, self.w = heads, w
        self.query, self.key, self.value = (nn.Linear(d, d) for _ in range(3))
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * w - 1) ** 2, heads))
        ys, xs = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
        c = torch.stack([ys.flatten(), xs.flatten()])               # (2, w*w)
        rel = (c[:, :, None] - c[:, None, :]).permute(1, 2, 0) + (w - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * w - 1) + rel[..., 1])

    def forward(self, x, mask):
        """x (nW*B, w*w, d); mask (nW, w*w, w*w) or None."""
        n, t, d = x.shape
        hd = d // self.heads
        q, k, v = (m(x).view(n, t, self.heads, hd).transpose(1, 2) for m in (self.query, self.key, self.value))
        s = q @ k.transpose(-1, -2) / (hd ** 0.5)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(t, t, -1)
        s = s + bias.permute(2, 0, 1)[None]
        if mask is not None:
            nw = mask.shape[0]
            s = (s.view(n // nw, nw, self.heads, t, t) + mask[None, :, None]).view(n, self.heads, t, t)
        return (s.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)


class SwinAttention(nn.Module):
    def __init__(self, d, heads, w):
        super().__init__()
        self.self = SwinSelfAttention(d, heads, w)
        self.output = Dense(d, d)


def windows(x, w):
    B, H, W, C = x.shape
    return x.view(B, H // w, w, W // w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, C)


def unwindows(x, w, H, W):
    B = x.shape[0] // ((H // w) * (W // w))
    return x.view(B, H // w, W // w, w, w, -1).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, -1)


class SwinLayer(nn.Module):
    def __init__(self, c, d, heads):
        super().__init__()
        self.c = c
        self.layernorm_before = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.attention = SwinAttention(d, heads, c["window_size"])
        self.layernorm_after = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.intermediate = Dense(d, int(c["mlp_ratio"] * d))
        self.output = Dense(int(c["mlp_ratio"] * d), d)

    def forward(self, x, R, shift):
        B, N, C = x.shape
        w = self.c["window_size"]
        h = self.layernorm_before(x).view(B, R, R, C)
        mask = None
        if shift:
            h = torch.roll(h, (-shift, -shift), (1, 2))
            lab = torch.zeros(1, R, R, 1)
            cnt = 0
            for ys in (slice(0, -w), slice(-w, -shift), slice(-shift, None)):
                for xs in (slice(0, -w), slice(-w, -shift), slice(-shift, None)):
                    lab[:, ys, xs] = cnt
                    cnt += 1
            lw = windows(lab, w).squeeze(-1)
            mask = (lw[:, None, :] - lw[:, :, None]).ne(0).float() * -100.0
        a = self.attention.self(windows(h, w), mask)
        a = unwindows(self.attention.output.dense(a), w, R, R)
        if shift:
            a = torch.roll(a, (shift, shift), (1, 2))
        x = x + a.reshape(B, N, C)
        return x + self.output.dense(F.gelu(self.intermediate.dense(self.layernorm_after(x))))


class PatchMerging(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.reduction = nn.Linear(4 * d, 2 * d, bias=False)
        self.norm = nn.LayerNorm(4 * d)

    def forward(self, x, R):
        B, _, C = x.shape
        x = x.view(B, R, R, C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.reshape(B, -1, 4 * C)))


class Stage(nn.Module):
    def __init__(self, c, i, last):
        super().__init__()
        d = c["patch_embeds_hidden_size"] * 2 ** i
        self.blocks = nn.ModuleList(SwinLayer(c, d, c["num_attention_heads"][i]) for _ in range(c["depths"][i]))
        if not last:
            self.downsample = PatchMerging(d)


class AFF(nn.Module):
    """ClapAudioAFFBlock: out = 2 g w + 2 l (1 - w), w = sigmoid(local_att(g + l) + global_att(g + l))."""

    def __init__(self, C, r):
        super().__init__()
        i = C // r
        self.local_att = nn.Sequential(nn.Conv2d(C, i, 1), nn.BatchNorm2d(i), nn.ReLU(), nn.Conv2d(i, C, 1),
                                       nn.BatchNorm2d(C))
        self.global_att = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(C, i, 1), nn.BatchNorm2d(i), nn.ReLU(),
                                        nn.Conv2d(i, C, 1), nn.BatchNorm2d(C))

    def forward(self, g, l):
        x = g + l
        w = torch.sigmoid(self.local_att(x) + self.global_att(x))
        return 2 * g * w + 2 * l * (1 - w)


class PatchEmbed(nn.Module):
    def __init__(self, c):
        super().__init__()
        p, C = c["patch_size"], c["patch_embeds_hidden_size"]
        self.proj = nn.Conv2d(1, C, p, stride=p)
        self.norm = nn.LayerNorm(C)
        if c["enable_fusion"]:
            self.fusion_model = AFF(C, c.get("aff_block_r", 4))
            self.mel_conv2d = nn.Conv2d(1, C, (p, 3 * p), stride=(p, 3 * p))

    def forward(self, x):
        """x (B, 1 or 4, S, S) -> (B, g*g, C); with the fusion every item is
        "longer" (as a clip embedded alone always is in Hugging Face's)."""
        g = self.proj(x[:, 0:1])
        if hasattr(self, "fusion_model"):
            B, _, H, W = x.shape
            l = self.mel_conv2d(x[:, 1:].reshape(B * 3, 1, H, W))
            _, C, h, w = l.shape
            l = l.view(B, 3, C, h, w).permute(0, 2, 3, 1, 4).flatten(3)
            l = F.pad(l, (0, g.shape[-1] - l.shape[-1]))
            g = self.fusion_model(g, l)
        return self.norm(g.flatten(2).transpose(1, 2))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = len(c["depths"])
        self.patch_embed = PatchEmbed(c)
        self.layers = nn.ModuleList(Stage(c, i, i == n - 1) for i in range(n))
        self.batch_norm = nn.BatchNorm2d(c["num_mel_bins"])
        self.norm = nn.LayerNorm(c["patch_embeds_hidden_size"] * 2 ** (n - 1))


class Proj(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(i, o), nn.Linear(o, o)

    def forward(self, x):
        return self.linear2(F.relu(self.linear1(x)))


class AudioModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.audio_encoder = Encoder(c)


class Clap(nn.Module):
    """ClapModel (text_model, text_projection, audio_model,
    audio_projection, logit_scale_a / _t) or, without a text config,
    ClapAudioModelWithProjection, with Hugging Face's names; forward
    records each stage of the audio tower, text() embeds token ids."""

    def __init__(self, a, proj_dim, t=None):
        super().__init__()
        self.a, self.t = a, t
        if t is not None:
            self.logit_scale_a = nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
            self.logit_scale_t = nn.Parameter(torch.tensor(np.log(12.0), dtype=torch.float32))
            self.text_model = O.BertModel(t)
            self.text_projection = Proj(t["hidden_size"], proj_dim)
        self.audio_model = AudioModel(a)
        self.audio_projection = Proj(a["hidden_size"], proj_dim)

    def text(self, ids):
        """RoBERTa (ClapTextModel) on unpadded ids (1, T): positions from
        pad_token_id + 1, token type 0, post-norm layers, tanh pooler over
        <s>; then the projection and F.normalize."""
        m, pad = self.text_model, self.t["pad_token_id"]
        e = m.embeddings
        pos = torch.cumsum(ids.ne(pad).long(), 1) * ids.ne(pad).long() + pad
        x = e.LayerNorm(e.word_embeddings(ids) + e.token_type_embeddings(torch.zeros_like(ids)) +
                        e.position_embeddings(pos))
        for layer in m.encoder.layer:
            x = layer(x, None)
        pooled = torch.tanh(m.pooler.dense(x[:, 0]))
        return F.normalize(self.text_projection(pooled), dim=-1)

    def forward(self, feats):
        """feats (B, frames, mel), or (B, 4, frames, mel) with the fusion, as
        input_features -> {stage: (rows, d)}."""
        a, e, rec = self.a, self.audio_model.audio_encoder, {}
        x = feats if feats.dim() == 4 else feats[:, None]
        # batch_norm (eval) over the mel bins, the last axis, written out: torch
        # 1.13's BatchNorm2d backward on the transposed view mixes up the
        # strides of its input and of its output's gradient (test_compose_clap)
        bn = e.batch_norm
        x = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias   # (B, ch, T, F)
        B, ch, T, Fb = x.shape
        S = a["spec_size"]
        ratio = S // Fb
        if T < S * ratio:
            x = F.interpolate(x, (S * ratio, Fb), mode="bicubic", align_corners=True)
        x = x.reshape(B, ch * ratio, S, Fb).permute(0, 1, 3, 2).reshape(B, ch, Fb * ratio, S)
        x = e.patch_embed(x)
        rec["audio.emb"] = x
        R, w = S // a["patch_size"], a["window_size"]
        for i, st in enumerate(e.layers):
            for j, blk in enumerate(st.blocks):
                x = blk(x, R, w // 2 if j % 2 and R > w else 0)
                rec["audio.s%d.b%d" % (i, j)] = x
            if hasattr(st, "downsample"):
                x = st.downsample(x, R)
                R //= 2
                rec["audio.s%d.merge" % i] = x
        x = e.norm(x)
        rec["audio.out"] = x
        rec["pooled"] = x.mean(1)
        rec["embedding"] = F.normalize(self.audio_projection(rec["pooled"]), dim=-1)
        return {k: v.reshape(-1, v.shape[-1]) for k, v in rec.items()}


def htsat_names(a):
    """{sail tensor name: [Hugging Face names]} of an HTSAT encoder of
    config a (src/convert/hf_clap.c's map): attn_qkv packs query, key,
    value; audio.bn.mean / var (and a fused model's audio.fuse.*_bn*.mean /
    var) are BatchNorm2d's running statistics."""
    enc, m = "audio_model.audio_encoder.", {}
    for sn, hn in (("audio.bn", "batch_norm"), ("audio.patch", "patch_embed.proj"),
                   ("audio.patch_norm", "patch_embed.norm"), ("audio.norm", "norm")):
        for wb in ("weight", "bias"):
            m["%s.%s" % (sn, wb)] = [enc + hn + "." + wb]
    m["audio.bn.mean"], m["audio.bn.var"] = [enc + "batch_norm.running_mean"], [enc + "batch_norm.running_var"]
    parts = {"norm1": "layernorm_before", "attn_out": "attention.output.dense", "norm2": "layernorm_after",
             "ffn_up": "intermediate.dense", "ffn_down": "output.dense"}
    for s, depth in enumerate(a["depths"]):
        for b in range(depth):
            pre, hp = "audio.s%d.b%d." % (s, b), enc + "layers.%d.blocks.%d." % (s, b)
            m[pre + "rel_bias"] = [hp + "attention.self.relative_position_bias_table"]
            for wb in ("weight", "bias"):
                m[pre + "attn_qkv." + wb] = [hp + "attention.self.%s.%s" % (k, wb) for k in ("query", "key", "value")]
                for sn, hn in parts.items():
                    m[pre + sn + "." + wb] = [hp + hn + "." + wb]
        if s < len(a["depths"]) - 1:
            m["audio.s%d.merge.weight" % s] = [enc + "layers.%d.downsample.reduction.weight" % s]
            for wb in ("weight", "bias"):
                m["audio.s%d.merge_norm.%s" % (s, wb)] = [enc + "layers.%d.downsample.norm.%s" % (s, wb)]
    if a["enable_fusion"]:  # the (p, 3p) convolution and ClapAudioAFFBlock's Sequential indices
        pe = enc + "patch_embed."
        for wb in ("weight", "bias"):
            m["audio.fuse.mel_conv." + wb] = [pe + "mel_conv2d." + wb]
        for sn, hn in (("local1", "local_att.0"), ("local_bn1", "local_att.1"), ("local2", "local_att.3"),
                       ("local_bn2", "local_att.4"), ("global1", "global_att.1"), ("global_bn1", "global_att.2"),
                       ("global2", "global_att.4"), ("global_bn2", "global_att.5")):
            parts = (("weight", "weight"), ("bias", "bias"))
            if "_bn" in sn:
                parts += (("mean", "running_mean"), ("var", "running_var"))
            for sp, hp in parts:
                m["audio.fuse.%s.%s" % (sn, sp)] = [pe + "fusion_model.%s.%s" % (hn, hp)]
    return m


def extractor(wave, prep):
    """ClapFeatureExtractor (padding as prep says) on samples at its rate, in
    float64. "rand_trunc": the first max_length samples of a longer clip.
    "fusion": four copies of a shorter clip's mel; a longer one's whole mel
    cropped at the middle of each third of its starts (Hugging Face picks
    in each third at random), then the whole shrunk (bilinear, float32)."""
    L = prep["max_length_s"] * prep["sampling_rate"]
    x = np.asarray(wave, np.float64)
    fusion = prep["truncation"] == "fusion"
    if fusion and len(x) > L:
        mel = logmel(x, prep)
        chunk, total = L // prep["hop_length"] + 1, mel.shape[0]
        if chunk == total:
            return np.stack([mel] * 4)
        ranges = np.array_split(list(range(0, total - chunk + 1)), 3)
        idx = [r[len(r) // 2] if len(r) else 0 for r in ranges]
        shrink = F.interpolate(torch.tensor(mel[None, None]), size=[chunk, 64], mode="bilinear",
                               align_corners=False)[0, 0].numpy()
        return np.stack([mel[i:i + chunk] for i in idx] + [shrink])
    x = x[:L]
    if len(x) < L:
        if prep["padding"] == "repeatpad":
            x = np.tile(x, L // len(x))
        elif prep["padding"] == "repeat":
            x = np.tile(x, L // len(x) + 1)[:L]
        x = np.pad(x, (0, L - len(x)))
    mel = logmel(x, prep)
    return np.stack([mel] * 4) if fusion else mel


def logmel(x, prep):
    """_np_extract_fbank_features: Slaney filters ("rand_trunc") or HTK ones
    without norm ("fusion")."""
    n_fft, hop, fusion = prep["fft_window_size"], prep["hop_length"], prep["truncation"] == "fusion"
    filt = AF.librosa_mel(prep["sampling_rate"], n_fft, prep["feature_size"], prep["frequency_min"],
                          prep["frequency_max"], htk=fusion, norm=None if fusion else "slaney")
    mel = AF.stft_power(x, n_fft, hop) @ filt.astype(np.float64).T
    return (10.0 * np.log10(np.maximum(mel, 1e-10))).astype(np.float32)


# ------------------------------------------------------------------ folders --

def audio_cfg(**kw):
    a = {"model_type": "clap_audio_model", "window_size": 4, "num_mel_bins": 16, "spec_size": 64,
         "hidden_act": "gelu", "patch_size": 4, "patch_stride": [4, 4], "hidden_size": 64, "projection_dim": 24,
         "depths": [2, 2, 2], "num_attention_heads": [2, 4, 8], "enable_fusion": False,
         "patch_embed_input_channels": 1, "flatten_patch_embeds": True, "patch_embeds_hidden_size": 16,
         "enable_patch_layer_norm": True, "qkv_bias": True, "mlp_ratio": 4.0, "layer_norm_eps": 1e-5,
         "projection_hidden_act": "relu"}
    a.update(kw)
    return a


def prep_json(**kw):
    p = {"feature_extractor_type": "ClapFeatureExtractor", "feature_size": 16, "sampling_rate": 48000,
         "hop_length": 480, "max_length_s": 2, "fft_window_size": 1024, "padding_value": 0.0,
         "return_attention_mask": False, "frequency_min": 50, "frequency_max": 14000, "top_db": None,
         "truncation": "rand_trunc", "padding": "repeatpad"}
    p.update(kw)
    return p


def fused_small():
    """(audio config, extractor config) of the small random fused CLAP
    (enable_fusion=True, aff_2d: LAION's clap-htsat-fused layout) the
    training tests use: 64 mel bins, a 256 x 256 image of 4 x 4 patches,
    1 s clips, a shifted window in its first stage, 4 channels in the
    fusion's bottlenecks (make_model's seed 19 and 13: their ReLUs pass
    some and stop some of the test clips' values, local and global)."""
    a = audio_cfg(num_mel_bins=64, spec_size=256, window_size=8, depths=[2, 1], num_attention_heads=[1, 2],
                  patch_embeds_hidden_size=8, hidden_size=16, projection_dim=24, enable_fusion=True,
                  fusion_type="aff_2d", aff_block_r=2)
    return a, prep_json(feature_size=64, max_length_s=1, truncation="fusion", frequency_min=0)


def make_model(a, seed):
    model = O.randomize(Clap(a, a["projection_dim"]), seed).eval()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for n, bn in model.named_modules():
            if isinstance(bn, nn.BatchNorm2d):
                mean = -20 if n.endswith("batch_norm") else 0
                bn.running_mean.copy_(torch.randn(bn.running_mean.shape, generator=g) * 3 + mean)
                bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g) * 50 + 20)
        for n, p in model.named_parameters():
            if n.endswith("relative_position_bias_table"):
                p.copy_(torch.randn(p.shape, generator=g))
    return model


def make_folder(d, a, prep, audio_only=True, seed=11):
    os.makedirs(d)
    model = make_model(a, seed)
    O.write_json(os.path.join(d, "config.json"), dict(a, architectures=["ClapAudioModelWithProjection"]))
    if prep is not None:
        O.write_json(os.path.join(d, "preprocessor_config.json"), prep)
    O.write_safetensors(os.path.join(d, "model.safetensors"),
                        {k: v.detach().numpy() for k, v in model.state_dict().items()})
    return model


def write_clips(tmp, secs_max):
    """(path, channels): 16, 44.1 and 48 kHz WAV (int16, float, 24-bit),
    two shorter than max_length_s (repeated to fill it), one longer."""
    specs = (("a.wav", 16000, 1, 0.7 * secs_max, "PCM_16"), ("b.wav", 44100, 2, 0.45 * secs_max, "FLOAT"),
             ("c.wav", 48000, 1, 1.3 * secs_max, "PCM_24"))
    return [(path, ch) for path, (_, _, ch, _, _) in zip(AT.write_clips(tmp, specs), specs)]


# -------------------------------------------------------------------- checks --

def trace(model_path, tmp, feats):
    """sail's traced activations on the same features (n, frames, mel)."""
    spec = np.swapaxes(feats, -1, -2)  # (n, [4,] mel, frames): the fusion's 4 spectrograms stack as rows
    return AT.trace(model_path, tmp, spec.reshape(feats.shape[0], -1, feats.shape[-2]), "HTSAT tower")


def layer_case(tag, model, model_path, feats, tmp):
    acts = trace(model_path, tmp, feats)
    if acts is not None:
        with torch.no_grad():
            AT.check_layers(tag, acts, model(torch.from_numpy(feats)), TOL)


def file_case(tag, model, model_path, prep, clips, tmp):
    """Vectors of audio files: CLI, C API files / bytes / pcm."""
    return AT.check_files(tag, model, model_path, clips, prep["sampling_rate"], lambda w: extractor(w, prep), tmp, TOL,
                          "16 / 44.1 / 48 kHz WAV")


def hostile_files(path, clip, tmp):
    """A converted file whose sail.htsat keys were altered is refused at
    load with the key named, never run: an i32 key's value, or the first
    entry of the depths array, overwritten in place."""
    blob = open(path, "rb").read()

    def patched(key, value, array=False):
        k = blob.index(key.encode() + (b"\x09\x00\x00\x00" if array else b"\x05\x00\x00\x00"))
        at = k + len(key) + 4 + (12 if array else 0)   # past the type (and the element type and count)
        return blob[:at] + np.int32(value).tobytes() + blob[at + 4:]

    for what, key, value, array, words in (
            ("a zero window", "sail.htsat.window", 0, False, ("window_size 0",)),
            ("a spec_size of 4096", "sail.htsat.spec_size", 4096, False, ("spec_size 4096",)),
            ("a stage of 100000 blocks", "sail.htsat.depths", 100000, True, ("sail.htsat.depths[0]", "100000")),
            ("a hop of 0", "sail.htsat.hop", 0, False, ("log-mel",))):
        bad = os.path.join(tmp, "hostile.gguf")
        with open(bad, "wb") as f:
            f.write(patched(key, value, array))
        r = O.run(["embed", "--model", bad, "--audio", clip])
        tap.check(r.returncode == 1 and all(w in r.stderr for w in words),
                  "a model file with %s is refused at load" % what, r.stderr.strip()[-300:])


def small_case(tmp, clips):
    a, prep = audio_cfg(), prep_json()
    d = os.path.join(tmp, "small")
    model = make_folder(d, a, prep)
    out = d + ".gguf"
    r = O.convert(d, out)
    if not tap.check(r.returncode == 0, "ClapAudioModelWithProjection: sail convert", r.stderr.strip()[-300:]):
        return
    r = O.run(["info", out])
    tap.check(r.returncode == 0 and "audio:      HTSAT (CLAP), stages (blocks x heads) 2x2, 2x4, 2x8, width 16..64, "
              "window 4, patch 4 over a 64x64 image" in r.stdout and "48000 Hz mono, log-mel 16 bins (FFT 1024, hop "
              "480, 50..14000 Hz, Slaney, dB), 2.00 s (201 frames): shorter clips repeated then zero-padded" in r.stdout,
              "sail info describes the HTSAT tower and its front end", r.stdout[-900:])
    hostile_files(out, clips[0][0], tmp)
    g = np.random.default_rng(5)
    feats = np.stack([extractor(g.standard_normal(n) * 0.1, prep) for n in (60000, 9000)])
    layer_case("HTSAT small", model, out, feats, tmp)
    want = file_case("HTSAT small", model, out, prep, clips, tmp)
    # stored narrower: f16 to float rounding, q8_0 to its quantisation (the bias tables stay f16)
    for kind, cos_min, abs_max in (("f16", 0.99999, 1e-3), ("q8_0", 0.9995, 1e-2)):
        q = os.path.join(tmp, "q-%s.gguf" % kind)
        r = O.run(["quantize", out, "--type", kind, "-o", q])
        if want is not None and tap.check(r.returncode == 0, "HTSAT small: sail quantize --type %s" % kind,
                                          r.stderr[-300:]):
            tap.compare(O.embed(q, "--audio", [c[0] for c in clips], tmp), want,
                        "HTSAT small: the %s model's audio vectors are the reference's" % kind, cos_min=cos_min,
                        abs_max=abs_max)


CORPUS = ["the sound of a dog barking in the park", "a cat is meowing loudly", "rain falling on the roof",
          "people talking and laughing at a party", "The car engine starts and drives away", "birds singing",
          "I'll say it's the sound they've heard", "黑色高帮运动鞋", "狗在叫", "一只猫在叫", "下雨的声音",
          "🐶 🐱 🚗 music 123 4567", "Hello, world! The WORLD says hello."] * 3


def write_roberta_tokenizer(d):
    """vocab.json, merges.txt, tokenizer_config.json laid out as a RoBERTa /
    CLAP tokenizer's (<s> 0, <pad> 1, </s> 2, <unk> 3, ..., <mask> last).
    Returns (ranks, encoder)."""
    merges = G.train_merges(CORPUS, 300)
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + list(G.BYTE_ENC.values())
    for m in merges:
        if m[0] + m[1] not in vocab:
            vocab.append(m[0] + m[1])
    vocab.append("<mask>")
    encoder = {t: i for i, t in enumerate(vocab)}
    O.write_json(os.path.join(d, "vocab.json"), encoder)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    O.write_json(os.path.join(d, "tokenizer_config.json"), {
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "<s>",
        "sep_token": "</s>", "mask_token": "<mask>", "model_max_length": 512, "tokenizer_class": "RobertaTokenizer"})
    return {m: i for i, m in enumerate(merges)}, encoder


TEXTS = ["the sound of a dog barking", "A CAT is Meowing", "Don't stop: I'LL say it's theirs, they've won",
         "numbers 2024 and 1234567", "two  spaces   and three", "tab\there", "trailing spaces  ",
         "  leading", "黑色高帮运动鞋", "🐶 barks! 🚗", "naïve café", "x", "hello,world!?"]


def text_cfg(n_vocab):
    return {"model_type": "clap_text_model", "vocab_size": n_vocab, "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu", "max_position_embeddings": 40,
            "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1, "projection_dim": 24,
            "projection_hidden_act": "relu", "position_embedding_type": "absolute"}


def make_clap_folder(d, a, prep, seed=13, fmt="safetensors"):
    """A ClapModel folder: both towers, RoBERTa's tokenizer files."""
    os.makedirs(d)
    ranks, encoder = write_roberta_tokenizer(d)
    t = text_cfg(len(encoder))
    model = Clap(a, a["projection_dim"], t)
    O.randomize(model, seed)
    audio = make_model(a, seed)
    model.audio_model.load_state_dict(audio.audio_model.state_dict())
    model.audio_projection.load_state_dict(audio.audio_projection.state_dict())
    model.eval()
    cfg = {"architectures": ["ClapModel"], "model_type": "clap", "projection_dim": a["projection_dim"],
           "logit_scale_init_value": 14.285714285714285, "text_config": t,
           "audio_config": {k: v for k, v in a.items() if k != "model_type"}}
    O.write_json(os.path.join(d, "config.json"), cfg)
    O.write_json(os.path.join(d, "preprocessor_config.json"), prep)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    sd["text_model.embeddings.position_ids"] = torch.arange(t["max_position_embeddings"])[None]
    sd["text_model.embeddings.token_type_ids"] = torch.zeros(1, t["max_position_embeddings"], dtype=torch.int64)
    if fmt == "bin":
        torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    else:
        O.write_safetensors(os.path.join(d, "model.safetensors"), {k: v.numpy() for k, v in sd.items()})
    return model, ranks, encoder


def text_case(tag, model, path, ranks, encoder, tmp):
    """The tokenizer (sail tokenize --model) and the text vectors (sail embed --text)."""
    want_ids = [[0] + G.gpt2_encode(x, ranks, encoder) + [2] for x in TEXTS]
    r = subprocess.run([O.SAIL, "tokenize", "--model", path], input="\n".join(TEXTS) + "\n", capture_output=True,
                       text=True)
    if tap.check(r.returncode == 0, "%s: sail tokenize --model runs" % tag, r.stderr[-300:]):
        got = [json.loads(line) for line in r.stdout.splitlines()]
        bad = [(x, g[:len(w)], w) for x, g, w in zip(TEXTS, got, want_ids)
               if g[:len(w)] != w or any(i != 1 for i in g[len(w):])]
        tap.check(len(got) == len(TEXTS) and not bad,
                  "%s: GPT-2 BPE ids (<s> ... </s>, <pad> after) equal encoder.py's on %d English / Chinese / "
                  "emoji texts" % (tag, len(TEXTS)), str(bad[:2]))
    with torch.no_grad():
        want = torch.cat([model.text(torch.tensor([ids])) for ids in want_ids]).numpy()
    tap.compare(O.embed(path, "--text", TEXTS, tmp), want,
                "%s: sail embed --text equals get_text_features (RoBERTa, positions from pad + 1, pooler, "
                "projection)" % tag, abs_max=TOL)
    return want


def clap_case(tmp, clips):
    a, prep = audio_cfg(), prep_json()
    d = os.path.join(tmp, "clap")
    model, ranks, encoder = make_clap_folder(d, a, prep)
    out = d + ".gguf"
    r = O.convert(d, out)
    if not tap.check(r.returncode == 0, "ClapModel: sail convert (both towers, RoBERTa's tokenizer)",
                     r.stderr.strip()[-300:]):
        return
    r = O.run(["info", out])
    tap.check(r.returncode == 0 and "gpt2-bpe" in r.stdout and "audio=htsat" in r.stdout,
              "sail info describes both towers", r.stdout[-600:])
    r = O.run(["bench", "--model", out, "--kind", "audio", "--reps", "1"])
    tap.check(r.returncode == 1 and "log-mel" in r.stderr and "not a Kaldi fbank" in r.stderr,
              "sail bench --kind audio (AST's fbank stages) refuses a CLAP clearly", r.stderr.strip()[-300:])
    g = np.random.default_rng(6)
    feats = np.stack([extractor(g.standard_normal(n) * 0.1, prep) for n in (50000,)])
    layer_case("ClapModel", model, out, feats, tmp)
    audio = file_case("ClapModel", model, out, prep, clips, tmp)
    text = text_case("ClapModel", model, out, ranks, encoder, tmp)
    # the same checkpoint as pytorch_model.bin
    d2 = os.path.join(tmp, "clapbin")
    make_clap_folder(d2, a, prep, fmt="bin")
    if tap.check(O.convert(d2, d2 + ".gguf").returncode == 0, "ClapModel from pytorch_model.bin: sail convert"):
        tap.compare(O.embed(d2 + ".gguf", "--text", TEXTS[:3], tmp), text[:3],
                    "ClapModel from pytorch_model.bin: the same text vectors", abs_max=TOL)
    if audio is not None:
        search_case(out, clips, audio, text, tmp)
        zero_shot_case(out, model, clips, audio, ranks, encoder)
        binding_case(out, clips, audio, text)


def zero_shot_case(path, model, clips, audio, ranks, encoder):
    """sail classify --zero-shot --audio: softmax(scale * cosine) over the
    labels' prompts, as CLAP's logits_per_audio.softmax with that scale."""
    labels, scale = ["dog", "cat", "rain", "黑色高帮运动鞋"], 10.0
    args = ["classify", "--zero-shot", "--model", path, "--labels", ",".join(labels), "--template",
            "the sound of {}", "--scale", str(scale), "--top", str(len(labels))]
    for p, _ in clips:
        args += ["--audio", p]
    r = O.run(args)
    with torch.no_grad():
        prompts = torch.cat([model.text(torch.tensor([[0] + G.gpt2_encode("the sound of " + x, ranks, encoder) + [2]]))
                             for x in labels]).numpy()
    want = torch.softmax(torch.from_numpy(scale * audio @ prompts.T), -1).numpy()
    try:
        res = json.loads(r.stdout)["results"]
        got = np.array([[next(t["probability"] for t in e["top"] if t["label"] == x) for x in labels] for e in res])
    except (ValueError, KeyError, StopIteration):
        got = None
    tap.check(got is not None and got.shape == want.shape and float(np.abs(got - want).max()) <= TOL,
              "sail classify --zero-shot --audio: label probabilities equal the reference's",
              "max abs err %.2e" % float(np.abs(got - want).max()) if got is not None and got.shape == want.shape
              else r.stderr[-300:] + r.stdout[-300:])


def binding_case(model_path, clips, audio, text):
    """The Python binding: embed_audio (paths, samples with a rate) and embed_text."""
    if os.environ.get("SAIL_ASAN"):
        print("skip - the Python binding: not under ASan (it loads the plain libsail.so)")
        return
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    os.environ.setdefault("SAIL_LIB", os.path.abspath(os.path.join(BUILD, "libsail.so")))
    import sail
    with sail.Model(model_path, threads=1) as m:
        tap.compare(m.embed_audio([c[0] for c in clips]), audio, "ClapModel: Python embed_audio(paths)", abs_max=TOL)
        x, rate = sf.read(clips[1][0], dtype="float32", always_2d=True)
        tap.compare(m.embed_audio(x.mean(1, dtype=np.float32), rate=rate), audio[1:2],
                    "ClapModel: Python embed_audio(samples, rate=%d)" % rate, abs_max=TOL)
        tap.compare(m.embed_text(TEXTS[:4]), text[:4], "ClapModel: Python embed_text", abs_max=TOL)


def search_case(model, clips, audio, text, tmp):
    """sail search over an index of the clips, by text: the order of the
    reference's cosine similarities."""
    ix = os.path.join(tmp, "ix")
    media = os.path.join(tmp, "media")
    os.makedirs(media)
    for p, _ in clips:
        os.link(p, os.path.join(media, os.path.basename(p)))
    r = O.run(["index", "add", "--index", ix, "--model", model, "--kind", "exact", media])
    if not tap.check(r.returncode == 0, "sail index add of the clips", r.stderr[-300:]):
        return
    for k in (0, 8):
        r = O.run(["search", "--index", ix, "--model", model, TEXTS[k], "-k", "3", "--json"])
        try:
            got = [os.path.basename(h["payload"]["source"]) for h in json.loads(r.stdout)["results"]]
        except (ValueError, KeyError):
            got = r.stdout[-300:] + r.stderr[-300:]
        order = np.argsort(-(audio @ text[k]))
        want = [os.path.basename(clips[i][0]) for i in order]
        tap.check(got == want, "sail search --text %r ranks the clips as the reference's cosines" % TEXTS[k],
                  "%s vs %s" % (got, want))


def laion_case(tmp):
    """LAION's geometry at a small width: 64 mel bins, 10 s at 48 kHz (1001
    frames stretched to 1024), spec_size 256, window 8, four stages."""
    a = audio_cfg(num_mel_bins=64, spec_size=256, window_size=8, depths=[1, 2, 1, 1], num_attention_heads=[1, 2, 4, 8],
                  patch_embeds_hidden_size=8, hidden_size=64, projection_dim=32)
    prep = prep_json(feature_size=64, max_length_s=10)
    d = os.path.join(tmp, "laion")
    model = make_folder(d, a, prep, seed=17)
    out = d + ".gguf"
    if not tap.check(O.convert(d, out).returncode == 0, "LAION geometry: sail convert"):
        return
    feats = np.stack([extractor(np.random.default_rng(8).standard_normal(200000) * 0.1, prep)])
    layer_case("LAION geometry", model, out, feats, tmp)
    file_case("LAION geometry", model, out, prep, write_clips(os.path.join(tmp, "long"), 10), tmp)


def fused_case(tmp):
    """enable_fusion=True (LAION's clap-htsat-fused layout) at LAION's
    geometry, small widths, 3 s clips: shorter clips (four copies) and a
    longer one (three crops and the whole shrunk)."""
    a = audio_cfg(num_mel_bins=64, spec_size=256, window_size=8, depths=[1, 2, 1, 1], num_attention_heads=[1, 2, 4, 8],
                  patch_embeds_hidden_size=16, hidden_size=128, projection_dim=32, enable_fusion=True,
                  fusion_type="aff_2d", aff_block_r=4)
    prep = prep_json(feature_size=64, max_length_s=3, truncation="fusion", frequency_min=0)
    d = os.path.join(tmp, "fused")
    model = make_folder(d, a, prep, seed=19)
    out = d + ".gguf"
    r = O.convert(d, out)
    if not tap.check(r.returncode == 0, "fused HTSAT: sail convert", r.stderr.strip()[-300:]):
        return
    g = np.random.default_rng(9)
    feats = np.stack([extractor(g.standard_normal(n) * 0.1, prep) for n in (200000, 60000)])
    layer_case("fused HTSAT", model, out, feats, tmp)
    file_case("fused HTSAT", model, out, prep, write_clips(os.path.join(tmp, "fusedclips"), 3), tmp)


def convert_errors(tmp):
    """Folders sail cannot honour fail with a message naming the cause."""
    a, prep = audio_cfg(), prep_json()
    bad = os.path.join(tmp, "bad")
    cases = []

    def folder(name, cfg=None, pp=prep, edit=None):
        d = os.path.join(bad, name)
        model = make_model(a, 1)
        os.makedirs(d)
        O.write_json(os.path.join(d, "config.json"), dict(cfg or a, architectures=["ClapAudioModelWithProjection"]))
        if pp is not None:
            O.write_json(os.path.join(d, "preprocessor_config.json"), pp)
        sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        if edit:
            edit(sd)
        O.write_safetensors(os.path.join(d, "model.safetensors"), sd)
        return d

    rel = "audio_model.audio_encoder.layers.1.blocks.0.attention.self.relative_position_bias_table"
    cases.append((folder("fused", dict(a, enable_fusion=True, num_mel_bins=64), pp=dict(prep, feature_size=64)),
                  ("truncation 'rand_trunc'", "enable_fusion", "\"fusion\""), "a fused CLAP with an unfused extractor"))
    cases.append((folder("fused16", dict(a, enable_fusion=True)), ("num_mel_bins 16", "64"),
                  "a fused CLAP without 64 mel bins"))
    cases.append((folder("chmap", dict(a, enable_fusion=True, num_mel_bins=64, fusion_type="channel_map")),
                  ("channel_map",), "fusion_type channel_map"))
    cases.append((folder("missing", edit=lambda sd: sd.pop(rel)), ("has no tensor", rel), "a missing tensor"))
    cases.append((folder("shape", edit=lambda sd: sd.update({rel: np.zeros((49, 3), np.float32)})),
                  ("has shape [49, 3]", rel), "a misshaped tensor"))
    cases.append((folder("extra", edit=lambda sd: sd.update({"audio_model.extra": np.zeros(2, np.float32)})),
                  ("unexpected tensor", "audio_model.extra"), "an unexpected tensor"))
    cases.append((folder("trunc", pp=dict(prep, truncation="fusion")), ("truncation", "rand_trunc"),
                  "an extractor truncating by \"fusion\" for an unfused model"))
    cases.append((folder("noprep", pp=None), ("preprocessor_config.json is missing",), "no preprocessor_config.json"))
    cases.append((folder("bins", pp=dict(prep, feature_size=32)), ("feature_size 32", "num_mel_bins 16"),
                  "a feature_size that is not num_mel_bins"))
    cases.append((folder("window", dict(a, window_size=3)), ("window_size 3",),
                  "a stage grid that is not a multiple of the window"))
    cases.append((folder("stride", dict(a, patch_stride=[2, 4])), ("patch_stride",), "overlapping patches"))
    cases.append((folder("topdb", pp=dict(prep, top_db=80)), ("top_db",), "a top_db clamp"))
    for d, words, what in cases:
        r = O.convert(d, d + ".gguf")
        tap.check(r.returncode == 1 and all(w in r.stderr for w in words) and not os.path.exists(d + ".gguf"),
                  "sail convert refuses %s clearly" % what, r.stderr.strip()[-300:])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        clips = write_clips(tmp, 2)
        small_case(tmp, clips)
        clap_case(tmp, clips)
        laion_case(tmp)
        fused_case(tmp)
        convert_errors(tmp)
    sys.exit(1 if tap.failed else 0)


if __name__ == "__main__":
    main()
