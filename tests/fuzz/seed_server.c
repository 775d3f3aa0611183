// sources:
/* seed_server.c: writes fuzz_server inputs into the corpus folder argv[1]:
 * a route byte (see fuzz_server.c) and a request body of each kind the
 * server documents (docs/SERVER.md): strings, lists, content parts with a
 * data URL, searches with filters, items, deletions, raw base64. */
#include "seed_write.h"

static const char *const seeds[] = {
    "\0{\"input\": \"a red dress\", \"model\": \"m\", \"dimensions\": 8}",
    "\0{\"input\": [\"two\", \"three\"], \"encoding_format\": \"base64\", \"user\": \"u\"}",
    ("\0{\"input\": [{\"type\": \"text\", \"text\": \"shoe\"}, {\"type\": \"image_url\", \"image_url\": "
     "{\"url\": \"data:image/png;base64,iVBORw0KGgo=\"}}]}"),
    "\0{\"input\": [[{\"type\": \"image_url\", \"image_url\": \"data:image/jpeg;base64,/9j/4A\"}], \"x\"]}",
    "\1{\"query\": \"red\", \"k\": 2, \"filter\": {\"modality\": \"image\", \"n\": 3, \"ok\": true}}",
    "\1{\"text\": \"x\", \"image\": \"data:image/jpeg;base64,/9j/4AAQ\", \"exact\": true, \"ef_search\": 5}",
    "\1{\"query\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,TGFyZ2U=\"}}]}",
    "\2{\"items\": [{\"id\": 7, \"text\": \"hello\", \"payload\": {\"a\": 1}}, {\"text\": \"t2\"}]}",
    "\2{\"items\": [{\"image\": \"data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==\", \"text\": \"p\"}]}",
    "\0031",
    "\003123/image",
    "\4aGVsbG8gd29ybGQ=",
    "\4QUJDRA",
    "\5{\"input\": \"a text of more than sixteen tokens for the stub model, which counts one per three bytes\"}",
};

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    return seed_write_all(argv[1], seeds, sizeof seeds / sizeof *seeds, 1);
}
