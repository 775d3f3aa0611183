"""One `sail serve` of several models (--model NAME=PATH repeated): /v1/models,
each request's model by name with its own vectors and batcher, an unknown
model a 404, the index with --index-model, per-model metrics, and the
start-up errors of a bad model list."""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from tap import SAIL, check
from server_util import cli_embed, close, data_url, finish, image_part, run_node, setup, start, vectors



def model_metric(text, family, model, **labels):
    """The value of family{model="...", labels...} in a /metrics text, or None."""
    for line in text.splitlines():
        m = re.match(r'(\w+)\{(.*)\} (\S+)$', line)
        if not m or m.group(1) != family:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if got.get("model") == model and all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def test_multi_model(model, vocab, files, tmp):
    """One server, several models (--model NAME=PATH repeated): /v1/models,
    each request's model by name with its own vectors and batcher, an
    unknown model a 404, the index with --index-model, per-model metrics."""
    other = os.path.join(tmp, "other-256.gguf")
    r = subprocess.run([SAIL, "init", "--config", "tiny", "--vocab", vocab, "--seed", "2", "--dim", "256", "-o", other],
                       capture_output=True)
    if not check(r.returncode == 0, "sail init: a second random model (seed 2, dim 256)", r.stderr.decode()[-300:]):
        return
    ix = os.path.join(tmp, "multi-ix")
    # alpha and alpha2 are one file loaded twice (two mmaps, two batchers).
    s = start(model, "--model", "beta=" + other, "--model", "alpha2=" + model, "--index", ix, "--index-model",
              "beta", "--batch-wait-ms", 20)
    if not s:
        return
    try:
        # Server() passes the first --model as a plain path: its name is the file's base name.
        names = ["tiny.gguf", "beta", "alpha2"]
        st, doc, _, _ = s.request("GET", "/v1/models")
        check(st == 200 and doc.get("object") == "list" and [m.get("id") for m in doc["data"]] == names
              and all(set(m) == {"id", "object", "created", "owned_by"} and m["object"] == "model"
                      and m["owned_by"] == "sail" and isinstance(m["created"], int) for m in doc["data"])
              and "model tiny.gguf, dim 512; model beta, dim 256; model alpha2, dim 512; index" in s.text(),
              "GET /v1/models lists the 3 models in OpenAI's shape, in --model order (%s)" % (doc or {}).get("data"))
        st, doc, _, _ = s.request("GET", "/v1/models/beta")
        check(st == 200 and doc.get("id") == "beta" and doc.get("object") == "model", "GET /v1/models/beta")
        st, doc, _, _ = s.request("GET", "/v1/models/gamma")
        e = (doc or {}).get("error", {})
        check(st == 404 and e.get("code") == "model_not_found" and e.get("type") == "invalid_request_error",
              "GET /v1/models/gamma (unknown): 404 model_not_found")
        check(s.request("POST", "/v1/models")[0] == 405, "POST /v1/models: 405")
        st, doc, _, _ = s.embed({"model": "gamma", "input": "x"})
        e = (doc or {}).get("error", {})
        check(st == 404 and e.get("code") == "model_not_found" and e.get("param") == "model"
              and "beta" in e.get("message", ""), "POST /v1/embeddings with an unknown model: 404 model_not_found, "
              "naming the served ones (%s)" % e.get("message"))
        h = s.request("GET", "/healthz")[1]
        check(h.get("model") == "tiny.gguf" and h.get("dim") == 512 and h.get("models") == names,
              "/healthz: the default model and the list of models")

        texts = ["红色连衣裙", "a red dress", "黑色高帮运动鞋 black high-top sneakers", "商品 7 号"]
        ref = {"tiny.gguf": cli_embed(model, sum([["--text", t] for t in texts], [])),
               "beta": cli_embed(other, sum([["--text", t] for t in texts], []))}
        ref["alpha2"] = ref["tiny.gguf"]
        st, doc, _, _ = s.embed({"input": texts[:2]})
        check(st == 200 and doc["model"] == "tiny.gguf" and close(vectors(doc), ref["tiny.gguf"][:2]),
              "a request without \"model\" gets the first (default) model's vectors")
        st, doc, _, _ = s.embed({"model": "beta", "input": [[image_part(data_url(files["shoe.png"], "image/png"))]],
                                 "dimensions": 128})
        ref_img = cli_embed(other, ["--image", files["shoe.png"], "--dim", 128])
        check(st == 200 and doc["model"] == "beta" and close(vectors(doc), ref_img),
              "model beta: an image with dimensions 128 equals `sail embed` of beta's file")
        st, doc, _, _ = s.embed({"model": "beta", "input": "x", "dimensions": 512})
        check(st == 400 and doc["error"]["param"] == "dimensions", "dimensions 512 on the 256-d model: 400")

        # Concurrent requests to every model: each answered with its own
        # model's vector; batches never mix models.
        sent = {n: 0 for n in names}
        jobs = [(names[i % 3], texts[i % len(texts)], i % len(texts)) for i in range(36)]
        got = [None] * len(jobs)

        def one(k):
            name, t, _ = jobs[k]
            st, doc, _, _ = s.embed({"model": name, "input": t})
            got[k] = (st, doc["model"] if st == 200 else None, vectors(doc)[0] if st == 200 else None)

        th = [threading.Thread(target=one, args=(k,)) for k in range(len(jobs))]
        for t in th:
            t.start()
        for t in th:
            t.join()
        for name, _, _ in jobs:
            sent[name] += 1
        bad = [k for k, (name, _, i) in enumerate(jobs)
               if not got[k] or got[k][0] != 200 or got[k][1] != name or not close(got[k][2], ref[name][i])]
        check(not bad, "36 concurrent requests over 3 models: every one 200 with its own model's vector "
              "(%d wrong)" % len(bad))
        text = s.request("GET", "/metrics")[2].decode()
        # Inputs so far: tiny.gguf 2 + 12, beta 1 + 12, alpha2 12.
        want = {"tiny.gguf": 2 + sent["tiny.gguf"], "beta": 1 + sent["beta"], "alpha2": sent["alpha2"]}
        sums = {n: model_metric(text, "sail_model_batch_size_sum", n) for n in names}
        counts = {n: model_metric(text, "sail_model_batch_size_count", n) for n in names}
        check(sums == {n: float(v) for n, v in want.items()} and all(counts[n] and counts[n] < sums[n] for n in names),
              "/metrics: each model's own batches (model=\"...\"), holding exactly its inputs, coalesced "
              "(sums %s, batches %s)" % (sums, counts))

        def counted(text):
            return (model_metric(text, "sail_model_requests_total", "beta", endpoint="/v1/embeddings",
                                 status="200") == 1 + sent["beta"]
                    and model_metric(text, "sail_model_requests_total", "alpha2", endpoint="/v1/embeddings",
                                     status="200") == sent["alpha2"])

        # A request is counted once its connection is done with it, which
        # may come a moment after the client has read the response.
        for _ in range(20):
            if counted(text):
                break
            time.sleep(0.05)
            text = s.request("GET", "/metrics")[2].decode()
        check(counted(text)
              and model_metric(text, "sail_model_info", "beta", dim="256") == 1
              and model_metric(text, "sail_model_queue_depth", "alpha2") == 0
              and 'sail_http_requests_total{endpoint="/v1/models",status="200"}' in text,
              "/metrics: requests per model and status, sail_model_info with dims, per-model queue depth")

        # A model busy with long requests does not hold up another: beta
        # answers while tiny.gguf works through 512 inputs (16 batches); with
        # one queue for both, it would wait behind all of them.
        burst = {}

        def slow(k):
            burst[k] = s.embed({"model": "tiny.gguf", "input": ["商品 %d 号 item number %d 长" % (i, k) * 3
                                                                  for i in range(256)]})[0], time.time()

        th = [threading.Thread(target=slow, args=(k,)) for k in range(2)]
        t0 = time.time()
        for t in th:
            t.start()
        time.sleep(0.1)
        st, doc, _, _ = s.embed({"model": "beta", "input": texts[1]})
        t_beta = time.time()
        for t in th:
            t.join()
        t_burst = max(b[1] for b in burst.values()) - t0
        check(st == 200 and close(vectors(doc)[0], ref["beta"][1]) and all(b[0] == 200 for b in burst.values())
              and t_beta - t0 < 0.5 * t_burst,
              "a request for beta is answered (%.2f s) while tiny.gguf still works through 512 inputs (%.2f s): "
              "a batcher per model" % (t_beta - t0, t_burst))

        # The index embeds with --index-model beta (256-d), whatever "model" says.
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": 1, "text": texts[0]},
                                                                  {"id": 2, "text": texts[2]}]})
        st2, doc2, _, _ = s.request("POST", "/v1/search", {"text": texts[2], "k": 2})
        check(st == 200 and st2 == 200 and doc2["model"] == "beta" and doc2["data"][0]["id"] == 2
              and abs(doc2["data"][0]["score"] - 1) < 1e-5
              and abs(doc2["data"][1]["score"] - float(np.dot(ref["beta"][0], ref["beta"][2]))) < 1e-5,
              "--index-model beta: items and queries are embedded by beta (scores are beta's cosines)")

        env = dict(os.environ, SAIL_URL="http://127.0.0.1:%d" % s.port, SAIL_BIN=SAIL,
                   SAIL_MODELS=json.dumps({"tiny.gguf": model, "beta": other, "alpha2": model}),
                   SAIL_DIMS=json.dumps({"tiny.gguf": 512, "beta": 256, "alpha2": 512}))
        run_node("models.mjs", env)
    finally:
        rc = s.stop()
    check(rc == 0, "the server of 3 models exits 0 on SIGTERM")

    ix512 = os.path.join(tmp, "ix-512")  # an index of the first (512-d) model's vectors
    s = start(model, "--index", ix512)
    if s:
        st = s.request("POST", "/v1/items", {"items": [{"text": texts[0]}]})[0]
        check(s.stop() == 0 and st == 200, "a 512-d index made with the first model")
    # Start-up refusals: an index of another dimension than its model's, an
    # unknown --index-model, two models of one name.
    for args, want_rc, want, name in (
            (["--model", "beta=" + other, "--index", ix, "--index-model", "tiny.gguf"], 0, None,
             "a 256-d index with a 512-d --index-model (a Matryoshka prefix) is accepted"),
            (["--model", "beta=" + other, "--index", ix512, "--index-model", "beta"], 1,
             "holds 512-d vectors but model beta", "a 512-d index with the 256-d --index-model beta"),
            (["--model", "beta=" + other, "--index", ix, "--index-model", "gamma"], 2, "--index-model gamma",
             "an unknown --index-model"),
            (["--model", "tiny.gguf=" + other], 2, "two --model options are named 'tiny.gguf'",
             "two models of one name"),
            (["--index-model", "beta"], 2, "--index-model goes with --index", "--index-model without --index")):
        if want_rc == 0:
            s2 = start(model, *args)
            if s2:
                st, doc, _, _ = s2.request("POST", "/v1/search", {"text": texts[2], "k": 1})
                check(s2.stop() == 0 and st == 200 and doc["model"] == "tiny.gguf", name)
            continue
        r = subprocess.run([SAIL, "serve", "--model", model, "--port", "0", "--threads", "1"] + args,
                           capture_output=True, timeout=30)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == want_rc and want in err and "listening" not in err,
              "%s: exit %d at start-up: %s" % (name, r.returncode, err.strip().splitlines()[-1:]))

def main():
    with tempfile.TemporaryDirectory() as tmp:
        vocab, model, files = setup(tmp)
        test_multi_model(model, vocab, files, tmp)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
