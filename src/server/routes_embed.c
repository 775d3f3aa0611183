/* routes_embed.c: POST /v1/embeddings and GET /v1/models[/{id}],
 * compatible with OpenAI's API.
 *
 * Request: {"input": string | [string | [content part, ...], ...],
 *           "model": a served model's name (absent or null: the first
 *           --model; with one plain --model path, any string is accepted
 *           and echoed), "dimensions": 1..dim,
 *           "encoding_format": "float" | "base64", "user": ignored}
 * A list of content parts ({"type": "text", "text": ...},
 * {"type": "image_url", "image_url": {"url": "data:image/...;base64,..."}})
 * is ONE joint text+image input; a list holding one audio part
 * ({"type": "input_audio", "input_audio": {"data": base64, "format": ...}}
 * or {"type": "audio_url", "audio_url": {"url": "data:audio/...;base64,..."}})
 * is an audio clip, for models with an audio encoder. Response: {"object": "list", "data":
 * [{"object": "embedding", "index": i, "embedding": [...] | "base64"}],
 * "model": ..., "usage": {"prompt_tokens": n, "total_tokens": n}}. */
#include "common.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct embed_state {
    int base64;
    char model[128];
} embed_state;

static json_t *vector_json(const float *v, int dim, int base64) {
    if (base64) {
        char *b = srv_base64_encode((const uint8_t *)v, (size_t)dim * sizeof(float));
        json_t *s = b ? json_string(b) : NULL;
        sail_free(b);
        return s;
    }
    json_t *a = json_array();
    for (int i = 0; a && i < dim; i++)
        if (json_array_append_new(a, json_real(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* A job failed in the engine: the input was valid JSON but the model could
 * not take it (a 400 for limits and bad arguments, a 500 otherwise). */
enum MHD_Result srv_send_job_error(srv_request *r, const srv_inputs *in) {
    for (int i = 0; i < in->n; i++) {
        const srv_job *j = &in->jobs[i];
        if (!j->status) continue;
        /* an audio clip is decoded by the engine: a clip it cannot read is the client's */
        int raw = j->kind == JOB_AUDIO || j->kind == JOB_ITEM; /* parts the engine decodes */
        int bad = j->status == SAIL_ERR_INVALID_ARG || j->status == SAIL_ERR_LIMIT ||
                  (raw && (j->status == SAIL_ERR_FORMAT || j->status == SAIL_ERR_UNSUPPORTED));
        const char *code = !bad                ? NULL
                           : j->kind == JOB_AUDIO ? "invalid_audio"
                           : j->kind == JOB_ITEM  ? "invalid_input"
                                                  : NULL;
        return srv_send_error(r, bad ? 400 : 500, NULL, code, "input %d: %s", i, j->msg);
    }
    return MHD_NO;
}

static enum MHD_Result respond(srv_request *r) {
    embed_state *st = r->state;
    srv_inputs *in = r->in;
    for (int i = 0; i < in->n; i++)
        if (in->jobs[i].status) return srv_send_job_error(r, in);
    json_t *data = json_array();
    for (int i = 0; data && i < in->n; i++) {
        json_t *v = vector_json(in->jobs[i].out, in->dim, st->base64);
        json_t *o = v ? json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", i, "embedding", v) : NULL;
        if (!o || json_array_append_new(data, o)) {
            json_decref(data);
            data = NULL;
        }
    }
    if (!data) return srv_send_error(r, 503, NULL, NULL, "out of memory building the response");
    json_t *doc = json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data, "model", st->model,
                            "usage", "prompt_tokens", in->tokens, "total_tokens", in->tokens);
    return srv_send_json(r, 200, doc);
}

srv_model *srv_find_model(srv_server *s, const char *name) {
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].name, name)) return &s->models[i];
    return NULL;
}

/* "a, b, c": the served models' names, for messages. */
static void model_list(const srv_server *s, char *out, size_t cap) {
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < s->n_models && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? ", " : "", s->models[i].name);
}

static enum MHD_Result model_not_found(srv_request *r, const char *param, const char *name) {
    char list[512];
    model_list(r->srv, list, sizeof list);
    return srv_send_error(r, 404, param, "model_not_found",
                          "The model '%.200s' does not exist on this server; it serves: %s (GET /v1/models).", name,
                          list);
}

static json_t *model_json(const srv_model *m) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", m->name, "object", "model", "created", (json_int_t)m->created,
                     "owned_by", "sail");
}

enum MHD_Result srv_route_models(srv_request *r) {
    srv_server *s = r->srv;
    json_t *data = json_array();
    for (int i = 0; data && i < s->n_models; i++)
        if (json_array_append_new(data, model_json(&s->models[i]))) {
            json_decref(data);
            data = NULL;
        }
    if (!data) return srv_send_error(r, 503, NULL, NULL, "out of memory building the response");
    return srv_send_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

enum MHD_Result srv_route_model(srv_request *r) {
    const char *id = r->url + strlen("/v1/models/");
    srv_model *m = srv_find_model(r->srv, id);
    if (!m) return model_not_found(r, NULL, id);
    return srv_send_json(r, 200, model_json(m));
}

enum MHD_Result srv_route_embeddings(srv_request *r) {
    srv_server *s = r->srv;
    enum MHD_Result ret = MHD_NO;
    json_t *doc;
    embed_state *st = srv_route_state(r, sizeof *st, NULL, &doc, &ret);
    if (!st) return ret;

    json_t *input = json_object_get(doc, "input");
    json_t *model = json_object_get(doc, "model");
    json_t *fmt = json_object_get(doc, "encoding_format");
    json_t *dims = json_object_get(doc, "dimensions");
    if (model && !json_is_string(model) && !json_is_null(model))
        return srv_send_error(r, 400, "model", "invalid_type", "'model' must be a string.");
    /* No model: the first. An unknown one is a 404, as OpenAI answers, unless
     * the server has one model given as a plain path (then, as before
     * several models could be served, any name is accepted and echoed). */
    const char *want = json_string_value(model);
    srv_model *m = want ? srv_find_model(s, want) : &s->models[0];
    if (!m && s->strict_models) return model_not_found(r, "model", want);
    if (!m) m = &s->models[0];
    r->model = m;
    snprintf(st->model, sizeof st->model, "%s", want ? want : m->name);
    srv_utf8_clean(st->model); /* a cut may fall inside a character */
    if (fmt && !json_is_null(fmt)) {
        const char *f = json_string_value(fmt);
        if (!f || (strcmp(f, "float") && strcmp(f, "base64")))
            return srv_send_error(r, 400, "encoding_format", "invalid_value",
                                  "'encoding_format' must be \"float\" or \"base64\".");
        st->base64 = !strcmp(f, "base64");
    }
    int dim = m->dim;
    if (dims && !json_is_null(dims)) {
        json_int_t d = json_is_integer(dims) ? json_integer_value(dims) : 0;
        if (d < 1 || d > m->dim)
            return srv_send_error(r, 400, "dimensions", "invalid_value",
                                  "'dimensions' must be an integer from 1 to %d (the dimension of model %s).",
                                  m->dim, m->name);
        dim = (int)d;
    }
    if (!input)
        return srv_send_error(r, 400, "input", "missing_required_parameter", "'input' is a required property.");
    /* A list whose first element is a content part is one joint input. */
    int single = json_is_string(input) ||
                 (json_is_array(input) && json_is_object(json_array_get(input, 0)));
    if (!single && !json_is_array(input))
        return srv_send_error(r, 400, "input", "invalid_type",
                              "'input' must be a string, a list of strings or a list of inputs.");
    size_t n = single ? 1 : json_array_size(input);
    if (!n)
        return srv_send_error(r, 400, "input", "invalid_value", "'input' is an empty list.");
    if (n > (size_t)s->cfg.max_inputs)
        return srv_send_error(r, 400, "input", "too_many_inputs",
                              "'input' has %zu items; the limit is %d per request (--max-inputs).", n,
                              s->cfg.max_inputs);
    r->in = srv_inputs_new((int)n, dim, m);
    if (!r->in) return srv_send_error(r, 503, NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char param[32];
        if (single) snprintf(param, sizeof param, "input");
        else snprintf(param, sizeof param, "input[%zu]", i);
        json_t *item = single ? input : json_array_get(input, i);
        if (srv_input_item(r, r->in, (int)i, item, param, &ret)) return ret;
    }
    r->resume = respond;
    return srv_submit_and_suspend(r, m, r->in->jobs, r->in->n);
}
