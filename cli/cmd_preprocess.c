/* cmd_preprocess.c: `sail preprocess`: decode an image, resize, crop and
 * normalise it exactly as the model's Python preprocessing does, and write
 * the float32 CHW tensor as .npy, so the pipeline can be checked against
 * PIL + numpy or fed to other tools. */
#include "cli.h"
#include "sail_apps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sail preprocess --image FILE --size S [--crop C] [--resample bicubic|bilinear]\n"
    "                       [--mean a,b,c --std a,b,c] -o OUT.npy\n"
    "       sail preprocess --image FILE --model MODEL.gguf -o OUT.npy\n"
    "                       [--max-image-pixels N] [--exact-decode] [--no-exif-rotate]\n"
    "\n"
    "Decode FILE (JPEG, PNG, WebP, PPM/PGM), resize it as PIL does and write the\n"
    "normalised float32 tensor of shape (3, H, W) to OUT.npy.\n"
    "\n";

static int parse_triple(const char *s, float v[3]) {
    char *end;
    for (int i = 0; i < 3; i++) {
        v[i] = strtof(s, &end);
        if (end == s || *end != (i < 2 ? ',' : '\0')) return -1;
        s = end + 1;
    }
    return 0;
}

/* The preprocessing a model file specifies (its sail.image.* keys). */
static int from_model(const char *path, sail_preprocess *p) {
    sail_error err = {0};
    sail_model *m = sail_model_load(path, NULL, &err);
    if (!m) return cli_fail(1, "preprocess", "%s", err.msg);
    sail_model_preprocess(m, p);
    sail_model_free(m);
    return 0;
}

static int on_triple(const char *cmd, const cli_opt *opt, const char *v) {
    if (parse_triple(v, opt->ptr))
        return cli_fail(2, cmd, "%s wants three numbers like 0.5,0.5,0.5, not '%s'", opt->name, v);
    return 0;
}

static int on_resample(const char *cmd, const cli_opt *opt, const char *v) {
    sail_preprocess *p = opt->ptr;
    if (!strcmp(v, "bicubic")) p->resample = SAIL_RESAMPLE_BICUBIC;
    else if (!strcmp(v, "bilinear")) p->resample = SAIL_RESAMPLE_BILINEAR;
    else return cli_fail(2, cmd, "--resample must be bicubic or bilinear, not '%s'", v);
    return 0;
}

int cmd_preprocess(int argc, char **argv) {
    const char *cmd = "preprocess";
    const char *image = NULL, *out = NULL, *model = NULL;
    long size = 0, crop = 0;
    sail_preprocess p = {0, 0, SAIL_RESAMPLE_BICUBIC,
                         {0.48145466f, 0.4578275f, 0.40821073f},
                         {0.26862954f, 0.26130258f, 0.27577711f}, 0};
    int no_exif_rotate = 0;
    const cli_opt table[] = {
        CLI_OPT_STR("--image", &image, "FILE", "the image file"),
        CLI_OPT_STR("--model", &model, "M",
                    "take size, crop, filter, mean and std from a model file:\n"
                    "the output is exactly the tensor that model receives"),
        CLI_OPT_LONG("--size", &size, 1, 16384, "S",
                     "resize target; without --crop the image is squashed to SxS\n(Chinese-CLIP)"),
        CLI_OPT_LONG("--crop", &crop, 1, 16384, "C", "resize the short side to S, then centre-crop CxC (CLIP)"),
        CLI_OPT_CALL("--resample", on_resample, &p, "F", "bicubic (default) or bilinear"),
        CLI_OPT_CALL("--mean", on_triple, p.mean, "a,b,c",
                     "per-channel mean after x/255 (default CLIP's\n0.48145466,0.4578275,0.40821073)"),
        CLI_OPT_CALL("--std", on_triple, p.std, "a,b,c", "per-channel std (default 0.26862954,0.26130258,0.27577711)"),
        CLI_OPT_FLAG("--no-exif-rotate", &no_exif_rotate, "ignore the JPEG EXIF orientation tag"),
        CLI_OPT_STR("-o", &out, "OUT.npy", "output file"),
        CLI_OPT_IMAGE,
        CLI_OPT_END,
    };
    int status = cli_start(cmd, usage, table, argc, argv);
    if (status != CLI_GO_ON) return status;
    if (model && size) return cli_fail(2, cmd, "--model sets the size; do not give --size too");
    if (model && from_model(model, &p)) return 1;
    if (!image || !out || (!size && !model))
        return cli_fail(2, cmd, "--image, -o and --size or --model are required (see sail preprocess --help)");
    if (crop > size && !model) return cli_fail(2, cmd, "--crop %ld is larger than --size %ld", crop, size);
    if (!model) {
        p.size = (int)size;
        p.crop = (int)crop;
    }
    sail_error err = {SAIL_OK, ""};
    int s = sail_preprocess_side(&p);
    float *chw = malloc(sizeof(float) * 3 * (size_t)s * s);
    int rc = 0;
    if (!chw) {
        rc = cli_fail(1, cmd, "out of memory");
    } else if (sail_image_file_preprocess(image, &p, !no_exif_rotate, chw, &err)) {
        rc = cli_fail(1, cmd, "%s", err.msg);
    } else {
        int64_t shape[3] = {3, s, s};
        if (sail_npy_write_f32(out, chw, 3, shape, &err)) rc = cli_fail(1, cmd, "%s", err.msg);
    }
    free(chw);
    return rc;
}
