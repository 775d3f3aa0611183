"""Audio clips where the CLI takes media: `sail index add` of a folder with
clips (.wav .flac ...) and of JSONL {"audio": path} items, `sail search
--audio`, with a random-weight AST converted as tests/test_convert_ast.py
does. A clip searched for finds itself first (score 1 within float
rounding: the same vector as `sail embed --audio`); a folder's files of a
kind the model cannot embed are left out with a count; a model without an
audio encoder refuses an audio query with the reason. `sail bench --kind
audio` times a clip (--audio, or its generated 10 s one) through the model's
own front end (its frame count) and splits the CPU time by stage. FFmpeg's
libraries are loaded by the first decode, not when a run starts."""
import re
import json
import os
import shutil
import subprocess
import sys
import tempfile

import tap
from tap import HERE, SAIL, check, skip_import

try:
    import test_convert_ast as A
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch, numpy and soundfile", e)


def sail(*args):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cfg = A.base_cfg()
        A.make_folder(os.path.join(tmp, "ast"), cfg, A.prep_json(cfg))
        model = os.path.join(tmp, "ast.gguf")
        if not check(A.O.convert(os.path.join(tmp, "ast"), model).returncode == 0, "a random-weight AST converts"):
            return tap.summary()
        clips = [c[0] for c in A.write_clips(tmp)]
        media = os.path.join(tmp, "media")
        os.makedirs(media)
        for c in clips:
            shutil.copy(c, media)
        with open(os.path.join(media, "picture.ppm"), "wb") as f:
            f.write(b"P6\n4 4\n255\n" + bytes(48))
        ix = os.path.join(tmp, "ix")
        r = sail("index", "add", "--index", ix, "--model", model, "--kind", "exact", media)
        check(r.returncode == 0 and "added 3 items" in r.stderr and "left out 1 images" in r.stderr,
              "index add of a folder: the 3 clips are added, the picture left out with a count", r.stderr[-300:])
        for c in clips:
            r = sail("search", "--index", ix, "--model", model, "--audio", c, "-k", "3", "--json")
            try:
                doc = json.loads(r.stdout)
                top = doc["results"][0]
                ok = top["payload"]["source"].endswith(os.path.basename(c)) and top["score"] >= 0.99999 \
                    and top["payload"]["modality"] == "audio" and doc["query"] == {"audio": c}
            except (ValueError, KeyError, IndexError):
                ok, top = False, r.stdout[-300:] + r.stderr[-300:]
            check(ok, "search --audio %s finds itself first" % os.path.basename(c), str(top)[:300])
        if os.environ.get("SAIL_ASAN"):
            print("skip - the Python binding check: the binding loads the plain library, not the ASan build")
        else:
            import numpy as np
            sys.path.insert(0, os.path.join(HERE, "..", "python"))
            os.environ.setdefault("SAIL_LIB", os.path.abspath(os.path.join(tap.BUILD, "libsail.so")))
            import sail as binding
            r = sail("embed", "--model", model, *sum([["--audio", c] for c in clips], []))
            want = np.array([d["embedding"] for d in json.loads(r.stdout)["data"]], np.float32)
            with binding.Model(model) as m:
                got = m.encode([{"audio": c} for c in clips])
            check(float(np.abs(got - want).max()) <= 1e-6, "Model.encode of {\"audio\": path} dicts equals sail embed --audio")
        # FFmpeg is loaded at the first decode, not at start-up (src/format/av.c)
        def ffmpeg_loaded(*args):
            env = dict(os.environ, LD_DEBUG="files")
            r = subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, text=True, env=env)
            return r.returncode, "file=libavformat.so" in r.stderr
        rc_a, with_clip = ffmpeg_loaded("embed", "--model", model, "--audio", clips[0])
        rc_v, at_start = ffmpeg_loaded("--version")
        check(rc_a == 0 and with_clip and rc_v == 0 and not at_start,
              "FFmpeg's libraries are loaded by an --audio embed (%s) and not by a run that decodes nothing (%s)"
              % (with_clip, at_start))
        manifest = os.path.join(tmp, "items.jsonl")
        with open(manifest, "w") as f:
            f.write(json.dumps({"id": 77, "audio": clips[0], "lang": "en"}) + "\n")
        ix2 = os.path.join(tmp, "ix2")
        r = sail("index", "add", "--index", ix2, "--model", model, "--kind", "exact", manifest)
        r2 = sail("search", "--index", ix2, "--model", model, "--audio", clips[0], "--json")
        try:
            top = json.loads(r2.stdout)["results"][0]
            ok = r.returncode == 0 and top["id"] in (77, "77") and top["payload"]["lang"] == "en"
        except (ValueError, KeyError, IndexError):
            ok = False
        check(ok, "JSONL {\"audio\": path} items keep their id and payload", r.stderr[-200:] + r2.stdout[-200:])
        with open(manifest, "w") as f:
            f.write(json.dumps({"audio": clips[0], "text": "a dog"}) + "\n")
        r = sail("index", "add", "--index", ix2, "--model", model, manifest)
        check(r.returncode != 0 and "an \"audio\" path alone" in r.stderr,
              "an audio item with a text is refused with the line's form", r.stderr[-200:])
        for clip, secs in ((clips[1], "1.70"), (None, "10.00")):
            r = sail("bench", "--model", model, "--kind", "audio", "--batch", "1,2", "--seconds", 1, "--reps", 2,
                     *(["--audio", clip] if clip else []))
            stages = re.findall(r"audio batch (\d) +CPU ms/clip: decode ([\d.]+) fbank ([\d.]+) tower (-?[\d.]+) "
                                r"\(([\d.]+) s clip, (\d+) fbank frames\)", r.stdout)
            check(r.returncode == 0 and r.stdout.count("inputs/s") == 2 and [s[0] for s in stages] == ["1", "2"]
                  and all(s[4] == secs and s[5] == str(cfg["max_length"]) and float(s[1]) > 0 and float(s[2]) > 0
                          for s in stages),
                  "sail bench --kind audio: a %s s clip, the model's %d frames, decode/fbank/tower CPU per clip"
                  % (secs, cfg["max_length"]), r.stdout[-400:] + r.stderr[-300:])
        ti = tap.text_image_model(tmp)
        if ti:
            r = sail("bench", "--model", ti, "--kind", "audio", "--seconds", 1)
            check(r.returncode == 1 and "no audio encoder" in r.stderr, "sail bench --kind audio of a model "
                  "without an audio encoder: exit 1 with the reason", r.stderr[-200:])
            r = sail("search", "--index", ix, "--model", ti, "--audio", clips[0])
            check(r.returncode != 0 and "audio" in r.stderr, "a model without an audio encoder refuses --audio",
                  r.stderr[-200:])
            only = os.path.join(tmp, "clips")
            os.makedirs(only)
            shutil.copy(clips[0], only)
            r = sail("index", "add", "--index", os.path.join(tmp, "ix3"), "--model", ti, only)
            check(r.returncode == 1 and "left out 1 audio clips" in r.stderr and "nothing this model embeds" in r.stderr,
                  "a folder of clips with an image-text model: left out, and said so", r.stderr[-300:])
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
