/* scene.c: the scene grammar of the shapes data set (docs/DATA.md):
 * attributes, layout, backgrounds that keep the objects visible, the
 * canonical group string and the held-out (shape, colour) pairs. */
#include "data/data.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const sail_shape_names[SAIL_SHAPE_COUNT] = {
    "circle", "square", "triangle", "star", "heart", "cross", "ring", "hexagon"};
const char *const sail_colour_names[SAIL_COLOUR_COUNT] = {
    "red", "orange", "yellow", "green", "cyan", "blue",
    "purple", "pink", "brown", "black", "white", "gray"};
const uint8_t sail_colour_rgb[SAIL_COLOUR_COUNT][3] = {
    {220, 30, 30}, {245, 130, 20}, {245, 220, 30}, {40, 170, 60},
    {30, 200, 210}, {30, 70, 220}, {130, 50, 190}, {245, 130, 190},
    {130, 80, 40}, {20, 20, 20}, {250, 250, 250}, {128, 128, 128}};
const char *const sail_pos_names[SAIL_POS_COUNT] = {
    "left", "right", "top", "bottom", "centre", "any"};
const char *const sail_size_names[2] = {"small", "large"};

/* test_novel: one colour per shape, never seen with it in train/val/test. */
static const int novel_colour[SAIL_SHAPE_COUNT] = {
    1 /* circle orange */, 4 /* square cyan */, 7 /* triangle pink */,
    6 /* star purple */, 3 /* heart green */, 2 /* cross yellow */,
    8 /* ring brown */, 0 /* hexagon red */};

int sail_scene_is_novel(int shape, int colour) {
    return shape >= 0 && shape < SAIL_SHAPE_COUNT && novel_colour[shape] == colour;
}

uint64_t sail_data_stream(uint64_t seed, uint64_t index, uint64_t tag) {
    sail_rng r = {seed};
    r.s = sail_rng_next(&r) ^ (index * 0xd1b54a32d192ed03ull) ^ (tag * 0x8cb92ba72f3d8dd7ull);
    return sail_rng_next(&r);
}

static sail_rng stream(uint64_t seed, uint64_t index, uint64_t tag) {
    sail_rng r = {sail_data_stream(seed, index, tag)};
    return r;
}

static int pick(sail_rng *r, int n) { return (int)(sail_rng_next(r) % (uint64_t)n); }
static float unif(sail_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((sail_rng_next(r) >> 40) * (1.0 / 16777216.0));
}

static int dist2(const uint8_t a[3], const uint8_t b[3]) {
    int d = 0;
    for (int k = 0; k < 3; k++) d += (a[k] - b[k]) * (a[k] - b[k]);
    return d;
}

/* A low-saturation background colour at least 120 (RGB distance) from the
 * object's palette colour, so no background is ever the object's colour. */
static void bg_colour(sail_rng *r, const uint8_t obj[3], uint8_t out[3]) {
    for (int tries = 0; tries < 64; tries++) {
        int g = 20 + pick(r, 216);
        for (int k = 0; k < 3; k++) {
            int v = g + pick(r, 37) - 18;
            out[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        if (dist2(out, obj) >= 120 * 120) return;
    }
    int lum = obj[0] + obj[1] + obj[2];
    memset(out, lum > 3 * 128 ? 20 : 235, 3);
}

/* Two background colours whose whole gradient stays far from obj (two far
 * ends can still pass through the object's colour, e.g. around gray). */
static void bg_pair(sail_rng *r, const uint8_t obj[3], uint8_t a[3], uint8_t b[3]) {
    bg_colour(r, obj, a);
    for (int tries = 0; tries < 64; tries++) {
        bg_colour(r, obj, b);
        int ok = 1;
        for (int q = 1; q < 8 && ok; q++) {
            uint8_t m[3];
            for (int k = 0; k < 3; k++) m[k] = (uint8_t)(a[k] + (b[k] - a[k]) * q / 8);
            ok = dist2(m, obj) >= 110 * 110;
        }
        if (ok) return;
    }
    memcpy(b, a, 3);
}

static float extent(float r) { return 1.2f * r + 1.0f; }

void sail_scene_place(sail_scene *s, uint64_t stream_id) {
    sail_rng r = stream(stream_id, 0, 7);
    float side = (float)s->side;
    if (s->count == 1) {
        static const float px[] = {0.25f, 0.75f, 0.5f, 0.5f, 0.5f};
        static const float py[] = {0.5f, 0.5f, 0.25f, 0.75f, 0.5f};
        float rr = side * (s->size == SAIL_SIZE_SMALL ? unif(&r, 0.09f, 0.12f) : unif(&r, 0.18f, 0.22f));
        float e = extent(rr);
        float cx = side * (px[s->pos] + unif(&r, -0.04f, 0.04f));
        float cy = side * (py[s->pos] + unif(&r, -0.04f, 0.04f));
        s->cx[0] = fminf(fmaxf(cx, e), side - e);
        s->cy[0] = fminf(fmaxf(cy, e), side - e);
        s->r[0] = rr;
        s->angle[0] = unif(&r, -0.2f, 0.2f);
        return;
    }
    /* Several objects anywhere, never overlapping (rejection sampling; the
     * radii shrink a little after every 200 failed layouts). */
    float lo = s->size == SAIL_SIZE_SMALL ? 0.08f : 0.14f, hi = lo + 0.02f;
    for (int attempt = 0;; attempt++) {
        float shrink = powf(0.95f, (float)(attempt / 200));
        int ok = 1;
        for (int i = 0; i < s->count && ok; i++) {
            s->r[i] = side * unif(&r, lo, hi) * shrink;
            float e = extent(s->r[i]);
            s->cx[i] = unif(&r, e, side - e);
            s->cy[i] = unif(&r, e, side - e);
            s->angle[i] = unif(&r, -0.2f, 0.2f);
            for (int j = 0; j < i && ok; j++)
                ok = hypotf(s->cx[i] - s->cx[j], s->cy[i] - s->cy[j]) >=
                     extent(s->r[i]) + extent(s->r[j]) + 2.0f;
        }
        if (ok) return;
    }
}

void sail_scene_sample(uint64_t seed, uint64_t index, int side, sail_scene *s) {
    sail_rng r = stream(seed, index, 1);
    memset(s, 0, sizeof *s);
    s->side = side;
    s->shape = pick(&r, SAIL_SHAPE_COUNT);
    s->colour = pick(&r, SAIL_COLOUR_COUNT);
    s->size = pick(&r, 2);
    int c = pick(&r, 20); /* 70% one object, 15% two, 15% three */
    s->count = c < 14 ? 1 : c < 17 ? 2 : 3;
    s->pos = s->count == 1 ? pick(&r, 5) : SAIL_POS_ANY;
    for (int k = 0; k < 3; k++) {
        int v = sail_colour_rgb[s->colour][k] + pick(&r, 17) - 8;
        s->rgb[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    c = pick(&r, 10); /* 40% plain, 30% gradient, 30% noise */
    s->bg = c < 4 ? SAIL_BG_PLAIN : c < 7 ? SAIL_BG_GRADIENT : SAIL_BG_NOISE;
    bg_pair(&r, sail_colour_rgb[s->colour], s->bg0, s->bg1);
    s->grad_dir = pick(&r, 3);
    s->noise_seed = sail_rng_next(&r);
    sail_scene_place(s, sail_rng_next(&r));
}

/* Value noise: a 5x5 grid of gray offsets (+-24) interpolated bilinearly,
 * plus per-pixel grain (+-6), the same on all channels so the tint stays. */
static void noise_fill(const sail_scene *s, sail_image *img) {
    enum { G = 5 };
    float grid[G][G];
    sail_rng r = stream(s->noise_seed, 0, 3);
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) grid[i][j] = unif(&r, -24.0f, 24.0f);
    float step = (float)(img->w - 1) / (G - 1);
    for (int y = 0; y < img->h; y++) {
        float fy = y / step;
        int iy = SAIL_MIN((int)fy, G - 2);
        float ty = fy - iy;
        for (int x = 0; x < img->w; x++) {
            float fx = x / step;
            int ix = SAIL_MIN((int)fx, G - 2);
            float tx = fx - ix;
            float n = (grid[iy][ix] * (1 - tx) + grid[iy][ix + 1] * tx) * (1 - ty) +
                      (grid[iy + 1][ix] * (1 - tx) + grid[iy + 1][ix + 1] * tx) * ty;
            n += (float)pick(&r, 13) - 6.0f;
            uint8_t *p = img->rgb + ((size_t)y * img->w + x) * 3;
            for (int k = 0; k < 3; k++) {
                float v = s->bg0[k] + n;
                p[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
            }
        }
    }
}

static void background(const sail_scene *s, sail_image *img) {
    if (s->bg == SAIL_BG_NOISE) {
        noise_fill(s, img);
        return;
    }
    float span = (float)(s->grad_dir == 2 ? 2 * (img->w - 1) : img->w - 1);
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            uint8_t *p = img->rgb + ((size_t)y * img->w + x) * 3;
            if (s->bg == SAIL_BG_PLAIN) {
                memcpy(p, s->bg0, 3);
                continue;
            }
            float t = (s->grad_dir == 0 ? x : s->grad_dir == 1 ? y : x + y) / span;
            for (int k = 0; k < 3; k++) p[k] = (uint8_t)(s->bg0[k] + (s->bg1[k] - s->bg0[k]) * t + 0.5f);
        }
}

sail_status sail_scene_render(const sail_scene *s, sail_image *out, sail_error *err) {
    if (s->side < 8 || s->side > 4096)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "scene side %d is outside 8..4096", s->side);
    uint8_t *rgb = sail_malloc((size_t)s->side * s->side * 3);
    if (!rgb) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a %dx%d scene", s->side, s->side);
    sail_image img = {s->side, s->side, rgb};
    background(s, &img);
    for (int i = 0; i < s->count && i < SAIL_SCENE_MAX_OBJECTS; i++)
        sail_render_shape(&img, s->shape, s->cx[i], s->cy[i], s->r[i], s->angle[i], s->rgb);
    *out = img;
    return SAIL_OK;
}

void sail_scene_group(const sail_scene *s, char *buf, size_t n) {
    snprintf(buf, n, "%s|%s|%s|%s|%d", sail_shape_names[s->shape], sail_colour_names[s->colour],
             sail_size_names[s->size], sail_pos_names[s->pos], s->count);
}
