"""SigLIP's SentencePiece tokenizer (src/text/spm.c over libsentencepiece)
against Hugging Face's SiglipTokenizer, transcribed below on top of Debian's
python3-sentencepiece (transformers is not installed here).

Vocabularies are trained here by sentencepiece.SentencePieceTrainer on a
generated English + Chinese corpus: unigram at several sizes, with and
without byte_fallback, SigLIP's id layout (pad 0, eos 1, unk 2) and the
trainer's default layout, an identity normalizer, and a BPE-type model
(the library runs it like the unigram ones, and so does SiglipTokenizer).
Each is driven through tests/tools/spm_tool on >= 500 texts (Unicode,
punctuation, emoji, empty, very long, NFKC-sensitive characters, whitespace
runs, the special tokens written out, invalid UTF-8) and every id of
sail_spm_encode and of the max_length layout must equal the transcription.
Damaged model files must give an error naming the problem, never a crash.
"""
import json
import os
import random
import re
import string
import subprocess
import sys
import tempfile

import tap
from tap import skip_import

try:
    import sentencepiece as spm
except ImportError as e:  # pragma: no cover
    skip_import("needs Debian's python3-sentencepiece", e)

TOOL = os.path.join(tap.BUILD, "tools", "spm_tool")
UNDERLINE = "\u2581"


# ------------------------------------------------- the HF transcription --

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    """(number, wire type, raw bytes of the whole field, payload) of a message."""
    i, out = 0, []
    while i < len(b):
        start = i
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            _, i = varint(b, i)
            payload = None
        elif wt == 1:
            i += 8
            payload = None
        elif wt == 5:
            i += 4
            payload = None
        elif wt == 2:
            n, i = varint(b, i)
            payload = b[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, b[start:i], payload))
    return out


def put_len(num, payload):
    n, head = len(payload), bytes([num << 3 | 2])
    while True:
        head += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return head + payload


def no_dummy_prefix(proto):
    """SiglipTokenizer.get_spm_processor: ModelProto.normalizer_spec with
    add_dummy_prefix (NormalizerSpec field 3) = False, re-serialized. Written
    as a rebuild of the message (the C side appends a merge instead)."""
    top = fields(proto)
    spec = b"".join(p for num, wt, raw, p in top if num == 3)
    spec = b"".join(raw for num, wt, raw, p in fields(spec) if num != 3) + b"\x18\x00"
    out, done = b"", False
    for num, wt, raw, p in top:
        if num != 3:
            out += raw
        elif not done:
            out += put_len(3, spec)
            done = True
    return out if done else out + put_len(3, spec)


class SiglipTokenizer:
    """transformers' SiglipTokenizer(tokenize / __call__ with
    padding="max_length", truncation=True) written out."""

    def __init__(self, proto, lower=True, eos="</s>", unk="<unk>", pad="</s>"):
        self.sp = spm.SentencePieceProcessor(model_proto=no_dummy_prefix(proto))
        self.lower, self.eos, self.unk, self.pad = lower, eos, unk, pad
        self.all_special = list(dict.fromkeys([eos, unk, pad]))
        self.added = {t: self.sp.piece_to_id(t) for t in self.all_special}
        self.unk_len = len(self.sp.encode(unk, out_type=str))

    def canonicalize(self, text):
        text = text.translate(str.maketrans("", "", string.punctuation))
        return re.sub(r"\s+", " ", text).strip()

    def _tokenize(self, text):
        text = self.canonicalize(text)
        tokens = self.sp.encode(self.unk + text, out_type=str)
        return tokens[self.unk_len:] if len(tokens) >= self.unk_len else tokens

    def tokenize(self, text):
        text = UNDERLINE + text.replace(UNDERLINE, " ")
        esc = [re.escape(t) for t in self.all_special]
        if self.lower:
            pat = r"(" + r"|".join(esc) + r")|" + r"(.+?)"
            text = re.sub(pat, lambda m: m.groups()[0] or m.groups()[1].lower(), text)
        parts = [p for p in re.split("(" + "|".join(sorted(esc, key=len, reverse=True)) + ")", text)]
        for i, p in enumerate(parts):
            if p in self.added:  # AddedToken(lstrip=True, rstrip=True)
                if i + 1 < len(parts) and parts[i + 1]:
                    parts[i + 1] = parts[i + 1].lstrip()
                if i > 0 and parts[i - 1]:
                    parts[i - 1] = parts[i - 1].rstrip()
        tokens = []
        for p in parts:
            if not p:
                continue
            tokens += [p] if p in self.added else self._tokenize(p)
        if len(tokens) > 1 and tokens[0] == UNDERLINE and tokens[1] in self.all_special:
            tokens = tokens[1:]
        return tokens

    def ids(self, text):
        return [self.added[t] if t in self.added else self.sp.piece_to_id(t) for t in self.tokenize(text)]

    def model_input(self, ids, max_length):
        eos = self.added[self.eos]
        if len(ids) + 1 > max_length:
            ids = ids[:len(ids) - (len(ids) + 1 - max_length)]
        seq = ids if ids and ids[-1] == eos else ids + [eos]
        return len(seq), seq + [self.added[self.pad]] * (max_length - len(seq))


# ------------------------------------------------------------ fixtures --

EN = ("the a red blue green small large dog cat bird house river mountain photo of "
      "running jumping sleeping under over beside with without near far city night "
      "morning sunset beach forest car train plane boat children people woman man").split()
ZH = "一只红色的猫在桌子上睡觉城市夜景海边日落森林里小狗奔跑天空飞机火车蓝色绿色大小山河"
EMOJI = ["\U0001F600", "\U0001F431", "\U0001F1EF\U0001F1F5", "\u2764\ufe0f", "\U0001F468\u200d\U0001F469\u200d\U0001F467"]
ODD = ["\uff11\uff12\uff13", "\ufb01ne", "\ufb02ow", "\u33cf", "\u2460\u2461", "\u216b", "\u00bd", "caf\u00e9",
       "cafe\u0301", "\u0130stanbul", "\u039f\u0394\u039f\u03a3", "STRASSE \u00df", "\u01c4", "\u1e9e",
       "\uff21\uff22\uff23", "\u3000", "\u00a0", "\u2028", "\u0085", "\x1c\x1d\x1e\x1f", "\t\n\r\x0b\x0c",
       UNDERLINE, UNDERLINE * 3, "a" + UNDERLINE + "b", "\u200b", "\u2581\u2581 x", "\x00", "\ufffd", "\ud7ff",
       "\U0010fffd", "\u0644\u063a\u0629", "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947",
       "\uac00\ub098\ub2e4", "\u30ab\u30bf\u30ab\u30ca", "\uff8a\uff9d\uff76\uff78"]
SPECIAL = ["</s>", "<unk>", "</S>", "<UNK>", "<pad>", "<s>", " </s> ", "a</s>b", "a </s> b", "</s></s>",
           "x<unk> y", "<unk>", "hello </s>", "</s> hello", "  </s>  ", "</s" + UNDERLINE, UNDERLINE + "</s>"]


def corpus(rng, n):
    lines = []
    for _ in range(n):
        k = rng.random()
        if k < 0.5:
            lines.append(" ".join(rng.choice(EN) for _ in range(rng.randint(3, 12))))
        elif k < 0.8:
            lines.append("".join(rng.choice(ZH) for _ in range(rng.randint(4, 20))))
        else:
            lines.append(" ".join(rng.choice(EN) for _ in range(3)) + " " + "".join(rng.sample(ZH, 5)))
    return lines


def texts(rng):
    out = ["", " ", "  ", "\n", "...", "!!!", "a", "A", "Hello, World!", "A photo of a cat.", "a\tb\n\nc   d",
           "  leading and trailing  ", "UPPER lower MiXeD", "it's a dog's life", "e-mail: x@y.z #tag $5.00 50%",
           string.punctuation, string.punctuation + "a" + string.punctuation, "\u201cquoted\u201d \u2014 dash",
           "a" * 5000, ("the red cat " * 400).strip(), "".join(rng.choice(ZH) for _ in range(3000)),
           " ".join(rng.choice(EN) for _ in range(100))] + ODD + SPECIAL + EMOJI
    alphabet = (list(string.printable) + list(ZH) + EMOJI + ODD + [" ", " ", "  ", UNDERLINE, "</s>", "<unk>"] +
                [chr(c) for c in (0xa0, 0x3000, 0x2003, 0x85, 0x2028, 0x1680, 0x180e, 0x200b, 0xfeff, 0x301, 0x308)])
    while len(out) < 560:
        k = rng.random()
        if k < 0.3:
            s = " ".join(rng.choice(EN + [w.upper() for w in EN] + [w.capitalize() for w in EN])
                         for _ in range(rng.randint(1, 15)))
            s = "".join(c + rng.choice(string.punctuation) if rng.random() < 0.1 else c for c in s)
        elif k < 0.5:
            s = "".join(rng.choice(ZH + "\uff0c\u3002\uff01\uff1f ") for _ in range(rng.randint(1, 40)))
        elif k < 0.9:
            s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        else:
            s = rng.choice(EN).upper() + rng.choice(SPECIAL) + rng.choice(ODD) + " " * rng.randint(0, 4)
        out.append(s)
    return out


BAD_UTF8 = [b"\xff", b"abc\xe4\xb8", b"\xc0\xaf", b"x\xed\xa0\x80y", b"\xf4\x90\x80\x80", b"caf\xc3", b"\x80\x80 z"]


def train(tmp, name, lines, **kw):
    prefix = os.path.join(tmp, name)
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=prefix,
                                   minloglevel=2, **kw)
    return open(prefix + ".model", "rb").read()


def records(items):
    return b"".join(b"%d\n" % len(b) + b for b in items)


def run_tool(model_path, ctx, args, items):
    r = subprocess.run([TOOL, model_path, str(ctx)] + [str(a) for a in args], input=records(items),
                       capture_output=True)
    return r.returncode, r.stdout.decode("utf-8", "replace").splitlines(), r.stderr.decode("utf-8", "replace")


def compare(tmp, name, proto, tok, args, items, ctx):
    """Every text through spm_tool and the transcription."""
    path = os.path.join(tmp, name + ".model")
    with open(path, "wb") as f:
        f.write(proto)
    rc, lines, err = run_tool(path, ctx, args, items)
    if not tap.check(rc == 0 and len(lines) - lines.count("capacity mismatch") == 2 * len(items), "%s: spm_tool ran %d texts" % (name, len(items)),
                     "rc %d %s %s" % (rc, (lines or [""])[-1], err[-300:])):
        return
    bad_e = bad_c = 0
    first = ""
    caps = lines.count("capacity mismatch")
    lines = [l for l in lines if l != "capacity mismatch"]
    for i, b in enumerate(items):
        text = b.decode("utf-8", "replace")
        want = tok.ids(text)
        got = [int(x) for x in lines[2 * i].split()[1:]]
        n_real, want_ctx = tok.model_input(want, ctx)
        c = [int(x) for x in lines[2 * i + 1].split()[1:]]
        if got != want:
            bad_e += 1
            first = first or "%r: sail %s, HF %s" % (text[:60], got[:12], want[:12])
        if c != [n_real] + want_ctx:
            bad_c += 1
            first = first or "%r: layout sail %s, HF %s" % (text[:60], c[:12], [n_real] + want_ctx[:11])
    tap.check(bad_e == 0, "%s: ids of %d texts equal SiglipTokenizer's" % (name, len(items)), first)
    tap.check(bad_c == 0, "%s: max_length %d layout (eos, truncation, padding) equals SiglipTokenizer's" % (name, ctx),
              first)
    tap.check(caps == 0, "%s: every smaller output buffer gives the same count and prefix" % name,
              "%d texts differ" % caps)


def damaged(tmp, proto):
    """Truncations and garbage: an error line with FORMAT, never a signal;
    a cut that still parses must load in python3-sentencepiece too."""
    cuts = sorted({0, 1, 2, 5, 10, 50, len(proto) // 3, len(proto) // 2, len(proto) - 40, len(proto) - 5,
                   len(proto) - 1})
    rng = random.Random(7)
    cases = [("cut at %d of %d bytes" % (c, len(proto)), proto[:c]) for c in cuts]
    cases += [("random bytes", bytes(rng.randrange(256) for _ in range(3000))),
              ("text", b"this is not a model\n" * 20),
              ("one flipped byte in each 97", bytes(b ^ 0x5A if i % 97 == 13 else b for i, b in enumerate(proto))),
              ("a GGUF header", b"GGUF\x03\x00\x00\x00" + b"\x00" * 100),
              ("a framed message whose piece is garbage", b"\x0a\x03abc"),
              ("a framed message without pieces", b"\x12\x00")]
    for what, data in cases:
        path = os.path.join(tmp, "bad.model")
        with open(path, "wb") as f:
            f.write(data)
        rc, lines, err = run_tool(path, 64, [], [b"a photo of a cat"])
        try:  # (empty bytes mean "no model" to the binding, not an error)
            loads = bool(data) and spm.SentencePieceProcessor(model_proto=data).get_piece_size() > 0
        except Exception:
            loads = False
        if rc == 1:
            tap.check(lines and lines[0].startswith("error format error ") and not loads,
                      "damaged model (%s): %s" % (what, (lines or ["no output"])[0][:150]),
                      "python3-sentencepiece loads it" if loads else "")
        else:
            tap.check(rc == 0 and loads, "damaged model (%s) still parses, as it does in python3-sentencepiece" % what,
                      "rc %d %s" % (rc, err[-200:]))


def hf_folder(tmp, proto, tc=None, sm=None):
    d = tempfile.mkdtemp(dir=tmp)
    with open(os.path.join(d, "spiece.model"), "wb") as f:
        f.write(proto)
    for name, obj in (("tokenizer_config.json", tc), ("special_tokens_map.json", sm)):
        if obj is not None:
            with open(os.path.join(d, name), "w") as f:
                json.dump(obj, f)
    return d


def hf_run(tmp, d, vocab, maxpos, items):
    a, b = os.path.join(tmp, "a.gguf"), os.path.join(tmp, "b.gguf")
    for p in (a, b):
        if os.path.exists(p):
            os.remove(p)
    r = subprocess.run([TOOL, "hf", d, str(vocab), str(maxpos), a, b], input=records(items), capture_output=True)
    same = os.path.exists(a) and os.path.exists(b) and open(a, "rb").read() == open(b, "rb").read()
    return r.returncode, r.stdout.decode("utf-8", "replace").splitlines(), same


def front_door(tmp, proto, items):
    """The converter's reading of a Hugging Face folder, the model file's
    keys and the model's tokenizer (src/model/inputs.c) against the
    transcription with the same tokenizer_config.json."""
    sp = spm.SentencePieceProcessor(model_proto=proto)
    n = sp.get_piece_size()
    cases = [
        ("no tokenizer_config.json (SiglipTokenizer's defaults)", None, None, 64, dict()),
        ("SigLIP's tokenizer_config.json", {"do_lower_case": True, "model_max_length": 64, "eos_token": "</s>",
                                            "pad_token": "</s>", "unk_token": "<unk>"}, None, 64, dict()),
        ("do_lower_case false, model_max_length 12, pad <s>",
         {"do_lower_case": False, "model_max_length": 12, "pad_token": {"content": "<s>"}}, None, 64,
         dict(lower=False, pad="<s>")),
        ("special tokens from special_tokens_map.json", {"model_max_length": 16},
         {"pad_token": "<unk>", "eos_token": {"content": "</s>", "lstrip": True}}, 32, dict(pad="<unk>")),
    ]
    for what, tc, sm, maxpos, kw in cases:
        d = hf_folder(tmp, proto, tc, sm)
        rc, lines, same = hf_run(tmp, d, n, maxpos, items)
        ctx = (tc or {}).get("model_max_length", 64)
        tok = SiglipTokenizer(proto, **kw)
        want_cfg = "config %d %d %d %d %d" % (ctx, tok.added[tok.pad], tok.added[tok.unk], tok.added[tok.eos],
                                               int(tok.lower))
        if not tap.check(rc == 0 and lines and lines[0] == want_cfg, "front door, %s: %s" % (what, want_cfg),
                         "rc %d %s" % (rc, (lines or [""])[:1])):
            continue
        tap.check(same, "front door, %s: the checkpoint path writes the model file's tokenizer keys back byte "
                  "for byte" % what)
        bad, first = 0, ""
        for i, b in enumerate(items):
            ids = tok.ids(b.decode("utf-8", "replace"))
            n_real, want = tok.model_input(ids, ctx)
            count = len(ids) + (0 if ids and ids[-1] == tok.added[tok.eos] else 1)
            got = lines[1 + 2 * i: 3 + 2 * i]
            if got != ["c %d %s" % (n_real, " ".join(map(str, want))), "n %d" % count]:
                bad += 1
                first = first or "%r: %s vs %s" % (b[:40], got, (n_real, want[:10], count))
        tap.check(bad == 0 and len(lines) == 1 + 2 * len(items),
                  "front door, %s: sail_text_tok_encode / count of %d texts equal SiglipTokenizer's" % (what, len(items)),
                  first)
    errors = [
        ("no spiece.model", None, {}, n, 64, "error I/O error"),
        ("vocab_size differs", proto, {}, n + 1, 64, "error format error spiece.model has %d pieces" % n),
        ("eos_token not a piece", proto, {"eos_token": "[SEP]"}, n, 64, "error format error spiece.model has no piece '[SEP]'"),
        ("model_max_length over the positions", proto, {"model_max_length": 65}, n, 64, "error unsupported"),
        ("model_max_length unset (1e30 in transformers)", proto, {"model_max_length": 1e30}, n, 64, "error unsupported"),
        ("a damaged spiece.model", proto[:len(proto) // 2], {}, n, 64, "error format error not a SentencePiece model"),
    ]
    for what, p, tc, vocab, maxpos, want in errors:
        d = hf_folder(tmp, p or b"", tc)
        if p is None:
            os.remove(os.path.join(d, "spiece.model"))
        rc, lines, _ = hf_run(tmp, d, vocab, maxpos, [])
        tap.check(rc == 1 and lines and lines[0].startswith(want), "converter refuses %s: %s" % (what, (lines or [""])[0][:160]),
                  "rc %d, expected %r" % (rc, want))


def cli(tmp, proto, items):
    """`sail tokenize --vocab X.model`: one text per line, SiglipTokenizer's
    defaults, ids without the eos."""
    if not os.path.exists(tap.SAIL):
        tap.check(False, "%s exists (make)" % tap.SAIL)
        return
    path = os.path.join(tmp, "cli.model")
    with open(path, "wb") as f:
        f.write(proto)
    lines = [b for b in items if b"\n" not in b]
    r = tap.sail("tokenize", "--vocab", path, stdin=b"".join(b + b"\n" for b in lines))
    got = r.stdout.decode().splitlines()
    tok = SiglipTokenizer(proto)
    bad = [b for b, g in zip(lines, got) if json.loads(g) != tok.ids(b.decode("utf-8", "replace"))]
    tap.check(r.returncode == 0 and len(got) == len(lines) and not bad,
              "sail tokenize --vocab X.model: %d lines equal SiglipTokenizer's ids" % len(lines),
              "rc %d, %d lines, first bad %r" % (r.returncode, len(got), bad[:1]))
    with open(path, "wb") as f:
        f.write(proto[:100])
    r = tap.sail("tokenize", "--vocab", path, "--type", "spm", ok=False, stdin=b"a\n")
    tap.check(r.returncode == 1 and b"not a SentencePiece model" in r.stderr,
              "sail tokenize refuses a truncated spiece.model: %s" % r.stderr.decode().strip()[:120])


def main():
    if not os.path.exists(TOOL):
        tap.check(False, "%s exists (make tests-build)" % TOOL)
        return tap.summary()
    rng = random.Random(2026)
    items_txt = texts(rng)
    items = [t.encode("utf-8", "surrogatepass") for t in items_txt] + BAD_UTF8
    tap.check(len(items) >= 500, "%d test texts" % len(items))
    lines = corpus(rng, 3000)
    siglip_ids = dict(pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    with tempfile.TemporaryDirectory() as tmp:
        models = [
            ("unigram-300-siglip", dict(vocab_size=300, model_type="unigram", character_coverage=0.995,
                                        **siglip_ids), [1, 1, 2, 1], 64),
            ("unigram-1000-bytefallback", dict(vocab_size=1000, model_type="unigram", byte_fallback=True,
                                               character_coverage=0.9995), [], 64),
            ("unigram-2500-siglip", dict(vocab_size=2500, model_type="unigram", **siglip_ids), [1, 1, 2, 1], 16),
            ("unigram-800-identity-nolower", dict(vocab_size=800, model_type="unigram", normalization_rule_name="identity",
                                                  remove_extra_whitespaces=False, **siglip_ids), [0, 1, 2, 0], 64),
            ("bpe-600", dict(vocab_size=600, model_type="bpe", **siglip_ids), [1, 1, 2, 1], 64),
            ("unigram-500-nodummy-pad3", dict(vocab_size=500, model_type="unigram", add_dummy_prefix=False,
                                              pad_id=3, eos_id=1, unk_id=2, bos_id=0), [1, 1, 2, 3], 8),
        ]
        protos = {}
        for name, kw, args, ctx in models:
            proto = protos[name] = train(tmp, name, lines, **kw)
            lower = args[0] if args else 1
            sp = spm.SentencePieceProcessor(model_proto=proto)
            names = [sp.id_to_piece(i) for i in args[1:]] if args else ["</s>", "<unk>", "</s>"]
            tok = SiglipTokenizer(proto, lower=bool(lower), eos=names[0], unk=names[1], pad=names[2])
            compare(tmp, name, proto, tok, args, items, ctx)
        damaged(tmp, protos["unigram-300-siglip"])
        front_door(tmp, protos["unigram-1000-bytefallback"], items[:150] + items[-40:])
        cli(tmp, protos["unigram-1000-bytefallback"], items)
        path = os.path.join(tmp, "threads.model")
        with open(path, "wb") as f:
            f.write(protos["unigram-2500-siglip"])
        r = subprocess.run([TOOL, "threads", path], input=records(items), capture_output=True)
        tap.check(r.returncode == 0 and r.stdout.decode().strip() == "threads ok %d" % len(items),
                  "4 threads encoding at once on one tokenizer agree with one thread",
                  r.stdout.decode().strip() + r.stderr.decode()[-200:])
    return tap.summary()


if __name__ == "__main__":
    sys.exit(main())
