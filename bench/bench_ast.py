"""A full-size Audio Spectrogram Transformer (AudioSet's shape: 12 layers,
width 768, 12 heads, 128 mel bins x 1024 frames = 1214 tokens, random
weights) embedding one 10 s clip: sail (`sail embed --audio --threads 1`:
load, decode, fbank, forward) against the PyTorch reference of
tests/test_convert_ast.py (its forward alone, one thread), process CPU time,
median of --reps runs; and the two vectors' largest difference.

    OPENBLAS_NUM_THREADS=1 SAIL=build/sail /usr/bin/python3 bench/bench_ast.py [--reps 3] [--dir /tmp/ast-bench]
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
import convert_oracle as O  # noqa: E402
import test_convert_ast as A  # noqa: E402

reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 3
tmp = sys.argv[sys.argv.index("--dir") + 1] if "--dir" in sys.argv else "/tmp/ast-bench"
os.makedirs(tmp, exist_ok=True)
torch.set_num_threads(1)
cfg = A.base_cfg(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 max_length=1024)
d = os.path.join(tmp, "ast")
if os.path.exists(d):
    subprocess.run(["rm", "-rf", d], check=True)
model = A.make_folder(d, cfg, A.prep_json(cfg))
r = O.convert(d, d + ".gguf")
if r.returncode:
    sys.exit("sail convert failed: " + r.stderr)
wav = os.path.join(tmp, "clip.wav")
sf.write(wav, (0.1 * np.random.default_rng(0).standard_normal(160000)).astype(np.float32), 16000, subtype="FLOAT")
feats = torch.from_numpy(A.extractor(sf.read(wav, dtype="float32")[0], cfg, -4.2677393, 4.5689974)[None])

torch_s = []
for _ in range(reps):
    t0 = time.process_time()
    with torch.no_grad():
        want = model(feats)["embedding"].numpy()
    torch_s.append(time.process_time() - t0)
sail_s = []
out = os.path.join(tmp, "e.npy")
for _ in range(reps):
    t0 = os.times()
    r = subprocess.run([O.SAIL, "embed", "--model", d + ".gguf", "--threads", "1", "--audio", wav, "--format", "npy",
                        "-o", out], capture_output=True, text=True)
    t1 = os.times()
    if r.returncode:
        sys.exit("sail embed failed: " + r.stderr)
    sail_s.append(t1.children_user + t1.children_system - t0.children_user - t0.children_system)
ts, ss = float(np.median(torch_s)), float(np.median(sail_s))
print("PyTorch forward     %.2f CPU-s (median of %d)" % (ts, reps))
print("sail embed --audio  %.2f CPU-s (load + decode + fbank + forward)  %.1fx" % (ss, ts / ss))
print("max |sail - torch|  %.1e" % float(np.abs(np.load(out) - want).max()))
