/* embed_bytes.c: public calls for inputs that arrive in memory (a server's
 * request body, a Python bytes object): images as encoded bytes, token
 * counts before truncation, and joint text+image batches from already
 * tokenized and preprocessed inputs, so a caller can do the per-input work
 * on its own threads and hand the model whole batches. The per-image
 * preprocessing (sail_image_bytes_tensor) is embed.c's, beside the file's. */
#include "image/image.h"
#include "model/model.h"

#include <string.h>

enum { JOINT_BATCH = 8 };

sail_status sail_count_tokens(const sail_model *m, const char *text, size_t len, int *n,
                              sail_error *err) {
    if (!m) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model is NULL");
    return sail_text_tok_count(&m->text, text, len, n, err);
}

sail_status sail_embed_image_bytes(sail_model *m, const void *const *data, const size_t *sizes,
                                   int n, int dim, float *out, sail_error *err) {
    if (!m) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model is NULL");
    if (n < 0 || (n && (!data || !sizes || !out)))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "bad image count %d or NULL arrays", n);
    if (!n) return SAIL_OK;
    int side = sail_model_image_size(m);
    size_t per = (size_t)3 * side * side, total;
    if (!sail_mul_ok(per * sizeof(float), (size_t)n, &total))
        return sail_set_error(err, SAIL_ERR_LIMIT, "%d images do not fit in memory", n);
    float *chw = sail_malloc(total);
    if (!chw) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d images", n);
    sail_status s = SAIL_OK;
    for (int i = 0; i < n && !s; i++) {
        s = sail_image_bytes_tensor(m, data[i], sizes[i], 0, chw + (size_t)i * per, err);
        if (s) sail_error_prefix(err, "image %d", i);
    }
    if (!s) s = sail_embed_image_tensors(m, chw, n, side, side, dim, out, err);
    sail_free(chw);
    return s;
}

sail_status sail_embed_joint_tensors(sail_model *m, const int32_t *ids, const int *lens,
                                     const float *chw, int n, int dim, float *out,
                                     sail_error *err) {
    if (!m) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model is NULL");
    int D = m->cfg.dim;
    if (dim < 0 || dim > D)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "dim %d is out of range; this model's vectors have %d dimensions (use 1..%d, 0 = all)",
                              dim, D, D);
    if (n < 0 || (n && (!ids || !lens || !chw || !out)))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "bad input count %d or NULL arrays", n);
    if (!n) return SAIL_OK;
    if (!dim) dim = D;
    int side = sail_model_image_size(m);
    float *full = dim == D ? NULL : sail_malloc((size_t)JOINT_BATCH * D * sizeof(float));
    if (dim != D && !full) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    sail_status s = SAIL_OK;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < n && !s; i += JOINT_BATCH) {
        sail_batch b = {.n = SAIL_MIN(JOINT_BATCH, n - i), .ids = ids, .lens = lens + i,
                        .pixels = chw + (size_t)i * 3 * side * side, .h = side, .w = side};
        float *o = out + (size_t)i * dim;
        s = sail_forward(m, &b, full ? full : o, err);
        /* Matryoshka prefix: the first dim components, re-normalised. */
        for (int j = 0; full && !s && j < b.n; j++) {
            memcpy(o + (size_t)j * dim, full + (size_t)j * D, (size_t)dim * sizeof(float));
            sail_l2_normalize(o + (size_t)j * dim, dim);
        }
        for (int j = 0; j < b.n; j++) ids += lens[i + j];
    }
    pthread_mutex_unlock(&m->lock);
    sail_free(full);
    return s;
}
