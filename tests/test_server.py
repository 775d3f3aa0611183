"""Black-box tests of `sail serve`: the real binary on a free loopback port,
spoken to over HTTP. Vectors must equal `sail embed`'s (texts, images, joint
inputs, Matryoshka prefixes, float and base64), alone and inside dynamic
batches; every bad request gets its 4xx with an OpenAI-style error body;
the API key and metrics are exercised; the index endpoints are checked
when the server has --index. Hostile clients and conditions are
test_server_limits.py's, several models in one server test_server_models.py's.
The official `openai` npm client and the web page in headless Chromium run
from tests/server/*.mjs (skipped with a message when node, npm or chromium
is missing)."""
import base64
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from tap import SAIL, check
from server_util import Server, TOL, cli_embed, close, data_url, finish, image_part, run_node, setup, vectors


def test_embeddings(s, model, files):
    texts = ["红色连衣裙", "a red dress", "黑色高帮运动鞋 black high-top sneakers"]
    ref_t = cli_embed(model, sum([["--text", t] for t in texts], []))
    st, doc, _, r = s.embed({"model": "sail-tiny", "input": texts})
    got = vectors(doc) if st == 200 else np.zeros(0)
    check(st == 200 and np.array_equal(got, ref_t),
          "3 texts in one request: 200 and bit-identical to `sail embed` of the same 3 (float JSON)")
    check(st == 200 and doc["object"] == "list" and doc["model"] == "sail-tiny"
          and [d["index"] for d in doc["data"]] == [0, 1, 2] and all(d["object"] == "embedding" for d in doc["data"])
          and doc["usage"]["prompt_tokens"] == doc["usage"]["total_tokens"] > 6
          and r.getheader("Content-Type") == "application/json",
          "response shape as OpenAI's: object, data[i].object/index, model echoed, usage")
    st, doc, _, _ = s.embed({"input": texts[0], "encoding_format": "base64"})
    check(st == 200 and isinstance(doc["data"][0]["embedding"], str) and close(vectors(doc)[0], ref_t[0]),
          "a single string with encoding_format base64: little-endian float32, same vector")
    st, doc, _, _ = s.embed({"input": texts, "dimensions": 64})
    ref64 = cli_embed(model, sum([["--text", t] for t in texts], []) + ["--dim", 64])
    check(st == 200 and vectors(doc).shape == (3, 64) and np.allclose(vectors(doc), ref64, atol=1e-7),
          "dimensions 64: the re-normalised Matryoshka prefix, as `sail embed --dim 64`")

    shoe, dress = files["shoe.png"], files["dress.jpg"]
    ref_i = cli_embed(model, ["--image", shoe, "--image", dress])
    r = subprocess.run([SAIL, "embed", "--model", model, "--text", texts[2], "--image", shoe], capture_output=True)
    ref_j = np.array(json.loads(r.stdout)["data"][0]["embedding"], np.float32)
    body = {"input": [[image_part(data_url(shoe, "image/png"))],
                      [{"type": "image_url", "image_url": {"url": data_url(dress, "image/jpeg")}}],
                      [{"type": "text", "text": texts[2]}, image_part(data_url(shoe, "image/png"))],
                      texts[0]]}
    st, doc, _, _ = s.embed(body)
    got = vectors(doc) if st == 200 else np.zeros((4, 1))
    check(st == 200 and close(got[:2], ref_i),
          "image parts (PNG, JPEG data URLs): the vectors of `sail embed --image`")
    check(st == 200 and close(got[2], ref_j) and close(got[3], ref_t[0]),
          "a text+image part list is one joint input, equal to `sail embed --text T --image F`")
    st, doc, _, _ = s.embed({"input": [image_part(data_url(shoe, "image/png")),
                                       {"type": "text", "text": texts[2]}]})
    check(st == 200 and len(doc["data"]) == 1 and close(vectors(doc)[0], ref_j),
          "input given directly as one list of parts is one joint input")
    return ref_t


def test_batching(s, model):
    texts = ["商品 %d 号 item number %d" % (i, i * 7) for i in range(24)]
    ref = np.array([cli_embed(model, ["--text", t])[0] for t in texts])
    got = [None] * len(texts)

    def one(i):
        st, doc, _, _ = s.embed({"input": texts[i]})
        got[i] = vectors(doc)[0] if st == 200 else None

    th = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in th:
        t.start()
    for t in th:
        t.join()
    ok = all(g is not None for g in got)
    diff = float(np.abs(np.array(got) - ref).max()) if ok else -1
    check(ok and diff <= TOL, "24 concurrent requests (batched): each vector equals its text embedded alone "
          "by `sail embed` (max |diff| %.1e)" % diff)
    st, _, data, _ = s.request("GET", "/metrics")
    m = {}
    for line in data.decode().splitlines():
        if line.startswith("sail_batch_size_count") or line.startswith("sail_batch_size_sum"):
            k, v = line.split()
            m[k] = float(v)
    count, total = m.get("sail_batch_size_count", 0), m.get("sail_batch_size_sum", 0)
    check(st == 200 and count > 0 and total / count > 1.5,
          "concurrent requests were coalesced: %d inputs in %d batches" % (total, count))


def test_errors(s, files):
    def err(st, doc, want_status, want_code=None, want_param=None, name=""):
        e = (doc or {}).get("error", {})
        ok = (st == want_status and isinstance(e.get("message"), str) and e.get("message")
              and set(e) == {"message", "type", "param", "code"} and e["type"] == (
                  "server_error" if want_status >= 500 else "invalid_request_error")
              and (want_code is None or e["code"] == want_code) and (want_param is None or e["param"] == want_param))
        check(ok, "%s -> %d %s" % (name, st, (e.get("message") or "")[:90]))

    st, doc, _, _ = s.embed("{not json")
    err(st, doc, 400, name="malformed JSON")
    st, doc, _, _ = s.embed(b'{"qwery": "\\u00e\xc9\x8d\x94\xdd\xc5\x9e\x98\x9a", "n": 0}}')  # fuzz_server S1
    err(st, doc, 400, name="malformed JSON with bytes that are not UTF-8 (quoted in the message)")
    st, doc, _, _ = s.embed({"input": "a", "model": "\u00e9" * 100})
    check(st == 200 and doc and doc.get("model", "").startswith("\u00e9") and len(doc["data"]) == 1,
          "a long non-ASCII model name (cut at 127 bytes, inside a character) still gets its vectors (%d)" % st)
    st, doc, _, _ = s.embed("")
    err(st, doc, 400, name="empty body")
    st, doc, _, _ = s.embed("[1, 2]")
    err(st, doc, 400, name="a JSON array instead of an object")
    st, doc, _, _ = s.embed({"model": "x"})
    err(st, doc, 400, "missing_required_parameter", "input", "missing input")
    st, doc, _, _ = s.embed({"input": []})
    err(st, doc, 400, None, "input", "empty input list")
    st, doc, _, _ = s.embed({"input": ""})
    err(st, doc, 400, None, "input", "empty string")
    st, doc, _, _ = s.embed({"input": 42})
    err(st, doc, 400, "invalid_type", "input", "input of a wrong type (number)")
    st, doc, _, _ = s.embed({"input": ["ok", None]})
    err(st, doc, 400, "invalid_type", "input[1]", "a null inside the input list")
    st, doc, _, _ = s.embed({"input": [[{"type": "audio", "data": "x"}]]})
    err(st, doc, 400, "invalid_type", "input[0]", "an unknown content part type")
    st, doc, _, _ = s.embed({"input": "x", "dimensions": 4096})
    err(st, doc, 400, "invalid_value", "dimensions", "dimensions over the model's")
    st, doc, _, _ = s.embed({"input": "x", "dimensions": "64"})
    err(st, doc, 400, "invalid_value", "dimensions", "dimensions as a string")
    st, doc, _, _ = s.embed({"input": "x", "encoding_format": "int8"})
    err(st, doc, 400, "invalid_value", "encoding_format", "unknown encoding_format")
    st, doc, _, _ = s.embed({"input": "x", "model": 3})
    err(st, doc, 400, "invalid_type", "model", "model of a wrong type")
    st, doc, _, _ = s.embed({"input": ["x"] * 9})
    err(st, doc, 400, "too_many_inputs", "input", "more inputs than --max-inputs 8")
    st, doc, _, _ = s.embed({"input": [[image_part("https://example.com/cat.png")]]})
    err(st, doc, 400, "remote_url_refused", "input[0]", "a remote https:// image URL")
    st, doc, _, _ = s.embed({"input": [[image_part("file:///etc/passwd")]]})
    err(st, doc, 400, "invalid_image_url", "input[0]", "a file:// URL")
    st, doc, _, _ = s.embed({"input": [[image_part("data:image/png;base64,iVBO%%%")]]})
    err(st, doc, 400, "invalid_base64", "input[0]", "bad base64")
    st, doc, _, _ = s.embed({"input": [[image_part(data_url(files["anim.gif"], "image/gif"))]]})
    err(st, doc, 400, "invalid_image", "input[0]", "an unsupported image format (GIF)")
    st, doc, _, _ = s.embed({"input": [[image_part("data:image/png;base64," + base64.b64encode(
        open(files["shoe.png"], "rb").read()[:200]).decode())]]})
    err(st, doc, 400, "invalid_image", "input[0]", "a truncated PNG")
    st, doc, _, _ = s.embed({"input": [[image_part(data_url(files["big.png"], "image/png"))]]})
    err(st, doc, 400, "image_too_large", "input[0]", "an image over --max-image-pixels")
    st, doc, _, _ = s.embed(b"{\"input\": \"" + b"a" * 70000 + b"\"}")
    err(st, doc, 413, "request_too_large", None, "a body over --max-body (Content-Length)")
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    c.putrequest("POST", "/v1/embeddings")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for _ in range(20):
        c.send(b"1000\r\n" + b"a" * 4096 + b"\r\n")
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    doc = json.loads(r.read())
    c.close()
    err(r.status, doc, 413, "request_too_large", None, "a chunked body over --max-body")
    st, doc, _, _ = s.embed({"input": "长" * 100})
    err(st, doc, 400, "context_length_exceeded", "input", "a text over the context with --no-truncate")
    st, doc, _, _ = s.request("GET", "/v1/nothing")
    err(st, doc, 404, "not_found", None, "an unknown path")
    st, doc, _, _ = s.request("GET", "/v1/embeddings")
    err(st, doc, 405, "method_not_allowed", None, "GET on /v1/embeddings")

    # Hostile bodies: mutations of a valid request never crash the server.
    rng = random.Random(5)
    seed = json.dumps({"input": ["红色", [image_part(data_url(files["disc.png"], "image/png")),
                                         {"type": "text", "text": "圆"}]], "dimensions": 32}).encode()
    statuses = set()
    for _ in range(150):
        b = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            i = rng.randrange(len(b))
            if op < 0.4:
                b[i] = rng.randrange(256)
            elif op < 0.7:
                del b[i:i + rng.randint(1, 40)]
            else:
                b[i:i] = bytes(rng.choice([b"\"", b"[", b"{", b"\\u0000", b"-1e999", b"null", b"\xff"]))
        st, doc, _, _ = s.embed(bytes(b))
        statuses.add(st)
        if st != 200 and (st >= 500 or not doc or "error" not in doc):
            break
    alive = s.request("GET", "/healthz")[0] == 200
    check(alive and all(x == 200 or 400 <= x < 500 for x in statuses),
          "150 mutated requests: only 200s and 4xx with error bodies, server alive (statuses %s)" % sorted(statuses))


def test_api_key(model):
    env = dict(os.environ, SAIL_API_KEY="s3cret-key")
    s = Server(model, env=env)
    try:
        st, doc, _, _ = s.embed({"input": "x"})
        check(st == 401 and doc["error"]["code"] == "invalid_api_key" and doc["error"]["type"] == "invalid_request_error",
              "API key set: a request without one gets 401 invalid_api_key")
        st, doc, _, _ = s.embed({"input": "x"}, headers={"Authorization": "Bearer s3cret-kez"})
        check(st == 401 and "Incorrect" in doc["error"]["message"], "a wrong key gets 401")
        st, doc, _, _ = s.embed({"input": "x"}, headers={"Authorization": "Bearer s3cret-key"})
        check(st == 200 and len(doc["data"]) == 1, "the right bearer key gets 200")
        sts = [s.embed({"input": "x"}, headers={"Authorization": h})[0]
               for h in ("bearer s3cret-key", "BEARER  s3cret-key", "bEaReR s3cret-key")]
        check(sts == [200] * 3, "the scheme is case-insensitive (RFC 7235): bearer, BEARER (two spaces), bEaReR "
              "-> %s" % sts)
        sts = [s.embed({"input": "x"}, headers={"Authorization": h})[0]
               for h in ("Basic s3cret-key", "Bearers3cret-key", "bearer s3cret-ke")]
        check(sts == [401] * 3, "another scheme, no space after it, or a wrong key in lower case: 401 (%s)" % sts)
        check(s.request("GET", "/healthz")[0] == 200 and s.request("GET", "/metrics")[0] == 401,
              "/healthz needs no key; /metrics does")
        long_text = "长文本 long text " * 40
        st, doc, _, _ = s.embed({"input": long_text}, headers={"Authorization": "Bearer s3cret-key"})
        check(st == 200 and close(vectors(doc)[0], cli_embed(model, ["--text", long_text])[0])
              and doc["usage"]["prompt_tokens"] == 52,
              "without --no-truncate a text over the context is truncated to 52 tokens, as `sail embed` does")
    finally:
        s.stop()

def test_index(model, files, tmp):
    ix = os.path.join(tmp, "ix")
    s = Server(model, "--index", ix, "--batch-wait-ms", 2)
    killed = False
    try:
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "x"})
        check(st == 200 and doc["data"] == [], "search on a new, empty index: 200 and no results")
        items = [{"id": 1, "text": "红色连衣裙", "payload": {"category": "dress", "price": 199}},
                 {"id": 2, "text": "黑色高帮运动鞋", "payload": {"category": "shoes"}},
                 {"id": 3, "image": data_url(files["shoe.png"], "image/png"), "payload": {"category": "shoes"}},
                 {"text": "a red dress", "image": data_url(files["dress.jpg"], "image/jpeg"),
                  "payload": {"category": "dress"}}]
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": items})
        ids = [d["id"] for d in doc["data"]] if st == 200 else []
        check(st == 200 and ids == [1, 2, 3, 4], "POST /v1/items: 4 items (text, image, joint); a missing id is assigned (%s)" % ids)
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "黑色高帮运动鞋", "k": 2})
        check(st == 200 and [h["id"] for h in doc["data"]][:1] == [2] and abs(doc["data"][0]["score"] - 1) < 1e-5
              and len(doc["data"]) == 2 and doc["data"][0]["payload"]["category"] == "shoes"
              and doc["data"][0]["payload"]["modality"] == "text" and doc["data"][0]["object"] == "search_result",
              "search by an item's own text: that item first with score 1, k=2, payload kept")
        st, doc, _, _ = s.request("POST", "/v1/search", {"query": [image_part(data_url(files["shoe.png"], "image/png"))], "k": 1})
        check(st == 200 and doc["data"][0]["id"] == 3 and abs(doc["data"][0]["score"] - 1) < 1e-5,
              "search by an image (a content-part query): the image's item first")
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "红色连衣裙", "k": 10, "filter": {"category": "shoes"}})
        check(st == 200 and sorted(h["id"] for h in doc["data"]) == [2, 3], "a payload filter keeps only matching items")
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "x", "filter": {"price": 199}})
        check(st == 200 and [h["id"] for h in doc["data"]] == [1], "a numeric filter value")
        st, _, img, r = s.request("GET", "/v1/items/3/image")
        check(st == 200 and img == open(files["shoe.png"], "rb").read() and r.getheader("Content-Type") == "image/png",
              "GET /v1/items/3/image: the uploaded bytes, image/png")
        check(s.request("GET", "/v1/items/1/image")[0] == 404 and s.request("GET", "/v1/items/99/image")[0] == 404,
              "a text-only or unknown item has no image (404)")
        bad = [({"items": []}, "empty items"), ({"items": [{"id": -1, "text": "x"}]}, "a negative id"),
               ({"items": [{"text": "x", "payload": {"source": "/etc/passwd"}}]}, "a client-set payload source"),
               ({"items": [{"text": 5}]}, "text of a wrong type"), ({"items": [{"payload": {}}]}, "no text or image"),
               ({"items": [{"image": "https://x/y.png"}]}, "a remote image URL")]
        for body, name in bad:
            st, doc, _, _ = s.request("POST", "/v1/items", body)
            check(st == 400 and "error" in doc, "POST /v1/items with %s -> 400 %s" % (name, doc["error"]["message"][:70]))
        for body, name in (({"text": "x", "k": 0}, "k 0"), ({"text": "x", "filter": "a=b"}, "a filter string"),
                           ({"text": "x", "filter": {"a": "b,c"}}, "a filter value with a comma"), ({}, "no query")):
            st, doc, _, _ = s.request("POST", "/v1/search", body)
            check(st == 400 and "error" in doc, "POST /v1/search with %s -> 400" % name)
        st, doc, _, _ = s.request("DELETE", "/v1/items/2")
        check(st == 200 and doc == {"id": 2, "id_str": "2", "object": "item", "deleted": True}, "DELETE /v1/items/2")
        st, doc, _, _ = s.request("DELETE", "/v1/items/2")
        check(st == 404 and doc["error"]["code"] == "not_found", "deleting it again: 404")
        st, doc, _, _ = s.request("POST", "/v1/search", {"text": "黑色高帮运动鞋", "k": 10})
        check(2 not in [h["id"] for h in doc["data"]], "a deleted item is no longer found")
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": 50, "text": "持久 durable"}]})
        check(st == 200, "add item 50")
        s.p.kill()     # SIGKILL right after the response: the item must survive
        s.p.wait()
        killed = True
        s2 = Server(model, "--index", ix)
        try:
            st, doc, _, _ = s2.request("POST", "/v1/search", {"text": "持久 durable", "k": 1})
            h = s2.request("GET", "/healthz")[1]
            check(st == 200 and doc["data"][0]["id"] == 50 and h["index_items"] == 4,
                  "after SIGKILL and a restart the acknowledged item is there (durable before the response)")
            st, doc, _, _ = s2.request("POST", "/v1/items", {"items": [{"text": "next"}]})
            check(st == 200 and doc["data"][0]["id"] == 51, "ids assigned after a restart continue after the largest")
            m = s2.request("GET", "/metrics")[2].decode()
            check("sail_index_items 5" in m, "/metrics reports the items in the index")
            test_big_ids(s2)
        finally:
            rc = s2.stop()
        check(rc == 0 and "stopped" in s2.text(), "SIGTERM with an index: clean exit after flushing it")
    finally:
        if not killed:
            s.stop()
    h = Server(model, "--index", os.path.join(tmp, "hnsw-ix"), "--index-kind", "hnsw")
    try:
        texts = ["商品 %d 号" % i for i in range(30)]
        st, _, _, _ = h.request("POST", "/v1/items", {"items": [{"text": t} for t in texts]})
        st2, doc, _, _ = h.request("POST", "/v1/search", {"text": texts[17], "k": 3, "exact": False, "ef_search": 50})
        check(st == 200 and st2 == 200 and doc["data"][0]["id"] == 17 and abs(doc["data"][0]["score"] - 1) < 1e-5,
              "--index-kind hnsw: 30 items, an item's own text finds it first")
    finally:
        h.stop()
    st = Server(model)
    try:
        r = st.request("POST", "/v1/search", {"text": "x"})
        check(r[0] == 404 and r[1]["error"]["code"] == "no_index", "without --index, /v1/search is 404 no_index")
    finally:
        st.stop()


def test_big_ids(s):
    """Ids above 2^53 are not exact as JavaScript numbers (2^53+1 reads as
    2^53): every id in a response comes also as a string, and a request may
    give one as a string."""
    big, top = 2 ** 53 + 1, 2 ** 63 - 1
    st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": big, "text": "大号 big id"},
                                                              {"id": str(top), "text": "最大 top id"}]})
    got = [(d.get("id"), d.get("id_str")) for d in doc["data"]] if st == 200 else doc
    check(got == [(big, str(big)), (top, str(top))],
          "POST /v1/items: ids 2^53+1 (a number) and 2^63-1 (a decimal string) come back with id_str (%s)" % got)
    st, doc, _, _ = s.request("POST", "/v1/search", {"text": "大号 big id", "k": 1})
    hit = doc["data"][0] if st == 200 and doc["data"] else {}
    check(hit.get("id") == big and hit.get("id_str") == str(big),
          "POST /v1/search: a result's id_str is the exact decimal id (%s)" % hit.get("id_str"))
    st, doc, _, _ = s.request("DELETE", "/v1/items/%d" % top)
    check(st == 200 and doc.get("id_str") == str(top), "DELETE /v1/items/2^63-1: id_str in the response")
    for bad in ("12a", "", "9223372036854775808", "-1"):
        st, doc, _, _ = s.request("POST", "/v1/items", {"items": [{"id": bad, "text": "x"}]})
        check(st == 400 and doc["error"]["param"] == "items[0]", "an id string %r is refused (400)" % bad)

def test_page(model, files, tmp):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("skip - chromium is missing (run scripts/install-deps.sh): the page test is not run")
        return
    from PIL import Image
    # Images indexed by `sail index add` (hash ids above 2^53, paths as
    # sources), texts and a joint item added over HTTP.
    folder = os.path.join(tmp, "catalog")
    os.makedirs(folder)
    Image.new("RGB", (40, 30), (40, 180, 60)).save(os.path.join(folder, "green.ppm"))
    shutil.copy(files["shoe.png"], folder)
    shutil.copy(files["disc.png"], folder)
    ix = os.path.join(tmp, "page-ix")
    r = subprocess.run([SAIL, "index", "add", "--index", ix, "--model", model, "--kind", "exact", folder],
                       capture_output=True)
    if r.returncode:
        print("# " + r.stderr.decode(errors="replace")[-400:])
    check(r.returncode == 0, "page fixture: `sail index add` of a folder of 3 images")
    s = Server(model, "--index", ix)
    try:
        items = [{"text": "红色连衣裙"},
                 {"text": "连衣裙 dress photo", "image": data_url(files["dress.jpg"], "image/jpeg")},
                 {"text": "黑色高帮运动鞋"}]
        st, _, _, _ = s.request("POST", "/v1/items", {"items": items})
        st2, doc, _, _ = s.request("POST", "/v1/search", {"image": data_url(files["shoe.png"], "image/png"), "k": 1})
        hit = doc["data"][0] if st2 == 200 else {}
        img = s.request("GET", hit.get("image_url", "/none"))[2]
        check(st == 200 and hit.get("id", 0) > 2 ** 53 and hit.get("payload", {}).get("modality") == "image"
              and img == open(files["shoe.png"], "rb").read(),
              "an image indexed by `sail index add` is found by the server and served from its path (id %s)"
              % hit.get("id"))
        shots = os.path.join(os.path.abspath(os.environ.get("BUILD", "build")), "test-output")
        env = dict(os.environ, SAIL_URL="http://127.0.0.1:%d" % s.port, SAIL_FIXTURES=json.dumps(files),
                   SAIL_SHOTS=shots, SAIL_CHROMIUM=chromium)
        run_node("page.mjs", env)
    finally:
        s.stop()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        _, model, files = setup(tmp)
        r = subprocess.run([SAIL, "serve", "--help"], capture_output=True)
        check(r.returncode == 0 and b"usage: sail serve" in r.stdout
              and all(o in r.stdout for o in (b"--tls-cert FILE", b"--tls-key FILE", b"--header-timeout S",
                                              b"--max-connections-per-ip N", b"default 256", b"default 10",
                                              b"--model [NAME=]M", b"--index-model NAME", b"GET /v1/models")),
              "sail serve --help, with the TLS, header-timeout, per-address limit and several-model options")
        r = subprocess.run([SAIL, "serve"], capture_output=True)
        check(r.returncode == 2 and b"--model is required" in r.stderr, "sail serve without --model: exit 2")
        r = subprocess.run([SAIL, "serve", "--model", os.path.join(tmp, "none.gguf"), "--port", "0"],
                           capture_output=True, timeout=30)
        check(r.returncode == 1 and b"none.gguf" in r.stderr, "a missing model file: exit 1 naming it")

        s = Server(model, "--max-inputs", 8, "--max-body", 65536, "--max-image-pixels", 250 * 250,
                   "--batch-wait-ms", 30, "--no-truncate")
        try:
            st, doc, _, _ = s.request("GET", "/healthz")
            check(st == 200 and doc["status"] == "ok" and doc["dim"] == 512, "GET /healthz")
            st, _, page, r = s.request("GET", "/")
            check(st == 200 and r.getheader("Content-Type").startswith("text/html") and b"<html" in page,
                  "GET / serves the page compiled into the binary")
            test_embeddings(s, model, files)
            test_batching(s, model)
            test_errors(s, files)
            # A client that leaves mid-body gets no response: that is not an
            # HTTP status (it was counted as status="0").
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")
            time.sleep(0.2)
            c.close()
            time.sleep(0.3)
            text = s.request("GET", "/metrics")[2].decode()
            check('status="0"' not in text and re.search(r'sail_http_requests_aborted_total\{endpoint="/v1/embeddings",'
                                                         r'reason="client_closed"\} [1-9]', text),
                  "a client that closes mid-body is counted under sail_http_requests_aborted_total"
                  "{reason=\"client_closed\"}, not as status=\"0\"")
            st, _, data, r = s.request("GET", "/metrics")
            text = data.decode()
            check(st == 200 and r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
                  and 'sail_http_requests_total{endpoint="/v1/embeddings",status="200"}' in text
                  and 'sail_http_requests_total{endpoint="/v1/embeddings",status="400"}' in text
                  and 'sail_http_request_duration_seconds_bucket{endpoint="/v1/embeddings",le="+Inf"}' in text
                  and "sail_queue_depth 0" in text and "sail_batch_size_bucket{le=\"8\"}" in text,
                  "GET /metrics: Prometheus text with requests by status, latency histogram, batches, queue")
            env = dict(os.environ, SAIL_URL="http://127.0.0.1:%d" % s.port, SAIL_BIN=SAIL, SAIL_MODEL=model,
                       SAIL_FIXTURES=json.dumps(files))
            run_node("openai.mjs", env)
        finally:
            rc = s.stop()
        check(rc == 0, "the server exits 0 on SIGTERM")
        test_api_key(model)
        test_index(model, files, tmp)
        test_page(model, files, tmp)
    return finish()

if __name__ == "__main__":
    sys.exit(main())
