/* seed_pickle.h: a state dict pickled as torch.save lays it out (protocol
 * 2: OrderedDict, _rebuild_tensor_v2, a storage persistent id per tensor,
 * BUILD of _metadata), for the seed programs of the pickle and the
 * PyTorch zip harnesses (seed_pickle.c, seed_ptzip.c). */
#ifndef SAIL_FUZZ_SEED_PICKLE_H
#define SAIL_FUZZ_SEED_PICKLE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct seed_pkl {
    uint8_t b[1024];
    size_t n;
} seed_pkl;

static inline void seed_pkl_raw(seed_pkl *p, const void *s, size_t k) { memcpy(p->b + p->n, s, k), p->n += k; }
static inline void seed_pkl_lit(seed_pkl *p, const char *s) { seed_pkl_raw(p, s, strlen(s)); }
static inline void seed_pkl_str(seed_pkl *p, const char *s) {
    uint32_t k = (uint32_t)strlen(s);
    seed_pkl_raw(p, "X", 1), seed_pkl_raw(p, &k, 4), seed_pkl_raw(p, s, k);
}

/* The pickle of `tensors` tensors "layer.<t>.weight", each a 2x2 view at
 * offset 2 of a 6-element storage of type `storage` ("ctorch\nFloatStorage\n")
 * under key t % keys. */
static inline void seed_state_dict(seed_pkl *p, const char *storage, int tensors, int keys) {
    p->n = 0;
    seed_pkl_lit(p, "\x80\x02" "ccollections\nOrderedDict\nq\x01)Rq\x02(");
    for (int t = 0; t < tensors; t++) {
        char name[32], key[16];
        snprintf(name, sizeof name, "layer.%d.weight", t);
        snprintf(key, sizeof key, "%d", t % keys);
        seed_pkl_str(p, name);
        seed_pkl_lit(p, "ctorch._utils\n_rebuild_tensor_v2\nq\x03((");
        seed_pkl_str(p, "storage");
        seed_pkl_lit(p, storage);
        seed_pkl_str(p, key);
        seed_pkl_str(p, "cpu");
        seed_pkl_lit(p, "K\x06tQK\x02K\x02K\x02\x86K\x02K\x01\x86\x89" "ccollections\nOrderedDict\n)RtR");
    }
    seed_pkl_lit(p, "u}q\x09" "b.");
}

#endif
