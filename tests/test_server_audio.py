"""Audio through `sail serve`: /v1/embeddings takes a clip as an OpenAI-style
content part, {"type": "input_audio", "input_audio": {"data": <base64>,
"format": "wav"}} or {"type": "audio_url", "audio_url": {"url":
"data:audio/...;base64,..."}}, for a model with an audio encoder (a
random-weight AST converted as tests/test_convert_ast.py does). Vectors must
equal `sail embed --audio` on the same files, alone and in a batch, as float
and base64 and at a Matryoshka prefix; a model without an audio encoder, a
clip beside a text for an audio-only model, two clips in one
input, bad base64, a non-audio data URL and a clip that does not decode
each get a 400 naming the input, and the server goes on answering. A fused
model with an audio tower (the shipped model given one by `sail compose`)
takes a clip beside a text, an image or both as ONE input, equal to `sail
embed` of the same adjacent flags.
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

import tap
from tap import HERE, SAIL, check, skip_import

try:
    import test_convert_ast as A
    from test_server import Server, run_node, vectors
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-torch, numpy and soundfile", e)

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
        ti = tap.text_image_model(tmp)  # a model without an audio encoder
        args = ["--model", "ast=" + model] + (["--model", "tiny=" + ti] if ti else [])
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
            st, doc, _, _ = s.embed({"model": "ast", "input": [[{"type": "text", "text": "a dog"}, audio_part(clips[0])]]})
            msg = (doc or {}).get("error", {}).get("message", "")
            check(st == 400 and "no text encoder" in msg and (doc or {}).get("error", {}).get("param") == "input[0]",
                  "a clip beside a text for an audio-only model: 400 on input[0] saying it has no text encoder",
                  "%s %s" % (st, str(doc)[:300]))
            two = audio_part(clips[0])
            error(s, {"model": "ast", "input": [[two, two]]}, "input[0]", "invalid_type", "two clips in one input")
            if ti:
                st, doc, _, _ = s.embed({"model": "tiny", "input": [[audio_part(clips[0])]]})
                msg = (doc or {}).get("error", {}).get("message", "")
                check(st == 400 and "no audio encoder" in msg and "tiny" in msg,
                      "a model without an audio encoder: 400 naming the model", "%s %s" % (st, msg))
            st, doc, _, _ = s.embed({"model": "ast", "input": [[audio_part(clips[0])]]})
            check(st == 200, "the server answers after the bad requests")
            page(s, model, clips, want, tmp)
        finally:
            s.stop()
        if os.path.exists(TINY):
            joint_items(tmp, clips)
        else:
            print("skip - models/sail-tiny.gguf is absent: joint items with a clip are not tested")
    return tap.summary()


def joint_items(tmp, clips):
    """A fused model with an audio tower (the shipped model given a fresh
    tiny one): a clip beside a text, an image, or both is ONE item, equal to
    `sail embed` of the same adjacent flags (sail_embed_item)."""
    from PIL import Image
    ears = os.path.join(tmp, "ears.gguf")
    r = subprocess.run([SAIL, "compose", "--text", TINY, "--vision", TINY, "--fusion", TINY, "--audio-config", "tiny",
                        "-o", ears], capture_output=True, text=True)
    if not check(r.returncode == 0, "sail compose gives the shipped model an audio tower", r.stderr[-300:]):
        return
    png = os.path.join(tmp, "red.png")
    Image.new("RGB", (80, 64), (200, 30, 40)).save(png)
    img = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(
        open(png, "rb").read()).decode()}}
    text = {"type": "text", "text": "a red square"}
    cases = [("text + clip", [text, audio_part(clips[0])], ["--text", "a red square", "--audio", clips[0]]),
             ("image + clip", [img, audio_part(clips[1])], ["--image", png, "--audio", clips[1]]),
             ("text + image + clip", [text, img, audio_part(clips[2], url=True)],
              ["--text", "a red square", "--image", png, "--audio", clips[2]])]
    want = []
    for name, _, flags in cases:
        r = subprocess.run([SAIL, "embed", "--model", ears] + flags, capture_output=True, text=True)
        ok = r.returncode == 0 and len(json.loads(r.stdout)["data"]) == 1
        check(ok, "sail embed %s: one item" % " ".join(f for f in flags if f.startswith("--")), r.stderr[-300:])
        want.append(np.array(json.loads(r.stdout)["data"][0]["embedding"], np.float32) if ok else None)
    s = Server("ears=" + ears, "--batch-wait-ms", 20)
    try:
        st, doc, _, _ = s.embed({"model": "ears", "input": [c[1] for c in cases] + ["a red square"]})
        got = vectors(doc) if st == 200 else None
        for i, (name, _, _) in enumerate(cases):
            err = float(np.abs(got[i] - want[i]).max()) if got is not None and want[i] is not None else None
            check(err is not None and err <= 1e-5, "/v1/embeddings: %s as one input equals sail embed's item "
                  "(max|err| %s)" % (name, err), "" if err is not None else "%s %s" % (st, str(doc)[:300]))
        if got is not None and want[0] is not None:
            check(float(np.abs(got[3] - got[0]).max()) > 1e-3, "the clip changes the text's vector (the item is "
                  "joint, not the text alone)")
        long = {"type": "text", "text": "x " * 5000}
        st, doc, _, _ = s.embed({"model": "ears", "input": [[long, audio_part(clips[0])]]})
        check(st == 200, "a long text beside a clip is truncated to the context, as alone", "%s %s" % (st, str(doc)[:300]))
        bad = dict(img, image_url={"url": "data:image/png;base64,AAAA"})
        error(s, {"model": "ears", "input": [[bad, audio_part(clips[0])]]}, None, "invalid_input",
              "an image that does not decode beside a clip (found by the engine)")
    finally:
        s.stop()


if __name__ == "__main__":
    sys.exit(main())
