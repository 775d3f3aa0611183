/* cmd_train.c: `sail train` (a new model from a preset and a vocabulary)
 * and `sail finetune` (from an existing model file). Progress on stderr;
 * Ctrl-C finishes the current step, writes a checkpoint and exits 130. */
#include "cli.h"
#include "ranks.h"
#include "sail_train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_train[] =
    "usage: sail train --config tiny|base|large --vocab vocab.txt --train_data_path D.jsonl\n"
    "                  --output_dir O [options]\n"
    "       sail train --resume O --train_data_path D.jsonl --output_dir O\n\n"
    "Trains a new sail model contrastively (symmetric InfoNCE over in-batch negatives)\n"
    "on text-image and text-text pairs. Writes O/model.gguf at the end and\n"
    "O/checkpoint.gguf (everything needed to continue exactly) every --save_every steps,\n"
    "at the end and on Ctrl-C (exit status 130). Data format: docs/TRAINING.md.\n"
    CLI_DIST_USAGE "\n";
static const char usage_finetune[] =
    "usage: sail finetune --model_name_or_path M.gguf|HF_DIR --train_data_path D.jsonl\n"
    "                     --output_dir O [--export_hf] [options]\n\n"
    "Continues training an existing sail model on new pairs; as `sail train`\n"
    "otherwise (see sail train --help and docs/TRAINING.md). A Hugging Face\n"
    "folder (CLIP, Chinese-CLIP, BERT, ViT, SigLIP) is converted first (sail\n"
    "convert). A SigLIP trains with its sigmoid loss and learned logit bias.\n\n";
static const char usage_more[] = "Options may be spelled with - or _ (--batch-size = --batch_size).\n";

#define PARTS_NAMES "text, vision, fusion, head, temperature"

/* --freeze, --lora_parts: "text,vision" -> bits of the parts in the int at
 * opt->ptr. */
static int on_parts(const char *cmd, const cli_opt *opt, const char *v) {
    int *mask = opt->ptr;
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, ",");
        int part = sail_part_parse(p, n);
        if (part < 0) return cli_fail(2, cmd, "'%.*s' is not a part (" PARTS_NAMES ")", (int)n, p);
        *mask |= 1 << part;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* --part_learning_rate: "text=2e-5,vision=1e-5" -> the float[SAIL_N_PARTS]
 * at opt->ptr. */
static int on_part_lr(const char *cmd, const cli_opt *opt, const char *v) {
    float *part_lr = opt->ptr;
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, ","), k = strcspn(p, "=,");
        int part = sail_part_parse(p, k);
        char *end;
        double lr = p[k] == '=' ? strtod(p + k + 1, &end) : 0;
        if (part < 0 || p[k] != '=' || end != p + n || !(lr > 0 && lr <= 10))
            return cli_fail(2, cmd, "--part_learning_rate: '%.*s' is not PART=LR with a part (" PARTS_NAMES
                            ") and 0 < LR <= 10", (int)n, p);
        part_lr[part] = (float)lr;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* --matryoshka D1,D2,..: 1 to 4 dimensions into the sail_loss_opts at
 * opt->ptr, each weighted 1. */
static int on_matryoshka(const char *cmd, const cli_opt *opt, const char *v) {
    sail_loss_opts *lo = opt->ptr;
    lo->n_dims = 0;
    for (const char *p = v; *p;) {
        char *end;
        errno = 0;
        long d = strtol(p, &end, 10);
        if (errno || end == p || d < 1 || d > CLI_DIM_MAX || lo->n_dims == 4 || (*end && *end != ',')) {
            lo->n_dims = 0;
            break;
        }
        lo->dims[lo->n_dims] = (int)d;
        lo->weights[lo->n_dims++] = 1.0f;
        p = *end ? end + 1 : end;
    }
    if (!lo->n_dims)
        return cli_fail(2, cmd, "--matryoshka needs 1 to 4 comma-separated dimensions in 1..%d, not '%s'",
                        CLI_DIM_MAX, v);
    return 0;
}

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
    signal(SIGINT, SIG_DFL);    /* a second Ctrl-C ends the process at once */
}

typedef struct progress {
    int tty, every;
    double loss_avg;
    int64_t n;
} progress;

static void fmt_eta(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, cap, "?");
    else if (s >= 3600) snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

static void on_event(void *ud, const sail_train_event *ev) {
    progress *p = ud;
    if (ev->kind == SAIL_TRAIN_NOTE) {
        fprintf(stderr, "%ssail train: %s\n", p->tty ? "\r\033[K" : "", ev->msg);
    } else if (ev->kind == SAIL_TRAIN_STEP) {
        p->loss_avg = p->n ? 0.9 * p->loss_avg + 0.1 * ev->loss : ev->loss;
        p->n++;
        if (!p->tty && ev->step % p->every && ev->step != ev->total_steps) return;
        char eta[32];
        fmt_eta(eta, sizeof eta, ev->eta_s);
        fprintf(stderr, "%sepoch %d/%d  step %lld/%lld  loss %.4f (avg %.4f)  lr %.2e  |g| %.3g  %.1f pairs/s  ETA %s%s",
                p->tty ? "\r\033[K" : "", ev->epoch + 1, ev->epochs, (long long)ev->step,
                (long long)ev->total_steps, ev->loss, p->loss_avg, ev->lr, ev->grad_norm, ev->pairs_per_s, eta,
                p->tty ? "" : "\n");
    } else {
        fprintf(stderr, "%sepoch %d/%d done: train loss %.4f", p->tty ? "\r\033[K" : "", ev->epoch + 1,
                ev->epochs, ev->loss);
        if (ev->has_val)
            fprintf(stderr, "  val loss %.4f  val R@1 %.3f (text->other) %.3f (other->text)", ev->val_loss,
                    ev->val_r1_ab, ev->val_r1_ba);
        fputc('\n', stderr);
    }
    fflush(stderr);
}

static int load_data(const char *cmd, const char *path, sail_dataset *ds, int quiet) {
    sail_error err = {0};
    if (sail_dataset_load(path, ds, &err)) return cli_fail(1, cmd, "%s", err.msg);
    if (quiet) return 0;
    if (ds->n_skipped) {
        fprintf(stderr, "sail %s: %s: skipped %d line%s:\n", cmd, path, ds->n_skipped, ds->n_skipped == 1 ? "" : "s");
        int shown = cli_min(ds->n_skipped, SAIL_DATASET_MAX_REPORTS);
        for (int i = 0; i < shown; i++)
            fprintf(stderr, "  line %d: %s\n", ds->skipped_lines[i], ds->skipped_why[i]);
        if (ds->n_skipped > shown) fprintf(stderr, "  ... and %d more\n", ds->n_skipped - shown);
    }
    fprintf(stderr, "sail %s: %s: %d pairs (%d text-image, %d text-text)\n", cmd, path, ds->n,
            ds->n_kind[SAIL_PAIR_IMAGE], ds->n_kind[SAIL_PAIR_TEXT]);
    return 0;
}

/* --model_name_or_path DIR: a Hugging Face folder, converted for this run
 * to O/converted.gguf (path), removed when the run ends. */
static int from_hf(const char *cmd, sail_train_opts *o, char *path, size_t cap) {
    struct stat st;
    if (stat(o->init_model, &st) || !S_ISDIR(st.st_mode)) return 0;
    if (mkdir(o->output_dir, 0777) && errno != EEXIST)
        return cli_fail(1, cmd, "cannot create %s: %s", o->output_dir, strerror(errno));
    if (snprintf(path, cap, "%s/converted.gguf", o->output_dir) >= (int)cap)
        return cli_fail(2, cmd, "--output_dir %s: path too long", o->output_dir);
    fprintf(stderr, "sail %s: converting the Hugging Face folder %s\n", cmd, o->init_model);
    sail_error err = {0};
    if (sail_convert(o->init_model, path, NULL, &err)) {
        *path = 0;
        return cli_fail(1, cmd, "%s", err.msg);
    }
    o->init_model = path;
    return 0;
}

/* --export_hf refuses a model it cannot export before training, not after. */
static int check_export(const char *cmd, const char *model, char *converted) {
    sail_error err = {0};
    if (!sail_export_hf(model, NULL, &err)) return 0;
    if (*converted) remove(converted);
    return cli_fail(2, cmd, "--export_hf: %s", err.msg);
}

/* O/model.gguf as the Hugging Face folder O/hf. */
static int write_hf(const char *cmd, const char *dir) {
    char model[4096], hf[4096];
    if (snprintf(model, sizeof model, "%s/model.gguf", dir) >= (int)sizeof model ||
        snprintf(hf, sizeof hf, "%s/hf", dir) >= (int)sizeof hf)
        return cli_fail(2, cmd, "--output_dir %s: path too long", dir);
    sail_error err = {0};
    if (sail_export_hf(model, hf, &err)) return cli_fail(1, cmd, "--export_hf: %s", err.msg);
    fprintf(stderr, "sail %s: wrote %s (a Hugging Face folder)\n", cmd, hf);
    return 0;
}

/* The options train and finetune share, in help order; the values go to
 * run()'s locals (o, train_path, val_path, lora_alpha, seed, max_steps, pr). */
#define TRAIN_OPTS                                                                                            \
    CLI_OPT_STR("--train_data_path", &train_path, "D.jsonl", "training pairs (docs/TRAINING.md)"),           \
    CLI_OPT_STR("--output_dir", &o.output_dir, "O", "O/model.gguf and O/checkpoint.gguf are written here"), \
    CLI_OPT_STR("--val_data_path", &val_path, "V.jsonl", "validation pairs: loss and R@1 after each epoch"), \
    CLI_OPT_FLOAT("--learning_rate", &o.hp.lr, 1e-12, 10, "LR", "peak learning rate (default 5e-4)"),     \
    CLI_OPT_INT("--num_train_epochs", &o.hp.epochs, 1, 100000, "N", "epochs (default 3)"),                 \
    CLI_OPT_INT("--batch_size", &o.hp.batch_size, 2, 65536, "B", "pairs per micro-batch (default 32)"),    \
    CLI_OPT_INT("--grad_accum", &o.hp.grad_accum, 1, 65536, "K",                                           \
                "micro-batches per optimiser step (default 1)"),                                            \
    CLI_OPT_INT("--warmup_steps", &o.hp.warmup_steps, 0, 1L << 30, "N",                                    \
                "linear warmup steps, then cosine decay (default 100)"),                                    \
    CLI_OPT_FLOAT("--min_lr_ratio", &o.hp.min_lr_ratio, 0, 1, "R", "cosine decays to R * LR (default 0)"), \
    CLI_OPT_FLOAT("--weight_decay", &o.hp.weight_decay, 0, 10, "W",                                        \
                  "AdamW decoupled weight decay (default 0.1)"),                                            \
    CLI_OPT_FLOAT("--max_grad_norm", &o.hp.max_grad_norm, 0, 1e9, "G",                                     \
                  "global gradient-norm clipping; 0 = off (default 1)"),                                    \
    CLI_OPT_CALL("--matryoshka", on_matryoshka, &o.lo, "D1,D2,..",                                         \
                 "Matryoshka loss dimensions (default: the model's dim)"),                                  \
    CLI_OPT_CALL("--freeze", on_parts, &o.hp.frozen, "PARTS",                                              \
                 "parts left as they are (comma-separated): text,\n"                                        \
                 "vision, audio, fusion, head, temperature; a frozen\n"                                     \
                 "costs no backward pass"),                                                                 \
    CLI_OPT_CALL("--part_learning_rate", on_part_lr, o.hp.part_lr, "P=LR,...",                             \
                 "a part's own peak learning rate, e.g.\n"                                                  \
                 "text=2e-5,vision=2e-5 (the rest: --learning_rate)"),                                      \
    CLI_OPT_INT("--lora_rank", &o.hp.lora_rank, 1, 1024, "R",                                              \
                "LoRA adapters of rank R on the attention and MLP\n"                                        \
                "matrices; in the adapted parts only the adapters\n"                                        \
                "train; model.gguf has them merged (W + a/R B A)"),                                         \
    CLI_OPT_FLOAT("--lora_alpha", &lora_alpha, 1e-6, 1e4, "A", "the adapters' scale is A / R (default A = R)"), \
    CLI_OPT_CALL("--lora_parts", on_parts, &o.hp.lora_parts, "PARTS",                                      \
                 "adapted parts among text, vision, audio, fusion\n(default text,vision,audio)"),            \
    CLI_OPT_INT("--hard_negatives", &o.hp.hard_negatives, 0, 65535, "K",                                   \
                "from epoch 2 on, batch each pair with its K nearest\n"                                     \
                "pairs of other groups (default 0 = random batches)"),                                      \
    CLI_OPT_LONG("--seed", &seed, 0, 0x7fffffffL, "S", "weights (new models), shuffling (default 42)"),    \
    CLI_OPT_INT("--save_every", &o.save_every, 0, 1L << 30, "N",                                           \
                "checkpoint every N steps (default 0: end and Ctrl-C)"),                                    \
    CLI_OPT_LONG("--max_steps", &max_steps, 0, 1L << 40, "N",                                              \
                 "stop after step N with a checkpoint (resume later)"),                                     \
    CLI_OPT_STR("--resume", &o.resume, "DIR|FILE", "continue from a checkpoint (its hyper-parameters)"),    \
    CLI_OPT_THREADS(&o.threads, CLI_THREADS_HELP "; resuming\n"                                             \
                    "with the same count reproduces a run bit for bit"),                                    \
    CLI_OPT_INT("--workers", &o.loader_workers, 1, 64, "N", "loader threads decoding images ahead (default 2)"), \
    CLI_OPT_INT("--progress_every", &pr.every, 1, 1L << 30, "N",                                            \
                "when stderr is not a terminal: a line every N steps\n(default 10)")

/* comm: the ranks of a data-parallel run, or NULL. */
static int train(int argc, char **argv, int finetune, const sail_train_comm *comm) {
    const char *cmd = finetune ? "finetune" : "train";
    sail_train_opts o = {.hp = {.lr = 5e-4, .weight_decay = 0.1, .max_grad_norm = 1.0, .beta1 = 0.9,
                                .beta2 = 0.999, .eps = 1e-8, .epochs = 3, .batch_size = 32,
                                .warmup_steps = 100, .grad_accum = 1},
                         .loader_workers = 2};
    const char *train_path = NULL, *val_path = NULL;
    progress pr = {.tty = isatty(2), .every = 10};
    int export_hf = 0;
    double lora_alpha = 0;
    long seed = 42, max_steps = 0;
    const cli_opt train_table[] = {
        CLI_OPT_STR("--config", &o.config, "tiny|base|large", "architecture preset of the new model"),
        CLI_OPT_STR("--vocab", &o.vocab_path, "vocab.txt", "WordPiece vocabulary of the new model"),
        TRAIN_OPTS,
        CLI_OPT_INT("--image_size", &o.image_size, 16, 4096, "PX", "override the preset's image size, e.g. 64"),
        CLI_OPT_INT("--patch_size", &o.patch_size, 1, 1024, "P",
                    "override the preset's ViT patch size (16), e.g. 8:\n"
                    "finer detail, ~(16/P)^2 more image tokens"),
        CLI_OPT_END,
    };
    const cli_opt finetune_table[] = {
        CLI_OPT_STR("--model_name_or_path", &o.init_model, "M.gguf|HF_DIR",
                    "the model to continue: a sail file or a Hugging Face folder"),
        TRAIN_OPTS,
        CLI_OPT_INT("--image_size", &o.image_size, 16, 4096, "PX",
                    "move the model to PX (its position grid is\n"
                    "resampled bicubically, as inference does)"),
        CLI_OPT_FLAG("--export_hf", &export_hf,
                     "also write O/hf, a Hugging Face folder of the result\n(sail export --format hf)"),
        CLI_OPT_END,
    };
    const cli_spec spec = {cmd, finetune ? usage_finetune : usage_train, finetune ? finetune_table : train_table,
                           usage_more};
    int rc0 = cli_parse(&spec, argc, argv, 1);
    if (rc0) return rc0 == CLI_HELP ? 0 : rc0;
    o.hp.seed = (uint64_t)seed;
    o.hp.lora_alpha = (float)lora_alpha;
    o.max_steps = max_steps;
    char converted[4096] = "";
    if (!train_path || !o.output_dir)
        return cli_fail(2, cmd, "--train_data_path and --output_dir are required (see sail %s --help)", cmd);
    if (!o.resume && !finetune && (!o.config || !o.vocab_path))
        return cli_fail(2, cmd, "--config and --vocab are required for a new model (or --resume)");
    if (!o.resume && finetune && !o.init_model)
        return cli_fail(2, cmd, "--model_name_or_path is required (or --resume)");
    struct stat st;
    if (comm && o.init_model && !stat(o.init_model, &st) && S_ISDIR(st.st_mode))
        return cli_fail(2, cmd, "under mpirun, convert %s first (sail convert) and fine-tune the .gguf", o.init_model);
    if (o.init_model && (rc0 = from_hf(cmd, &o, converted, sizeof converted))) return rc0;
    if (export_hf && o.init_model && (rc0 = check_export(cmd, o.init_model, converted))) return rc0;
    sail_dataset train = {0}, val = {0};
    int quiet = comm && comm->rank; /* rank 0 speaks for all */
    int rc = load_data(cmd, train_path, &train, quiet);
    if (!rc && val_path) rc = load_data(cmd, val_path, &val, quiet);
    if (rc) {
        sail_dataset_free(&train);
        if (*converted) remove(converted);
        return rc;
    }
    o.train = &train;
    o.val = val_path ? &val : NULL;
    o.stop = &g_stop;
    o.cb = on_event;
    o.ud = &pr;
    o.comm = comm;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    if (comm) sigaction(SIGUSR1, &sa, NULL); /* mpirun kills on Ctrl-C but forwards SIGUSR1 */
    sail_error err = {0};
    int stopped = 0;
    sail_status s = sail_train(&o, &stopped, &err);
    signal(SIGINT, SIG_DFL);
    if (comm) signal(SIGUSR1, SIG_DFL);
    sail_dataset_free(&train);
    sail_dataset_free(&val);
    if (*converted) remove(converted);
    if (s) return cli_fail(1, cmd, "%s", err.msg);
    if (export_hf && !quiet && !(stopped && g_stop) && (rc = write_hf(cmd, o.output_dir))) return rc;
    if (stopped && quiet) return g_stop ? 130 : 0;
    if (stopped && g_stop) {
        fprintf(stderr, "sail %s: interrupted; continue with --resume %s\n", cmd, o.output_dir);
        return 130;
    }
    if (stopped) fprintf(stderr, "sail %s: stopped at --max_steps; continue with --resume %s\n", cmd, o.output_dir);
    return 0;
}

static int run(int argc, char **argv, int finetune) {
    sail_train_comm comm;
    int ranks = cli_dist_start(&comm);
    if (ranks < 0) return 1;
    int rc = train(argc, argv, finetune, ranks > 1 ? &comm : NULL);
    cli_dist_end(ranks, rc);
    return rc;
}

int cmd_train(int argc, char **argv) { return run(argc, argv, 0); }
int cmd_finetune(int argc, char **argv) { return run(argc, argv, 1); }
