/* embed.c: the public embedding calls. They turn raw inputs (strings, pixels,
 * files) into model inputs, run the forward pass in bounded batches and
 * apply the Matryoshka prefix. */
#include "image/image.h"
#include "model/model.h"
#include "video/video.h"

#include <math.h>
#include <string.h>

enum { TEXT_BATCH = 32, IMAGE_BATCH = 8, AUDIO_BATCH = 4 };

static sail_status check_common(const sail_model *m, int n, int dim, const float *out,
                                sail_error *err) {
    if (!m) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model is NULL");
    if (n < 0) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "negative input count %d", n);
    if (n && !out) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "output buffer is NULL");
    if (dim < 0 || dim > m->cfg.dim)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG,
                              "dim %d is out of range; this model's vectors have %d dimensions (use 1..%d, 0 = all)",
                              dim, m->cfg.dim, m->cfg.dim);
    return SAIL_OK;
}

/* Keep the first dim components of each row of full (n, D) and re-normalise. */
static void matryoshka(float *out, const float *full, int n, int D, int dim) {
    for (int i = 0; i < n; i++) {
        memmove(out + (size_t)i * dim, full + (size_t)i * D, (size_t)dim * sizeof(float));
        sail_l2_normalize(out + (size_t)i * dim, dim);
    }
}

/* Forward a batch and write rows of dim floats to out. */
static sail_status run(sail_model *m, const sail_batch *b, int dim, float *out, sail_error *err) {
    int D = m->cfg.dim;
    if (dim == D) return sail_forward(m, b, out, err);
    float *full = sail_malloc((size_t)b->n * D * sizeof(float));
    if (!full) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    sail_status s = sail_forward(m, b, full, err);
    if (!s) matryoshka(out, full, b->n, D, dim);
    sail_free(full);
    return s;
}

sail_status sail_tokenize(const sail_model *m, const char *text, size_t len, int32_t *ids,
                          int *n_real, sail_error *err) {
    if (!m || !text || !ids) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model, text or ids is NULL");
    return sail_text_tok_encode(&m->text, text, len, ids, n_real, err);
}

/* Tokenize texts[0..n) into ids/lens (ids holds n * context). */
static sail_status tokenize_all(const sail_model *m, const char *const *texts, int n,
                                int32_t *ids, int *lens, sail_error *err) {
    int32_t *p = ids;
    for (int i = 0; i < n; i++) {
        if (!texts[i]) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "text %d is NULL", i);
        sail_status s = sail_tokenize(m, texts[i], strlen(texts[i]), p, &lens[i], err);
        if (s) return s;
        p += lens[i];
    }
    return SAIL_OK;
}

sail_status sail_embed_tokens(sail_model *m, const int32_t *ids, const int *lens, int n,
                              int dim, float *out, sail_error *err) {
    sail_status s = check_common(m, n, dim, out, err);
    if (s || !n) return s;
    if (!ids || !lens) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "ids or lens is NULL");
    if (!dim) dim = m->cfg.dim;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < n && !s; i += TEXT_BATCH) {
        sail_batch b = {.n = SAIL_MIN(TEXT_BATCH, n - i), .ids = ids, .lens = lens + i};
        s = run(m, &b, dim, out + (size_t)i * dim, err);
        for (int j = 0; j < b.n; j++) ids += lens[i + j];
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

sail_status sail_embed_texts(sail_model *m, const char *const *texts, int n, int dim,
                             float *out, sail_error *err) {
    sail_status s = check_common(m, n, dim, out, err);
    if (s || !n) return s;
    if (!texts) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "texts is NULL");
    int32_t *ids = sail_malloc((size_t)n * m->cfg.context * sizeof *ids);
    int *lens = sail_malloc((size_t)n * sizeof *lens);
    if (!ids || !lens) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (!s) s = tokenize_all(m, texts, n, ids, lens, err);
    if (!s) s = sail_embed_tokens(m, ids, lens, n, dim, out, err);
    sail_free(ids);
    sail_free(lens);
    return s;
}

sail_status sail_embed_image_tensors(sail_model *m, const float *chw, int n, int h, int w,
                                     int dim, float *out, sail_error *err) {
    sail_status s = check_common(m, n, dim, out, err);
    if (s || !n) return s;
    if (!chw) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "image tensor is NULL");
    if (!dim) dim = m->cfg.dim;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < n && !s; i += IMAGE_BATCH) {
        sail_batch b = {.n = SAIL_MIN(IMAGE_BATCH, n - i),
                        .pixels = chw + (size_t)i * 3 * h * w, .h = h, .w = w};
        s = run(m, &b, dim, out + (size_t)i * dim, err);
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

sail_status sail_embed_spectrograms(sail_model *m, const float *spec, int n, int dim, float *out,
                                    sail_error *err) {
    sail_status s = check_common(m, n, dim, out, err);
    if (s || !n) return s;
    if (!sail_has_audio(&m->cfg)) return sail_no_encoder(&m->cfg, "audio", err);
    if (!dim) dim = m->cfg.dim;
    sail_vit_geom g = sail_vit_audio(&m->cfg);
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < n && !s; i += AUDIO_BATCH) {
        sail_batch b = {.n = SAIL_MIN(AUDIO_BATCH, n - i), .spec = spec + (size_t)i * g.h * g.w};
        s = run(m, &b, dim, out + (size_t)i * dim, err);
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* Preprocessed tensors for images [0, n) provided by get(i). */
typedef sail_status (*image_source)(void *ctx, int i, const sail_image_limits *lim,
                                    sail_image *img, sail_error *err);

/* Decoding runs unlocked; resampling uses the model's pool, so it holds the
 * model lock (the pool runs one job at a time). */
static sail_status preprocess_all(sail_model *m, image_source get, void *ctx, int n,
                                  float **chw_out, sail_error *err) {
    sail_preprocess p = sail_config_preprocess(&m->cfg);
    sail_image_limits lim = sail_image_limits_for(&p);
    size_t side = (size_t)sail_preprocess_side(&p), per = 3 * side * side;
    float *chw = sail_malloc((size_t)n * per * sizeof(float));
    if (!chw) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for %d images", n);
    sail_status s = SAIL_OK;
    for (int i = 0; i < n && !s; i++) {
        sail_image img = {0};
        s = get(ctx, i, &lim, &img, err);
        if (!s) {
            pthread_mutex_lock(&m->lock);
            s = sail_image_preprocess_mt(&img, &p, chw + i * per, m->pool, err);
            pthread_mutex_unlock(&m->lock);
        }
        sail_image_free(&img);
    }
    if (s) sail_free(chw);
    else *chw_out = chw;
    return s;
}

static sail_status from_file(void *ctx, int i, const sail_image_limits *lim, sail_image *img,
                             sail_error *err) {
    const char *const *paths = ctx;
    if (!paths[i]) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "image path %d is NULL", i);
    return sail_image_load(paths[i], lim, img, err);
}

typedef struct rgb_src { const uint8_t *rgb; int h, w; } rgb_src;

static sail_status from_rgb(void *ctx, int i, const sail_image_limits *lim, sail_image *img,
                            sail_error *err) {
    const rgb_src *r = ctx;
    size_t bytes = (size_t)r->h * r->w * 3;
    img->rgb = sail_malloc(bytes);
    if (!img->rgb) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    memcpy(img->rgb, r->rgb + (size_t)i * bytes, bytes);
    img->w = r->w;
    img->h = r->h;
    return SAIL_OK;
}

/* An imported text-only model has no image preprocessing at all. */
static sail_status check_vision(const sail_model *m, sail_error *err) {
    if (m->cfg.towers.on && !m->cfg.towers.has_vision)
        return sail_no_encoder(&m->cfg, "vision", err);
    return SAIL_OK;
}

static sail_status embed_images(sail_model *m, image_source get, void *ctx, int n, int dim,
                                float *out, sail_error *err) {
    float *chw = NULL;
    sail_status s = check_vision(m, err);
    if (!s) s = preprocess_all(m, get, ctx, n, &chw, err);
    int side = sail_model_image_size(m);
    if (!s) s = sail_embed_image_tensors(m, chw, n, side, side, dim, out, err);
    sail_free(chw);
    return s;
}

sail_status sail_embed_images_rgb(sail_model *m, const uint8_t *rgb, int n, int h, int w,
                                  int dim, float *out, sail_error *err) {
    sail_status s = check_common(m, n, dim, out, err);
    if (s || !n) return s;
    if (!rgb || h < 1 || w < 1 || h > 16384 || w > 16384)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "pixels are NULL or the size %dx%d is invalid", w, h);
    rgb_src src = {rgb, h, w};
    return embed_images(m, from_rgb, &src, n, dim, out, err);
}

sail_status sail_embed_image_files(sail_model *m, const char *const *paths, int n, int dim,
                                   float *out, sail_error *err) {
    sail_status s = check_common(m, n, dim, out, err);
    if (s || !n) return s;
    if (!paths) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "paths is NULL");
    return embed_images(m, from_file, (void *)paths, n, dim, out, err);
}

sail_status sail_embed_pairs(sail_model *m, const char *const *texts, const char *const *paths,
                             int n, int dim, float *out, sail_error *err) {
    sail_status s = check_common(m, n, dim, out, err);
    if (s || !n) return s;
    if (!texts || !paths) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "texts or paths is NULL");
    if (m->cfg.towers.on)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "this imported model has no fusion layers; embed texts and images separately");
    if (!dim) dim = m->cfg.dim;
    int side = sail_model_image_size(m);
    float *chw = NULL;
    int32_t *ids = sail_malloc((size_t)n * m->cfg.context * sizeof *ids);
    int *lens = sail_malloc((size_t)n * sizeof *lens);
    if (!ids || !lens) s = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (!s) s = tokenize_all(m, texts, n, ids, lens, err);
    if (!s) s = preprocess_all(m, from_file, (void *)paths, n, &chw, err);
    if (!s) {
        pthread_mutex_lock(&m->lock);
        const int32_t *p = ids;
        for (int i = 0; i < n && !s; i += IMAGE_BATCH) {
            sail_batch b = {.n = SAIL_MIN(IMAGE_BATCH, n - i), .ids = p, .lens = lens + i,
                            .pixels = chw + (size_t)i * 3 * side * side, .h = side, .w = side};
            s = run(m, &b, dim, out + (size_t)i * dim, err);
            for (int j = 0; j < b.n; j++) p += lens[i + j];
        }
        pthread_mutex_unlock(&m->lock);
    }
    sail_free(chw);
    sail_free(ids);
    sail_free(lens);
    return s;
}

/* An item's parts as model inputs: ids, pixels (an image, or a video's
 * frames), a spectrogram. */
typedef struct item_in {
    int32_t *ids;
    int len;
    uint8_t *rgb;
    float *chw, *spec;
    int frames;
} item_in;

static sail_status item_text(sail_model *m, const char *text, item_in *in, sail_error *err) {
    if (!(in->ids = sail_malloc((size_t)m->cfg.context * sizeof *in->ids)))
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    return tokenize_all(m, &text, 1, in->ids, &in->len, err);
}

static sail_status item_visual(sail_model *m, const sail_item *it, item_in *in, sail_error *err) {
    in->frames = 1;
    if (it->image) return preprocess_all(m, from_file, (void *)&it->image, 1, &in->chw, err);
    if (it->image_data) {
        int side = sail_model_image_size(m);
        if (!(in->chw = sail_malloc((size_t)3 * side * side * sizeof *in->chw)))
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the image");
        return sail_image_bytes_tensor(m, it->image_data, it->image_size, 0, in->chw, err);
    }
    rgb_src src = {NULL, 0, 0};
    in->frames = it->frames ? it->frames : SAIL_VIDEO_ITEM_FRAMES;
    sail_status s = sail_video_sample(it->video, in->frames, &in->rgb, &src.w, &src.h, err);
    src.rgb = in->rgb;
    return s ? s : preprocess_all(m, from_rgb, &src, in->frames, &in->chw, err);
}

static sail_status item_audio(sail_model *m, const sail_item *it, item_in *in, sail_error *err) {
    if (!sail_has_audio(&m->cfg)) return sail_no_encoder(&m->cfg, "audio", err);
    sail_vit_geom g = sail_vit_audio(&m->cfg);
    sail_audio_options o = sail_config_audio_options(&m->cfg);
    sail_audio a = {0};
    if (!(in->spec = sail_malloc((size_t)g.h * g.w * sizeof *in->spec)))
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the audio features");
    sail_status s = it->audio ? sail_audio_decode_file(it->audio, &o, &a, err)
                              : sail_audio_decode_bytes(it->audio_data, it->audio_size, &o, &a, err);
    if (!s) s = sail_audio_spectrogram(&m->cfg, a.samples, a.n, in->spec, err);
    sail_audio_free(&a);
    return s;
}

sail_status sail_embed_item(sail_model *m, const sail_item *it, int dim, float *out, sail_error *err) {
    sail_status s = check_common(m, 1, dim, out, err);
    if (s) return s;
    if (!it || (!it->text && !it->image && !it->video && !it->audio && !it->image_data && !it->audio_data))
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "the item has no text, image, video nor audio");
    if (!!it->image + !!it->video + !!it->image_data > 1)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "an item takes one image (a file or bytes) or a video");
    if (it->audio && it->audio_data)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "an item takes one clip: a file or bytes, not both");
    if (it->frames < 0 || it->frames > SAIL_MAX_FRAMES)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "%d frames; use 1..%d (0 = %d)", it->frames, SAIL_MAX_FRAMES,
                              SAIL_VIDEO_ITEM_FRAMES);
    if (m->cfg.towers.on && it->video)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "this imported model has no fusion layers to join a video's frames into one vector; "
                              "embed it frame by frame (sail_embed_video, `sail embed --video`)");
    if (!dim) dim = m->cfg.dim;
    int side = sail_model_image_size(m);
    item_in in = {0};
    if (it->text) s = item_text(m, it->text, &in, err);
    if (!s && (it->image || it->video || it->image_data)) s = item_visual(m, it, &in, err);
    if (!s && (it->audio || it->audio_data)) s = item_audio(m, it, &in, err);
    if (!s) {
        sail_batch b = {.n = 1, .ids = in.ids, .lens = in.ids ? &in.len : NULL, .pixels = in.chw, .h = side,
                        .w = side, .frames = in.frames, .spec = in.spec};
        pthread_mutex_lock(&m->lock);
        s = run(m, &b, dim, out, err);
        pthread_mutex_unlock(&m->lock);
    }
    sail_free(in.ids);
    sail_free(in.rgb);
    sail_free(in.chw);
    sail_free(in.spec);
    return s;
}

sail_status sail_embed_video_item(sail_model *m, const char *text, const char *path, int frames, int dim,
                                  float *out, sail_error *err) {
    if (!path) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "video path is NULL");
    sail_item it = {.text = text, .video = path, .frames = frames};
    return sail_embed_item(m, &it, dim, out, err);
}

int sail_model_modalities(const sail_model *m) {
    if (!m) return 0;
    const sail_towers *t = &m->cfg.towers;
    int audio = sail_has_audio(&m->cfg) ? SAIL_MODALITY_AUDIO : 0;
    if (!t->on) return SAIL_MODALITY_TEXT | SAIL_MODALITY_IMAGE | audio;
    return (t->has_text ? SAIL_MODALITY_TEXT : 0) | (t->has_vision ? SAIL_MODALITY_IMAGE : 0) | audio;
}

float sail_cosine(const float *a, const float *b, int dim) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)a[i] * b[i];
    return (float)s;
}

sail_status sail_image_file_tensor(const sail_model *m, const char *path, float *chw,
                                   sail_error *err) {
    if (!m || !path || !chw) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model, path or output is NULL");
    if (check_vision(m, err)) return err ? err->status : SAIL_ERR_UNSUPPORTED;
    sail_preprocess p = sail_config_preprocess(&m->cfg);
    return sail_image_file_preprocess(path, &p, 1, chw, err);
}

sail_status sail_image_bytes_tensor(const sail_model *m, const void *data, size_t size,
                                    int64_t max_pixels, float *chw, sail_error *err) {
    if (!m || !chw) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "model or output is NULL");
    if (max_pixels < 0) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "max_pixels is negative");
    sail_preprocess p = sail_config_preprocess(&m->cfg);
    sail_image_limits lim = sail_image_limits_for(&p);
    if (max_pixels) lim.max_pixels = max_pixels;
    sail_image img = {0};
    sail_status s = sail_image_decode(data, size, "image", &lim, &img, err);
    if (!s) s = sail_image_preprocess(&img, &p, chw, err);
    sail_image_free(&img);
    return s;
}

void sail_model_preprocess(const sail_model *m, sail_preprocess *p) { *p = sail_config_preprocess(&m->cfg); }

sail_status sail_image_file_preprocess(const char *path, const sail_preprocess *p, int exif_rotate,
                                       float *chw, sail_error *err) {
    if (!path || !p || !chw) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "path, recipe or output is NULL");
    sail_image img = {0};
    sail_image_limits lim = sail_image_limits_for(p);
    lim.exif_rotate = exif_rotate;
    sail_status s = sail_image_load(path, &lim, &img, err);
    if (!s) s = sail_image_preprocess(&img, p, chw, err);
    sail_image_free(&img);
    return s;
}
