/* weights.c: the single list of a sail model's tensors. Loading, random
 * initialisation and inspection all walk this list, so a name or shape can
 * never disagree between writer and reader. */
#include "weights.h"

#include "swin.h"

#include <stdio.h>

typedef struct sail_walk {
    sail_weight_visitor fn;
    sail_weight_loader load;    /* instead of fn when set */
    void *ctx;
    sail_status s;
} walk;

/* stored: the tensor's sail_wmat view, for matrices inference may read in
 * their stored type; NULL for 1-D tensors. */
static void visit_m(walk *k, const char *name, int64_t rows, int64_t cols,
                    const float **slot, sail_wmat *stored, sail_linear *lin, sail_init_kind init) {
    if (k->s) return;
    k->s = k->load ? k->load(k->ctx, name, rows, cols, slot, stored, lin)
                   : k->fn(k->ctx, name, rows, cols, slot, init);
}

static void visit(walk *k, const char *name, int64_t rows, int64_t cols,
                  const float **slot, sail_init_kind init) {
    visit_m(k, name, rows, cols, slot, NULL, NULL, init);
}

static void linear(walk *k, const char *pre, const char *what, int64_t out,
                   int64_t in, sail_linear *l) {
    char n[96];
    snprintf(n, sizeof n, "%s.%s.weight", pre, what);
    visit_m(k, n, out, in, &l->w, &l->wm, l, SAIL_INIT_NORMAL);
    snprintf(n, sizeof n, "%s.%s.bias", pre, what);
    visit(k, n, 1, out, &l->b, SAIL_INIT_ZERO);
}

static void norm(walk *k, const char *pre, const char *what, int64_t d, sail_norm *nm) {
    char n[96];
    snprintf(n, sizeof n, "%s.%s.weight", pre, what);
    visit(k, n, 1, d, &nm->w, SAIL_INIT_ONE);
    snprintf(n, sizeof n, "%s.%s.bias", pre, what);
    visit(k, n, 1, d, &nm->b, SAIL_INIT_ZERO);
}

static void block(walk *k, const char *pre, const sail_tower *t, sail_block *b) {
    int64_t d = t->width, f = t->ffn;
    linear(k, pre, "attn_qkv", 3 * d, d, &b->qkv);
    linear(k, pre, "attn_out", d, d, &b->out);
    norm(k, pre, "norm1", d, &b->norm1);
    linear(k, pre, "ffn_up", f, d, &b->up);
    linear(k, pre, "ffn_down", d, f, &b->down);
    norm(k, pre, "norm2", d, &b->norm2);
}

void sail_walk_tensor(sail_walk *k, const char *name, int64_t rows, int64_t cols, const float **slot,
                      sail_wmat *stored, sail_init_kind init) {
    visit_m(k, name, rows, cols, slot, stored, NULL, init);
}

void sail_walk_linear(sail_walk *k, const char *pre, const char *what, int64_t out, int64_t in, sail_linear *l) {
    linear(k, pre, what, out, in, l);
}

void sail_walk_norm(sail_walk *k, const char *pre, const char *what, int64_t d, sail_norm *nm) {
    norm(k, pre, what, d, nm);
}

static void tower(walk *k, const char *pre, const sail_tower *t, sail_block *blocks) {
    char n[64];
    for (int i = 0; i < t->layers; i++) {
        snprintf(n, sizeof n, "%s.blk.%d", pre, i);
        block(k, n, t, &blocks[i]);
    }
}

void sail_weights_init_values(float *p, size_t n, sail_init_kind init, sail_rng *rng) {
    for (size_t i = 0; i < n; i++)
        p[i] = init == SAIL_INIT_ONE ? 1.0f : init == SAIL_INIT_ZERO ? 0.0f : 0.02f * sail_rng_normal(rng);
}

sail_status sail_weights_alloc_blocks(sail_weights *w, const sail_config *c, sail_error *err) {
    w->text = sail_calloc((size_t)(c->text.layers ? c->text.layers : 1), sizeof *w->text);
    w->vis.blocks = sail_calloc((size_t)(c->vision.layers ? c->vision.layers : 1), sizeof *w->vis.blocks);
    w->aud.blocks = sail_calloc((size_t)SAIL_MAX(c->audio.tower.layers, 1), sizeof *w->aud.blocks);
    w->fusion = sail_calloc((size_t)(c->fusion.layers ? c->fusion.layers : 1), sizeof *w->fusion);
    sail_status s = SAIL_OK;
    if (w->text && w->vis.blocks && w->aud.blocks && w->fusion && c->swin.on) s = sail_swin_alloc(&w->swin, c, err);
    if (s) {
        sail_weights_free_blocks(w);
        return s;
    }
    if (!w->text || !w->vis.blocks || !w->aud.blocks || !w->fusion) {
        sail_weights_free_blocks(w);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for the layer tables");
    }
    return SAIL_OK;
}

void sail_weights_free_blocks(sail_weights *w) {
    sail_free(w->text);
    sail_free(w->vis.blocks);
    sail_free(w->aud.blocks);
    sail_free(w->fusion);
    sail_swin_free(w->swin);
    w->text = w->vis.blocks = w->aud.blocks = w->fusion = NULL;
    w->swin = NULL;
}

/* SigLIP's attention-pooling head: a probe, packed q/k/v, out, LayerNorm, MLP. */
static void map_head(walk *k, const sail_tower *t, sail_weights *w) {
    int64_t d = t->width, f = t->ffn;
    visit(k, "vis.map.probe", 1, d, &w->vis_probe, SAIL_INIT_NORMAL);
    linear(k, "vis.map", "attn_qkv", 3 * d, d, &w->vis_map.qkv);
    linear(k, "vis.map", "attn_out", d, d, &w->vis_map.out);
    norm(k, "vis.map", "norm", d, &w->vis_map.norm2);
    linear(k, "vis.map", "ffn_up", f, d, &w->vis_map.up);
    linear(k, "vis.map", "ffn_down", d, f, &w->vis_map.down);
}

/* A ViT (vision or audio tower) under prefix pre. */
static void vit(walk *k, const char *pre, const sail_vit_geom *g, sail_vit *v) {
    char n[64];
    int64_t d = g->t->width, kp = (int64_t)g->nc * g->p * g->p;
    if (g->patch_bias) linear(k, pre, "patch", d, kp, &v->patch);
    else {
        snprintf(n, sizeof n, "%s.patch.weight", pre);
        visit_m(k, n, d, kp, &v->patch.w, &v->patch.wm, &v->patch, SAIL_INIT_NORMAL);
    }
    snprintf(n, sizeof n, "%s.cls", pre);
    if (g->cls) visit(k, n, 1, d, &v->cls, SAIL_INIT_NORMAL);
    snprintf(n, sizeof n, "%s.dist", pre);
    if (g->dist) visit(k, n, 1, d, &v->dist, SAIL_INIT_NORMAL);
    snprintf(n, sizeof n, "%s.pos", pre);
    visit_m(k, n, sail_vit_tokens(g), d, &v->pos, &v->tab_pos, NULL, SAIL_INIT_NORMAL);
    if (g->pre_norm) norm(k, pre, "pre_norm", d, &v->pre);
    tower(k, pre, g->t, v->blocks);
    norm(k, pre, "norm", d, &v->norm);
}

/* An imported model: each present tower, its norms, pooler and projection
 * (docs/FORMAT.md lists the names). */
static sail_status walk_towers(const sail_config *c, sail_weights *w, walk *k) {
    const sail_towers *t = &c->towers;
    int64_t dt = c->text.width, dv = c->vision.width;
    if (t->has_text) {
        visit_m(k, "text.tok_emb", c->vocab_size, dt, &w->tok_emb, &w->tab.tok, NULL, SAIL_INIT_NORMAL);
        visit_m(k, "text.pos_emb", c->max_positions, dt, &w->pos_emb, &w->tab.pos, NULL, SAIL_INIT_NORMAL);
        if (c->type_vocab)
            visit_m(k, "text.type_emb", c->type_vocab, dt, &w->type_emb, &w->tab.type, NULL, SAIL_INIT_NORMAL);
        if (t->text_emb_norm) norm(k, "text", "emb_norm", dt, &w->emb_norm);
        tower(k, "text", &c->text, w->text);
        if (t->text_final_norm) norm(k, "text", "final_norm", dt, &w->text_final);
        if (t->text_pool == SAIL_TPOOL_POOLER) linear(k, "text", "pooler", dt, dt, &w->text_pooler);
        if (t->text_proj && t->text_proj_bias) linear(k, "text", "proj", c->dim, dt, &w->text_out);
        else if (t->text_proj)
            visit_m(k, "text.proj.weight", c->dim, dt, &w->text_out.w, &w->text_out.wm, &w->text_out, SAIL_INIT_NORMAL);
        if (t->text_proj && t->text_proj_mlp) linear(k, "text", "proj2", c->dim, c->dim, &w->text_out2);
    }
    if (t->has_vision) {
        sail_vit_geom g = sail_vit_vision(c);
        vit(k, "vis", &g, &w->vis);
        if (t->vision_pooler) linear(k, "vis", "pooler", dv, dv, &w->vis_pooler);
        if (t->vision_map) map_head(k, &c->vision, w);
        if (t->vision_proj)
            visit_m(k, "vis.proj.weight", c->dim, dv, &w->vis_out.w, &w->vis_out.wm, &w->vis_out, SAIL_INIT_NORMAL);
    }
    if (c->swin.on) { /* its projection is an imported model's head; a fused model has fuse.aud_proj */
        int64_t hid = sail_audio_width(c);
        sail_swin_walk(k, c, w->swin);
        linear(k, "audio", "proj1", c->dim, hid, &w->swin->proj1);
        linear(k, "audio", "proj2", c->dim, c->dim, &w->swin->proj2);
    } else if (sail_has_audio(c)) {
        sail_vit_geom g = sail_vit_audio(c);
        vit(k, "aud", &g, &w->aud);
    }
    if (c->has_logit_bias) visit(k, "logit_bias", 1, 1, &w->logit_bias, SAIL_INIT_ZERO);
    return k->s;
}

static sail_status walk_all(const sail_config *c, sail_weights *w, walk *kp) {
    walk k = *kp;
    if (c->towers.on) return walk_towers(c, w, &k);
    int64_t dt = c->text.width, df = c->fusion.width, dv = c->vision.width;

    visit_m(&k, "text.tok_emb", c->vocab_size, dt, &w->tok_emb, &w->tab.tok, NULL, SAIL_INIT_NORMAL);
    visit_m(&k, "text.pos_emb", c->max_positions, dt, &w->pos_emb, &w->tab.pos, NULL, SAIL_INIT_NORMAL);
    /* a composed model's towers keep their layout (sail_has_layout): CLIP's
       text has no token types nor embedding LayerNorm but a final one, its
       vision a pre-LayerNorm and no patch bias; the names are the towers' */
    if (c->type_vocab)
        visit_m(&k, "text.type_emb", c->type_vocab, dt, &w->type_emb, &w->tab.type, NULL, SAIL_INIT_NORMAL);
    if (sail_text_emb_norm(c)) norm(&k, "text", "emb_norm", dt, &w->emb_norm);
    tower(&k, "text", &c->text, w->text);
    if (c->towers.layout && c->towers.text_final_norm) norm(&k, "text", "final_norm", dt, &w->text_final);

    sail_vit_geom gv = sail_vit_vision(c);
    vit(&k, "vis", &gv, &w->vis);
    if (c->swin.on) sail_swin_walk(&k, c, w->swin);
    else if (sail_has_audio(c)) {
        sail_vit_geom ga = sail_vit_audio(c);
        vit(&k, "aud", &ga, &w->aud);
    }

    linear(&k, "fuse", "text_proj", df, dt, &w->text_proj);
    linear(&k, "fuse", "vis_proj", df, dv, &w->vis_proj);
    if (sail_has_audio(c)) linear(&k, "fuse", "aud_proj", df, sail_audio_width(c), &w->aud_proj);
    visit_m(&k, "fuse.modality", 2 + sail_has_audio(c), df, &w->modality, &w->tab.modality, NULL, SAIL_INIT_NORMAL);
    if (c->perceiver_latents) {
        visit_m(&k, "fuse.perc.latents", c->perceiver_latents, df, &w->latents, &w->tab.latents,
                NULL, SAIL_INIT_NORMAL);
        norm(&k, "fuse.perc", "norm_kv", df, &w->perc_norm_kv);
        block(&k, "fuse.perc", &c->fusion, &w->perc);
    }
    tower(&k, "fuse", &c->fusion, w->fusion);
    norm(&k, "fuse", "norm", df, &w->fuse_norm);
    linear(&k, "head", "proj", c->dim, df, &w->head);
    return k.s;
}

sail_status sail_weights_walk(const sail_config *c, sail_weights *w,
                              sail_weight_visitor fn, void *ctx) {
    walk k = {fn, NULL, ctx, SAIL_OK};
    return walk_all(c, w, &k);
}

sail_status sail_weights_walk_stored(const sail_config *c, sail_weights *w,
                                     sail_weight_loader fn, void *ctx) {
    walk k = {NULL, fn, ctx, SAIL_OK};
    return walk_all(c, w, &k);
}
