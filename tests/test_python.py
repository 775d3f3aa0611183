"""The Python binding (python/sail, ctypes over build/libsail.so) against the
CLI and numpy. asan: skip (an ASan-built libsail.so cannot be dlopen-ed into
an uninstrumented python). Vectors from Model.embed_text / embed_image (paths,
PIL images, arrays, bytes) / embed(text=, image=) must equal `sail embed`'s;
Index.search must return numpy's brute-force top-k; model_file_info and
preprocess_image give what `sail info` and `sail preprocess` give (and PIL's
tensor); errors raise SailError with the library's message."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import BUILD, HERE, SAIL, check

sys.path.insert(0, os.path.join(HERE, "..", "python"))
os.environ.setdefault("SAIL_LIB", os.path.abspath(os.path.join(BUILD, "libsail.so")))
import sail  # noqa: E402


def cli(model, *args):
    r = subprocess.run([SAIL, "embed", "--model", model] + [str(a) for a in args], capture_output=True)
    if r.returncode:
        raise RuntimeError(r.stderr.decode())
    return np.array([d["embedding"] for d in json.loads(r.stdout)["data"]], np.float32)


def raises(fn, want):
    try:
        fn()
    except sail.SailError as e:
        return want in str(e)
    return False


def main():
    with tempfile.TemporaryDirectory() as tmp:
        vocab = tap.vocab(tmp, "abcdefghijklmnopqrstuvwxyz红色连衣裙")
        model = os.path.join(tmp, "tiny.gguf")
        subprocess.run([SAIL, "init", "--config", "tiny", "--vocab", vocab, "--seed", "1", "-o", model], check=True,
                       capture_output=True)
        m = sail.Model(model, threads=1)
        ver = subprocess.run([SAIL, "--version"], capture_output=True, text=True).stdout
        check(sail.version() in ver and "(kernels: %s)" % sail.kernel_level() in ver,
              "version() and kernel_level() (%s) are what `sail --version` prints" % sail.kernel_level())
        check(m.dim == 512 and m.context > 2 and m.image_size > 0 and m.describe().get("dim") == "512",
              "Model: dim, context, image_size, describe()")

        texts = ["红色连衣裙", "a red dress", "黑色高帮运动鞋"]
        v = m.embed_text(texts)
        ref = cli(model, "--separate", *sum([["--text", t] for t in texts], []))
        check(v.dtype == np.float32 and v.shape == (3, 512) and np.array_equal(v, ref),
              "embed_text: (3, 512) float32, equal to `sail embed`")
        v64 = m.embed_text(texts, dim=64)
        check(np.allclose(v64, ref[:, :64] / np.linalg.norm(ref[:, :64], axis=1, keepdims=True), atol=1e-6),
              "embed_text(dim=64): the re-normalised Matryoshka prefix")
        # Alone vs inside a padded batch of 3: equal up to a few ulp (engine).
        check(np.allclose(m.embed_text(texts[0]), ref[:1], atol=1e-6, rtol=0), "embed_text(a single string)")
        r = subprocess.run([SAIL, "tokenize", "--model", model], input="红色连衣裙 dress\n".encode(), capture_output=True)
        want = json.loads(r.stdout.decode().splitlines()[0])
        tok = m.tokenize("红色连衣裙 dress")
        check(tok == want[:len(tok)] and all(x == want[-1] for x in want[len(tok):]) and
              len(m.tokenize("a " * 500)) == m.context,
              "tokenize: the ids of `sail tokenize --model` (unpadded), truncated to the context")

        from PIL import Image
        rng = np.random.default_rng(3)
        arr = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
        png, jpg = os.path.join(tmp, "a.png"), os.path.join(tmp, "b.jpg")
        Image.fromarray(arr).save(png)
        Image.fromarray(arr[::-1]).save(jpg, quality=90)
        ref_i = cli(model, "--separate", "--image", png, "--image", jpg)
        vi = m.embed_image([png, jpg])
        check(np.array_equal(vi, ref_i), "embed_image(paths) equals `sail embed --image`")
        vp = m.embed_image([Image.open(png), Image.open(jpg)])
        check(np.allclose(vp, ref_i, atol=1e-6), "embed_image(PIL images) equals the files' vectors")
        check(np.allclose(m.embed_image(arr), ref_i[:1], atol=1e-6) and
              np.allclose(m.embed_image(open(png, "rb").read()), ref_i[:1], atol=1e-6),
              "embed_image(uint8 array) and embed_image(encoded bytes)")
        ref_j = cli(model, "--text", texts[2], "--image", png)
        check(np.array_equal(m.embed(text=texts[2], image=png), ref_j),
              "embed(text=, image=path): one joint vector equal to `sail embed --text T --image F`")
        check(np.allclose(m.embed(text=[texts[2]], image=[Image.open(png)]), ref_j, atol=1e-6),
              "embed(text=[...], image=[PIL]) equals the same joint vector")
        check(np.array_equal(m.embed(text=texts), ref) and np.array_equal(m.embed(image=[png]), ref_i[:1]),
              "embed(text=) and embed(image=) alone")

        check(raises(lambda: sail.Model(os.path.join(tmp, "none.gguf")), "none.gguf"),
              "a missing model file raises SailError naming it")
        check(raises(lambda: m.embed_image([os.path.join(tmp, "none.png")]), "none.png"),
              "a missing image raises SailError naming it")
        check(raises(lambda: m.embed_image(b"GIF89a...."), "not a JPEG, PNG"), "undecodable bytes raise SailError")
        check(raises(lambda: m.embed_text(["x"], dim=9999), "out of range"), "dim out of range raises SailError")
        check(raises(lambda: m.embed(text=["a", "b"], image=[png]), "2 texts but 1 images"),
              "mismatched text/image lists raise SailError")

        lib = sail._load()
        if not hasattr(lib, "sail_index_open"):
            print("skip - libsail.so has no vector index yet: Index not tested")
        else:
            ix_dir = os.path.join(tmp, "ix")
            ix = sail.Index(ix_dir, create=True, dim=64)
            X = rng.standard_normal((200, 64)).astype(np.float32)
            X /= np.linalg.norm(X, axis=1, keepdims=True)
            ids = np.arange(1000, 1200)
            ix.add(ids, X, [{"i": int(i), "color": "red" if i % 2 else "blue"} for i in range(200)])
            check(len(ix) == 200 and ix.dim == 64, "Index: create, add 200, len")
            Q = X[:5] + 0.01 * rng.standard_normal((5, 64)).astype(np.float32)
            Q /= np.linalg.norm(Q, axis=1, keepdims=True)
            res = ix.search(Q, k=7)
            want = np.argsort(-(Q @ X.T), axis=1)[:, :7]
            check(all([h.id for h in res[q]] == list(ids[want[q]]) for q in range(5))
                  and abs(res[0][0].score - float(Q[0] @ X[want[0, 0]])) < 1e-5
                  and res[0][0].payload["i"] == int(want[0, 0]),
                  "Index.search: numpy's brute-force top-7 ids, scores and payloads")
            red = ix.search(Q[0], k=5, filter={"color": "red"})[0]
            check(len(red) == 5 and all(h.payload["color"] == "red" for h in red), "search with a payload filter")
            check(ix.delete([1000, 5]) == 1 and len(ix) == 199, "delete returns how many were present")
            ix.close()
            ix = sail.Index(ix_dir)
            check(len(ix) == 199 and ix.search(Q[1], k=1)[0][0].id == ids[want[1, 0]], "reopened index keeps the items")
            ix.close()
        tokenizers(tmp)
        cli_calls(tmp, model, m)
    return tap.summary()


def tokenizers(tmp):
    """sail.Tokenizer (sail_tokenizer_load/encode) against the reference ids
    of Hugging Face's BertTokenizer and OpenAI's SimpleTokenizer in the golden
    files; errors raise SailError."""
    wp = os.path.join(tap.GOLDEN, "bert_wordpiece_golden.jsonl")
    if not os.path.exists(wp):
        print("skip - %s is absent: no reference tokenizer ids" % wp)
        return
    cases = [("chinese_clip_vocab.txt", "bert_wordpiece_golden.jsonl", None, 0),
             ("bpe_simple_vocab_16e6.txt.gz", "clip_bpe_golden.jsonl", "bpe", 7)]
    for vocab, golden, kind, slack in cases:  # slack: as tests/test_tokenize_cli.py allows for BPE
        rows = [json.loads(line) for line in open(os.path.join(tap.GOLDEN, golden), encoding="utf-8")]
        t = sail.Tokenizer(os.path.join(tap.GOLDEN, vocab), kind)
        same = sum(t.encode(r["text"]) == r["ids"] for r in rows)
        t.close()
        check(same >= len(rows) - slack, "Tokenizer(%s): %d/%d texts give the reference ids" % (vocab, same, len(rows)))
    long_text = "红色连衣裙 " * 100  # 500 ids: past the first 64-id buffer
    t = sail.Tokenizer(os.path.join(tap.GOLDEN, "chinese_clip_vocab.txt"))
    ids = t.encode(long_text)
    check(len(ids) == 500 and ids[:5] == t.encode("红色连衣裙"), "Tokenizer.encode grows its buffer for a long text")
    t.close()
    check(raises(lambda: sail.Tokenizer(os.path.join(tmp, "none.txt")), "none.txt"),
          "Tokenizer on a missing file raises SailError naming it")
    check(raises(lambda: sail.Tokenizer(wp, "sentencepiece"), "wordpiece, bpe and spm"),
          "Tokenizer with an unknown type raises SailError listing the types")


def cli_calls(tmp, model, m):
    """What sail info and sail preprocess do, from Python: the same report,
    and PIL's tensor (the independent reference of test_image_pil.py)."""
    from PIL import Image
    from test_image_pil import MEAN, STD, ref_preprocess
    for extra in ([], ["--tensors"]):
        r = subprocess.run([SAIL, "info"] + extra + [model], capture_output=True)
        check(r.returncode == 0 and sail.model_file_info(model, tensors=bool(extra)) == r.stdout.decode(),
              "model_file_info(%s) is the report `%s` prints" % (bool(extra), " ".join(["sail info"] + extra)))
    check(raises(lambda: sail.model_file_info(os.path.join(tmp, "none.gguf")), "none.gguf"),
          "model_file_info of a missing file raises SailError naming it")
    rng = np.random.default_rng(3)
    path = os.path.join(tmp, "p.png")
    Image.fromarray(rng.integers(0, 256, (333, 500, 3), np.uint8), "RGB").save(path)
    im = Image.open(path).convert("RGB")
    for size, crop, f, name in ((224, 224, Image.BICUBIC, "bicubic"), (96, 0, Image.BILINEAR, "bilinear")):
        got = sail.preprocess_image(path, size, crop, name, MEAN, STD)
        d = float(np.abs(got - ref_preprocess(im, size, crop, f)).max())
        check(got.shape == (3, crop or size, crop or size) and d <= 1.0 / 255.0 / float(STD.min()),
              "preprocess_image(%d, crop %d, %s) == PIL+numpy (max |diff| %.1e)" % (size, crop, name, d))
    out = os.path.join(tmp, "p.npy")
    r = subprocess.run([SAIL, "preprocess", "--image", path, "--model", model, "-o", out], capture_output=True)
    check(r.returncode == 0 and np.array_equal(sail.preprocess_image(path, model=m), np.load(out)),
          "preprocess_image(model=) equals `sail preprocess --model`")
    check(raises(lambda: sail.preprocess_image(os.path.join(tmp, "none.png"), 64), "none.png"),
          "preprocess_image of a missing file raises SailError naming it")

if __name__ == "__main__":
    sys.exit(main())
