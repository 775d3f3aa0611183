"""The video reader (src/video, FFmpeg's libraries) against independent
references: a lossless video's frames equal the PNG files it was made from,
bit for bit; a lossy H.264 video's frames equal the ffmpeg command's own
RGB decoding; sampling keeps the frames the documented rule picks; broken
files give errors, never crashes. Then the commands built on it: `sail embed
--video` is the normalised mean of its frames' image vectors and `sail align
--video` agrees with `sail align --frames` on the same frames."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import BUILD, check, run, sail

TOOL = os.path.join(BUILD, "tools", "video_tool")
MODEL = os.path.join(tap.HERE, "..", "models", "sail-tiny.gguf")
SWS = "bicubic+accurate_rnd+full_chroma_int"  # the flags src/video/video.c uses


def ffmpeg(*args):
    r = subprocess.run(["ffmpeg", "-loglevel", "error", "-y"] + [str(a) for a in args], capture_output=True)
    if r.returncode:
        print("# ffmpeg failed: %s" % r.stderr.decode(errors="replace"))
    return r.returncode == 0


def dump(path, every, tmp):
    """sail's sampled frames: (list of (index, time, w, h), pixels, duration, error line)."""
    out = os.path.join(tmp, "dump.rgb")
    r = run([TOOL, "dump", path, every, out], ok=False)
    frames, duration, error = [], None, None
    for line in r.stdout.decode().splitlines():
        if line.startswith("duration "):
            duration = float(line.split()[1])
        elif line.startswith("error "):
            error = line
        else:
            i, t, w, h = line.split()
            frames.append((int(i), float(t), int(w), int(h)))
    pix = np.fromfile(out, np.uint8) if os.path.exists(out) else np.zeros(0, np.uint8)
    return frames, pix, duration, error, r.returncode


def picked(times, every):
    """The documented rule: the first frame at or after each multiple of every."""
    keep, nxt = [], 0.0
    for i, t in enumerate(times):
        if t + 1e-3 >= nxt:
            keep.append(i)
            nxt = (np.floor((t + 1e-3) / every) + 1) * every
    return keep


def test_decode(tmp, Image):
    rng = np.random.default_rng(7)
    src = []
    for i in range(6):
        a = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        a[8:40, 10 * i:10 * i + 12] = (40 * i, 255 - 40 * i, 128)
        Image.fromarray(a).save(os.path.join(tmp, "s%03d.png" % i))
        src.append(a)
    src = np.stack(src)
    mkv = os.path.join(tmp, "lossless.mkv")
    if not ffmpeg("-framerate", 2, "-i", os.path.join(tmp, "s%03d.png"), "-c:v", "ffv1", "-pix_fmt", "bgr0", mkv):
        check(False, "ffmpeg writes a lossless test video")
        return
    fr, pix, dur, err, rc = dump(mkv, 0, tmp)
    check(rc == 0 and [f[0] for f in fr] == list(range(6)) and all(f[2:] == (64, 48) for f in fr),
          "lossless video: every frame, 64x48, in order", str(fr or err))
    check(np.allclose([f[1] for f in fr], np.arange(6) / 2, atol=1e-6) and dur is not None and abs(dur - 3) < 1e-6,
          "frame times are the stream's timestamps (0, 0.5, ...); duration 3 s", "%s %s" % ([f[1] for f in fr], dur))
    check(pix.size == src.size and (pix.reshape(src.shape) == src).all(),
          "lossless video: frames equal the source PNGs bit for bit")

    mp4 = os.path.join(tmp, "lossy.mp4")
    ref = os.path.join(tmp, "ref.rgb")
    ok = ffmpeg("-framerate", 2, "-i", os.path.join(tmp, "s%03d.png"), "-c:v", "libx264", "-pix_fmt", "yuv420p", mp4)
    ok = ok and ffmpeg("-i", mp4, "-sws_flags", SWS, "-f", "rawvideo", "-pix_fmt", "rgb24", ref)
    fr, pix, _, err, rc = dump(mp4, 0, tmp)
    want = np.fromfile(ref, np.uint8) if ok else np.zeros(1, np.uint8)
    check(rc == 0 and pix.size == want.size and (pix == want).all(),
          "H.264 yuv420p video: frames equal the ffmpeg command's rgb24 decoding", str(err))
    d = np.abs(pix.astype(int) - src.ravel().astype(int)).mean() if pix.size == src.size else 999
    check(d < 60, "H.264 frames are the source images up to compression (mean |diff| %.1f)" % d)

    # Sampling at 10 fps over 3.1 s.
    for i in range(31):
        Image.fromarray(np.full((32, 32, 3), (8 * i, 100, 200), np.uint8)).save(os.path.join(tmp, "c%03d.png" % i))
    v10 = os.path.join(tmp, "ten.mkv")
    ffmpeg("-framerate", 10, "-i", os.path.join(tmp, "c%03d.png"), "-c:v", "ffv1", "-pix_fmt", "bgr0", v10)
    times = [i / 10 for i in range(31)]
    for every in (1, 0.25, 0.7):
        fr, pix, _, err, rc = dump(v10, every, tmp)
        want = picked(times, every)
        check(rc == 0 and [f[0] for f in fr] == want, "every %g s keeps frames %s" % (every, want), str([f[0] for f in fr]))
    fr, pix, _, _, _ = dump(v10, 1, tmp)
    first = pix.reshape(-1, 32, 32, 3)[:, 0, 0, 0].tolist() if pix.size == 4 * 32 * 32 * 3 else []
    check(first == [0, 80, 160, 240], "sampled frames carry their own pixels (not the previous frame's)", str(first))
    return mkv, mp4


def test_errors(tmp, mkv, mp4):
    fr, _, _, err, rc = dump(os.path.join(tmp, "missing.mp4"), 0, tmp)
    check(rc == 1 and err and "I/O error" in err and "missing.mp4" in err and "No such file" in err,
          "a missing file is an I/O error naming it", str(err))
    txt = os.path.join(tmp, "notes.mp4")
    open(txt, "w").write("these are not video frames\n" * 20)
    fr, _, _, err, rc = dump(txt, 0, tmp)
    check(rc == 1 and err and "format error" in err and "notes.mp4" in err, "a text file is a format error", str(err))
    data = open(mp4, "rb").read()
    cut = os.path.join(tmp, "cut.mp4")
    open(cut, "wb").write(data[: len(data) // 2])
    fr, _, _, err, rc = dump(cut, 0, tmp)
    check(rc in (0, 1) and (rc == 0 or "FFmpeg:" in err), "a truncated MP4 ends cleanly with FFmpeg's reason", str(err))
    data = open(mkv, "rb").read()
    full, fullpix, _, _, _ = dump(mkv, 0, tmp)
    ok = True
    for frac in (0.3, 0.5, 0.8, 0.97):
        open(cut, "wb").write(data[: int(len(data) * frac)])
        fr, pix, _, err, rc = dump(cut, 0, tmp)
        ok &= rc in (0, 1) and len(fr) <= len(full) and (pix == fullpix[: pix.size]).all()
    check(ok, "a truncated Matroska file gives a prefix of the frames or an error, never a crash")
    r = subprocess.run(["sh", "-c", "head -c 4000 %s | %s dump /dev/stdin 0 %s" % (mkv, TOOL, os.path.join(tmp, "x.rgb"))],
                       capture_output=True)
    check(r.returncode in (0, 1), "a stream read from a pipe ends cleanly")


def embed(*args):
    r = sail("embed", "--model", MODEL, "--format", "json", *args)
    if r.returncode:
        return np.zeros((1, 1))
    return np.array([d["embedding"] for d in json.loads(r.stdout)["data"]])


def test_python(tmp, mkv, fv):
    if os.environ.get("SAIL_ASAN"):  # an ASan libsail.so cannot load into python
        print("skip - python binding under ASan")
        return
    sys.path.insert(0, os.path.join(tap.HERE, "..", "python"))
    os.environ.setdefault("SAIL_LIB", os.path.join(BUILD, "libsail.so"))
    import sail as sailpy
    pv, pt = sailpy.Model(MODEL).embed_video(mkv, every=0)
    check(pv.shape == fv.shape and np.abs(pv - fv).max() < 1e-6 and np.allclose(pt, np.arange(6) / 2),
          "python: Model.embed_video gives each frame's image vector and time")
    try:
        sailpy.Model(MODEL).embed_video(os.path.join(tmp, "missing.mkv"))
        check(False, "python: a missing video raises SailError")
    except sailpy.SailError as e:
        check("missing.mkv" in str(e), "python: a missing video raises SailError naming it")


def test_commands(tmp, Image, mkv):
    if not os.path.exists(MODEL):
        print("skip - %s is absent: embed/align --video checks" % MODEL)
        return
    frames = [os.path.join(tmp, "s%03d.png" % i) for i in range(6)]
    fv = embed(*sum([["--image", f] for f in frames], []))
    v = embed("--video", mkv, "--every", 0)
    mean = fv.mean(0) / np.linalg.norm(fv.mean(0))
    check(v.shape == (1, fv.shape[1]) and np.abs(v[0] - mean).max() < 1e-6,
          "embed --video = normalised mean of its frames' image vectors", "max diff %g" % np.abs(v[0] - mean).max())
    v = embed("--video", mkv, "--max-frames", 3)
    mean = fv[[0, 2, 4]].mean(0)
    mean /= np.linalg.norm(mean)
    check(np.abs(v[0] - mean).max() < 1e-6, "embed --video --max-frames 3 spreads 3 frames over the 3 s (0, 1, 2 s)")
    test_python(tmp, mkv, fv)
    r = sail("embed", "--model", MODEL, "--video", os.path.join(tmp, "missing.mkv"), ok=False)
    check(r.returncode == 1 and b"missing.mkv" in r.stderr, "embed --video of a missing file: exit 1 naming it")

    cols = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0), (255, 255, 255)]
    fdir = os.path.join(tmp, "frames")
    os.mkdir(fdir)
    for i, c in enumerate(cols):
        Image.new("RGB", (64, 64), c).save(os.path.join(fdir, "f%03d.png" % i))
    vid = os.path.join(tmp, "colours.mkv")
    ffmpeg("-framerate", 1, "-i", os.path.join(fdir, "f%03d.png"), "-c:v", "ffv1", "-pix_fmt", "bgr0", vid)
    srt = os.path.join(tmp, "subs.srt")
    open(srt, "w").write("1\n00:00:00,000 --> 00:00:01,000\na red square\n\n2\n00:00:01,500 --> 00:00:02,000\n"
                         "蓝色\n\n3\n00:00:03,000 --> 00:00:04,000\na yellow square\n")
    a, b = os.path.join(tmp, "a.srt"), os.path.join(tmp, "b.srt")
    r1 = sail("align", "--model", MODEL, "--subtitles", srt, "--frames", fdir, "--fps", 1, "--monotonic", "-o", a)
    r2 = sail("align", "--model", MODEL, "--subtitles", srt, "--video", vid, "--monotonic", "-o", b)
    d1 = json.loads(r1.stdout) if r1.returncode == 0 else {"lines": []}
    d2 = json.loads(r2.stdout) if r2.returncode == 0 else {"lines": [{}]}
    same = [(l["frame_index"], round(l["similarity"], 5), l["time"]) for l in d1["lines"]] == \
           [(l.get("frame_index"), round(l.get("similarity", 0), 5), l.get("time")) for l in d2["lines"]]
    check(r2.returncode == 0 and same and d2["frames"] == 5, "align --video = align --frames --fps 1 on the same frames")
    check([l.get("video_frame") for l in d2["lines"]] == [l["frame_index"] for l in d1["lines"]],
          "align --video reports each line's decoded frame number")
    check(os.path.exists(b) and open(a).read() == open(b).read(), "align --video -o writes the same re-timed SRT")
    for extra, what in ((["--fps", 2], "--fps"), (["--frames", fdir], "--frames"), (["--frame-times", srt], "--frame-times")):
        r = sail("align", "--model", MODEL, "--subtitles", srt, "--video", vid, *extra, ok=False)
        check(r.returncode == 2, "align --video with %s is refused (exit 2)" % what)
    r = sail("align", "--model", MODEL, "--subtitles", srt, "--frames", fdir, "--every", 1, ok=False)
    check(r.returncode == 2, "align --frames with --every is refused (exit 2)")
    r = sail("align", "--model", MODEL, "--subtitles", srt, "--video", os.path.join(tmp, "notes.mp4"), ok=False)
    check(r.returncode == 1 and b"notes.mp4" in r.stderr, "align --video of a non-video: exit 1 naming it")

    # An index of a video and an image: the video's vector is `embed --video`'s.
    items = os.path.join(tmp, "items.jsonl")
    with open(items, "w") as f:
        f.write(json.dumps({"id": 1, "video": "colours.mkv", "text": "five colour cards", "shop": "a"}) + "\n")
        f.write(json.dumps({"id": 2, "image": "frames/f004.png"}) + "\n")
    ix = os.path.join(tmp, "ix")
    r = sail("index", "add", "--index", ix, "--model", MODEL, "--kind", "exact", items)
    html = os.path.join(tmp, "r.html")
    r = sail("search", "--index", ix, "--model", MODEL, "--image", os.path.join(fdir, "f001.png"), "--json", "-k", 2, "--html", html)
    hits = {h["id"]: h for h in json.loads(r.stdout)["results"]} if r.returncode == 0 else {}
    q = embed("--image", os.path.join(fdir, "f001.png"))[0]
    vv = embed("--video", vid)[0]
    h = hits.get(1, {"score": 9, "payload": {}})
    check(abs(h["score"] - float(q @ vv)) < 1e-5 and h["payload"].get("modality") == "video" and
          h["payload"].get("source") == vid and h["payload"].get("shop") == "a",
          "index add: a JSONL video item is stored as embed --video's vector, modality video, payload kept")
    page = open(html).read() if os.path.exists(html) else ""
    check(page.count("<img src=\"data:image/jpeg;base64,") == 3, "search --html shows the video's first frame as a thumbnail")
    with open(items, "w") as f:
        f.write(json.dumps({"video": "colours.mkv", "image": "frames/f004.png"}) + "\n")
    r = sail("index", "add", "--index", ix, "--model", MODEL, items, ok=False)
    check(r.returncode == 1 and b"items.jsonl:1" in r.stderr, "an item with both a video and an image is refused with its line")
    vids = os.path.join(tmp, "vids")
    os.makedirs(os.path.join(vids, "sub"))
    shutil.copy(vid, os.path.join(vids, "sub", "c.mkv"))
    shutil.copy(os.path.join(fdir, "f000.png"), vids)
    ix2 = os.path.join(tmp, "ix2")
    sail("index", "add", "--index", ix2, "--model", MODEL, "--kind", "exact", vids)
    r = sail("search", "--index", ix2, "--model", MODEL, "red", "--json", "-k", 5)
    mods = sorted(h["payload"]["modality"] for h in json.loads(r.stdout)["results"]) if r.returncode == 0 else []
    check(mods == ["image", "video"], "index add FOLDER takes its videos (recursively) beside its images", str(mods))


def main():
    if not os.path.exists(TOOL):
        print("not ok 1 - %s is missing (make tests-build)" % TOOL)
        return 1
    if not shutil.which("ffmpeg"):
        print("skip - the ffmpeg command is absent (scripts/install-deps.sh): video checks")
        return 0
    try:
        from PIL import Image
    except ImportError:
        print("skip - PIL is absent: video checks")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        mkv, mp4 = test_decode(tmp, Image)
        test_errors(tmp, mkv, mp4)
        test_commands(tmp, Image, mkv)
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
