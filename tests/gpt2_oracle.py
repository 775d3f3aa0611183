"""A transcription of OpenAI's GPT-2 tokenizer (openai/gpt-2 src/encoder.py),
the reference for sail's GPT-2 byte-level BPE (src/text/bpe.c,
SAIL_BPE_GPT2): its pre-tokenising pattern (written for the `regex` module's
\\p{L} / \\p{N}, spelled here as explicit classes built from unicodedata
for Python's re, whose \\s is str.isspace), bytes_to_unicode, bpe() and
encode(). Also a small merges learner, to make vocabularies for tests."""
import collections
import re
import unicodedata

import convert_oracle as O


def _category_class(prefix):
    out, start = [], None
    for c in range(0x110001):
        ok = c < 0x110000 and unicodedata.category(chr(c)).startswith(prefix)
        if ok and start is None:
            start = c
        elif not ok and start is not None:
            out.append("%s-%s" % (re.escape(chr(start)), re.escape(chr(c - 1))))
            start = None
    return "".join(out)


_L, _N = _category_class("L"), _category_class("N")
GPT2_PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[%s]+| ?[%s]+| ?[^\s%s%s]+|\s+(?!\S)|\s+""" % (_L, _N, _L, _N))
BYTE_ENC = O.bytes_to_unicode()


def gpt2_bpe(token, ranks):
    return " ".join(O.bpe_merge(tuple(token), ranks))


def gpt2_encode(text, ranks, encoder):
    out = []
    for tok in GPT2_PAT.findall(text):
        tok = "".join(BYTE_ENC[b] for b in tok.encode("utf-8"))
        out += [encoder[t] for t in gpt2_bpe(tok, ranks).split(" ")]
    return out


def train_merges(corpus, n):
    """A small GPT-2-style merges list learned from corpus (most frequent pair first)."""
    words = collections.Counter(tuple(BYTE_ENC[b] for b in tok.encode("utf-8"))
                                for text in corpus for tok in GPT2_PAT.findall(text))
    return O.learn_merges(words, n, ties_last=True)
