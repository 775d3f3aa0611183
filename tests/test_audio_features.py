"""The audio decoder and front ends (src/audio) against independent references.

Clips of 8, 16, 22.05, 44.1 and 48 kHz, mono, stereo and 6 channels, from
shorter than one 25 ms window to 2.5 s, as WAV (int16, float32), FLAC (16,
24 bit), Ogg/Vorbis, MP3, Opus (in Ogg, and in WebM as browsers record it,
also streamed with no duration in its header) and the AAC track of an MP4
video, written with soundfile and the ffmpeg command.

* Decoding, native rate, lossless: sail's samples equal soundfile's (mono
  and stereo exactly; 6 channels to float rounding of the mean, 1e-7).
* Decoding with resampling: the reference is the ffmpeg command with the
  same libswresample settings: `pan` with equal weights (sail's mono) then
  `aresample` at the defaults sail uses, written as f32le. Compared to
  RESAMPLE_TOL (the two run the same filter; they differ only in where the
  float rounding of the channel mean happens).
* Features on identical samples (sail's own decode fed to both sides, so
  the resampler plays no part): fbank equals
  torchaudio.compliance.kaldi.fbank with ASTFeatureExtractor's arguments
  run in float64 to FEAT_TOL; torchaudio run in float32 (as AST runs it)
  is itself up to ~2e-3 off its float64 result (its FFT's rounding on
  low-energy mel bins), and sail is within that error plus FEAT_TOL of it.
  Then AST's padding to 1024 rows and normalisation; log-mel equals a
  numpy transcription of Whisper's log_mel_spectrogram (librosa's Slaney
  mel filters transcribed below) and of CLAP's feature extractor (Slaney,
  and HTK without norm), to FEAT_TOL max-abs.
* Bad inputs: a table of damaged, hostile and wrong files, each refused
  with the expected status and message through both the file and the bytes
  entry points, never a crash."""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import BUILD, check, run

TOOL = os.path.join(BUILD, "tools", "audio_tool")
FEAT_TOL = 1e-4
RESAMPLE_TOL = 1e-7
AST_MEAN, AST_STD = -4.2677393, 4.5689974


def ffmpeg(*args):
    r = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y"] + [str(a) for a in args],
                       capture_output=True)
    if r.returncode:
        print("# ffmpeg failed: %s" % r.stderr.decode(errors="replace"))
    return r.returncode == 0


def f32(path):
    return np.fromfile(path, np.float32)


def decode(tmp, path, rate=0, max_seconds=0, bytes_=False):
    """sail's samples, or (None, error line)."""
    out = os.path.join(tmp, "dec.f32")
    if os.path.exists(out):
        os.remove(out)
    r = run([TOOL, "decode-bytes" if bytes_ else "decode", path, rate, max_seconds, out], ok=False)
    line = r.stdout.decode(errors="replace").strip()
    if r.returncode or not line or line.startswith("error"):
        return None, line or "exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace"))
    return f32(out), line


def tool_features(tmp, wave, *args):
    inp, out = os.path.join(tmp, "feat_in.f32"), os.path.join(tmp, "feat_out.f32")
    wave.astype(np.float32).tofile(inp)
    r = run([TOOL, args[0], inp, out] + list(args[1:]), ok=False)
    line = r.stdout.decode().strip()
    if r.returncode or line.startswith("error"):
        return None, line
    rows, cols = map(int, line.split())
    return f32(out).reshape(rows, cols), line


# ------------------------------------------------------------ references --

def kaldi_fbank(wave, rate, dtype, bins=128, window="hanning"):
    """ASTFeatureExtractor._extract_fbank_features (the arguments it passes)."""
    import torch
    import torchaudio.compliance.kaldi as kaldi
    w = torch.from_numpy(wave.astype(dtype))[None]
    return kaldi.fbank(w, htk_compat=True, sample_frequency=rate, use_energy=False, window_type=window,
                       num_mel_bins=bins, dither=0.0, frame_shift=10).numpy().astype(np.float64)


def ast_features(fb, max_length=1024):
    """ASTFeatureExtractor: zero rows up to max_length (or cut), then
    (x - mean) / (2 std) over every row."""
    n = fb.shape[0]
    if n < max_length:
        fb = np.concatenate([fb, np.zeros((max_length - n, fb.shape[1]))])
    return (fb[:max_length] - AST_MEAN) / (AST_STD * 2)


def hz_to_mel(f, htk):
    f = np.asanyarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-30) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m, htk):
    m = np.asanyarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def librosa_mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney"):
    """librosa.filters.mel (0.9), transcribed: what Whisper's mel_filters.npz holds."""
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def stft_power(audio, n_fft, hop):
    """torch.stft(center=True, pad_mode="reflect") with a periodic Hann
    window, as numpy (np.pad's reflect, which also covers clips shorter
    than the padding, as Hugging Face's spectrogram does), then |X|^2:
    (frames, n_fft/2 + 1)."""
    x = np.pad(audio.astype(np.float64), n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None] + hop * np.arange(frames)[:, None]
    return np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2


def whisper_logmel(audio, n_mels=80, pad=480000):
    """whisper.audio: pad_or_trim to 30 s, log_mel_spectrogram (drop the
    last STFT frame, clamp 1e-10, log10, floor at max - 8, (x + 4) / 4).
    Returned as (frames, mels)."""
    if pad:
        audio = np.pad(audio[:pad], (0, max(0, pad - len(audio))))
    mag = stft_power(audio, 400, 160)[:-1]
    mel = mag @ librosa_mel(16000, 400, n_mels, 0.0, 8000.0).astype(np.float64).T
    log = np.log10(np.maximum(mel, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def clap_logmel(audio, htk=False, norm="slaney"):
    """ClapFeatureExtractor._np_extract_fbank_features: spectrogram(hann,
    1024, hop 480, power 2, mel filters 50..14000 Hz, log_mel="dB")."""
    mag = stft_power(audio, 1024, 480)
    mel = mag @ librosa_mel(48000, 1024, 64, 50.0, 14000.0, htk, norm).astype(np.float64).T
    return 10.0 * np.log10(np.maximum(mel, 1e-10))


def maxabs(a, b):
    if a is None or b is None or a.shape != b.shape:
        return float("inf")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0


# ----------------------------------------------------------------- clips --

def signal(rate, n, ch, seed):
    """Tones, a chirp and noise, different per channel; peak about 0.6."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    out = np.zeros((n, ch))
    for c in range(ch):
        for _ in range(3):
            f = rng.uniform(80, 0.4 * rate)
            out[:, c] += rng.uniform(0.05, 0.15) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
        f0, f1 = 100, 0.45 * rate
        out[:, c] += 0.1 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * max(t[-1], 1e-3))))
        out[:, c] += 0.03 * rng.standard_normal(n)
    return out


# name, rate, samples, channels, format
CLIPS = [
    ("mono16k.wav", 16000, 16000, 1, "PCM_16"),
    ("stereo16k.wav", 16000, 40000, 2, "PCM_16"),
    ("float16k.wav", 16000, 20800, 1, "FLOAT"),
    ("stereo16k.flac", 16000, 16000, 2, "flac16"),
    ("mono8k.wav", 8000, 9600, 1, "PCM_16"),
    ("six8k.flac", 8000, 5600, 6, "flac16"),
    ("stereo22k.wav", 22050, 24255, 2, "PCM_16"),
    ("six22k_float.wav", 22050, 19845, 6, "FLOAT"),
    ("mono44k_24bit.flac", 44100, 44100, 1, "flac24"),
    ("stereo44k.wav", 44100, 22050, 2, "PCM_16"),
    ("six48k.wav", 48000, 48000, 6, "PCM_16"),
    ("stereo48k.flac", 48000, 72000, 2, "flac16"),
    ("stereo44k.ogg", 44100, 44100, 2, "vorbis"),
    ("mono22k.ogg", 22050, 26460, 1, "vorbis"),
    ("stereo44k.mp3", 44100, 44100, 2, "mp3"),
    ("mono16k.mp3", 16000, 20800, 1, "mp3"),
    ("stereo48k.opus", 48000, 48000, 2, "opus"),
    ("mono16k.opus", 16000, 16000, 1, "opus"),
    ("stereo48k_opus.ogg", 48000, 48000, 2, "opus"),  # Ogg/Opus, as Firefox's MediaRecorder records
    ("stereo48k.webm", 48000, 48000, 2, "webm"),       # WebM/Opus, as Chromium's MediaRecorder records
    ("mono48k_live.webm", 48000, 57600, 1, "webm-live"),  # streamed WebM: no duration in its header
    ("short16k.wav", 16000, 300, 1, "PCM_16"),        # shorter than one 25 ms window
    ("onewin16k.wav", 16000, 400, 1, "PCM_16"),       # exactly one window
    ("twowin16k.wav", 16000, 560, 1, "PCM_16"),       # one window plus one shift
    ("short44k.wav", 44100, 882, 2, "PCM_16"),        # 20 ms: under a window at 16 kHz
    ("onewin48k.wav", 48000, 1200, 1, "FLOAT"),       # one window after resampling
    ("video.mp4", 48000, 48000, 2, "mp4"),            # the AAC track of a video
]
LOSSLESS = {"PCM_16", "FLOAT", "flac16", "flac24"}


def make_clip(tmp, name, rate, n, ch, fmt, seed):
    import soundfile as sf
    x = signal(rate, n, ch, seed)
    path = os.path.join(tmp, name)
    if fmt in ("PCM_16", "FLOAT"):
        sf.write(path, x, rate, subtype=fmt)
    elif fmt.startswith("flac"):
        sf.write(path, x, rate, subtype="PCM_24" if fmt == "flac24" else "PCM_16", format="FLAC")
    else:
        src = os.path.join(tmp, "src_" + name + ".wav")
        sf.write(src, x, rate, subtype="PCM_16")
        codec = {"vorbis": ["-c:a", "libvorbis"], "mp3": ["-c:a", "libmp3lame"], "opus": ["-c:a", "libopus"],
                 "webm": ["-c:a", "libopus"], "mp4": ["-c:a", "aac"], "webm-live": []}[fmt]
        if fmt == "webm-live":  # to a pipe, so the muxer cannot go back to write the duration and sizes
            with open(path, "wb") as f:
                ok = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", src, "-c:a", "libopus", "-f",
                                     "webm", "pipe:1"], stdout=f).returncode == 0
        elif fmt == "mp4":
            ok = ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-i", src,
                        "-c:v", "mpeg4", *codec, "-shortest", path)
        else:
            ok = ffmpeg("-i", src, *codec, path)
        if not ok:
            return None
    return path


def ffmpeg_reference(tmp, path, channels, rate):
    """The ffmpeg command's samples with sail's settings: equal-weight mono
    (pan) and libswresample's default resampler (aresample)."""
    out = os.path.join(tmp, "ref.f32")
    gains = "+".join("%.17g*c%d" % (1.0 / channels, c) for c in range(channels))
    af = "aformat=sample_fmts=fltp,pan=mono|c0=%s,aresample=%d" % (gains, rate)
    if not ffmpeg("-i", path, "-vn", "-af", af, "-f", "f32le", out):
        return None
    return f32(out)


def test_clip(tmp, spec, seed):
    import soundfile as sf
    name, rate, n, ch, fmt = spec
    path = make_clip(tmp, name, rate, n, ch, fmt, seed)
    if not check(path is not None, "%s: written" % name):
        return
    # Lossless at the native rate: soundfile's samples, channels averaged.
    if fmt in LOSSLESS:
        got, line = decode(tmp, path, rate)
        ref = sf.read(path, dtype="float32", always_2d=True)[0]
        if ch == 1:
            ok, d = got is not None and got.shape == ref[:, 0].shape and (got == ref[:, 0]).all(), "exact"
        elif ch == 2:
            mean = ((ref[:, 0] + ref[:, 1]) * np.float32(0.5)).astype(np.float32)
            ok, d = got is not None and got.shape == mean.shape and (got == mean).all(), "exact"
        else:
            d = maxabs(got, ref.astype(np.float64).mean(axis=1))
            ok = d <= 1e-7
        check(ok, "%s: native-rate decode equals soundfile's samples (%d ch averaged)" % (name, ch),
              "%s %s" % (d, line))
    # 16 kHz through the file and the bytes entry points.
    got, line = decode(tmp, path, 16000)
    gotb, _ = decode(tmp, path, 16000, bytes_=True)
    if not check(got is not None and gotb is not None and got.shape == gotb.shape and (got == gotb).all(),
                 "%s: 16 kHz decode, file and bytes identical" % name, line):
        return
    ref = ffmpeg_reference(tmp, path, ch, 16000)
    d = maxabs(got, ref)
    check(d <= RESAMPLE_TOL, "%s: 16 kHz decode equals ffmpeg pan+aresample (%d samples)" % (name, len(got)),
          "max-abs %.3g, lengths %d/%s" % (d, len(got), None if ref is None else len(ref)))
    features(tmp, name, got)
    if rate != 16000 and fmt in LOSSLESS:
        native, _ = decode(tmp, path, rate)
        fb, line = tool_features(tmp, native, "fbank", rate, 80, 1, 0, 0, 0)
        if len(native) >= int(rate * 0.025):
            ref = kaldi_fbank(native, rate, np.float64, 80, "povey")
            check(maxabs(fb, ref) <= FEAT_TOL, "%s: fbank at %d Hz (80 bins, povey) equals torchaudio" % (name, rate),
                  "max-abs %.3g %s" % (maxabs(fb, ref), line))
    if rate == 48000:
        wave, _ = decode(tmp, path, 48000)
        cl, line = tool_features(tmp, wave, "clap")
        d = maxabs(cl, clap_logmel(wave))
        check(d <= FEAT_TOL, "%s: CLAP log-mel (48 kHz, 1024/480, 64 mels, dB) equals the numpy transcription" % name,
              "max-abs %.3g %s" % (d, line))
        cl, line = tool_features(tmp, wave, "logmel", 48000, 1024, 480, 64, 50, 14000, 1, 0, 1, 0, 0)
        d = maxabs(cl, clap_logmel(wave, htk=True, norm=None))
        check(d <= FEAT_TOL, "%s: CLAP fusion variant (HTK mel, no norm) equals the numpy transcription" % name,
              "max-abs %.3g %s" % (d, line))


def features(tmp, name, wave):
    """fbank, AST and Whisper features of sail's 16 kHz samples."""
    fb, line = tool_features(tmp, wave, "fbank", 16000, 128, 0, 0, 0, 0)
    if len(wave) < 400:
        check(fb is not None and fb.shape == (0, 128),
              "%s: %d samples, under one window: no fbank frames (Kaldi's snip_edges)" % (name, len(wave)), line)
        ref = ast_features(np.zeros((0, 128)))
    else:
        t32 = kaldi_fbank(wave, 16000, np.float32)
        ref = kaldi_fbank(wave, 16000, np.float64)
        d64, d32, torch_own = maxabs(fb, ref), maxabs(fb, t32), maxabs(t32, ref)
        check(d64 <= FEAT_TOL,
              "%s: fbank (%s frames x 128) equals torchaudio.compliance.kaldi.fbank" % (name, ref.shape[0]),
              "max-abs %.3g vs float64 torchaudio" % d64)
        # torchaudio in float32 (AST's run) is itself off the float64 result
        # by its transform's rounding; sail is within that plus FEAT_TOL.
        check(d32 <= torch_own + FEAT_TOL,
              "%s: fbank within torchaudio-float32's own error of it" % name,
              "max-abs %.3g vs float32 torchaudio, whose own error is %.3g" % (d32, torch_own))
        ref = ast_features(ref)
    ast, line = tool_features(tmp, wave, "ast")
    d = maxabs(ast, ref)
    check(d <= FEAT_TOL, "%s: AST features (1024 x 128, padded, normalised) equal the reference" % name,
          "max-abs %.3g %s" % (d, line))
    wh, line = tool_features(tmp, wave, "whisper", 80)
    d = maxabs(wh, whisper_logmel(wave))
    check(d <= FEAT_TOL, "%s: Whisper log-mel (3000 x 80) equals the numpy transcription" % name,
          "max-abs %.3g %s" % (d, line))
    wh, line = tool_features(tmp, wave, "logmel", 16000, 400, 160, 128, 0, 0, 0, 1, 0, 1, 0)
    d = maxabs(wh, whisper_logmel(wave, 128, 0))
    check(d <= FEAT_TOL, "%s: Whisper log-mel unpadded, 128 mels, %d samples" % (name, len(wave)),
          "max-abs %.3g %s" % (d, line))


def test_oracle_against_torch(tmp):
    """The numpy STFT above is torch.stft's (Whisper calls torch.stft)."""
    import torch
    x = signal(16000, 48000, 1, 99)[:, 0]
    ref = torch.stft(torch.from_numpy(x), 400, 160, window=torch.hann_window(400, dtype=torch.float64),
                     return_complex=True).abs().pow(2).numpy().T
    d = maxabs(stft_power(x, 400, 160), ref)
    check(d < 1e-9, "test oracle: the numpy STFT equals torch.stft (center, reflect)", "max-abs %.3g" % d)


# ------------------------------------------------------------ bad inputs --

def wav_bytes(data, rate, channels, tag=1, bits=16, claim=None):
    """A canonical RIFF/WAVE file; claim overrides the data chunk's size."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(data) if claim is None else claim
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt " +
            struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + data)


def test_bad_inputs(tmp):
    def write(name, data):
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    rng = np.random.default_rng(5)
    pcm = (rng.standard_normal(16000 * 2) * 3000).astype("<i2").tobytes()
    good = write("good.wav", wav_bytes(pcm, 16000, 1))
    flac = os.path.join(tmp, "good.flac")
    mp3 = os.path.join(tmp, "good.mp3")
    ogg = os.path.join(tmp, "good.ogg")
    mp4 = os.path.join(tmp, "good.mp4")
    noaudio = os.path.join(tmp, "noaudio.mp4")
    ffmpeg("-i", good, flac)
    ffmpeg("-i", good, "-c:a", "libmp3lame", mp3)
    ffmpeg("-i", good, "-c:a", "libvorbis", ogg)
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-i", good, "-c:v", "mpeg4", "-c:a", "aac",
           "-shortest", mp4)
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-c:v", "mpeg4", noaudio)
    # Two bare MP3 frames (128 kb/s at 48 kHz: 384 bytes each) before noise:
    # FFmpeg's only guess is MP3 with a score of 1.
    stereo48 = write("stereo48.wav", wav_bytes(pcm, 48000, 2))
    raw = os.path.join(tmp, "raw.mp3")
    ffmpeg("-i", stereo48, "-b:a", "128k", "-write_xing", 0, "-id3v2_version", 0, raw)
    with open(raw, "rb") as f:
        two_frames = f.read(768) + rng.integers(0, 256, 2232, dtype=np.uint8).tobytes()

    def cut(src, name, frac):
        with open(src, "rb") as f:
            b = f.read()
        return write(name, b[:int(len(b) * frac)])

    nan = np.sin(np.arange(8000) / 10).astype("<f4")
    nan[3000] = np.nan
    inf = nan.copy()
    inf[3000] = np.inf
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000105fe02fea70000000049454e44ae426082")
    cases = [
        ("truncated WAV (cut in its data)", cut(good, "cut.wav", 0.5), "format", "truncated"),
        ("truncated FLAC", cut(flac, "cut.flac", 0.5), "format", "truncated"),
        ("truncated MP3", cut(mp3, "cut.mp3", 0.5), "format", "truncated"),
        ("Ogg cut inside its header", cut(ogg, "cut.ogg", 0.02), "format", "truncated"),
        ("MP4 cut before its moov atom", cut(mp4, "cut.mp4", 0.3), "format", "moov atom not found"),
        ("WAV with 0 samples", write("empty_data.wav", wav_bytes(b"", 16000, 1)), "format", "no samples"),
        ("WAV header claiming 10 hours", write("tenhours.wav", wav_bytes(pcm[:3200], 16000, 1, claim=16000 * 2 * 36000)),
         "limit exceeded", "36000.0 s"),
        ("64-channel WAV", write("ch64.wav", wav_bytes(b"\0" * 128 * 100, 16000, 64)), "unsupported", "64 channels"),
        ("WAV at 1 Hz", write("rate1.wav", wav_bytes(pcm[:100], 1, 1)), "unsupported", "sample rate 1 Hz"),
        ("WAV at 10 MHz", write("rate10m.wav", wav_bytes(pcm, 10000000, 1)), "unsupported", "sample rate 10000000 Hz"),
        ("float WAV with a NaN", write("nan.wav", wav_bytes(nan.tobytes(), 16000, 1, tag=3, bits=32)), "format", "NaN"),
        ("float WAV with an infinity", write("inf.wav", wav_bytes(inf.tobytes(), 16000, 1, tag=3, bits=32)), "format",
         "infinite"),
        ("video with no audio stream", noaudio, "format", "has no audio stream"),
        ("a PNG image", write("image.png", png), "format", "no audio stream"),
        ("random bytes named .wav", write("garbage.wav", rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()),
         "format", "not a"),
        ("text named .mp3", write("text.mp3", b"this is not audio at all, just words\n" * 20), "format", "not a"),
        ("two MP3 frames, then random bytes", write("two_frames.mp3", two_frames), "format", "scores only 1 of 100"),
        ("empty file", write("empty.wav", b""), "format", "empty"),
        ("longer than max_seconds with no length in the header",
         write("stream.wav", wav_bytes(pcm, 16000, 1, claim=0xFFFFFFFF)), "limit exceeded", "the limit is 1 s"),
    ]
    for what, path, status, needle in cases:
        limit = 1 if "max_seconds" in what else 0
        for bytes_ in (False, True):
            got, line = decode(tmp, path, 16000, limit, bytes_)
            ok = got is None and line.startswith("error %s" % status) and needle in line
            check(ok, "bad input (%s): %s" % ("bytes" if bytes_ else "file", what), line)
    got, line = decode(tmp, os.path.join(tmp, "missing.wav"))
    check(got is None and line.startswith("error I/O") and "No such file" in line, "bad input: a missing file", line)
    got, line = decode(tmp, tmp)
    check(got is None and "not a regular file" in line, "bad input: a directory", line)
    # A wrong extension is not an error: the content decides.
    named = write("really_a_wav.mp3", open(good, "rb").read())
    a, _ = decode(tmp, good)
    b, line = decode(tmp, named)
    check(a is not None and b is not None and (a == b).all(), "a WAV named .mp3 decodes as the WAV it is", line)
    # The weakest guess sail accepts: a 50 ms MP3 (four frames, score 25).
    tiny = os.path.join(tmp, "tiny.mp3")
    ffmpeg("-i", write("tiny.wav", wav_bytes(pcm[:1600], 16000, 1)), tiny)
    got, line = decode(tmp, tiny, 16000)
    check(got is not None and len(got) == 800, "a 50 ms MP3 decodes to its 800 samples", line)


def main():
    if not os.path.exists(TOOL):
        check(False, "%s is built" % TOOL)
        return tap.summary()
    with tempfile.TemporaryDirectory() as tmp:
        test_oracle_against_torch(tmp)
        for i, spec in enumerate(CLIPS):
            test_clip(tmp, spec, i)
        test_bad_inputs(tmp)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
