// sources: src/server/http.c src/server/respond.c src/server/inputs.c src/server/routes_embed.c src/server/routes_index.c src/server/batcher.c src/server/metrics.c src/index/index.c src/index/open.c src/index/remote.c src/index/store.c src/index/apply.c src/index/fileio.c src/index/wal.c src/index/snapshot.c src/index/payload.c src/index/hnsw.c src/index/search.c src/index/exact.c src/index/interchange.c src/index/faiss_write.c src/index/distance.c src/index/distance_avx2.c src/index/distance_avx512.c src/kernels/numfmt.c src/text/utf8.c src/core/alloc.c src/core/fault.c src/core/error.c src/core/pool.c src/core/cpu.c
// libs: -lmicrohttpd -ljansson -lz -lpthread
/* fuzz_server.c: libFuzzer harness for what `sail serve` does with a
 * request body: the routes' JSON handling (POST /v1/embeddings, /v1/search,
 * /v1/items; DELETE /v1/items/{id}), the OpenAI input items and content
 * parts, image data URLs and their base64 (src/server/inputs.c), search
 * filters, the batcher and the responses. The HTTP daemon is not run: the
 * route functions are called on a request made here, libmicrohttpd's
 * queue/suspend/resume are replaced so the response is counted and the
 * batcher's completion resumes the request, and the model is a stub (text:
 * one id per 3 bytes; image: the bytes are read, a blank tensor comes back;
 * "L..." images are over the pixel limit, empty ones undecodable; audio:
 * the bytes are read, an empty clip is undecodable). The index
 * is an in-memory shell holding three items, its log a memfd.
 *
 * First byte % 6: 0 embeddings, 1 search, 2 items add, 3 items delete (the
 * rest is the id path), 4 base64 decode (+ round trip), 5 embeddings with
 * --no-truncate. Two models are served ("fuzz-model", "fuzz-b"); the first
 * byte's top bit makes "model" strict (an unknown name is a 404). Checks: every request gets exactly one response; a decoded
 * base64 payload fits the buffer inputs.c sizes for it and re-encodes to
 * its input (modulo padding). With FUZZ_SERVER_LENIENT=1 a request left
 * unanswered is counted (printed at exit) rather than a finding. */
#include "../mhd_stub.h"
#include "ix_shell.h"
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ------------------------------------------------------- model stub -- */

enum { DIM = 16, CONTEXT = 16, SIDE = 8, INDEX_DIM = 8 };
static int model_token;
static volatile uint8_t sink;

sail_status sail_count_tokens(const sail_model *m, const char *text, size_t len, int *n, sail_error *err) {
    (void)m, (void)err;
    for (size_t i = 0; i < len; i++) sink ^= (uint8_t)text[i];
    *n = 2 + (int)(len / 3 < 1000000 ? len / 3 : 1000000);
    return SAIL_OK;
}

sail_status sail_tokenize(const sail_model *m, const char *text, size_t len, int32_t *ids, int *n_real,
                          sail_error *err) {
    int n = 0;
    sail_count_tokens(m, text, len, &n, err);
    if (n > CONTEXT) n = CONTEXT;
    for (int i = 0; i < CONTEXT; i++) ids[i] = i < n ? 5 + (i && len ? (uint8_t)text[(size_t)(i - 1) * 3 % len] : 0) : 0;
    if (n_real) *n_real = n;
    return SAIL_OK;
}

sail_status sail_image_bytes_tensor(const sail_model *m, const void *data, size_t size, int64_t max_pixels,
                                    float *chw, sail_error *err) {
    (void)m, (void)max_pixels;
    const uint8_t *b = data;
    for (size_t i = 0; i < size; i++) sink ^= b[i];
    if (!size) return sail_set_error(err, SAIL_ERR_FORMAT, "not an image (0 bytes)");
    if (b[0] == 'L') return sail_set_error(err, SAIL_ERR_LIMIT, "image is 9000x9000; the limit is 2048x2048");
    memset(chw, 0, (size_t)3 * SIDE * SIDE * sizeof *chw);
    chw[0] = b[0];
    return SAIL_OK;
}

static void fill(float *out, int n, int dim, const int *lens, const float *chw) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < dim; k++)
            out[(size_t)i * dim + k] = k == ((lens ? lens[i] : 0) + (chw ? (int)chw[(size_t)i * 3 * SIDE * SIDE] : 0)) % dim;
}

sail_status sail_embed_tokens(sail_model *m, const int32_t *ids, const int *lens, int n, int dim, float *out,
                              sail_error *err) {
    (void)m, (void)ids, (void)err;
    fill(out, n, dim, lens, NULL);
    return SAIL_OK;
}

sail_status sail_embed_image_tensors(sail_model *m, const float *chw, int n, int h, int w, int dim, float *out,
                                     sail_error *err) {
    (void)m, (void)h, (void)w, (void)err;
    fill(out, n, dim, NULL, chw);
    return SAIL_OK;
}

sail_status sail_embed_joint_tensors(sail_model *m, const int32_t *ids, const int *lens, const float *chw, int n,
                                     int dim, float *out, sail_error *err) {
    (void)m, (void)ids, (void)err;
    fill(out, n, dim, lens, chw);
    return SAIL_OK;
}

/* audio: the bytes are read; an empty clip is undecodable */
sail_status sail_embed_audio_bytes(sail_model *m, const void *const *data, const size_t *sizes, int n, int dim,
                                   float *out, sail_error *err) {
    (void)m;
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < sizes[i]; k++) sink ^= ((const uint8_t *)data[i])[k];
        if (!sizes[i]) return sail_set_error(err, SAIL_ERR_FORMAT, "not audio (0 bytes)");
    }
    fill(out, n, dim, NULL, NULL);
    return SAIL_OK;
}

/* a text + image + clip item (a fused model's JOB_ITEM): its parts are
 * read; an empty clip is undecodable, as in sail_embed_audio_bytes */
sail_status sail_embed_item(sail_model *m, const sail_item *it, int dim, float *out, sail_error *err) {
    (void)m;
    for (const char *t = it->text; t && *t; t++) sink ^= (uint8_t)*t;
    for (size_t k = 0; k < it->image_size; k++) sink ^= ((const uint8_t *)it->image_data)[k];
    for (size_t k = 0; k < it->audio_size; k++) sink ^= ((const uint8_t *)it->audio_data)[k];
    if (it->audio_data && !it->audio_size) return sail_set_error(err, SAIL_ERR_FORMAT, "not audio (0 bytes)");
    fill(out, 1, dim, NULL, NULL);
    return SAIL_OK;
}

int sail_model_modalities(const sail_model *m) {
    (void)m;
    return SAIL_MODALITY_TEXT | SAIL_MODALITY_IMAGE | SAIL_MODALITY_AUDIO;
}
int sail_model_image_size(const sail_model *m) { (void)m; return SIDE; }
int sail_model_dim(const sail_model *m) { (void)m; return DIM; }
int sail_model_text_context(const sail_model *m) { (void)m; return CONTEXT; }
sail_model *sail_model_load(const char *path, const sail_load_options *o, sail_error *err) {
    (void)path, (void)o, (void)err;
    abort(); /* sail_serve is not called */
}
void sail_model_free(sail_model *m) { (void)m; }

/* ------------------------------------------------ libmicrohttpd stubs -- */

static int responses;

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status, struct MHD_Response *resp) {
    (void)c, (void)resp;
    if (status < 200 || status > 599) abort();
    responses++;
    return MHD_YES;
}

void MHD_suspend_connection(struct MHD_Connection *c) { (void)c; }

/* routes_page.c embeds a generated file; the page is not fuzzed. */
enum MHD_Result srv_route_page(srv_request *r) { return srv_send_bytes(r, 200, "text/html", "", 0, 0); }

/* ---------------------------------------------------------- harness -- */

static srv_server S;

static void init(void) {
    S.cfg.max_inputs = 8;
    S.cfg.quiet = 1;
    S.cfg.max_image_pixels = 1 << 20;
    static const char *const names[2] = {"fuzz-model", "fuzz-b"};
    S.n_models = 2;
    for (int i = 0; i < 2; i++) {
        srv_model *m = &S.models[i];
        snprintf(m->name, sizeof m->name, "%s", names[i]);
        m->m = (sail_model *)&model_token;
        m->slot = i;
        m->dim = DIM;
        m->context = CONTEXT;
        m->image_side = SIDE;
        m->modalities = sail_model_modalities(m->m);
    }
    S.ix_model = &S.models[0];
    S.index_dim = INDEX_DIM;
    S.next_id = 100;
    snprintf(S.image_dir, sizeof S.image_dir, "/proc/sail-fuzz-no-images"); /* stores fail: no files */
    pthread_mutex_init(&S.submit_lock, NULL);
    pthread_mutex_init(&S.ids_lock, NULL);
    pthread_mutex_init(&S.lock, NULL);
    pthread_cond_init(&S.idle, NULL);
    S.mx = srv_metrics_new(2, names);
    if (!S.mx) abort();
    for (int i = 0; i < 2; i++)
        if (!(S.models[i].batcher = srv_batcher_new(S.models[i].m, i, 4, 0, S.mx))) abort();
}

/* An index shell with three items (payloads for the filters to match). */
static sail_index *small_index(void) {
    sail_index *ix = ix_memory_shell(INDEX_DIM);
    if (!ix) return NULL;
    uint64_t ids[3] = {1, 2, (uint64_t)1 << 60};
    float v[3 * INDEX_DIM] = {[0] = 1, [INDEX_DIM + 1] = 1, [2 * INDEX_DIM + 2] = 1};
    const char *pay[3] = {"{\"modality\":\"image\",\"n\":3,\"source\":\"/nonexistent.png\"}",
                          "{\"modality\":\"text\",\"text\":\"a,b\",\"ok\":true}", NULL};
    if (sail_index_add(ix, ids, v, pay, 3, NULL)) {
        ix_free(ix);
        return NULL;
    }
    return ix;
}

static void base64(const uint8_t *in, size_t len) {
    uint8_t *out = malloc(len / 4 * 3 + 3);
    if (!out) return;
    long n = srv_base64_decode((const char *)in, len, out);
    if (n > (long)(len / 4 * 3 + 3)) abort();
    if (n >= 0) {
        char *again = srv_base64_encode(out, (size_t)n);
        size_t k = len;
        while (k && in[k - 1] == '=') k--;
        /* the last symbol may carry bits the decoder drops */
        if (!again || strncmp(again, (const char *)in, k ? k - 1 : 0)) abort();
        free(again);
    }
    free(out);
}

static long unanswered;

static void report(void) { fprintf(stderr, "fuzz_server: %ld requests got no response\n", unanswered); }

static int lenient(void) {
    static int on = -1;
    if (on < 0) {
        on = getenv("FUZZ_SERVER_LENIENT") && atoi(getenv("FUZZ_SERVER_LENIENT"));
        if (on) atexit(report);
    }
    return on;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!S.mx) init(), lenient();
    if (size < 1) return 0;
    int mode = data[0] % 6;
    if (mode == 4) {
        base64(data + 1, size - 1);
        return 0;
    }
    srv_request r;
    memset(&r, 0, sizeof r);
    r.srv = &S;
    r.conn = (struct MHD_Connection *)&model_token;
    r.method = mode == 3 ? "DELETE" : "POST";
    r.body = malloc(size);
    char url[96];
    if (!r.body) return 0;
    memcpy(r.body, data + 1, size - 1);
    r.body[size - 1] = 0;
    r.len = size - 1;
    snprintf(url, sizeof url, "/v1/items/%.*s", (int)(size - 1 < 80 ? size - 1 : 80), r.body);
    r.url = mode == 3 ? url : mode == 1 ? "/v1/search" : mode == 2 ? "/v1/items" : "/v1/embeddings";
    S.cfg.no_truncate = mode == 5;
    S.strict_models = data[0] >> 7;
    S.index = small_index();
    responses = mhd_resumed = 0;
    enum MHD_Result ret = mode == 1 ? srv_route_search(&r) : mode == 2 ? srv_route_items_add(&r)
                        : mode == 3 ? srv_route_items_delete(&r) : srv_route_embeddings(&r);
    if (r.suspended) {
        mhd_wait_resumed();
        if (responses) abort(); /* answered while suspended */
        r.suspended = 0;
        ret = r.resume(&r);
    }
    (void)ret;
    /* Every request gets exactly one answer. FUZZ_SERVER_LENIENT=1 counts
     * unanswered ones instead of stopping (known: docs/RELIABILITY.md S1, S2). */
    if (responses > 1 || (responses == 0 && !lenient())) abort();
    if (responses == 0) unanswered++;
    srv_request_release(&r); /* as http.c's completion callback */
    free(r.body);
    ix_free(S.index);
    S.index = NULL;
    return 0;
}
