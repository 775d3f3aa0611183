/* spm_shim.h: the C face of libsentencepiece (spm_shim.cc, C++). Only
 * spm.c calls it. No C++ exception crosses this boundary: every failure is
 * a return code plus a message in the caller's buffer. Internal to
 * src/text. */
#ifndef SAIL_SPM_SHIM_H
#define SAIL_SPM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sail_spmp sail_spmp;

/* Results of the shim's fallible calls. */
enum { SAIL_SPMP_OK = 0, SAIL_SPMP_NOMEM = 1, SAIL_SPMP_FAILED = 2 };

/* Receives each id of an encoding in order; underline: the piece is exactly
 * "\u2581" (SiglipTokenizer.tokenize compares piece strings). Nonzero stops
 * the encoding (out of memory on the C side). */
typedef int (*sail_spmp_sink)(void *ctx, int32_t id, int underline);

/* A processor over the serialized ModelProto proto[0..len) with
 * normalizer_spec.add_dummy_prefix forced off. NULL with the reason in msg
 * (cap bytes, NUL-terminated). */
sail_spmp *sail_spmp_load(const void *proto, size_t len, char *msg, size_t cap);
void sail_spmp_free(sail_spmp *p);

int sail_spmp_size(const sail_spmp *p);
/* Id of exactly piece[0..len), -1 when absent. */
int sail_spmp_piece_id(const sail_spmp *p, const char *piece, size_t len);
/* The piece of id (0 <= id < size), owned by p. */
const char *sail_spmp_id_piece(const sail_spmp *p, int id);

/* Encode text[0..len) (valid UTF-8) into pieces, drop the first skip of
 * them when there are at least skip, and hand each remaining piece's id
 * (PieceToId of its string: unknown surfaces become the unk id) to sink.
 * Thread-safe on a shared p. */
int sail_spmp_encode(const sail_spmp *p, const char *text, size_t len, size_t skip,
                     sail_spmp_sink sink, void *ctx, char *msg, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
