"""sail: omni-modal embeddings (Chinese/English text and images in one vector
space) from Python, through ctypes over the C library (build/libsail.so).
Nothing to compile; needs numpy, and PIL only to pass PIL images.

    import sail
    m = sail.Model("model.gguf")
    v = m.embed_text(["红色连衣裙", "a red dress"])      # (2, 512) float32, unit rows
    w = m.embed_image(["shoe.jpg", PIL.Image.open("dress.png")])
    j = m.embed(text="黑色高帮运动鞋", image="shoe.jpg")    # one fused text+image vector
    ids = sail.Tokenizer("vocab.txt").encode("红色连衣裙")  # WordPiece ids, no model
    ix = sail.Index("items.idx")
    for hit in ix.search(v[0], k=5)[0]:
        print(hit.id, hit.score, hit.payload)

The library is found at $SAIL_LIB, else beside this file (as `pip install
./python` puts it), else ../../build/libsail.so (the repository layout),
else where the system's loader finds libsail (`make install`). Errors raise
sail.SailError with the library's message.
"""
import ctypes
import ctypes.util
import io
import json
import os
from collections import namedtuple

import numpy as np

__all__ = ["Model", "Index", "Hit", "Tokenizer", "SailError", "cosine", "version", "model_file_info",
           "preprocess_image"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def _lib_path():
    for p in (os.environ.get("SAIL_LIB"), os.path.join(_HERE, "libsail.so"),
              os.path.join(_HERE, "..", "..", "build", "libsail.so")):
        if p and os.path.exists(p):
            return p
    return ctypes.util.find_library("sail")


_LIB_PATH = _lib_path()


class SailError(RuntimeError):
    """A failed library call; str(e) is the library's message and e.status its
    status name ("invalid argument", "format error", ...)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class _Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class _LoadOptions(ctypes.Structure):
    _fields_ = [("n_threads", ctypes.c_int), ("no_repack", ctypes.c_int)]


class _IndexOptions(ctypes.Structure):
    _fields_ = [("dim", ctypes.c_int), ("metric", ctypes.c_int), ("storage", ctypes.c_int),
                ("kind", ctypes.c_int), ("M", ctypes.c_int), ("ef_construction", ctypes.c_int),
                ("ef_search", ctypes.c_int), ("seed", ctypes.c_uint64), ("n_threads", ctypes.c_int),
                ("deterministic", ctypes.c_int), ("create", ctypes.c_int),
                ("recover_without_log", ctypes.c_int), ("shards", ctypes.c_int)]


class _SearchOptions(ctypes.Structure):
    _fields_ = [("filter", ctypes.c_char_p), ("ef_search", ctypes.c_int), ("exact", ctypes.c_int),
                ("no_payload", ctypes.c_int)]


class _Hit(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("score", ctypes.c_float), ("payload", ctypes.c_char_p)]


class _Results(ctypes.Structure):
    _fields_ = [("n_queries", ctypes.c_int), ("k", ctypes.c_int), ("counts", ctypes.POINTER(ctypes.c_int)),
                ("hits", ctypes.POINTER(_Hit))]


class _IndexInfo(ctypes.Structure):
    _fields_ = [("dim", ctypes.c_int), ("metric", ctypes.c_int), ("storage", ctypes.c_int), ("kind", ctypes.c_int),
                ("M", ctypes.c_int), ("ef_construction", ctypes.c_int), ("ef_search", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("count", ctypes.c_size_t), ("tombstones", ctypes.c_size_t),
                ("memory_bytes", ctypes.c_size_t), ("log_bytes", ctypes.c_uint64),
                ("remote", ctypes.c_int)]


_lib = None


class _Preprocess(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int), ("crop", ctypes.c_int), ("resample", ctypes.c_int),
                ("mean", ctypes.c_float * 3), ("std", ctypes.c_float * 3), ("crop_floor", ctypes.c_int)]


class _VideoEmbeddings(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("dim", ctypes.c_int), ("vectors", ctypes.POINTER(ctypes.c_float)),
                ("times", ctypes.POINTER(ctypes.c_double)), ("frame_index", ctypes.POINTER(ctypes.c_int64))]


def _load():
    global _lib
    if _lib is not None:
        return _lib
    if not _LIB_PATH:
        raise SailError("io error", "libsail.so is not found: build it with `make`, install it with "
                        "`make install` or `pip install ./python`, or set SAIL_LIB")
    L = ctypes.CDLL(_LIB_PATH)
    P, I, S, F = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.POINTER(ctypes.c_float)
    E = ctypes.POINTER(_Error)
    CP = ctypes.POINTER(ctypes.c_char_p)
    sigs = {
        "sail_version": (ctypes.c_char_p, []),
        "sail_kernel_level": (ctypes.c_char_p, []),
        "sail_status_name": (ctypes.c_char_p, [I]),
        "sail_model_load": (P, [ctypes.c_char_p, ctypes.POINTER(_LoadOptions), E]),
        "sail_model_free": (None, [P]),
        "sail_model_dim": (I, [P]),
        "sail_model_trained_dims": (I, [P, ctypes.POINTER(ctypes.c_int), I]),
        "sail_model_text_context": (I, [P]),
        "sail_model_image_size": (I, [P]),
        "sail_model_describe": (ctypes.c_char_p, [P]),
        "sail_embed_texts": (I, [P, CP, I, I, F, E]),
        "sail_embed_image_files": (I, [P, CP, I, I, F, E]),
        "sail_embed_images_rgb": (I, [P, ctypes.POINTER(ctypes.c_uint8), I, I, I, I, F, E]),
        "sail_embed_image_bytes": (I, [P, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(S), I, I, F, E]),
        "sail_embed_pairs": (I, [P, CP, CP, I, I, F, E]),
        "sail_image_bytes_tensor": (I, [P, ctypes.c_void_p, S, ctypes.c_int64, F, E]),
        "sail_embed_joint_tensors": (I, [P, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int), F, I, I,
                                         F, E]),
        "sail_tokenize": (I, [P, ctypes.c_char_p, S, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int), E]),
        "sail_embed_video_frames": (I, [P, ctypes.c_char_p, ctypes.c_double, I, I, ctypes.POINTER(_VideoEmbeddings),
                                        E]),
        "sail_video_embeddings_free": (None, [ctypes.POINTER(_VideoEmbeddings)]),
        "sail_embed_video_item": (I, [P, ctypes.c_char_p, ctypes.c_char_p, I, I, F, E]),
        "sail_embed_item": (I, [P, ctypes.POINTER(_Item), I, F, E]),
        "sail_embed_audio_files": (I, [P, CP, I, I, F, E]),
        "sail_embed_audio_bytes": (I, [P, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(S), I, I, F, E]),
        "sail_embed_audio_pcm": (I, [P, F, ctypes.c_int64, I, I, F, E]),
    }
    index_sigs = {
        "sail_index_open": (P, [ctypes.c_char_p, ctypes.POINTER(_IndexOptions), E]),
        "sail_index_close": (I, [P, E]),
        "sail_index_add": (I, [P, ctypes.POINTER(ctypes.c_uint64), F, CP, I, E]),
        "sail_index_delete": (I, [P, ctypes.POINTER(ctypes.c_uint64), I, ctypes.POINTER(ctypes.c_int), E]),
        "sail_index_search": (I, [P, F, I, I, ctypes.POINTER(_SearchOptions), ctypes.POINTER(ctypes.POINTER(_Results)),
                                  E]),
        "sail_index_results_free": (None, [ctypes.POINTER(_Results)]),
        "sail_index_get_info": (None, [P, ctypes.POINTER(_IndexInfo)]),
        "sail_metric_parse": (I, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]),
        "sail_index_kind_parse": (I, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]),
        "sail_storage_parse": (I, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]),
    }
    cli_sigs = {  # what sail info and sail preprocess call
        "sail_model_file_info": (I, [ctypes.c_char_p, I, ctypes.POINTER(ctypes.c_void_p), E]),
        "sail_free": (None, [ctypes.c_void_p]),
        "sail_model_preprocess": (None, [P, ctypes.POINTER(_Preprocess)]),
        "sail_image_file_preprocess": (I, [ctypes.c_char_p, ctypes.POINTER(_Preprocess), I, F, E]),
    }
    tokenizer_sigs = {
        "sail_tokenizer_load": (P, [ctypes.c_char_p, ctypes.c_char_p, E]),
        "sail_tokenizer_free": (None, [P]),
        "sail_tokenizer_encode": (I, [P, ctypes.c_char_p, S, ctypes.POINTER(ctypes.c_int32), S,
                                      ctypes.POINTER(S), E]),
    }
    for table, required in ((sigs, True), (index_sigs, False), (tokenizer_sigs, False), (cli_sigs, False)):
        for name, (res, args) in table.items():
            fn = getattr(L, name, None)
            if fn is None:
                if required:
                    raise SailError("unsupported", "%s lacks %s: rebuild it" % (_LIB_PATH, name))
                continue
            fn.restype = res
            fn.argtypes = args
    _lib = L
    return L


def _check(status, err):
    if status:
        raise SailError(_load().sail_status_name(status).decode(), err.msg.decode("utf-8", "replace"))


def _fptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def _embed_paths(fn, m, items, d, out):
    """When every item is a file path: embeds them all into out with one
    call of fn (sail_embed_image_files, sail_embed_audio_files) and returns
    True; else False (mixed inputs go one at a time)."""
    if not items or not all(isinstance(i, (str, os.PathLike)) for i in items):
        return False
    paths = [os.fsencode(p) for p in items]
    err = _Error()
    _check(fn(m, _cstrs(paths), len(paths), d, _fptr(out), ctypes.byref(err)), err)
    return True


def _embed_blob(fn, m, data, d, row):
    """Embeds one encoded file's bytes into row ((1, d)) with fn
    (sail_embed_image_bytes, sail_embed_audio_bytes: arrays of one)."""
    buf = ctypes.c_char_p(data)
    ptrs = (ctypes.c_void_p * 1)(ctypes.cast(buf, ctypes.c_void_p))
    sizes = (ctypes.c_size_t * 1)(len(data))
    err = _Error()
    _check(fn(m, ptrs, sizes, 1, d, _fptr(row), ctypes.byref(err)), err)


def _cstrs(items):
    arr = (ctypes.c_char_p * len(items))()
    arr[:] = items
    return arr


def version():
    """The linked library's version string."""
    return _load().sail_version().decode()


def kernel_level():
    """The instruction-set level sail's kernels run at on this CPU ("ref",
    "avx2", "avx512", "avx512vnni", "avx512bf16" or "amx"), after SAIL_ISA."""
    return _load().sail_kernel_level().decode()


def cosine(a, b):
    """Cosine similarity of two vectors (or row-wise for two (n, d) arrays)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def model_file_info(path, tensors=False):
    """What `sail info` prints about the model file at path (its configuration,
    parameter count, tensor types and sizes; with tensors=True a line per
    tensor), without loading the weights."""
    L = _load()
    err, text = _Error(), ctypes.c_void_p()
    _check(L.sail_model_file_info(os.fsencode(path), int(bool(tensors)), ctypes.byref(text), ctypes.byref(err)),
           err)
    try:
        return ctypes.string_at(text).decode("utf-8")
    finally:
        L.sail_free(text)


# CLIP's normalisation, the default of `sail preprocess`
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_RESAMPLE = {"bilinear": 2, "bicubic": 3}


def preprocess_image(path, size=None, crop=0, resample="bicubic", mean=_CLIP_MEAN, std=_CLIP_STD, model=None,
                     exif_rotate=True):
    """The (3, S, S) float32 tensor `sail preprocess` writes for an image
    file: resized as PIL does to `size` (with `crop`, the short side to size
    then a centre crop of crop x crop; without, squashed to size x size),
    then (x / 255 - mean) / std per channel. model= (a Model) takes the
    whole recipe from the model file instead: exactly the tensor that model
    receives."""
    L = _load()
    p = _Preprocess()
    if model is not None:
        L.sail_model_preprocess(model._h, ctypes.byref(p))
    else:
        if not size or crop > size or resample not in _RESAMPLE:
            raise SailError("invalid argument", "preprocess_image needs size >= crop and resample bicubic or "
                            "bilinear (or model=)")
        p.size, p.crop, p.resample = int(size), int(crop), _RESAMPLE[resample]
        p.mean[:], p.std[:] = [float(v) for v in mean], [float(v) for v in std]
    s = p.crop if p.crop > 0 else p.size
    out = np.empty((3, s, s), np.float32)
    err = _Error()
    _check(L.sail_image_file_preprocess(os.fsencode(path), ctypes.byref(p), int(bool(exif_rotate)), _fptr(out),
                                        ctypes.byref(err)), err)
    return out


class _Handle:
    """Owns a library handle (self._h): close() frees it with the C function
    named by _free, as do garbage collection and the end of a with block."""
    _h = None
    _free = None

    def close(self):
        """Free the handle (also done when the object is garbage-collected)."""
        h, self._h = self._h, None
        if h:
            getattr(_load(), self._free)(h)

    def __del__(self):
        try:
            self.close()
        except SailError:  # nobody to report to during garbage collection
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Model(_Handle):
    """A sail model file (GGUF), memory-mapped. Calls on one Model are
    serialised by the library; use one Model per thread for parallelism."""

    _free = "sail_model_free"

    def __init__(self, path, threads=0, repack=True):
        """Load `path`; `threads` compute threads (0 = one per core);
        repack=False uses q8_0 weights only as stored (less memory, slower
        batches; sail.h's sail_load_options.no_repack)."""
        L = _load()
        err = _Error()
        opts = _LoadOptions(int(threads), 0 if repack else 1)
        self._h = L.sail_model_load(os.fsencode(path), ctypes.byref(opts), ctypes.byref(err))
        if not self._h:
            _check(err.status or 1, err)
        self.path = os.fspath(path)
        self.dim = L.sail_model_dim(self._h)                    # output dimension of the vectors
        self.context = L.sail_model_text_context(self._h)       # max tokens, [CLS]/[SEP] included
        self.image_size = L.sail_model_image_size(self._h)      # side of the vision encoder's input

    def trained_dims(self):
        """The Matryoshka prefixes the model was trained for ([] when its file
        does not say); other dim values work but were never optimised."""
        buf = (ctypes.c_int * 8)()
        n = _load().sail_model_trained_dims(self._h, buf, 8)
        return list(buf[:min(n, 8)])

    def describe(self):
        """The model's configuration as a dict of strings."""
        s = _load().sail_model_describe(self._h).decode()
        return dict(kv.split("=", 1) for kv in s.split() if "=" in kv)

    def _out(self, n, dim):
        d = dim or self.dim
        if not 0 < d <= self.dim:
            raise SailError("invalid argument", "dim %d is out of range 1..%d" % (d, self.dim))
        return np.empty((n, d), np.float32), d

    def tokenize(self, text):
        """Token ids the model receives for `text` ([CLS] ... [SEP], truncated)."""
        b = text.encode("utf-8")
        ids = (ctypes.c_int32 * self.context)()
        n = ctypes.c_int()
        err = _Error()
        _check(_load().sail_tokenize(self._h, b, len(b), ids, ctypes.byref(n), ctypes.byref(err)), err)
        return list(ids[:n.value])

    def embed_text(self, texts, dim=0):
        """Embed a string or a list of strings; returns (n, dim) float32 unit
        rows (dim 0 = the model's; smaller = Matryoshka prefix)."""
        if isinstance(texts, str):
            texts = [texts]
        enc = [t.encode("utf-8") for t in texts]
        if any(b"\0" in b for b in enc):
            raise SailError("invalid argument", "a text contains a NUL character")
        out, d = self._out(len(enc), dim)
        err = _Error()
        if enc:
            _check(_load().sail_embed_texts(self._h, _cstrs(enc), len(enc), d, _fptr(out), ctypes.byref(err)), err)
        return out

    def _image_tensor(self, img):
        """A PIL image, an (h, w, 3) uint8 array or encoded bytes -> the
        preprocessed (3, s, s) tensor."""
        data = _image_bytes(img)
        s = self.image_size
        t = np.empty((3, s, s), np.float32)
        err = _Error()
        _check(_load().sail_image_bytes_tensor(self._h, data, len(data), 0, _fptr(t), ctypes.byref(err)), err)
        return t

    def embed_image(self, images, dim=0):
        """Embed images: file paths, PIL images, (h, w, 3) uint8 arrays or
        encoded bytes (JPEG/PNG/WebP/PPM), alone or in a list. Returns
        (n, dim) float32 unit rows."""
        if not isinstance(images, (list, tuple)):
            images = [images]
        out, d = self._out(len(images), dim)
        L = _load()
        if _embed_paths(L.sail_embed_image_files, self._h, images, d, out):
            return out
        for k, img in enumerate(images):
            if isinstance(img, (str, os.PathLike)):
                out[k] = self.embed_image([img], dim=d)[0]
            else:
                _embed_blob(L.sail_embed_image_bytes, self._h, _image_bytes(img), d, out[k:k + 1])
        return out

    def embed(self, text=None, image=None, dim=0):
        """Embed text, image, or both. With both, text[i] and image[i] are
        fused into ONE vector each (a joint input, e.g. a title and its
        cover). Single values or equal-length lists; returns (n, dim)."""
        if image is None:
            if text is None:
                raise SailError("invalid argument", "give text, image or both")
            return self.embed_text(text, dim)
        if text is None:
            return self.embed_image(image, dim)
        texts = [text] if isinstance(text, str) else list(text)
        images = list(image) if isinstance(image, (list, tuple)) else [image]
        if len(texts) != len(images):
            raise SailError("invalid argument", "%d texts but %d images" % (len(texts), len(images)))
        out, d = self._out(len(texts), dim)
        if not texts:
            return out
        L, err = _load(), _Error()
        if all(isinstance(i, (str, os.PathLike)) for i in images):
            t = [x.encode("utf-8") for x in texts]
            p = [os.fsencode(x) for x in images]
            _check(L.sail_embed_pairs(self._h, _cstrs(t), _cstrs(p), len(t), d, _fptr(out), ctypes.byref(err)), err)
            return out
        ids = []
        lens = []
        for x in texts:
            tok = self.tokenize(x)
            ids += tok
            lens.append(len(tok))
        chw = np.stack([self._image_tensor(open(i, "rb").read() if isinstance(i, (str, os.PathLike)) else i)
                        for i in images])
        ids_a = (ctypes.c_int32 * len(ids))(*ids)
        lens_a = (ctypes.c_int * len(lens))(*lens)
        _check(L.sail_embed_joint_tensors(self._h, ids_a, lens_a, _fptr(np.ascontiguousarray(chw)), len(texts), d,
                                          _fptr(out), ctypes.byref(err)), err)
        return out

    def encode(self, inputs, batch_size=32, dim=0, show_progress_bar=False):
        """sentence-transformers style: each input is a text (str), an image
        (a PIL image, an (h, w, 3) uint8 array, encoded bytes or a
        pathlib.Path / os.PathLike file), a joint {"text": ..., "image": ...}
        dict, an {"audio": clip} dict (models with an audio encoder) or a
        {"video": path[, "text": ...]} dict (one fused video item, models with
        fusion layers), or a clip with any of those ({"audio": path, "text":
        ..., "image": path}: one fused item, models with fusion layers and an
        audio tower). Returns (n, dim) float32 unit rows, or one (dim,) row for a
        single input that is not a list. A plain str is always a text: pass
        image files as pathlib.Path."""
        single = not isinstance(inputs, (list, tuple))
        items = [inputs] if single else list(inputs)
        if batch_size < 1:
            raise SailError("invalid argument", "batch_size must be >= 1, not %r" % (batch_size,))
        out, d = self._out(len(items), dim)
        kinds = [_kind(x) for x in items]
        done = 0
        for start in range(0, len(items), batch_size):
            part = range(start, min(start + batch_size, len(items)))
            for kind in ("text", "image", "joint", "audio", "video", "item"):
                idx = [i for i in part if kinds[i] == kind]
                if not idx:
                    continue
                if kind == "text":
                    out[idx] = self.embed_text([items[i] for i in idx], d)
                elif kind == "image":
                    out[idx] = self.embed_image([items[i] for i in idx], d)
                elif kind == "audio":
                    out[idx] = self.embed_audio([items[i]["audio"] for i in idx], d)
                elif kind == "video":
                    for i in idx:
                        out[i] = self.embed_video_item(items[i]["video"], items[i].get("text"), dim=d)
                elif kind == "item":
                    for i in idx:
                        out[i] = self.embed_item(dim=d, **items[i])
                else:
                    out[idx] = self.embed(text=[items[i]["text"] for i in idx],
                                          image=[items[i]["image"] for i in idx], dim=d)
            done = part.stop
            if show_progress_bar:
                print("\rsail: %d/%d" % (done, len(items)), end="\n" if done == len(items) else "", flush=True)
        return out[0] if single else out

    def embed_video_item(self, path, text=None, frames=0, dim=0):
        """A video as ONE item: `frames` frames (0: 4) spread over it, fused
        by the model's fusion layers together with text (optional), as
        training on video items sees it. Returns one (dim,) float32 row."""
        out, d = self._out(1, dim)
        L, err = _load(), _Error()
        t = text.encode("utf-8") if text is not None else None
        _check(L.sail_embed_video_item(self._h, t, os.fsencode(path), int(frames), d, _fptr(out), ctypes.byref(err)),
               err)
        return out[0]

    def embed_item(self, text=None, image=None, video=None, audio=None, frames=0, dim=0):
        """ONE item of any of a text, an image (a file, or its encoded bytes)
        or a video file, and a clip (an audio file, a video whose sound is
        taken, or encoded audio bytes), fused by the model's fusion layers as
        training on the same manifest item sees it (sail_embed_item).
        Returns one (dim,) float32 row."""
        out, d = self._out(1, dim)
        L, err = _load(), _Error()

        def enc(x, path=True):
            return None if x is None else os.fsencode(x) if path else x.encode("utf-8")

        def blob(x):
            return bytes(x) if isinstance(x, (bytes, bytearray, memoryview)) else None
        img, clip = blob(image), blob(audio)
        it = _Item(enc(text, False), None if img is not None else enc(image), enc(video),
                   None if clip is not None else enc(audio), int(frames), img, len(img or b""), clip,
                   len(clip or b""))
        _check(L.sail_embed_item(self._h, ctypes.byref(it), d, _fptr(out), ctypes.byref(err)), err)
        return out[0]

    def embed_audio(self, clips, dim=0, rate=None):
        """Embed audio with a model that has an audio tower (an AST from
        `sail convert`): file paths, encoded bytes (WAV, FLAC, MP3, ...) or
        1-D float arrays of mono samples at `rate` Hz, alone or in a list.
        Returns (n, dim) float32 unit rows."""
        if not isinstance(clips, (list, tuple)):
            clips = [clips]
        out, d = self._out(len(clips), dim)
        L, err = _load(), _Error()
        if _embed_paths(L.sail_embed_audio_files, self._h, clips, d, out):
            return out
        for k, c in enumerate(clips):
            row = out[k:k + 1]
            if isinstance(c, (str, os.PathLike)):
                row[:] = self.embed_audio([c], dim=d)
            elif isinstance(c, (bytes, bytearray)):
                _embed_blob(L.sail_embed_audio_bytes, self._h, bytes(c), d, row)
            else:
                x = np.ascontiguousarray(c, np.float32)
                if x.ndim != 1 or rate is None:
                    raise SailError("invalid argument", "samples are a 1-D array of mono samples, with rate= in Hz")
                _check(L.sail_embed_audio_pcm(self._h, _fptr(x), x.size, int(rate), d, _fptr(row), ctypes.byref(err)),
                       err)
        return out

    def embed_video(self, path, every=1.0, max_frames=0, dim=0):
        """Embed one frame per `every` seconds of a video file (0 = every
        frame; at most max_frames, spread over its length, when > 0).
        Returns (vectors (n, dim), times (n,) in seconds). The video's single
        vector, as `sail embed --video`, is the normalised mean of the rows."""
        _, d = self._out(0, dim)
        L, err, e = _load(), _Error(), _VideoEmbeddings()
        _check(L.sail_embed_video_frames(self._h, os.fsencode(path), float(every), int(max_frames), d, ctypes.byref(e),
                                         ctypes.byref(err)), err)
        try:
            v = np.ctypeslib.as_array(e.vectors, (e.n, e.dim)).copy()
            t = np.ctypeslib.as_array(e.times, (e.n,)).copy()
        finally:
            L.sail_video_embeddings_free(ctypes.byref(e))
        return v, t


class Tokenizer(_Handle):
    """A tokenizer read from its own file, without a model (as `sail tokenize
    --vocab`): "wordpiece" (a BERT vocab.txt), "bpe" (CLIP's merges,
    bpe_simple_vocab_16e6.txt.gz) or "spm" (a SentencePiece spiece.model);
    type None chooses by the file name (.gz: bpe, .model: spm)."""

    _free = "sail_tokenizer_free"

    def __init__(self, path, type=None):
        L = _load()
        if not hasattr(L, "sail_tokenizer_load"):
            raise SailError("unsupported", "%s lacks sail_tokenizer_load: rebuild it" % _LIB_PATH)
        err = _Error()
        self._h = L.sail_tokenizer_load(os.fsencode(path), type.encode() if type else None, ctypes.byref(err))
        if not self._h:
            _check(err.status or 1, err)

    def encode(self, text):
        """Token ids of `text`, without [CLS]/[SEP] or start/end tokens."""
        b = text.encode("utf-8", "surrogatepass")
        cap, n, err = 64, ctypes.c_size_t(), _Error()
        while True:
            ids = (ctypes.c_int32 * cap)()
            _check(_load().sail_tokenizer_encode(self._h, b, len(b), ids, cap, ctypes.byref(n), ctypes.byref(err)),
                   err)
            if n.value <= cap:
                return list(ids[:n.value])
            cap = n.value


class _Item(ctypes.Structure):
    _fields_ = [("text", ctypes.c_char_p), ("image", ctypes.c_char_p), ("video", ctypes.c_char_p),
                ("audio", ctypes.c_char_p), ("frames", ctypes.c_int), ("image_data", ctypes.c_char_p),
                ("image_size", ctypes.c_size_t), ("audio_data", ctypes.c_char_p), ("audio_size", ctypes.c_size_t)]


def _kind(x):
    """What Model.encode makes of one input."""
    if isinstance(x, str):
        return "text"
    if isinstance(x, dict):
        if set(x) == {"text", "image"}:
            return "joint"
        if set(x) == {"audio"}:
            return "audio"
        if set(x) in ({"video"}, {"text", "video"}):
            return "video"
        if "audio" in x and set(x) <= {"text", "image", "video", "audio"} and not {"image", "video"} <= set(x):
            return "item"
        raise SailError("invalid argument", "a dict input is {\"text\", \"image\"} (joint), {\"audio\"}, "
                        "{\"video\"[, \"text\"]} (one fused video item) or a clip with any of those "
                        "({\"audio\": path, \"text\"/\"image\"/\"video\": ...}), not keys %s" % sorted(x))
    return "image"


def _image_bytes(img):
    """Encoded image bytes for bytes, a PIL image or an (h, w, 3) uint8 array
    (the last two as lossless PNG, so pixels arrive unchanged)."""
    if isinstance(img, (bytes, bytearray, memoryview)):
        return bytes(img)
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise SailError("invalid argument", "an image array must be (h, w, 3) uint8, not %s %s"
                            % (img.shape, img.dtype))
        h, w = img.shape[:2]
        return b"P6\n%d %d\n255\n" % (w, h) + np.ascontiguousarray(img).tobytes()
    if hasattr(img, "convert") and hasattr(img, "save"):
        f = io.BytesIO()
        img.convert("RGB").save(f, format="PNG")
        return f.getvalue()
    raise SailError("invalid argument", "an image must be a path, PIL image, uint8 array or bytes, not %s"
                    % type(img).__name__)


Hit = namedtuple("Hit", "id score payload")
Hit.__doc__ = "One search result: item id, score (cosine/inner product, or squared L2), payload dict."


def _enum(parse, name, value):
    v = ctypes.c_int()
    if parse(value.encode(), ctypes.byref(v)):
        raise SailError("invalid argument", "unknown %s '%s'" % (name, value))
    return v.value


class Index(_Handle):
    """A vector index directory (see docs/INDEX.md): items with a 64-bit id,
    a vector and a JSON payload, searched exactly or with HNSW. Adds and
    deletes are durable when they return."""

    def __init__(self, path, create=False, dim=None, metric="cosine", kind="exact", storage="f32", threads=0):
        """Open the index at `path`, a directory or redis://host[:port]/name
        (docs/REDIS.md); with create=True and no index there, make one of
        `dim` dimensions (metric cosine|ip|l2, kind exact|hnsw, storage
        f32|f16|int8)."""
        L = _load()
        if not hasattr(L, "sail_index_open"):
            raise SailError("unsupported", "%s was built without the vector index" % _LIB_PATH)
        o = _IndexOptions()
        o.create = int(create)
        o.n_threads = int(threads)
        if create:
            if not dim:
                raise SailError("invalid argument", "creating an index needs dim")
            o.dim = int(dim)
            o.metric = _enum(L.sail_metric_parse, "metric", metric)
            o.kind = _enum(L.sail_index_kind_parse, "index kind", kind)
            o.storage = _enum(L.sail_storage_parse, "storage", storage)
            o.seed = 1
        err = _Error()
        self._h = L.sail_index_open(os.fsencode(path), ctypes.byref(o), ctypes.byref(err))
        if not self._h:
            _check(err.status or 1, err)
        self.path = os.fspath(path)

    @property
    def info(self):
        """dim, metric, kind, count ... as a dict."""
        i = _IndexInfo()
        _load().sail_index_get_info(self._h, ctypes.byref(i))
        return {f: getattr(i, f) for f, _ in i._fields_}

    @property
    def dim(self):
        """Dimension of the stored vectors."""
        return self.info["dim"]

    def __len__(self):
        return self.info["count"]

    def add(self, ids, vectors, payloads=None):
        """Add (or replace) items: ids (n,), vectors (n, dim), payloads a list
        of dicts (or JSON strings, or None)."""
        ids = np.ascontiguousarray(np.atleast_1d(ids), np.uint64)
        vec = np.ascontiguousarray(np.atleast_2d(vectors), np.float32)
        n = len(ids)
        if vec.shape != (n, self.dim):
            raise SailError("invalid argument", "vectors are %s; expected (%d, %d)" % (vec.shape, n, self.dim))
        pl = None
        if payloads is not None:
            if len(payloads) != n:
                raise SailError("invalid argument", "%d payloads for %d ids" % (len(payloads), n))
            pl = _cstrs([None if p is None else (p if isinstance(p, str) else json.dumps(p, ensure_ascii=False))
                         .encode("utf-8") for p in payloads])
        err = _Error()
        _check(_load().sail_index_add(self._h, ids.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)), _fptr(vec), pl,
                                      n, ctypes.byref(err)), err)

    def delete(self, ids):
        """Delete ids; returns how many were present."""
        ids = np.ascontiguousarray(np.atleast_1d(ids), np.uint64)
        n = ctypes.c_int()
        err = _Error()
        _check(_load().sail_index_delete(self._h, ids.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)), len(ids),
                                         ctypes.byref(n), ctypes.byref(err)), err)
        return n.value

    def search(self, queries, k=10, filter=None, exact=False, ef_search=0):
        """The k nearest items of each query ((dim,) or (n, dim)); filter is
        {"field": value} (payload fields that must be equal) or the library's
        "field=value,..." text. Returns one list of Hit per query, best first."""
        q = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        if q.shape[1] != self.dim:
            raise SailError("invalid argument", "queries have %d dimensions; the index has %d" % (q.shape[1], self.dim))
        if isinstance(filter, dict):
            filter = ",".join("%s=%s" % (f, json.dumps(v) if isinstance(v, bool) else v) for f, v in filter.items())
        o = _SearchOptions(filter.encode("utf-8") if filter else None, int(ef_search), int(exact), 0)
        res = ctypes.POINTER(_Results)()
        L, err = _load(), _Error()
        _check(L.sail_index_search(self._h, _fptr(q), len(q), int(k), ctypes.byref(o), ctypes.byref(res),
                                   ctypes.byref(err)), err)
        try:
            r = res.contents
            out = []
            for qi in range(r.n_queries):
                hits = []
                for j in range(r.counts[qi]):
                    h = r.hits[qi * r.k + j]
                    p = h.payload
                    hits.append(Hit(int(h.id), float(h.score), json.loads(p.decode("utf-8")) if p else None))
                out.append(hits)
            return out
        finally:
            L.sail_index_results_free(res)

    def close(self):
        """Snapshot (if the log holds records) and close."""
        h, self._h = self._h, None
        if h:
            err = _Error()
            _check(_load().sail_index_close(h, ctypes.byref(err)), err)
