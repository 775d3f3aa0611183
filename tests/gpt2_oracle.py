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


def get_pairs(word):
    return set(zip(word, word[1:]))


def gpt2_bpe(token, ranks):
    word = tuple(token)
    pairs = get_pairs(word)
    if not pairs:
        return token
    while True:
        bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if bigram not in ranks:
            break
        first, second = bigram
        new_word, i = [], 0
        while i < len(word):
            try:
                j = word.index(first, i)
                new_word.extend(word[i:j])
                i = j
            except ValueError:
                new_word.extend(word[i:])
                break
            if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                new_word.append(first + second)
                i += 2
            else:
                new_word.append(word[i])
                i += 1
        word = tuple(new_word)
        if len(word) == 1:
            break
        pairs = get_pairs(word)
    return " ".join(word)


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
    merges = []
    for _ in range(n):
        pairs = collections.Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += c
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        merged = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
    return merges
