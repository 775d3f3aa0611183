/* spm_shim.cc: libsentencepiece behind the C calls of spm_shim.h. The
 * library is C++ and reports errors as util::Status, but may also throw
 * (std::bad_alloc, or anything from inside protobuf): each entry point
 * catches everything and turns it into a return code and a message. */
#include "spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

struct sail_spmp {
    sentencepiece::SentencePieceProcessor sp;
};

static void put_msg(char *msg, size_t cap, const char *what, const char *detail) {
    if (cap) snprintf(msg, cap, "%s%s%s", what, *detail ? ": " : "", detail);
}

/* One more normalizer_spec (ModelProto field 3) holding only
 * add_dummy_prefix (NormalizerSpec field 3) = false. Protocol Buffers merge
 * a repeated occurrence of a singular message field into the first, so
 * appending these bytes is exactly SiglipTokenizer's
 * model.normalizer_spec.MergeFrom(NormalizerSpec(add_dummy_prefix=False)). */
static const char no_dummy_prefix[] = {0x1a, 0x02, 0x18, 0x00};

extern "C" sail_spmp *sail_spmp_load(const void *proto, size_t len, char *msg, size_t cap) {
    sail_spmp *p = nullptr;
    try {
        std::string bytes(static_cast<const char *>(proto), len);
        bytes.append(no_dummy_prefix, sizeof no_dummy_prefix);
        p = new sail_spmp;
        sentencepiece::util::Status st = p->sp.LoadFromSerializedProto(bytes);
        if (st.ok() && p->sp.GetPieceSize() > 0) return p;
        /* the library's parse failure names its own source line; say what it means */
        std::string why = st.ok() ? "it has no pieces" : st.ToString();
        if (why.find("ParseFromArray") != std::string::npos)
            why = "the bytes do not parse as a sentencepiece ModelProto (truncated, or another kind of file)";
        put_msg(msg, cap, "not a SentencePiece model", why.c_str());
    } catch (const std::bad_alloc &) {
        put_msg(msg, cap, "out of memory", "");
    } catch (const std::exception &e) {
        put_msg(msg, cap, "not a SentencePiece model", e.what());
    } catch (...) {
        put_msg(msg, cap, "not a SentencePiece model", "the library failed to load it");
    }
    delete p;
    return nullptr;
}

extern "C" void sail_spmp_free(sail_spmp *p) {
    delete p;
}

extern "C" int sail_spmp_size(const sail_spmp *p) {
    return p->sp.GetPieceSize();
}

extern "C" int sail_spmp_piece_id(const sail_spmp *p, const char *piece, size_t len) {
    try {
        /* PieceToId answers the unk id for an absent piece */
        std::string_view want(piece, len);
        int id = p->sp.PieceToId(want);
        return id >= 0 && p->sp.IdToPiece(id) == want ? id : -1;
    } catch (...) {
        return -1;
    }
}

extern "C" const char *sail_spmp_id_piece(const sail_spmp *p, int id) {
    return p->sp.IdToPiece(id).c_str();
}

extern "C" int sail_spmp_encode(const sail_spmp *p, const char *text, size_t len, size_t skip,
                                sail_spmp_sink sink, void *ctx, char *msg, size_t cap) {
    try {
        std::vector<std::string> pieces;
        sentencepiece::util::Status st = p->sp.Encode(std::string_view(text, len), &pieces);
        if (!st.ok()) {
            put_msg(msg, cap, "SentencePiece could not encode the text", st.ToString().c_str());
            return SAIL_SPMP_FAILED;
        }
        /* SiglipTokenizer._tokenize: tokens[unk_len:] if len(tokens) >= unk_len */
        for (size_t i = pieces.size() >= skip ? skip : 0; i < pieces.size(); i++)
            if (sink(ctx, p->sp.PieceToId(pieces[i]), pieces[i] == "\xe2\x96\x81")) {
                put_msg(msg, cap, "out of memory", "");
                return SAIL_SPMP_NOMEM;
            }
        return SAIL_SPMP_OK;
    } catch (const std::bad_alloc &) {
        put_msg(msg, cap, "out of memory", "");
        return SAIL_SPMP_NOMEM;
    } catch (...) {
        put_msg(msg, cap, "SentencePiece failed on the text", "");
        return SAIL_SPMP_FAILED;
    }
}
