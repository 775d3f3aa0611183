// sources: src/train/dataset.c src/text/strmap.c src/core/alloc.c src/core/fault.c src/core/error.c
// libs: -ljansson
/* fuzz_dataset.c: libFuzzer harness for the training manifest (JSONL
 * pairs, src/train/dataset.c) and the epoch plans built over what it
 * accepts. The input is the manifest, written to a file beside an image
 * "a.png" (so relative image paths can resolve). Checks on an accepted
 * manifest: the counts agree, every pair has the sides its kind needs and a
 * group in range; a sequential and a shuffled plan and one around hard
 * negatives (over made-up embeddings) name each pair at most once, in
 * batches of one kind within their bounds. */
#include "fuzz_file.h"

#include "kernels/kernels.h"
#include "train/dataset.h"

static float dot(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The plans need only the dot product (sail_plan_hard). */
const sail_kernel_table *sail_kernels(void) {
    static sail_kernel_table kt;
    kt.dot = dot;
    return &kt;
}

static void check_plan(const sail_dataset *ds, const sail_plan *p, int batch) {
    if (p->n < 0 || p->n > ds->n || p->n_batches < 0 || p->bounds[0] != 0 || p->bounds[p->n_batches] != p->n)
        abort();
    uint8_t *seen = calloc((size_t)ds->n, 1);
    if (!seen) return;
    for (int b = 0; b < p->n_batches; b++) {
        int lo = p->bounds[b], hi = p->bounds[b + 1];
        if (hi <= lo || hi - lo > batch) abort();
        for (int i = lo; i < hi; i++) {
            int32_t k = p->order[i];
            if (k < 0 || k >= ds->n || seen[k]++ || ds->items[k].kind != ds->items[p->order[lo]].kind) abort();
        }
    }
    free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_file("a.png", (const uint8_t *)"\x89PNG", 4);
        ready = 1;
    }
    const char *path = fuzz_file("train.jsonl", data, size);
    sail_dataset ds;
    sail_error err;
    if (sail_dataset_load(path, &ds, &err) != SAIL_OK) return 0;
    int kinds = 0;
    for (int k = 0; k < SAIL_PAIR_KINDS; k++) kinds += ds.n_kind[k];
    if (ds.n < 1 || kinds != ds.n || ds.n_skipped < 0) abort();
    for (int i = 0; i < ds.n; i++) {
        const sail_pair *p = &ds.items[i];
        int sa = sail_side_shape(&p->a), sb = sail_side_shape(&p->b);
        if (!sa || !sb || (p->a.image && p->a.video) || (p->b.image && p->b.video) ||
            (p->a.text && !p->a.text[0]) || (p->b.text && !p->b.text[0]) || p->kind != sail_pair_kind_of(sa, sb) ||
            p->kind < 0 || p->kind >= SAIL_PAIR_KINDS || p->group < 0 || p->group >= ds.n_groups || p->line < 1 ||
            strlen(p->lang) >= sizeof p->lang)
            abort();
    }
    int batch = 2 + (int)(size % 5);
    sail_plan plan = {0};
    sail_rng rng = {size};
    if (sail_plan_sequential(&ds, batch, &plan, &err) == SAIL_OK) check_plan(&ds, &plan, batch);
    if (sail_plan_shuffle(&ds, batch, &rng, &plan, &err) == SAIL_OK) check_plan(&ds, &plan, batch);
    float *e = malloc((size_t)ds.n * 4 * sizeof *e);
    if (e) {
        for (int i = 0; i < ds.n * 4; i++) e[i] = (float)sail_rng_normal(&rng);
        if (sail_plan_hard(&ds, batch, 1, e, e, 4, &rng, &plan, &err) == SAIL_OK) check_plan(&ds, &plan, batch);
        free(e);
    }
    sail_plan_free(&plan);
    sail_dataset_free(&ds);
    return 0;
}
