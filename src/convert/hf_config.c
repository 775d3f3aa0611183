/* hf_config.c: reading Hugging Face config.json and preprocessor_config.json
 * values, with the library's defaults for absent keys and an error naming
 * the key for a value sail cannot honour. */
#include "convert.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *hf_json(const char *dir, const char *file, int required, sail_error *err) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
        sail_set_error(err, SAIL_ERR_INVALID_ARG, "%s: path too long", dir);
        return NULL;
    }
    json_error_t je;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (required) sail_set_error(err, SAIL_ERR_IO, "%s is missing (a Hugging Face model folder has one)", path);
        else if (err) err->status = SAIL_OK;
        return NULL;
    }
    json_t *j = json_loadf(fp, JSON_REJECT_DUPLICATES, &je);
    fclose(fp);
    if (!j) {
        sail_set_error(err, SAIL_ERR_FORMAT, "%s: invalid JSON: %s (line %d)", path, je.text, je.line);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        sail_set_error(err, SAIL_ERR_FORMAT, "%s: the top level is not a JSON object", path);
        return NULL;
    }
    return j;
}

sail_status hf_int(const json_t *obj, const char *key, int def, int lo, int hi, int *out,
                   sail_error *err) {
    const json_t *v = json_object_get(obj, key);
    json_int_t x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            return sail_set_error(err, SAIL_ERR_FORMAT, "config key '%s' is not an integer", key);
        x = json_integer_value(v);
    }
    if (x < lo || x > hi)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "config key '%s' is %lld; sail supports %d..%d", key,
                              (long long)x, lo, hi);
    *out = (int)x;
    return SAIL_OK;
}

sail_status hf_float(const json_t *obj, const char *key, double def, float *out, sail_error *err) {
    const json_t *v = json_object_get(obj, key);
    double x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_number(v)) return sail_set_error(err, SAIL_ERR_FORMAT, "config key '%s' is not a number", key);
        x = json_number_value(v);
    }
    if (!isfinite(x) || fabs(x) > FLT_MAX) /* 1e300 is finite as a double, not as a float */
        return sail_set_error(err, SAIL_ERR_FORMAT, "config key '%s' is not a finite float32", key);
    *out = (float)x;
    return SAIL_OK;
}

sail_status hf_act(const json_t *obj, const char *def, sail_act *out, sail_error *err) {
    const json_t *v = json_object_get(obj, "hidden_act");
    const char *s = v ? json_string_value(v) : def;
    if (!s) return sail_set_error(err, SAIL_ERR_FORMAT, "config key 'hidden_act' is not a string");
    if (!strcmp(s, "gelu")) *out = SAIL_ACT_GELU;
    else if (!strcmp(s, "quick_gelu")) *out = SAIL_ACT_QUICK_GELU;
    /* transformers' two names of the same tanh approximation */
    else if (!strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_new")) *out = SAIL_ACT_GELU_TANH;
    else
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                              "hidden_act '%.40s' is not supported; sail computes gelu (erf), quick_gelu and "
                              "gelu_pytorch_tanh", s);
    return SAIL_OK;
}

const char *hf_act_name(sail_act a) {
    return a == SAIL_ACT_GELU_TANH ? "gelu_pytorch_tanh" : a == SAIL_ACT_QUICK_GELU ? "quick_gelu" : "gelu";
}

json_t *hf_two_towers(const json_t *cfg, hf_model *m, const json_t **tc, const json_t **vc, sail_error *err) {
    json_t *empty = json_object();
    if (!empty) {
        sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *tc = json_object_get(cfg, "text_config");
    *vc = json_object_get(cfg, "vision_config");
    if (!json_is_object(*tc)) *tc = empty;
    if (!json_is_object(*vc)) *vc = empty;
    memset(m, 0, sizeof *m);
    m->cfg.towers.on = m->cfg.towers.has_text = m->cfg.towers.has_vision = 1;
    return empty;
}

sail_status hf_tower(const json_t *obj, const sail_tower *d, sail_tower *t, sail_error *err) {
    sail_status s = SAIL_OK;
    *t = *d;
    if (!s) s = hf_int(obj, "num_hidden_layers", d->layers, 1, 256, &t->layers, err);
    if (!s) s = hf_int(obj, "hidden_size", d->width, 1, 16384, &t->width, err);
    if (!s) s = hf_int(obj, "num_attention_heads", d->heads, 1, 1024, &t->heads, err);
    if (!s) s = hf_int(obj, "intermediate_size", d->ffn, 1, 65536, &t->ffn, err);
    if (!s) s = hf_float(obj, "layer_norm_eps", d->eps, &t->eps, err);
    if (!s) s = hf_act(obj, hf_act_name(d->act), &t->act, err);
    if (!s && t->width % t->heads)
        s = sail_set_error(err, SAIL_ERR_FORMAT, "hidden_size %d is not a multiple of num_attention_heads %d",
                           t->width, t->heads);
    return s;
}

json_t *hf_real(float x) {
    char buf[32];
    for (int p = 1; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)x);
        double d = strtod(buf, NULL);
        if ((float)d == x) return json_real(d);
    }
    return json_real((double)x);    /* 9 digits always read back */
}

int hf_tower_json(json_t *obj, const sail_tower *t) {
    int bad = json_object_set_new(obj, "hidden_size", json_integer(t->width));
    bad |= json_object_set_new(obj, "intermediate_size", json_integer(t->ffn));
    bad |= json_object_set_new(obj, "num_attention_heads", json_integer(t->heads));
    bad |= json_object_set_new(obj, "num_hidden_layers", json_integer(t->layers));
    bad |= json_object_set_new(obj, "hidden_act", json_string(hf_act_name(t->act)));
    bad |= json_object_set_new(obj, "layer_norm_eps", hf_real(t->eps));
    return bad ? -1 : 0;
}

json_t *hf_json_done(json_t *j, int bad) {
    if (!bad) return j;
    json_decref(j);
    return NULL;
}

json_t *hf_two_towers_json(const sail_config *c, const char *arch, const char *type, json_t **tc, json_t **vc) {
    json_t *j = json_object(), *a = json_array();
    *tc = json_object();
    *vc = json_object();
    int bad = !j || !a || !*tc || !*vc;
    bad |= json_array_append_new(a, json_string(arch));
    bad |= json_object_set_new(j, "architectures", a);
    bad |= json_object_set_new(j, "model_type", json_string(type));
    bad |= hf_tower_json(*tc, &c->text);
    bad |= json_object_set_new(*tc, "vocab_size", json_integer(c->vocab_size));
    bad |= json_object_set_new(*tc, "max_position_embeddings", json_integer(c->max_positions));
    bad |= json_object_set_new(*tc, "pad_token_id", json_integer(c->pad_id));
    bad |= hf_tower_json(*vc, &c->vision);
    bad |= json_object_set_new(*vc, "image_size", json_integer(c->image_size));
    bad |= json_object_set_new(*vc, "patch_size", json_integer(c->patch_size));
    bad |= json_object_set_new(*vc, "num_channels", json_integer(3));
    /* j holds both from here, so one json_decref(j) releases everything */
    bad |= json_object_set(j, "text_config", *tc);
    bad |= json_object_set(j, "vision_config", *vc);
    json_decref(*tc);
    json_decref(*vc);
    bad |= json_object_set_new(j, "torch_dtype", json_string("float32"));
    return hf_json_done(j, bad);
}

static json_t *side_json(const char *k1, int v1, const char *k2, int v2) {
    json_t *j = json_object();
    int bad = json_object_set_new(j, k1, json_integer(v1));
    if (k2) bad |= json_object_set_new(j, k2, json_integer(v2));
    return hf_json_done(j, bad);
}

static json_t *triple_json(const float v[3]) {
    json_t *a = json_array();
    int bad = 0;
    for (int i = 0; i < 3; i++) bad |= json_array_append_new(a, hf_real(v[i]));
    return hf_json_done(a, bad);
}

json_t *hf_preprocessor_json(const sail_config *c, const char *processor, int squash) {
    json_t *j = json_object();
    int crop = !squash && c->pre_crop;
    int bad = json_object_set_new(j, "image_processor_type", json_string(processor));
    bad |= json_object_set_new(j, "do_resize", json_true());
    bad |= json_object_set_new(j, "size", crop ? side_json("shortest_edge", c->pre_size, NULL, 0)
                                                : side_json("height", c->pre_size, "width", c->pre_size));
    bad |= json_object_set_new(j, "resample", json_integer(c->resample));
    /* Explicit: ChineseCLIPImageProcessor's default is a 224 crop. */
    bad |= json_object_set_new(j, "do_center_crop", json_boolean(crop));
    if (crop) bad |= json_object_set_new(j, "crop_size", side_json("height", c->pre_crop, "width", c->pre_crop));
    bad |= json_object_set_new(j, "do_rescale", json_true());
    bad |= json_object_set_new(j, "rescale_factor", json_real(1.0 / 255));
    bad |= json_object_set_new(j, "do_normalize", json_true());
    bad |= json_object_set_new(j, "image_mean", triple_json(c->mean));
    bad |= json_object_set_new(j, "image_std", triple_json(c->std));
    bad |= json_object_set_new(j, "do_convert_rgb", json_true());
    return hf_json_done(j, bad);
}

/* A size entry: an integer, or {"shortest_edge": n} / {"height": h, "width": w}. */
static sail_status size_entry(const json_t *v, const char *key, int *side, int *shortest,
                              sail_error *err) {
    *shortest = 0;
    json_int_t x; /* range-checked before it becomes an int */
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_object(v) && json_is_integer(json_object_get(v, "shortest_edge"))) {
        x = json_integer_value(json_object_get(v, "shortest_edge"));
        *shortest = 1;
    } else if (json_is_object(v) && json_is_integer(json_object_get(v, "height")) &&
               json_is_integer(json_object_get(v, "width"))) {
        json_int_t h = json_integer_value(json_object_get(v, "height"));
        json_int_t w = json_integer_value(json_object_get(v, "width"));
        if (h != w)
            return sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                                  "preprocessor_config.json: %s is %lldx%lld; sail needs square images",
                                  key, (long long)w, (long long)h);
        x = h;
    } else {
        return sail_set_error(err, SAIL_ERR_FORMAT, "preprocessor_config.json: '%s' is not a size", key);
    }
    if (x < 1 || x > 4096)
        return sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: %s %lld is outside 1..4096", key,
                              (long long)x);
    *side = (int)x;
    return SAIL_OK;
}

static sail_status triple(const json_t *pp, const char *key, float *out, sail_error *err) {
    const json_t *v = json_object_get(pp, key);
    if (!v) return SAIL_OK; /* the family's default stays */
    if (!json_is_array(v) || json_array_size(v) != 3)
        return sail_set_error(err, SAIL_ERR_FORMAT, "preprocessor_config.json: '%s' is not 3 numbers", key);
    for (int i = 0; i < 3; i++) {
        const json_t *x = json_array_get(v, (size_t)i);
        if (!json_is_number(x)) return sail_set_error(err, SAIL_ERR_FORMAT, "preprocessor_config.json: '%s' is not 3 numbers", key);
        out[i] = (float)json_number_value(x);
    }
    return SAIL_OK;
}

static int flag(const json_t *pp, const char *key, int def) {
    const json_t *v = json_object_get(pp, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

sail_status hf_preprocessor(const char *dir, int squash, sail_config *c, sail_error *err) {
    json_t *pp = hf_json(dir, "preprocessor_config.json", 1, err);
    if (!pp) return err ? err->status : SAIL_ERR_IO;
    sail_status s = SAIL_OK;
    int side = c->image_size, shortest = 0, crop = 0, cshort;
    const json_t *v;
    if ((v = json_object_get(pp, "size"))) s = size_entry(v, "size", &side, &shortest, err);
    int do_crop = !squash && flag(pp, "do_center_crop", 1);
    if (!s && do_crop) {
        crop = side;
        if ((v = json_object_get(pp, "crop_size"))) s = size_entry(v, "crop_size", &crop, &cshort, err);
    }
    if (!s && (!flag(pp, "do_resize", 1) || !flag(pp, "do_normalize", 1) || !flag(pp, "do_rescale", 1)))
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                           "preprocessor_config.json turns off resizing, rescaling or normalisation; sail always does all three");
    if (!s && json_is_number(json_object_get(pp, "rescale_factor")) &&
        fabs(json_number_value(json_object_get(pp, "rescale_factor")) - 1.0 / 255) > 1e-9)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: rescale_factor must be 1/255");
    if (!s) s = hf_int(pp, "resample", c->resample, 0, 5, &c->resample, err);
    if (!s && c->resample != 2 && c->resample != 3)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                           "preprocessor_config.json: resample %d; sail resizes bilinear (2) or bicubic (3)", c->resample);
    if (!s) s = triple(pp, "image_mean", c->mean, err);
    if (!s) s = triple(pp, "image_std", c->std, err);
    if (!s && do_crop && crop > side)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED, "preprocessor_config.json: crop_size %d exceeds size %d", crop, side);
    /* "shortest_edge" with a crop is CLIP's resize-then-crop; a plain size
     * without one is a squash to size x size. */
    if (!s && !squash && !do_crop && shortest)
        s = sail_set_error(err, SAIL_ERR_UNSUPPORTED,
                           "preprocessor_config.json resizes the shortest edge without a crop; sail needs square input");
    c->pre_size = side;
    c->pre_crop = do_crop ? crop : 0;
    /* Every Hugging Face processor crops with image_transforms.center_crop,
     * whose offset is (h - crop) // 2 (torchvision rounds). */
    c->crop_floor = do_crop;
    json_decref(pp);
    if (s) sail_error_prefix(err, "%s", dir);
    return s;
}
