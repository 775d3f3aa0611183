"""What the converted audio towers' tests (tests/test_convert_ast.py,
tests/test_convert_clap.py) share: the test clips, the reference's decoding
by the ffmpeg command, sail's traced activations of the tower against the
reference's, and the C API's three audio calls against the reference's
vectors. Not named test_*.py so tests/run.sh does not run it as a test."""
import os
import subprocess

import numpy as np
import soundfile as sf
import torch

import convert_oracle as O
from tap import tool

tap = O.Tap()


def write_clips(tmp, specs, seed=3):
    """For each (name, rate, channels, seconds, soundfile subtype): a chirp
    rising on each channel (at 1, 2, ... times the base pitch) under a little
    noise, written to tmp/name; returns the paths."""
    os.makedirs(tmp, exist_ok=True)
    g = np.random.default_rng(seed)
    paths = []
    for name, rate, ch, secs, sub in specs:
        n = int(rate * secs)
        t = np.arange(n) / rate
        x = 0.3 * np.sin(2 * np.pi * (220 + 180 * t)[:, None] * t[:, None] * (1 + np.arange(ch))) \
            + 0.05 * g.standard_normal((n, ch))
        paths.append(os.path.join(tmp, name))
        sf.write(paths[-1], x.astype(np.float32), rate, subtype=sub)
    return paths


def ffmpeg_mono(tmp, path, channels, rate):
    """The ffmpeg command's samples with sail's decoding settings
    (equal-weight mono, libswresample's aresample to rate), or None."""
    out = os.path.join(tmp, "ref.f32")
    gains = "+".join("%.17g*c%d" % (1.0 / channels, c) for c in range(channels))
    r = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", path, "-af",
                        "aformat=sample_fmts=fltp,pan=mono|c0=%s,aresample=%d" % (gains, rate), "-f", "f32le", out],
                       capture_output=True)
    return np.fromfile(out, np.float32) if r.returncode == 0 else None


def trace(model_path, tmp, spec, what):
    """sail's traced activations (tests/tools/trace_dump) of the audio tower
    on spec, n spectrograms of (rows, frames): {name: (rows, cols) array},
    or None after a failed check."""
    out = os.path.join(tmp, "trace")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(tmp, "spec.f32")
    np.ascontiguousarray(spec).astype(np.float32).tofile(path)
    n, rows, frames = spec.shape
    r = subprocess.run([tool("trace_dump"), model_path, out, "--audio", path, str(n), str(rows), str(frames)],
                       capture_output=True, text=True)
    if not tap.check(r.returncode == 0, "trace_dump runs the %s" % what, r.stderr[-300:]):
        return None
    acts = {}
    for line in open(os.path.join(out, "index.txt")):
        name, rows, cols = line.split()
        acts[name] = np.fromfile(os.path.join(out, name + ".bin"), np.float32).reshape(int(rows), int(cols))
    return acts


def check_layers(tag, acts, ref, tol):
    """Each of the reference's recorded stages ({name: tensor}) is traced by
    sail with its shape and within tol."""
    worst = 0.0
    for name, want in ref.items():
        got = acts.get(name)
        if not tap.check(got is not None and got.shape == want.shape, "%s: sail traces %s %s" % (tag, name, tuple(want.shape)),
                         "got %s" % (None if got is None else got.shape,)):
            continue
        err = float(np.abs(got - want.numpy()).max())
        worst = max(worst, err)
        tap.check(err <= tol, "%s: %s equals the reference" % (tag, name), "max abs err %.2e" % err)
    print("# %s: worst per-layer error %.2e" % (tag, worst))


def check_api(tag, model_path, paths, want, tmp, tol):
    """sail_embed_audio_files, _bytes and _pcm (each file's samples averaged
    to mono at its own rate) give the reference's vectors want."""
    out = os.path.join(tmp, "api.f32")
    args = [tool("api_embed"), model_path, out]
    for p in paths:
        args += ["--audio", p]
    for p in paths:
        args += ["--audio-bytes", p]
    for p in paths:
        x, rate = sf.read(p, dtype="float32", always_2d=True)
        raw = os.path.join(tmp, os.path.basename(p) + ".pcm")
        x.mean(1, dtype=np.float32).tofile(raw)
        args += ["--pcm", raw, str(rate)]
    r = subprocess.run(args, capture_output=True, text=True)
    if tap.check(r.returncode == 0, "%s: C API audio calls run" % tag, r.stderr[-300:]):
        got = np.fromfile(out, np.float32).reshape(3, len(paths), -1)
        for k, what in enumerate(("sail_embed_audio_files", "sail_embed_audio_bytes",
                                  "sail_embed_audio_pcm (native rate, resampled by sail)")):
            tap.compare(got[k], want, "%s: %s equals the reference" % (tag, what), abs_max=tol)


def check_files(tag, model, model_path, clips, rate, features, tmp, tol, kinds):
    """The reference's vectors of clips ((path, channels, ...)): ffmpeg's
    samples at rate, features(samples), model; `sail embed --audio` (kinds:
    the files' rates and formats, for the check's name) and the C API's
    audio calls give them. Returns them, or None after a failed check."""
    refs = []
    for path, ch, *_ in clips:
        wave = ffmpeg_mono(tmp, path, ch, rate)
        if wave is None:
            tap.check(False, "%s: ffmpeg decodes %s for the reference" % (tag, path))
            return None
        refs.append(features(wave))
    with torch.no_grad():
        want = model(torch.from_numpy(np.stack(refs)))["embedding"].numpy()
    paths = [c[0] for c in clips]
    tap.compare(O.embed(model_path, "--audio", paths, tmp), want,
                "%s: sail embed --audio (%s) equals the reference" % (tag, kinds), abs_max=tol)
    check_api(tag, model_path, paths, want, tmp, tol)
    return want
