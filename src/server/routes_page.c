/* routes_page.c: GET / serves the demo page (src/server/web/index.html),
 * compiled into the binary as bytes by the Makefile (build/gen/web_index.inc),
 * so the server needs no files at run time. */
#include "server.h"

static const unsigned char page[] = {
#include "web_index.inc"
};

enum MHD_Result srv_route_page(srv_request *r) {
    return srv_send_bytes(r, 200, "text/html; charset=utf-8", page, sizeof page, 0);
}
