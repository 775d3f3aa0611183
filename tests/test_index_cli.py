"""Black-box tests of `sail index` and `sail search`: a folder of images
(one unreadable), text lines on stdin and a JSONL file go in through the
embed API; searches are checked against NumPy cosine similarities of the
same items' `sail embed` vectors; filters, JSON, the HTML page with inline
thumbnails, info, delete, compact, --help and usage errors."""
import base64
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import tap
from tap import SAIL, check


def sail(*args, stdin=None):
    return subprocess.run([SAIL] + [str(a) for a in args], capture_output=True, input=stdin)


def ppm(path, rgb, shape):
    """A 96x96 PPM: a coloured disc or square on white."""
    y, x = np.mgrid[0:96, 0:96]
    inside = (x - 48) ** 2 + (y - 48) ** 2 < 30 ** 2 if shape == "disc" else (abs(x - 48) < 28) & (abs(y - 48) < 28)
    img = np.full((96, 96, 3), 245, np.uint8)
    img[inside] = rgb
    with open(path, "wb") as f:
        f.write(b"P6\n96 96\n255\n" + img.tobytes())


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = tap.init_tiny(tmp, tap.vocab(tmp, "abcdefghijklmnopqrstuvwxyz红色连衣裙黑高帮运动鞋"), 3)
        if not model:
            return 1
        imgs = os.path.join(tmp, "imgs")
        os.makedirs(os.path.join(imgs, "sub"))
        files = {"red_disc.ppm": ((220, 30, 30), "disc"), "blue_square.ppm": ((30, 60, 220), "square"),
                 "sub/green_disc.ppm": ((40, 180, 60), "disc"), "sub/black_square.ppm": ((10, 10, 10), "square")}
        for name, (rgb, shape) in files.items():
            ppm(os.path.join(imgs, name), rgb, shape)
        with open(os.path.join(imgs, "sub", "broken.jpg"), "wb") as f:
            f.write(b"not an image at all")
        with open(os.path.join(imgs, "notes.txt"), "w") as f:
            f.write("ignored")
        ix = os.path.join(tmp, "ix")

        r = sail("index", "add", "--index", ix, "--model", model, "--kind", "exact", imgs)
        err = r.stderr.decode()
        ok = r.returncode == 0 and err.count("broken.jpg") == 1 and "added 4 items (1 skipped)" in err
        check(ok, "add a folder: 4 images in, the broken one skipped and named once (exit 0: some were added)",
              "" if ok else repr(err))
        only_bad = os.path.join(tmp, "only_bad")
        os.makedirs(only_bad)
        with open(os.path.join(only_bad, "a.png"), "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
        r = sail("index", "add", "--index", os.path.join(tmp, "ix_bad"), "--model", model, only_bad)
        err = r.stderr.decode()
        ok = r.returncode == 1 and err.count("a.png") == 1 and "added 0 items (1 skipped)" in err
        check(ok, "add a folder where every item is skipped: exit 1", "" if ok else repr(err))
        texts = ["红色连衣裙", "a red dress", "黑色高帮运动鞋", "blue square"]
        r = sail("index", "add", "--index", ix, "--model", model, "-", stdin=("\n".join(texts) + "\n").encode())
        check(r.returncode == 0 and "added 4 items" in r.stderr.decode(), "add text lines from stdin")
        jl = os.path.join(tmp, "items.jsonl")
        with open(jl, "w") as f:
            f.write(json.dumps({"id": 7, "text": "green disc", "lang": "en", "price": 12}) + "\n")
            f.write(json.dumps({"id": 8, "text": "红色圆形", "image": "imgs/red_disc.ppm", "lang": "zh",
                                "caption": "a red disc <from the catalogue>"}) + "\n")
        r = sail("index", "add", "--index", ix, "--model", model, jl)
        check(r.returncode == 0, "add a JSONL file (ids, extra fields, a text+image pair)")
        r = sail("index", "info", "--index", ix, "--json")
        info = json.loads(r.stdout) if r.returncode == 0 else {}
        check(info.get("count") == 10 and info.get("dim") == 512 and info.get("kind") == "exact", "info --json: 10 items of 512")

        ix2 = os.path.join(tmp, "piped")
        piped = (json.dumps({"id": 9, "text": "green disc", "price": 3}) + "\n" +
                 json.dumps({"image": os.path.join(imgs, "red_disc.ppm")}) + "\n").encode()
        r = sail("index", "add", "--index", ix2, "--model", model, "-", stdin=piped)
        r2 = sail("search", "--index", ix2, "--model", model, "x", "--filter", "price=3", "--json")
        hits = json.loads(r2.stdout)["results"] if r.returncode == 0 and r2.returncode == 0 else []
        check(r.returncode == 0 and "added 2 items" in r.stderr.decode() and len(hits) == 1 and hits[0]["id"] == 9 and
              hits[0]["payload"]["text"] == "green disc",
              "JSON lines piped to `index add -` are items (id, text, image, payload fields), not literal text",
              r.stderr.decode())
        r = sail("index", "add", "--index", ix2, "--model", model, "-", stdin=b'{"id": 3}\n')
        check(r.returncode == 1 and "stdin:1" in r.stderr.decode(), "a piped JSON line without text or image is refused with its line")

        # reference: the same items' vectors from `sail embed`
        r = sail("index", "add", "--index", ix, "--model", model, "-", stdin=b"a red dress\n")
        check(r.returncode == 0 and json.loads(sail("index", "info", "--index", ix, "--json").stdout)["count"] == 10,
              "adding the same text again replaces it (stable ids)")
        paths = sorted(os.path.join(imgs, k) for k in files)
        sail("embed", "--model", model, "--separate", "--format", "npy", "-o", os.path.join(tmp, "single.npy"),
             *sum((["--image", p] for p in paths), []), *sum((["--text", t] for t in texts + ["green disc"]), []))
        sail("embed", "--model", model, "--format", "npy", "-o", os.path.join(tmp, "pair.npy"),
             "--text", "红色圆形", "--image", os.path.join(imgs, "red_disc.ppm"))
        ref = np.concatenate([np.load(os.path.join(tmp, "single.npy")), np.load(os.path.join(tmp, "pair.npy"))])
        labels = paths + texts + ["green disc", "pair"]
        sail("embed", "--model", model, "--format", "npy", "-o", os.path.join(tmp, "q.npy"), "--text", "红色连衣裙")
        qv = np.load(os.path.join(tmp, "q.npy"))[0]
        sims = ref @ qv
        order = np.argsort(-sims, kind="stable")[:5]
        r = sail("search", "--index", ix, "--model", model, "红色连衣裙", "-k", 5, "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {"results": []}
        got = [(h["payload"].get("source") if h["payload"]["modality"] == "image" else
                "pair" if h["payload"]["modality"] == "image+text" else h["payload"]["text"]) for h in doc["results"]]
        scores = np.array([h["score"] for h in doc["results"]])
        # items whose cosines tie within float rounding may come in either order
        own = np.array([sims[labels.index(g)] if g in labels else np.nan for g in got])
        check(len(got) == 5 and len(set(got)) == 5 and np.allclose(scores, sims[order], atol=1e-5) and
              np.allclose(own, scores, atol=1e-5),
              "text search: the top 5 and their scores equal NumPy cosines of `sail embed` vectors",
              "got %s %s want %s %s" % (got, scores, [labels[i] for i in order], sims[order]))
        check(doc["results"] and doc["results"][0]["payload"]["text"] == "红色连衣裙" and abs(scores[0] - 1) < 1e-5,
              "the query's own text is the top hit with score 1")

        r = sail("search", "--index", ix, "--model", model, "--image", os.path.join(imgs, "red_disc.ppm"),
                 "--filter", "modality=image", "-k", 10, "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {"results": []}
        mods = {h["payload"]["modality"] for h in doc["results"]}
        check(len(doc["results"]) == 4 and mods == {"image"} and doc["results"][0]["payload"]["source"].endswith("red_disc.ppm"),
              "image->image search with --filter modality=image: 4 images, itself first")
        r = sail("search", "--index", ix, "--model", model, "--image", os.path.join(imgs, "blue_square.ppm"),
                 "--filter", "modality=text", "-k", 3, "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {"results": []}
        check(len(doc["results"]) == 3 and {h["payload"]["modality"] for h in doc["results"]} == {"text"},
              "image->text search with --filter modality=text")
        r = sail("search", "--index", ix, "--model", model, "x", "--filter", "lang=zh,modality=image+text", "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {"results": []}
        check([h["id"] for h in doc["results"]] == [8], "a two-field filter finds the JSONL pair (id 8)")
        r = sail("search", "--index", ix, "--model", model, "x", "--filter", "price=12", "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {"results": []}
        check([h["id"] for h in doc["results"]] == [7] and doc["results"][0]["payload"]["lang"] == "en",
              "a numeric filter matches, and user fields come back in the payload")

        html = os.path.join(tmp, "out.html")
        r = sail("search", "--index", ix, "--model", model, "red", "--html", html)
        page = open(html, encoding="utf-8").read() if r.returncode == 0 else ""
        uris = [s.split('"')[0] for s in page.split('src="data:image/jpeg;base64,')[1:]]
        ok = len(uris) >= 4
        for u in uris:
            b = base64.b64decode(u)
            ok = ok and b[:2] == b"\xff\xd8" and b[-2:] == b"\xff\xd9"
        check(ok and "红色连衣裙" in page and "<table>" in page and r.stdout.decode().count("\n") == 11,
              "--html writes a self-contained page with %d inline JPEG thumbnails, and the table still prints" % len(uris))
        r = sail("search", "--index", ix, "--model", model, "red", "--json")
        hits = json.loads(r.stdout)["results"] if r.returncode == 0 else []
        mods = [h["payload"]["modality"] for h in hits]
        cells = [c.split("<")[0] for c in page.split('<td class="s">')[1:]]
        cells = [c for c in cells if not c.lstrip("-")[:1].isdigit()]  # not the score and id cells
        check(hits and cells == mods and "<i>a red disc &lt;from the catalogue&gt;</i>" in page and "Query (text): red" in page,
              "--html shows each hit's modality (%s) and the caption kept in its payload, escaped" % ",".join(sorted(set(mods))),
              "cells %s want %s" % (cells, mods))

        r = sail("index", "delete", "--index", ix, 7, 8, 12345)
        check(r.returncode == 0 and "deleted 2 of 3" in r.stderr.decode(), "delete 3 ids (2 present)")
        r = sail("index", "compact", "--index", ix)
        info = json.loads(sail("index", "info", "--index", ix, "--json").stdout)
        check(r.returncode == 0 and info["count"] == 8 and info["tombstones"] == 0, "compact: 8 items remain")

        # an HNSW index with int8 storage built from the same folder
        ih = os.path.join(tmp, "ih")
        r = sail("index", "add", "--index", ih, "--model", model, "--storage", "int8", "--dim", 256, imgs)
        info = json.loads(sail("index", "info", "--index", ih, "--json").stdout)
        check(info["kind"] == "hnsw" and info["storage"] == "int8" and info["dim"] == 256 and info["count"] == 4,
              "add --storage int8 --dim 256 builds an HNSW index of 256-d prefixes")
        r = sail("search", "--index", ih, "--model", model, "--image", os.path.join(imgs, "sub", "green_disc.ppm"), "-k", 1, "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {"results": [{"score": 0, "payload": {}}]}
        check(doc["results"][0]["payload"].get("source", "").endswith("green_disc.ppm") and abs(doc["results"][0]["score"] - 1) < 1e-4,
              "int8 HNSW: an image finds itself with score 1 after f32 rescoring")

        for argv in (["index", "--help"], ["search", "--help"], ["index", "add", "--help"]):
            r = sail(*argv)
            check(r.returncode == 0 and b"usage: sail" in r.stdout, "sail %s" % " ".join(argv))
        bad = [
            (["search", "--index", ix, "--model", model], "query text, --image FILE or --audio"),
            (["search", "--index", ix, "--model", model, "a", "-k", 0], "-k"),
            (["search", "--index", ix, "--model", model, "a", "--filter", "novalue"], "field=value"),
            (["index", "add", "--index", ix, "--model", model], "one input"),
            (["index", "add", "--index", ix, "--model", model, "--storage", "f8", imgs], "f32, f16 or int8"),
            (["index", "frob", "--index", ix], "unknown subcommand"),
            (["index", "info"], "--index"),
            (["index", "info", "--index", os.path.join(tmp, "none")], "no such index"),
            (["index", "add", "--index", ih, "--model", model, imgs], "256-dimensional"),
        ]
        for argv, want in bad:
            r = sail(*argv)
            e = r.stderr.decode()
            check(r.returncode in (1, 2) and want in e and e.startswith("sail "),
                  "error: sail %s -> exit %d, '%s'" % (" ".join(map(str, argv[:3])), r.returncode, want))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
