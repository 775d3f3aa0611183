/* ptzip.h: reading a PyTorch checkpoint (torch.save's zip: ARCHIVE/data.pkl,
 * ARCHIVE/data/<key> storages) without executing anything. The zip is read
 * with libzip; data.pkl goes through sail's restricted unpickler
 * (format/pickle.h), which rebuilds only tensors and dictionaries. */
#ifndef SAIL_PTZIP_H
#define SAIL_PTZIP_H

#include "format/safetensors.h"

typedef struct sail_pt_file {
    int n;
    sail_st_tensor *t;          /* (n) the state dict, in pickle order */
    void **blobs;               /* (n_blobs) storages read from the zip (owned) */
    int n_blobs;
} sail_pt_file;

/* NULL + err naming the file and the refused construct on failure. */
sail_pt_file *sail_pt_open(const char *path, sail_error *err);
void sail_pt_close(sail_pt_file *f);

#endif
