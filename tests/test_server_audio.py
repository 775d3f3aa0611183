"""Audio through `sail serve`: /v1/embeddings takes a clip as an OpenAI-style
content part, {"type": "input_audio", "input_audio": {"data": <base64>,
"format": "wav"}} or {"type": "audio_url", "audio_url": {"url":
"data:audio/...;base64,..."}}, for a model with an audio encoder (a
random-weight AST converted as tests/test_convert_ast.py does). Vectors must
equal `sail embed --audio` on the same files, alone and in a batch, as float
and base64 and at a Matryoshka prefix; a model without an audio encoder, a
clip beside a text, bad base64, a non-audio data URL and a clip that does not
decode each get a 400 naming the input, and the server goes on answering.
The page's audio panel (tests/server/page.mjs with SAIL_AUDIO, in headless
Chromium): an uploaded WAV gives sail embed --audio's vector and finds its
own item in an index of clips; a clip recorded with MediaRecorder is sent as
WebM/Opus and gives sail embed --audio's vector of the same bytes."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import HERE, SAIL, check  # noqa: E402

try:
    import test_convert_ast as A
    from test_server import Server, run_node, vectors
except ImportError as e:  # pragma: no cover
    print("skip - needs Debian's python3-torch, numpy and soundfile (%s)" % e)
    sys.exit(0)

TINY = os.path.join(HERE, "..", "models", "sail-tiny.gguf")


def audio_part(path, url=False):
    data = base64.b64encode(open(path, "rb").read()).decode()
    if url:
        return {"type": "audio_url", "audio_url": {"url": "data:audio/%s;base64,%s" % (path[-4:].strip("."), data)}}
    return {"type": "input_audio", "input_audio": {"data": data, "format": path.rsplit(".", 1)[1]}}


def cli_audio(model, paths, dim=None):
    args = [SAIL, "embed", "--model", model] + sum([["--audio", p] for p in paths], [])
    r = subprocess.run(args + (["--dim", str(dim)] if dim else []), capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr)
    return np.array([d["embedding"] for d in json.loads(r.stdout)["data"]], np.float32)


def error(s, body, param, code, name):
    st, doc, _, _ = s.embed(body)
    err = (doc or {}).get("error", {})
    check(st == 400 and err.get("param") == param and err.get("code") == code,
          "%s: 400%s%s" % (name, " on " + param if param else "", " (%s)" % code), "%s %s" % (st, doc))


def page(s, model, clips, want, tmp):
    """The page's audio panel over the index of the clips."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("skip - chromium is missing (run scripts/install-deps.sh): the page's audio panel is not tested")
        return
    wav = next(i for i, c in enumerate(clips) if c.endswith(".wav"))
    env = dict(os.environ, SAIL_URL="http://127.0.0.1:%d" % s.port, SAIL_CHROMIUM=chromium,
               SAIL_SHOTS=os.path.join(os.path.abspath(os.environ.get("BUILD", "build")), "test-output"),
               SAIL_AUDIO=json.dumps({"wav": clips[wav], "want": want[wav].tolist(), "model": model, "sail": SAIL}))
    run_node("page.mjs", env)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cfg = A.base_cfg()
        folder = os.path.join(tmp, "ast")
        A.make_folder(folder, cfg, A.prep_json(cfg))
        model = os.path.join(tmp, "ast.gguf")
        r = A.O.convert(folder, model)
        if not check(r.returncode == 0, "a random-weight AST folder converts", getattr(r, "stderr", "")):
            return tap.summary()
        clips = [c[0] for c in A.write_clips(tmp)]
        want = cli_audio(model, clips)
        args = ["--model", "ast=" + model] + (["--model", "tiny=" + TINY] if os.path.exists(TINY) else [])
        # The page's searches: an index of the clips, ids 1..3, made by `sail index add`.
        with open(os.path.join(tmp, "clips.jsonl"), "w") as f:
            f.writelines(json.dumps({"id": i + 1, "audio": os.path.basename(c)}) + "\n" for i, c in enumerate(clips))
        r = subprocess.run([SAIL, "index", "add", "--index", os.path.join(tmp, "ix"), "--model", model, "--kind",
                            "exact", os.path.join(tmp, "clips.jsonl")], capture_output=True, text=True)
        check(r.returncode == 0, "sail index add of the three clips", r.stderr)
        s = Server(args[1], *args[2:], "--batch-wait-ms", 50, "--index", os.path.join(tmp, "ix"))
        try:
            body = {"model": "ast", "input": [[audio_part(clips[0])], [audio_part(clips[1], url=True)],
                                              [audio_part(clips[2])]]}
            st, doc, _, _ = s.embed(body)
            got = vectors(doc) if st == 200 else None
            err = float(np.abs(got - want).max()) if got is not None else None
            check(err is not None and err <= 1e-6,
                  "three clips (input_audio and an audio data URL; WAV, FLAC) in one request equal sail embed "
                  "--audio (max|err| %s)" % err, "%s %s" % (st, str(doc)[:300]))
            st, doc, _, _ = s.embed({"model": "ast", "input": [audio_part(clips[1])], "encoding_format": "base64",
                                     "dimensions": 32})
            got = vectors(doc) if st == 200 else None
            want32 = cli_audio(model, clips[1:2], dim=32)
            check(got is not None and got.shape == (1, 32) and float(np.abs(got - want32).max()) <= 1e-6,
                  "one clip, base64 and dimensions 32: sail embed --audio --dim 32's vector",
                  "%s %s" % (st, str(doc)[:300]))
            bad_wav = os.path.join(tmp, "bad.wav")
            with open(bad_wav, "wb") as f:
                f.write(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(200))
            error(s, {"model": "ast", "input": [[audio_part(bad_wav)]]}, None, "invalid_audio",
                  "a clip that does not decode (found by the engine, its input named in the message)")
            part = audio_part(clips[0])
            part["input_audio"]["data"] = "!!" + part["input_audio"]["data"]
            error(s, {"model": "ast", "input": [[part]]}, "input[0]", "invalid_base64", "malformed base64")
            error(s, {"model": "ast", "input": [[{"type": "audio_url", "audio_url": {"url": "data:image/png;base64,AA=="}}]]},
                  "input[0]", "invalid_audio", "an image data URL as audio")
            error(s, {"model": "ast", "input": [[{"type": "text", "text": "a dog"}, audio_part(clips[0])]]},
                  "input[0]", "invalid_type", "a clip beside a text in one input")
            if os.path.exists(TINY):
                st, doc, _, _ = s.embed({"model": "tiny", "input": [[audio_part(clips[0])]]})
                msg = (doc or {}).get("error", {}).get("message", "")
                check(st == 400 and "no audio encoder" in msg and "tiny" in msg,
                      "a model without an audio encoder: 400 naming the model", "%s %s" % (st, msg))
            st, doc, _, _ = s.embed({"model": "ast", "input": [[audio_part(clips[0])]]})
            check(st == 200, "the server answers after the bad requests")
            page(s, model, clips, want, tmp)
        finally:
            s.stop()
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
