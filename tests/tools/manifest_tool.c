/* manifest_tool.c: test driver for the data generators' tests
 * (tests/test_data_speech.py, tests/test_data_stamps.py). Loads a manifest
 * with the training loader (sail_dataset_load) and prints what it kept:
 *
 *   manifest_tool MANIFEST
 *   n N image I text T joint J skipped S groups G
 *   then one line per pair: kind <TAB> lang <TAB> group <TAB> image <TAB> text
 */
#include "train/dataset.h"

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: manifest_tool MANIFEST\n");
        return 2;
    }
    sail_dataset ds = {0};
    sail_error err = {0};
    if (sail_dataset_load(argv[1], &ds, &err) != SAIL_OK) {
        fprintf(stderr, "manifest_tool: %s\n", err.msg);
        return 1;
    }
    printf("n %d image %d text %d joint %d skipped %d groups %d\n", ds.n, ds.n_kind[SAIL_PAIR_IMAGE],
           ds.n_kind[SAIL_PAIR_TEXT], ds.n_kind[SAIL_PAIR_JOINT], ds.n_skipped, ds.n_groups);
    for (int i = 0; i < ds.n; i++) {
        const sail_pair *p = &ds.items[i];
        printf("%d\t%s\t%d\t%s\t%s\n", p->kind, p->lang, p->group, p->b.image ? p->b.image : "", p->a.text ? p->a.text : "");
    }
    sail_dataset_free(&ds);
    return 0;
}
