/* test_convert_api.c: the library side of imported models without Python:
 * sail_model_logit_scale (absent, stored, clamped), native files staying
 * free of the new keys, a WordPiece "towers" model written and loaded
 * through the same walk, its refusals, and sail_convert's argument errors. */
#include "format/gguf.h"
#include "model/model.h"
#include "sail.h"
#include "fixtures.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static float scale_of(const sail_config *c, const char *path) {
    sail_error err = {0};
    if (sail_model_write_random(c, micro_tokens, 1, path, &err)) {
        printf("# write: %s\n", err.msg);
        return -1;
    }
    sail_model *m = sail_model_load(path, NULL, &err);
    float v = m ? sail_model_logit_scale(m) : -1;
    if (!m) printf("# load: %s\n", err.msg);
    sail_model_free(m);
    return v;
}

int main(void) {
    char dir[] = "/tmp/sail_test_convert_XXXXXX", path[128];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    sail_error err = {0};

    sail_config c = micro();
    CHECK(fabsf(scale_of(&c, path) - 1.0f / 0.07f) < 1e-4f, "no sail.logit_scale: CLIP's initial 1/0.07");
    gguf_file *f = gguf_open(path, &err);
    CHECK(f && !gguf_find_kv(f, "sail.logit_scale") && !gguf_find_kv(f, "sail.variant"),
          "a native file carries none of the imported-model keys");
    gguf_close(f);
    c.has_logit_scale = 1;
    c.logit_scale = logf(50.0f);
    CHECK(fabsf(scale_of(&c, path) - 50.0f) < 1e-3f, "stored log(50) gives 50");
    c.logit_scale = 5.0f;
    CHECK(scale_of(&c, path) == 100.0f, "exp(5) = 148 is clamped to 100");

    /* A BERT-like imported model: text tower only, masked-mean pooling. */
    sail_config t = micro();
    memset(&t.fusion, 0, sizeof t.fusion);
    t.towers = (sail_towers){.on = 1, .has_text = 1, .text_emb_norm = 1, .text_pool = SAIL_TPOOL_MEAN};
    memset(&t.vision, 0, sizeof t.vision);
    CHECK(!sail_model_write_random(&t, micro_tokens, 3, path, &err), "a towers (text only) model writes %s", err.msg);
    sail_model *m = sail_model_load(path, NULL, &err);
    CHECK(m != NULL, "and loads %s", m ? "" : err.msg);
    if (m) {
        const char *texts[2] = {"a b c", "d"};
        float v[16];
        CHECK(!sail_embed_texts(m, texts, 2, 0, v, &err) && fabsf(sail_cosine(v, v, 8) - 1) < 1e-5f,
              "it embeds texts into unit vectors %s", err.msg);
        const char *paths[1] = {"none.png"};
        CHECK(sail_embed_image_files(m, paths, 1, 0, v, &err) == SAIL_ERR_UNSUPPORTED &&
                  strstr(err.msg, "no vision encoder"),
              "an image is refused: %s", err.msg);
        CHECK(strstr(sail_model_describe(m), "variant=towers") != NULL, "describe names the variant");
        sail_model_free(m);
    }
    t.towers.has_text = 0;
    memset(&t.text, 0, sizeof t.text);
    CHECK(sail_config_validate(&t, &err) == SAIL_ERR_FORMAT && strstr(err.msg, "no text, vision nor audio encoder"),
          "a towers config without towers is refused");

    CHECK(sail_convert("/nonexistent/dir", path, NULL, &err) == SAIL_ERR_IO && strstr(err.msg, "config.json"),
          "convert of a missing folder names config.json: %s", err.msg);
    sail_convert_options o = {.type = "q8_0"};
    CHECK(sail_convert(dir, path, &o, &err) == SAIL_ERR_UNSUPPORTED && strstr(err.msg, "f32"),
          "convert --type q8_0 is refused for now");
    unlink(path);
    rmdir(dir);
    return test_done();
}
