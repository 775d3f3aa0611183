/* cmd_serve.c: `sail serve` runs the HTTP server (sail_serve,
 * include/sail_server.h): OpenAI-style embeddings from one or several
 * models, search over an index, metrics and a demo page. */
#include "cli.h"
#include "sail_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: sail serve --model [NAME=]M [--model NAME=M ...] [--host H] [--port P]\n"
    "                  [--index DIR|redis://HOST:PORT/NAME [--index-kind exact|hnsw] [--index-model NAME]]\n"
    "                  [--threads N] [--http-threads N] [--max-batch B] [--batch-wait-ms T]\n"
    "                  [--api-key K] [--max-body BYTES] [--max-inputs N]\n"
    "                  [--max-image-pixels N] [--timeout S] [--header-timeout S]\n"
    "                  [--max-connections N] [--max-connections-per-ip N]\n"
    "                  [--tls-cert FILE --tls-key FILE] [--no-truncate] [--quiet]\n\n"
    "Serves the models over HTTP until SIGTERM or Ctrl-C (then it stops accepting,\n"
    "finishes the requests in flight and flushes the index):\n"
    "  POST /v1/embeddings            OpenAI-compatible embeddings (texts, images as data URLs,\n"
    "                                 joint text+image inputs, dimensions, encoding_format);\n"
    "                                 \"model\" picks the model (absent: the first --model)\n"
    "  GET /v1/models[/{id}]          the served models, in OpenAI's shape\n"
    "  POST /v1/search                nearest items of a text and/or image query (needs --index)\n"
    "  POST /v1/items                 add items to the index (durable before the response)\n"
    "  DELETE /v1/items/{id}          remove an item\n"
    "  GET /v1/items/{id}/image       the image file an indexed item was made from\n"
    "  GET /healthz, GET /metrics     liveness; Prometheus metrics\n"
    "  GET /                          a search and similarity page\n\n"
    "--index redis://HOST:PORT/NAME serves the Redis module's index (docs/REDIS.md):\n"
    "the key NAME or shards {NAME:0}, {NAME:1}, ... over a Redis Cluster (made with\n"
    "the model's dim when missing). Items added need an \"id\" (servers may share the\n"
    "index), their images are not kept (GET .../image answers 501), and while Redis\n"
    "cannot be reached the index routes answer 503.\n\n";

/* --model PATH or --model NAME=PATH, repeatable. A value whose text before
 * the first '=' is empty, or that names an existing file while its part
 * after the '=' does not, is a plain path. */
static int on_model(const char *cmd, const cli_opt *opt, const char *v) {
    static char names[SAIL_SERVER_MAX_MODELS][SAIL_SERVER_MODEL_NAME_MAX];
    sail_server_options *c = opt->ptr;
    if (c->n_models == SAIL_SERVER_MAX_MODELS)
        return cli_fail(2, cmd, "at most %d --model options", SAIL_SERVER_MAX_MODELS);
    sail_server_model *sp = &c->models[c->n_models];
    const char *eq = strchr(v, '=');
    struct stat sb;
    if (!eq || eq == v || (!stat(v, &sb) && stat(eq + 1, &sb))) {
        sp->name = NULL;
        sp->path = v;
    } else {
        size_t n = (size_t)(eq - v);
        if (n >= SAIL_SERVER_MODEL_NAME_MAX)
            return cli_fail(2, cmd, "--model %s: a model name is at most %d bytes", v,
                            SAIL_SERVER_MODEL_NAME_MAX - 1);
        if (!eq[1]) return cli_fail(2, cmd, "--model %s: no model file after '='", v);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
                return cli_fail(2, cmd, "--model: a model name has no control characters");
        memcpy(names[c->n_models], v, n);
        names[c->n_models][n] = 0;
        sp->name = names[c->n_models];
        sp->path = eq + 1;
    }
    c->n_models++;
    return 0;
}

static int on_index_kind(const char *cmd, const cli_opt *opt, const char *v) {
    if (strcmp(v, "exact") && strcmp(v, "hnsw")) return cli_fail(2, cmd, "--index-kind is exact or hnsw, not '%s'", v);
    *(int *)opt->ptr = !strcmp(v, "hnsw");
    return 0;
}

int cmd_serve(int argc, char **argv) {
    sail_server_options c = {.host = "127.0.0.1", .port = 8080, .http_threads = 4, .max_batch = 32,
                    .batch_wait_ms = 5, .max_body = 16u << 20, .max_inputs = 256,
                    .max_connections = 1024, .max_connections_per_ip = 256, .timeout_s = 30,
                    .header_timeout_s = 10, .max_image_pixels = SAIL_IMAGE_MAX_PIXELS};
    c.api_key = getenv("SAIL_API_KEY");
    if (c.api_key && !*c.api_key) c.api_key = NULL;
    long max_body = (long)c.max_body, max_pixels = (long)c.max_image_pixels;
    const cli_opt table[] = {
        CLI_OPT_CALL("--model", on_model, &c, "[NAME=]M",
                     "sail model file (.gguf), served as NAME (default: the file's\n"
                     "base name); repeat it to serve several models (up to 16), each\n"
                     "with its own batcher. Requests pick one by \"model\"; without it\n"
                     "they get the first. An unknown name is a 404 model_not_found,\n"
                     "except with a single plain --model M (any name is echoed)"),
        CLI_OPT_STR("--index", &c.index_path, "DIR",
                    "vector index directory (created when empty, with the model's\n"
                    "dim), or redis://HOST:PORT/NAME, the Redis module's index"),
        CLI_OPT_CALL("--index-kind", on_index_kind, &c.index_hnsw, "K", "exact (default) or hnsw, for an index created here"),
        CLI_OPT_STR("--index-model", &c.index_model, "NAME",
                    "the model /v1/search and /v1/items embed with (default: the\n"
                    "first --model); the index must hold its vectors"),
        CLI_OPT_STR("--host", &c.host, "H", "address to bind (default 127.0.0.1; 0.0.0.0 for every interface)"),
        CLI_OPT_INT("--port", &c.port, 0, 65535, "P", "TCP port (default 8080; 0 = any free port, printed at start)"),
        CLI_OPT_THREADS(&c.threads, "model compute threads (default: one per core)"),
        CLI_OPT_INT("--http-threads", &c.http_threads, 1, 256, "N",
                    "connection threads: parsing, tokenizing, image decoding (default 4)"),
        CLI_OPT_INT("--max-batch", &c.max_batch, 1, 1024, "B", "inputs per model batch (default 32)"),
        CLI_OPT_INT("--batch-wait-ms", &c.batch_wait_ms, 0, 10000, "T", "longest wait for a batch to fill (default 5)"),
        CLI_OPT_STR("--tls-cert", &c.tls_cert, "FILE", "serve HTTPS with this PEM certificate (chain); needs --tls-key"),
        CLI_OPT_STR("--tls-key", &c.tls_key, "FILE", "the certificate's private key (PEM, unencrypted)"),
        CLI_OPT_STR("--api-key", &c.api_key, "K",
                    "require 'Authorization: Bearer K' on /v1/* and /metrics\n"
                    "(or set SAIL_API_KEY, which keeps it out of the process list)"),
        CLI_OPT_LONG("--max-body", &max_body, 1, 1L << 31, "BYTES", "request body limit (default 16777216)"),
        CLI_OPT_INT("--max-inputs", &c.max_inputs, 1, 65536, "N", "inputs per request (default 256)"),
        CLI_OPT_LONG("--max-image-pixels", &max_pixels, 1, (long)SAIL_IMAGE_MAX_SIDE * SAIL_IMAGE_MAX_SIDE, "N",
                     "pixels per image, checked from the header (default 67108864\n= 64 Mpx; sides up to 32768)"),
        CLI_OPT_INT("--timeout", &c.timeout_s, 1, 3600, "S",
                    "seconds a request may stay idle once its header is in, and\n"
                    "the limit for its whole body (default 30)"),
        CLI_OPT_INT("--header-timeout", &c.header_timeout_s, 1, 3600, "S",
                    "seconds a connection may stay idle before its request header is\n"
                    "complete, new or between keep-alive requests (default 10)"),
        CLI_OPT_INT("--max-connections", &c.max_connections, 1, 65536, "N",
                    "open connections (default 1024; lowered to fit the process's\n"
                    "file-descriptor limit, with a message)"),
        CLI_OPT_INT("--max-connections-per-ip", &c.max_connections_per_ip, 0, 65536, "N",
                    "open connections from one client address; more are closed at\n"
                    "once (default 256; 0 = no limit)"),
        CLI_OPT_FLAG("--no-truncate", &c.no_truncate,
                     "refuse (400) texts longer than the model's context instead of\ntruncating them"),
        CLI_OPT_FLAG("--quiet", &c.quiet, "no log line per request"),
        CLI_OPT_END,
    };
    int rc = cli_start("serve", usage, table, argc, argv);
    if (rc != CLI_GO_ON) return rc;
    c.max_body = (size_t)max_body;
    c.max_image_pixels = max_pixels;
    if (!c.n_models) return cli_fail(2, "serve", "--model is required (see sail serve --help)");
    if (c.index_model && !c.index_path) return cli_fail(2, "serve", "--index-model goes with --index");
    if (c.api_key && !*c.api_key) return cli_fail(2, "serve", "--api-key must not be empty");
    if (!c.tls_cert != !c.tls_key)
        return cli_fail(2, "serve", "--tls-cert and --tls-key go together (a PEM certificate and its private key)");
    /* Every thread the server starts inherits this mask; sail_serve waits for
     * the signals with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return sail_serve(&c);
}
