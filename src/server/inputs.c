/* inputs.c: turning request inputs (strings, OpenAI content parts, image
 * data URLs, audio clips) into batcher jobs. The per-input work runs here, on the HTTP
 * thread: counting and truncating tokens, base64-decoding and decoding
 * images (with the pixel limit), preprocessing them to the model's tensor.
 * Every client mistake becomes a 4xx with a message naming the input. */
#include "common.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

static const signed char b64_val[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
}; /* value + 1; 0 = not in the alphabet */

long srv_base64_decode(const char *in, size_t len, uint8_t *out) {
    while (len && in[len - 1] == '=') len--;
    if (len % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val[(unsigned char)in[i]];
        if (!v) return -1;
        acc = acc << 6 | (uint32_t)(v - 1);
        if (i % 4 == 3) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (len % 4 == 2) out[o++] = (uint8_t)(acc >> 4);
    else if (len % 4 == 3) {
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    return (long)o;
}

char *srv_base64_encode(const uint8_t *in, size_t len) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = sail_malloc((len + 2) / 3 * 4 + 1), *p = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = abc[v >> 18];
        *p++ = abc[v >> 12 & 63];
        *p++ = abc[v >> 6 & 63];
        *p++ = abc[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *p++ = abc[v >> 18];
        *p++ = abc[v >> 12 & 63];
        *p++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
        *p++ = '=';
    }
    *p = 0;
    return out;
}

srv_inputs *srv_inputs_new(int n, int dim, srv_model *model) {
    srv_inputs *in = sail_calloc(1, sizeof *in);
    if (!in) return NULL;
    in->model = model;
    in->jobs = sail_calloc((size_t)(n ? n : 1), sizeof *in->jobs);
    if (!in->jobs) {
        sail_free(in);
        return NULL;
    }
    in->n = n;
    in->dim = dim;
    return in;
}

void srv_inputs_free(srv_inputs *in) {
    if (!in) return;
    for (int i = 0; i < in->n; i++) {
        sail_free(in->jobs[i].ids);
        sail_free(in->jobs[i].chw);
        sail_free(in->jobs[i].audio);
        sail_free(in->jobs[i].text);
        sail_free(in->jobs[i].image);
        sail_free(in->jobs[i].out);
    }
    sail_free(in->jobs);
    sail_free(in);
}

/* Decodes a data: URL into image bytes (malloc-ed); sends the 4xx itself. */
static uint8_t *data_url_bytes(srv_request *r, const char *url, const char *param, long *n,
                               enum MHD_Result *ret) {
    if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)) {
        *ret = srv_send_error(r, 400, param, "remote_url_refused",
                              "%s: remote image URLs are not fetched by this server; send the image inline "
                              "as a data URL (data:image/png;base64,...).", param);
        return NULL;
    }
    const char *comma = strchr(url, ',');
    if (strncmp(url, "data:", 5) || !comma) {
        *ret = srv_send_error(r, 400, param, "invalid_image_url",
                              "%s: an image must be a data URL (data:image/...;base64,...).", param);
        return NULL;
    }
    size_t head = (size_t)(comma - url);
    if (head < 12 || strncmp(url + 5, "image/", 6) || strncmp(comma - 7, ";base64", 7)) {
        *ret = srv_send_error(r, 400, param, "invalid_image_url",
                              "%s: the data URL must be an image in base64 (data:image/<type>;base64,...).", param);
        return NULL;
    }
    size_t len = strlen(comma + 1);
    uint8_t *bytes = sail_malloc(len / 4 * 3 + 3);
    if (!bytes) {
        *ret = srv_send_error(r, 503, NULL, NULL, "out of memory decoding an image");
        return NULL;
    }
    *n = srv_base64_decode(comma + 1, len, bytes);
    if (*n < 0) {
        sail_free(bytes);
        *ret = srv_send_error(r, 400, param, "invalid_base64",
                              "%s: the data URL's base64 payload is malformed.", param);
        return NULL;
    }
    return bytes;
}

/* A text input's checks before any work: not empty, and within the context
 * when the server runs with --no-truncate; *full (may be NULL) gets its
 * token count before truncation. Returns 0, or sends the 4xx/5xx. */
static int text_check(srv_request *r, const srv_model *m, const char *text, size_t tlen, const char *param,
                      int *full, enum MHD_Result *ret) {
    sail_error err = {0};
    int n = 0;
    if (!tlen) {
        *ret = srv_send_error(r, 400, param, NULL, "%s is an empty string; every input must have content.", param);
        return -1;
    }
    if (sail_count_tokens(m->m, text, tlen, &n, &err)) {
        *ret = srv_send_error(r, err.status == SAIL_ERR_NOMEM ? 503 : 400, param, NULL, "%s: %s", param, err.msg);
        return -1;
    }
    if (n > m->context && r->srv->cfg.no_truncate) {
        *ret = srv_send_error(r, 400, param, "context_length_exceeded",
                              "%s is %d tokens; the context of model %s is %d tokens (the server runs with "
                              "--no-truncate).", param, n, m->name, m->context);
        return -1;
    }
    if (full) *full = n;
    return 0;
}

int srv_input_set(srv_request *r, srv_inputs *in, int i, const char *text, size_t tlen,
                  const char *image_url, const char *param, enum MHD_Result *ret) {
    srv_server *s = r->srv;
    srv_model *m = in->model;
    srv_job *j = &in->jobs[i];
    sail_error err = {0};
    j->dim = in->dim;
    j->kind = !image_url ? JOB_TEXT : text ? JOB_JOINT : JOB_IMAGE;
    j->out = sail_malloc((size_t)in->dim * sizeof(float));
    if (!j->out) goto oom;
    if (text) {
        if (text_check(r, m, text, tlen, param, NULL, ret)) return -1;
        j->ids = sail_malloc((size_t)m->context * sizeof *j->ids);
        if (!j->ids) goto oom;
        if (sail_tokenize(m->m, text, tlen, j->ids, &j->n_ids, &err)) goto engine;
        in->tokens += j->n_ids;
    }
    if (image_url) {
        long n = 0;
        uint8_t *bytes = data_url_bytes(r, image_url, param, &n, ret);
        if (!bytes) return -1;
        j->chw = sail_malloc((size_t)3 * m->image_side * m->image_side * sizeof(float));
        sail_status st = j->chw ? sail_image_bytes_tensor(m->m, bytes, (size_t)n, s->cfg.max_image_pixels,
                                                          j->chw, &err)
                                : SAIL_ERR_NOMEM;
        sail_free(bytes);
        if (st == SAIL_ERR_NOMEM) goto oom;
        if (st) {
            *ret = srv_send_error(r, 400, param, st == SAIL_ERR_LIMIT ? "image_too_large" : "invalid_image",
                                  "%s: %s", param, err.msg);
            return -1;
        }
    }
    return 0;
oom:
    *ret = srv_send_error(r, 503, NULL, NULL, "out of memory preparing %s", param);
    return -1;
engine:
    *ret = srv_send_error(r, err.status == SAIL_ERR_NOMEM ? 503 : 400, param, NULL, "%s: %s", param, err.msg);
    return -1;
}

/* An audio clip, plain base64 or a data:audio/...;base64 URL: its bytes
 * into job i (and its output buffer), for the batcher, which decodes and
 * embeds them through the model's front end. */
static int input_clip(srv_request *r, srv_inputs *in, int i, const char *data, const char *param,
                      enum MHD_Result *ret) {
    srv_job *j = &in->jobs[i];
    if (!(in->model->modalities & SAIL_MODALITY_AUDIO)) {
        *ret = srv_send_error(r, 400, param, "unsupported_input",
                              "%s: model %s has no audio encoder (it embeds %s).", param, in->model->name,
                              in->model->modalities & SAIL_MODALITY_IMAGE ? "texts and images" : "texts");
        return -1;
    }
    if (!strncmp(data, "data:", 5)) {
        const char *comma = strchr(data, ',');
        if (!comma || strncmp(data + 5, "audio/", 6) || comma - data < 18 || strncmp(comma - 7, ";base64", 7)) {
            *ret = srv_send_error(r, 400, param, "invalid_audio",
                                  "%s: an audio data URL must be data:audio/<type>;base64,...", param);
            return -1;
        }
        data = comma + 1;
    }
    size_t len = strlen(data);
    j->dim = in->dim;
    j->kind = JOB_AUDIO;
    j->out = sail_malloc((size_t)in->dim * sizeof(float));
    j->audio = sail_malloc(len / 4 * 3 + 3);
    if (!j->out || !j->audio) {
        *ret = srv_send_error(r, 503, NULL, NULL, "out of memory preparing %s", param);
        return -1;
    }
    long n = srv_base64_decode(data, len, j->audio);
    if (n <= 0) {
        *ret = srv_send_error(r, 400, param, "invalid_base64", "%s: the audio data is %s.", param,
                              n ? "malformed base64" : "empty");
        return -1;
    }
    j->audio_len = (size_t)n;
    return 0;
}

/* A clip with a text and/or an image: one item for sail_embed_item. The
 * text is checked here (empty, or over the context with --no-truncate);
 * the image and the clip are decoded by the engine, whose refusal is the
 * client's 400. */
static int input_clip_item(srv_request *r, srv_inputs *in, int i, const char *text, size_t tlen,
                           const char *image_url, const char *clip, const char *param, enum MHD_Result *ret) {
    srv_job *j = &in->jobs[i];
    srv_model *m = in->model;
    if (input_clip(r, in, i, clip, param, ret)) return -1;
    j->kind = JOB_ITEM;
    if (text) {
        int full = 0;
        if (text_check(r, m, text, tlen, param, &full, ret)) return -1;
        if (!(j->text = sail_malloc(tlen + 1))) goto oom;
        memcpy(j->text, text, tlen);
        j->text[tlen] = 0;
        in->tokens += full < m->context ? full : m->context;
    }
    if (image_url) {
        long n = 0;
        if (!(j->image = data_url_bytes(r, image_url, param, &n, ret))) return -1;
        j->image_len = (size_t)n;
    }
    return 0;
oom:
    *ret = srv_send_error(r, 503, NULL, NULL, "out of memory preparing %s", param);
    return -1;
}

const char *srv_job_modality(const srv_job *j) {
    switch (j->kind) {
    case JOB_TEXT: return "text";
    case JOB_IMAGE: return "image";
    case JOB_JOINT: return "image+text";
    case JOB_AUDIO: return "audio";
    case JOB_ITEM: break;
    }
    return j->image && j->text ? "image+text+audio" : j->image ? "image+audio" : "text+audio";
}

/* {"type": "input_audio", "input_audio": {"data": ..., "format": ...}} or
 * {"type": "audio_url", "audio_url": {"url": "data:audio/..."}}: the data,
 * or NULL. The format is found from the bytes, as for files. */
static const char *audio_part(const char *type, json_t *part) {
    json_t *v = NULL;
    if (!strcmp(type, "input_audio")) v = json_object_get(json_object_get(part, "input_audio"), "data");
    else if (!strcmp(type, "audio_url")) {
        v = json_object_get(part, "audio_url");
        if (json_is_object(v)) v = json_object_get(v, "url");
    }
    return json_string_value(v);
}

int srv_input_item(srv_request *r, srv_inputs *in, int i, json_t *item, const char *param,
                   enum MHD_Result *ret) {
    if (json_is_string(item))
        return srv_input_set(r, in, i, json_string_value(item), json_string_length(item), NULL, param, ret);
    if (!json_is_array(item) || !json_array_size(item)) {
        *ret = srv_send_error(r, 400, param, "invalid_type",
                              "%s must be a string or a non-empty list of content parts "
                              "({\"type\": \"text\", ...} / {\"type\": \"image_url\", ...}).", param);
        return -1;
    }
    const char *text = NULL, *url = NULL, *audio = NULL;
    size_t tlen = 0, k;
    json_t *part;
    json_array_foreach(item, k, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        int ok = 0;
        if (type && audio_part(type, part) && !audio) {
            audio = audio_part(type, part);
            ok = 1;
        } else if (type && !strcmp(type, "text") && !text) {
            json_t *v = json_object_get(part, "text");
            if (json_is_string(v)) {
                text = json_string_value(v);
                tlen = json_string_length(v);
                ok = 1;
            }
        } else if (type && !strcmp(type, "image_url") && !url) {
            json_t *v = json_object_get(part, "image_url");
            if (json_is_object(v)) v = json_object_get(v, "url");
            if (json_is_string(v)) {
                url = json_string_value(v);
                ok = 1;
            }
        }
        if (!ok) {
            *ret = srv_send_error(r, 400, param, "invalid_type",
                                  "%s[%zu] must be {\"type\": \"text\", \"text\": \"...\"} or {\"type\": "
                                  "\"image_url\", \"image_url\": {\"url\": \"data:image/...;base64,...\"}} "
                                  "or an audio clip ({\"type\": \"input_audio\", \"input_audio\": "
                                  "{\"data\": \"<base64>\", \"format\": \"wav\"}}); an input holds at most one "
                                  "text, one image and one clip.", param, k);
            return -1;
        }
    }
    if (audio && (text || url)) return input_clip_item(r, in, i, text, tlen, url, audio, param, ret);
    if (audio) return input_clip(r, in, i, audio, param, ret);
    return srv_input_set(r, in, i, text, tlen, url, param, ret);
}
