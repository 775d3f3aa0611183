// sources:
/* seed_dataset.c: writes training manifests (docs/TRAINING.md's forms:
 * text-image, text-text, query-item joint, groups, lang, a bad line) into
 * the corpus folder argv[1]; "a.png" is the image fuzz_dataset.c provides. */
#include "seed_write.h"

static const char *const seeds[] = {
    "{\"text\": \"a red circle\", \"image\": \"a.png\"}\n{\"text\": \"two cats\", \"image\": \"a.png\", \"group\": 3}\n"
    "{\"text\": \"blue\", \"image\": \"missing.png\"}\n",
    "{\"text\": \"red dress\", \"text2\": \"\\u7ea2\\u8272\\u8fde\\u8863\\u88d9\", \"lang\": \"zh\", \"group\": \"g1\"}\n"
    "{\"text\": \"a\", \"text2\": \"b\", \"group\": \"g1\"}\n\n{\"text\": \"c\", \"text2\": \"d\"}\r\n",
    "{\"query\": \"black sneakers\", \"item\": {\"text\": \"High-top\", \"image\": \"a.png\"}}\n"
    "{\"query\": \"shoe\", \"item\": {\"image\": \"a.png\"}, \"group\": 7}\n"
    "{\"query\": \"hat\", \"item\": {\"text\": \"a hat\"}}\nnot json\n",
    "{\"text\": \"x\", \"image\": \"a.png\"}\n{\"text\": \"y\", \"image\": \"a.png\"}\n{\"text\": \"z\", \"text2\": \"w\"}\n"
    "{\"text\": \"u\", \"text2\": \"v\"}\n{\"query\": \"q\", \"item\": {\"text\": \"t\", \"image\": \"a.png\"}}\n"
    "{\"query\": \"r\", \"item\": {\"text\": \"s\", \"image\": \"a.png\"}}\n",
};

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    return seed_write_all(argv[1], seeds, sizeof seeds / sizeof *seeds, 0);
}
