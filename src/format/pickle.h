/* pickle.h: a restricted unpickler for PyTorch state dicts. It interprets
 * pickle opcodes itself and executes nothing: the only globals it accepts are
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2 and the storage
 * types torch.FloatStorage / HalfStorage / BFloat16Storage / LongStorage
 * (integer buffers such as position_ids), and the only
 * calls it "performs" are building a dictionary and recording a tensor's
 * storage key, offset and shape. Any other global or opcode is refused with
 * an error that names it. Sizes (input, stack, memo, objects) are bounded. */
#ifndef SAIL_PICKLE_H
#define SAIL_PICKLE_H

#include "common.h"

#define SAIL_PKL_MAX_DIMS 8

typedef struct sail_pkl_tensor {
    char *name;                 /* state-dict key (owned) */
    int dtype;                  /* enum sail_st_dtype: F32, F16, BF16 or I64 */
    int n_dims;
    int64_t shape[SAIL_PKL_MAX_DIMS];
    char key[32];               /* storage key: the zip entry ARCHIVE/data/<key> */
    uint64_t storage_numel;     /* elements in the storage */
    uint64_t offset;            /* first element of the tensor in the storage */
} sail_pkl_tensor;

/* Parse data.pkl (n bytes): the top-level object must be a dict (or
 * OrderedDict) of name -> tensor, each contiguous. *out receives *n_out
 * tensors (free with sail_pkl_free). Never reads outside data. */
sail_status sail_pkl_state_dict(const uint8_t *data, size_t n, sail_pkl_tensor **out, int *n_out,
                                sail_error *err);
void sail_pkl_free(sail_pkl_tensor *t, int n);

#endif
