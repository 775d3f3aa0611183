"""Audio embedding speed: 10 s clips through decode + features + an Audio
Spectrogram Transformer (random weights; speed does not depend on them),
sail against torchaudio + PyTorch in one run, as ratios (> 1: sail faster).

  sail:  `sail bench --kind audio` on the model converted from a random
         Hugging Face-layout folder (tests/test_convert_ast.py's way) and on
         the same model stored bf16 and q8_0 (`sail quantize`): per clip,
         CPU ms of decoding (FFmpeg), Kaldi fbank and the tower.
  peer:  soundfile decoding, torchaudio.compliance.kaldi.fbank (float32,
         ASTFeatureExtractor's arguments) and tests/test_convert_ast.py's
         PyTorch AST (the same weights) at batch 1 and 8, inference mode.

Both get T threads (--threads: sail --threads T; torch.set_num_threads(T),
OPENBLAS_NUM_THREADS=T). Times are process CPU-time medians of --reps runs
(the machine may be shared), per clip. --size full is AudioSet's AST (12
layers, width 768, 12 heads, 128 mel bins x 1024 frames = 1212 patches + 2 tokens);
--size small a 2-layer, width-192 tower over the same 1214 tokens, for a
quick run. Also prints how far each of sail's vectors is from PyTorch's.

    SAIL=build/sail OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/bench_ast.py \
        [--size full|small] [--threads 1] [--reps 5] [--dir /tmp/ast-bench]

(bench/run.sh runs it; OMP_WAIT_POLICY=PASSIVE as for its other PyTorch runs:
spinning OpenMP threads collapse PyTorch on a shared machine.)
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
import torchaudio.compliance.kaldi as kaldi  # noqa: E402
import convert_oracle as O  # noqa: E402
import test_convert_ast as A  # noqa: E402


def arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


size, threads, reps = arg("--size", "full"), arg("--threads", 1), arg("--reps", 5)
tmp = arg("--dir", "/tmp/ast-bench")
os.makedirs(tmp, exist_ok=True)
torch.set_num_threads(threads)
if os.environ.get("OPENBLAS_NUM_THREADS") != str(threads):
    sys.exit("run with OPENBLAS_NUM_THREADS=%d (the threads PyTorch is given)" % threads)
shape = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072) \
    if size == "full" else dict(hidden_size=192, num_hidden_layers=2, num_attention_heads=3, intermediate_size=768)
cfg = A.base_cfg(max_length=1024, **shape)
MEAN, STD = -4.2677393, 4.5689974

# The model: a random HF folder, converted, then stored bf16 and q8_0.
d = os.path.join(tmp, "ast-" + size)
subprocess.run(["rm", "-rf", d], check=True)
model = A.make_folder(d, cfg, A.prep_json(cfg)).eval()
files = {"f32": d + ".gguf"}
r = O.convert(d, files["f32"])
if r.returncode:
    sys.exit("sail convert failed: " + r.stderr)
for t in ("bf16", "q8_0"):
    files[t] = "%s-%s.gguf" % (d, t)
    r = subprocess.run([O.SAIL, "quantize", files["f32"], "--type", t, "-o", files[t]], capture_output=True, text=True)
    if r.returncode:
        sys.exit("sail quantize --type %s failed: %s" % (t, r.stderr))

# One 10 s clip, 16 kHz int16 WAV (what sail bench's default clip is).
wav = os.path.join(tmp, "clip.wav")
g = np.random.default_rng(0)
t = np.arange(160000) / 16000
sf.write(wav, 0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * g.standard_normal(t.size), 16000, subtype="PCM_16")


def median_cpu(fn, n=reps):
    fn()  # warm-up
    times = []
    for _ in range(n):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


# sail: one run of `sail bench` over the three files.
cmd = [O.SAIL, "bench", "--kind", "audio", "--audio", wav, "--batch", "1,8", "--threads", str(threads),
       "--reps", str(reps), "--seconds", "1"]
for t in ("f32", "bf16", "q8_0"):
    cmd += ["--model", files[t]]
r = subprocess.run(cmd, capture_output=True, text=True)
if r.returncode:
    sys.exit("sail bench failed: " + r.stderr)
sail, typ, prev = {}, None, ""
for line in r.stdout.splitlines():
    m = re.match(r"# \S+ \((\w+)\)$", line)
    if m:
        typ = m.group(1)
    m = re.match(r"audio batch (\d+)\s+CPU ms/clip: decode ([\d.]+) fbank ([\d.]+) tower ([-\d.]+)", line)
    if m:
        sail[typ, int(m.group(1))] = [float(x) for x in m.groups()[1:]]
        sail[typ, int(m.group(1)), "total"] = float(re.search(r"\(CPU ([\d.]+) ms/input\)", prev).group(1))
    prev = line

# PyTorch: the same stages.
wave = sf.read(wav, dtype="float32")[0]
decode_ms = 1e3 * median_cpu(lambda: sf.read(wav, dtype="float32"))
w32 = torch.from_numpy(wave)[None]


def fbank():
    return kaldi.fbank(w32, htk_compat=True, sample_frequency=16000, use_energy=False, window_type="hanning",
                       num_mel_bins=128, dither=0.0, frame_shift=10)


fbank_ms = 1e3 * median_cpu(fbank)
feats = torch.from_numpy(A.extractor(wave, cfg, MEAN, STD)[None])
torch_tower = {}
with torch.inference_mode():
    for B in (1, 8):
        x = feats.expand(B, -1, -1).contiguous()
        torch_tower[B] = 1e3 * median_cpu(lambda: model(x)) / B
    want = model(feats)["embedding"].numpy()

print("# %s AST: %d layers, width %d, %d patches + 2 tokens; 10 s clip; %d thread(s); CPU ms per clip, "
      "medians of %d" % (size, cfg["num_hidden_layers"], cfg["hidden_size"], model.f_dim * model.t_dim, threads, reps))
print("%-26s %10s %10s %12s" % ("stage", "PyTorch", "sail", "torch/sail"))
dec, fb = sail["f32", 1][0], sail["f32", 1][1]
print("%-26s %10.2f %10.2f %11.2fx" % ("decode (soundfile/FFmpeg)", decode_ms, dec, decode_ms / dec))
print("%-26s %10.2f %10.2f %11.2fx" % ("fbank (torchaudio/sail)", fbank_ms, fb, fbank_ms / fb))
for B in (1, 8):
    for t in ("f32", "bf16", "q8_0"):
        tower = sail[t, B][2]
        print("%-26s %10.1f %10.1f %11.2fx" % ("tower %s batch %d" % (t, B), torch_tower[B], tower,
                                              torch_tower[B] / tower))
    tot = decode_ms + fbank_ms + torch_tower[B]
    print("%-26s %10.1f %10.1f %11.2fx" % ("end to end f32 batch %d" % B, tot, sail["f32", B, "total"],
                                          tot / sail["f32", B, "total"]))
for t in ("f32", "bf16", "q8_0"):
    out = os.path.join(tmp, "e.npy")
    r = subprocess.run([O.SAIL, "embed", "--model", files[t], "--threads", str(threads), "--audio", wav,
                        "--format", "npy", "-o", out], capture_output=True, text=True)
    if r.returncode:
        sys.exit("sail embed failed: " + r.stderr)
    got = np.load(out)[0]
    print("sail %-5s vs PyTorch: max |diff| %.1e, cosine %.6f" % (t, np.abs(got - want[0]).max(),
                                                                 float(got @ want[0])))
