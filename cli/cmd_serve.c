/* cmd_serve.c: `sail serve` runs the HTTP server (src/server): OpenAI-style
 * embeddings, search over an index, metrics and a demo page. */
#include "cli.h"
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail serve --model M [--index DIR [--index-kind exact|hnsw]] [--host H] [--port P]\n"
    "                  [--threads N] [--http-threads N] [--max-batch B] [--batch-wait-ms T]\n"
    "                  [--api-key K] [--max-body BYTES] [--max-inputs N]\n"
    "                  [--max-image-pixels N] [--timeout S] [--header-timeout S]\n"
    "                  [--max-connections N] [--max-connections-per-ip N]\n"
    "                  [--tls-cert FILE --tls-key FILE] [--no-truncate] [--quiet]\n\n"
    "Serves the model over HTTP until SIGTERM or Ctrl-C (then it stops accepting,\n"
    "finishes the requests in flight and flushes the index):\n"
    "  POST /v1/embeddings            OpenAI-compatible embeddings (texts, images as data URLs,\n"
    "                                 joint text+image inputs, dimensions, encoding_format)\n"
    "  POST /v1/search                nearest items of a text and/or image query (needs --index)\n"
    "  POST /v1/items                 add items to the index (durable before the response)\n"
    "  DELETE /v1/items/{id}          remove an item\n"
    "  GET /v1/items/{id}/image       the image file an indexed item was made from\n"
    "  GET /healthz, GET /metrics     liveness; Prometheus metrics\n"
    "  GET /                          a search and similarity page\n\n"
    "  --model M            sail model file (.gguf)\n"
    "  --index DIR          vector index directory (created when empty, with the model's dim)\n"
    "  --index-kind K       exact (default) or hnsw, for an index created here\n"
    "  --host H             address to bind (default 127.0.0.1; 0.0.0.0 for every interface)\n"
    "  --port P             TCP port (default 8080; 0 = any free port, printed at start)\n"
    "  --threads N          model compute threads (default: one per core)\n"
    "  --http-threads N     connection threads: parsing, tokenizing, image decoding (default 4)\n"
    "  --max-batch B        inputs per model batch (default 32)\n"
    "  --batch-wait-ms T    longest wait for a batch to fill (default 5)\n"
    "  --tls-cert FILE      serve HTTPS with this PEM certificate (chain); needs --tls-key\n"
    "  --tls-key FILE       the certificate's private key (PEM, unencrypted)\n"
    "  --api-key K          require 'Authorization: Bearer K' on /v1/* and /metrics\n"
    "                       (or set SAIL_API_KEY, which keeps it out of the process list)\n"
    "  --max-body BYTES     request body limit (default 16777216)\n"
    "  --max-inputs N       inputs per request (default 256)\n"
    "  --max-image-pixels N pixels per image, checked from the header (default 67108864\n"
    "                       = 64 Mpx; sides up to 32768)\n"
    "  --timeout S          seconds a request may stay idle once its header is in, and\n"
    "                       the limit for its whole body (default 30)\n"
    "  --header-timeout S   seconds a connection may stay idle before its request header is\n"
    "                       complete, new or between keep-alive requests (default 10)\n"
    "  --max-connections N  open connections (default 1024; lowered to fit the process's\n"
    "                       file-descriptor limit, with a message)\n"
    "  --max-connections-per-ip N\n"
    "                       open connections from one client address; more are closed at\n"
    "                       once (default 256; 0 = no limit)\n"
    "  --no-truncate        refuse (400) texts longer than the model's context instead of\n"
    "                       truncating them\n"
    "  --quiet              no log line per request\n";

int cmd_serve(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    srv_config c = {.host = "127.0.0.1", .port = 8080, .http_threads = 4, .max_batch = 32,
                    .batch_wait_ms = 5, .max_body = 16u << 20, .max_inputs = 256,
                    .max_connections = 1024, .max_connections_per_ip = 256, .timeout_s = 30,
                    .header_timeout_s = 10, .max_image_pixels = SAIL_IMAGE_MAX_PIXELS};
    c.api_key = getenv("SAIL_API_KEY");
    if (c.api_key && !*c.api_key) c.api_key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-truncate")) { c.no_truncate = 1; continue; }
        if (!strcmp(a, "--quiet")) { c.quiet = 1; continue; }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) return cli_fail(2, "serve", "option %s needs a value (see sail serve --help)", a);
        long n;
        struct { const char *name; long lo, hi; int *dst; } ints[] = {
            {"--port", 0, 65535, &c.port}, {"--threads", 1, 1024, &c.threads},
            {"--http-threads", 1, 256, &c.http_threads}, {"--max-batch", 1, 1024, &c.max_batch},
            {"--batch-wait-ms", 0, 10000, &c.batch_wait_ms}, {"--max-inputs", 1, 65536, &c.max_inputs},
            {"--timeout", 1, 3600, &c.timeout_s}, {"--header-timeout", 1, 3600, &c.header_timeout_s},
            {"--max-connections", 1, 65536, &c.max_connections},
            {"--max-connections-per-ip", 0, 65536, &c.max_connections_per_ip}};
        int done = 0;
        for (size_t k = 0; k < sizeof ints / sizeof *ints && !done; k++) {
            if (strcmp(a, ints[k].name)) continue;
            if (cli_parse_int(v, ints[k].lo, ints[k].hi, &n))
                return cli_fail(2, "serve", "%s needs an integer in %ld..%ld, not '%s'", a, ints[k].lo,
                                ints[k].hi, v);
            *ints[k].dst = (int)n;
            done = 1;
        }
        if (done) continue;
        if (!strcmp(a, "--model")) c.model_path = v;
        else if (!strcmp(a, "--index")) c.index_path = v;
        else if (!strcmp(a, "--index-kind")) {
            if (strcmp(v, "exact") && strcmp(v, "hnsw"))
                return cli_fail(2, "serve", "--index-kind is exact or hnsw, not '%s'", v);
            c.index_hnsw = !strcmp(v, "hnsw");
        }
        else if (!strcmp(a, "--host")) c.host = v;
        else if (!strcmp(a, "--api-key")) c.api_key = v;
        else if (!strcmp(a, "--tls-cert")) c.tls_cert = v;
        else if (!strcmp(a, "--tls-key")) c.tls_key = v;
        else if (!strcmp(a, "--max-body")) {
            if (cli_parse_int(v, 1, 1L << 31, &n)) return cli_fail(2, "serve", "--max-body needs 1..2^31 bytes, not '%s'", v);
            c.max_body = (size_t)n;
        } else if (!strcmp(a, "--max-image-pixels")) {
            if (cli_parse_int(v, 1, (long)SAIL_IMAGE_MAX_SIDE * SAIL_IMAGE_MAX_SIDE, &n))
                return cli_fail(2, "serve", "--max-image-pixels needs 1..%ld, not '%s'",
                                (long)SAIL_IMAGE_MAX_SIDE * SAIL_IMAGE_MAX_SIDE, v);
            c.max_image_pixels = n;
        } else
            return cli_fail(2, "serve", "unknown option '%s' (see sail serve --help)", a);
    }
    if (!c.model_path) return cli_fail(2, "serve", "--model is required (see sail serve --help)");
    if (c.api_key && !*c.api_key) return cli_fail(2, "serve", "--api-key must not be empty");
    if (!c.tls_cert != !c.tls_key)
        return cli_fail(2, "serve", "--tls-cert and --tls-key go together (a PEM certificate and its private key)");
    /* Every thread the server starts inherits this mask; srv_run waits for
     * the signals with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return srv_run(&c);
}
