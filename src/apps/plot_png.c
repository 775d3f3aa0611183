/* plot_png.c: the scatter plot of `sail cluster --plot`: points coloured by
 * cluster, drawn as anti-aliased dots (coverage from the distance of each
 * pixel centre to the dot's edge) over a white canvas, with an axes box,
 * tick values, a title and a legend, written as an 8-bit RGB PNG by libpng.
 * Text uses a built-in 5x7 bitmap font (digits, lower case, a few capitals
 * and punctuation) drawn at 2x. */
#include "apps/apps.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

typedef struct glyph {
    char c;
    unsigned char rows[7]; /* 5 bits per row, bit 4 = leftmost */
} glyph;

static const glyph font[] = {
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}},
    {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}},
    {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}},
    {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}},
    {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}},
    {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {'a', {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}},
    {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e}},
    {'c', {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e}},
    {'d', {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f}},
    {'e', {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}},
    {'f', {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08}},
    {'g', {0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}},
    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}},
    {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}},
    {'l', {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'m', {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11}},
    {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e}},
    {'p', {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10}},
    {'q', {0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01}},
    {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e}},
    {'t', {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d}},
    {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04}},
    {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a}},
    {'x', {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11}},
    {'y', {0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e}},
    {'z', {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f}},
    {'A', {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'B', {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}},
    {'C', {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}},
    {'D', {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c}},
    {'N', {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11}},
    {'P', {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}},
    {'S', {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}},
    {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}},
    {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}},
    {'=', {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'+', {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}},
    {'?', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
};

typedef struct canvas {
    int w, h;
    float *px; /* (h, w, 3) in [0, 1] */
} canvas;

/* Blend colour rgb into pixel (x, y) with opacity a. */
static void blend(canvas *cv, int x, int y, const float rgb[3], float a) {
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h || a <= 0) return;
    float *p = cv->px + ((size_t)y * cv->w + x) * 3;
    if (a > 1) a = 1;
    for (int c = 0; c < 3; c++) p[c] = p[c] * (1 - a) + rgb[c] * a;
}

static void dot(canvas *cv, float cx, float cy, float r, const float rgb[3], float alpha) {
    for (int y = (int)floorf(cy - r - 1); y <= (int)ceilf(cy + r + 1); y++)
        for (int x = (int)floorf(cx - r - 1); x <= (int)ceilf(cx + r + 1); x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
            float cov = r + 0.5f - sqrtf(dx * dx + dy * dy);
            if (cov > 0) blend(cv, x, y, rgb, alpha * (cov > 1 ? 1 : cov));
        }
}

static void rect(canvas *cv, int x0, int y0, int x1, int y1, const float rgb[3]) {
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) blend(cv, x, y, rgb, 1);
}

static const glyph *find_glyph(char c) {
    for (size_t i = 0; i < sizeof font / sizeof *font; i++)
        if (font[i].c == c) return &font[i];
    return c == ' ' ? NULL : find_glyph('?');
}

#define SCALE 2
#define ADVANCE (6 * SCALE)

static int text_width(const char *s) { return (int)strlen(s) * ADVANCE - SCALE; }

/* Draws s with its top-left corner at (x, y); vertical when up != 0
 * (reading bottom to top, for the y-axis label). */
static void text(canvas *cv, int x, int y, const char *s, const float rgb[3], int up) {
    for (int i = 0; s[i]; i++) {
        const glyph *g = find_glyph(s[i]);
        if (!g) continue;
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 5; c++) {
                if (!(g->rows[r] >> (4 - c) & 1)) continue;
                for (int sy = 0; sy < SCALE; sy++)
                    for (int sx = 0; sx < SCALE; sx++) {
                        int gx = i * ADVANCE + c * SCALE + sx, gy = r * SCALE + sy;
                        if (up) blend(cv, x + gy, y - gx, rgb, 1);
                        else blend(cv, x + gx, y + gy, rgb, 1);
                    }
            }
    }
}

/* Colour of cluster l: the tab10 palette, then golden-angle hues. */
static void colour(int l, float rgb[3]) {
    static const unsigned char tab10[10][3] = {
        {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
        {140, 86, 75},  {227, 119, 194}, {188, 189, 34}, {23, 190, 207}, {127, 127, 127}};
    if (l < 0) {
        rgb[0] = rgb[1] = rgb[2] = 0.72f;
        return;
    }
    if (l < 9) { /* the tenth tab10 colour is grey, kept for noise */
        for (int c = 0; c < 3; c++) rgb[c] = tab10[l][c] / 255.0f;
        return;
    }
    float h = fmodf(l * 0.618034f, 1.0f) * 6, s = 0.65f, v = 0.8f, f = h - floorf(h);
    float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    switch ((int)h % 6) {
    case 0: rgb[0] = v; rgb[1] = t; rgb[2] = p; break;
    case 1: rgb[0] = q; rgb[1] = v; rgb[2] = p; break;
    case 2: rgb[0] = p; rgb[1] = v; rgb[2] = t; break;
    case 3: rgb[0] = p; rgb[1] = q; rgb[2] = v; break;
    case 4: rgb[0] = t; rgb[1] = p; rgb[2] = v; break;
    default: rgb[0] = v; rgb[1] = p; rgb[2] = q; break;
    }
}

/* A "nice" tick step (1, 2 or 5 x 10^k) giving about five ticks over span. */
static double tick_step(double span) {
    double raw = span / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static sail_status write_png(const char *path, const canvas *cv, sail_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep row = sail_malloc((size_t)cv->w * 3);
    if (!png || !info || !row) {
        png_destroy_write_struct(&png, &info);
        sail_free(row);
        fclose(f);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory writing %s", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        sail_free(row);
        fclose(f);
        return sail_set_error(err, SAIL_ERR_IO, "%s: libpng failed while writing", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)cv->w, (png_uint_32)cv->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < cv->h; y++) {
        const float *p = cv->px + (size_t)y * cv->w * 3;
        for (int x = 0; x < cv->w * 3; x++) row[x] = (png_byte)lrintf(p[x] * 255);
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    sail_free(row);
    if (fclose(f)) return sail_set_error(err, SAIL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return SAIL_OK;
}

#define LEGEND_MAX 24

sail_status sail_plot_png(const char *path, const float *xy, const int *label, int n,
                          const char *title, const char *xlabel, const char *ylabel, int width,
                          int height, sail_error *err) {
    if (n < 1 || width < 400 || height < 300 || width > 8192 || height > 8192)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "plot needs points and a 400x300..8192x8192 canvas");
    int max_label = -1, has_noise = 0;
    for (int i = 0; i < n; i++) {
        if (label[i] > max_label) max_label = label[i];
        if (label[i] < 0) has_noise = 1;
    }
    int nl = max_label + 1;
    canvas cv = {width, height, sail_malloc((size_t)width * height * 3 * sizeof(float))};
    int *count = sail_calloc((size_t)nl + 1, sizeof *count);
    if (!cv.px || !count) {
        sail_free(cv.px);
        sail_free(count);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory for a %dx%d plot", width, height);
    }
    for (size_t i = 0; i < (size_t)width * height * 3; i++) cv.px[i] = 1;
    for (int i = 0; i < n; i++) count[label[i] < 0 ? nl : label[i]]++;
    const float ink[3] = {0.15f, 0.15f, 0.15f}, grid[3] = {0.92f, 0.92f, 0.92f};
    char buf[64];
    int legend_w = 0;
    for (int l = has_noise ? -1 : 0, shown = 0; l < nl && shown <= LEGEND_MAX; l++) {
        int c = count[l < 0 ? nl : l];
        if (!c) continue;
        if (l < 0) snprintf(buf, sizeof buf, "noise (%d)", c);
        else snprintf(buf, sizeof buf, "cluster %d (%d)", l, c);
        legend_w = SAIL_MAX(legend_w, text_width(buf));
        shown++;
    }
    int left = 90, right = width - SAIL_MIN(legend_w + 64, width / 2), top = 50, bottom = height - 70;
    double x0 = xy[0], x1 = xy[0], y0 = xy[1], y1 = xy[1];
    for (int i = 1; i < n; i++) {
        x0 = fmin(x0, xy[2 * i]); x1 = fmax(x1, xy[2 * i]);
        y0 = fmin(y0, xy[2 * i + 1]); y1 = fmax(y1, xy[2 * i + 1]);
    }
    double px = (x1 - x0) * 0.05 + 1e-9, py = (y1 - y0) * 0.05 + 1e-9;
    x0 -= px; x1 += px; y0 -= py; y1 += py;
#define MAPX(v) (left + ((v) - x0) / (x1 - x0) * (right - left))
#define MAPY(v) (bottom - ((v) - y0) / (y1 - y0) * (bottom - top))
    double st = tick_step(x1 - x0);
    for (double v = ceil(x0 / st) * st; v <= x1; v += st) {
        int X = (int)lrint(MAPX(v));
        rect(&cv, X, top + 1, X, bottom - 1, grid);
        rect(&cv, X, bottom, X, bottom + 5, ink);
        snprintf(buf, sizeof buf, "%.3g", fabs(v) < st * 1e-6 ? 0.0 : v);
        text(&cv, X - text_width(buf) / 2, bottom + 10, buf, ink, 0);
    }
    st = tick_step(y1 - y0);
    for (double v = ceil(y0 / st) * st; v <= y1; v += st) {
        int Y = (int)lrint(MAPY(v));
        rect(&cv, left + 1, Y, right - 1, Y, grid);
        rect(&cv, left - 5, Y, left, Y, ink);
        snprintf(buf, sizeof buf, "%.3g", fabs(v) < st * 1e-6 ? 0.0 : v);
        text(&cv, left - 9 - text_width(buf), Y - 7, buf, ink, 0);
    }
    /* Noise first, then clusters, so coloured dots stay on top. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if ((label[i] < 0) != (pass == 0)) continue;
            float rgb[3];
            colour(label[i], rgb);
            dot(&cv, (float)MAPX(xy[2 * i]), (float)MAPY(xy[2 * i + 1]), n > 5000 ? 2.0f : 3.5f, rgb, 0.8f);
        }
    rect(&cv, left, top, right, top, ink);
    rect(&cv, left, bottom, right, bottom, ink);
    rect(&cv, left, top, left, bottom, ink);
    rect(&cv, right, top, right, bottom, ink);
    if (title) text(&cv, (left + right - text_width(title)) / 2, 16, title, ink, 0);
    if (xlabel) text(&cv, (left + right - text_width(xlabel)) / 2, height - 30, xlabel, ink, 0);
    if (ylabel) text(&cv, 14, (top + bottom + text_width(ylabel)) / 2, ylabel, ink, 1);
    int ly = top + 6, shown = 0;
    for (int l = has_noise ? -1 : 0; l < nl; l++) {
        int c = count[l < 0 ? nl : l];
        if (!c) continue;
        if (shown == LEGEND_MAX) {
            snprintf(buf, sizeof buf, "+ %d more", nl - l);
            text(&cv, right + 22, ly, buf, ink, 0);
            break;
        }
        float rgb[3];
        colour(l, rgb);
        dot(&cv, (float)right + 30, (float)ly + 7, 5, rgb, 1);
        if (l < 0) snprintf(buf, sizeof buf, "noise (%d)", c);
        else snprintf(buf, sizeof buf, "cluster %d (%d)", l, c);
        text(&cv, right + 42, ly, buf, ink, 0);
        ly += 22;
        shown++;
    }
#undef MAPX
#undef MAPY
    sail_status s = write_png(path, &cv, err);
    sail_free(cv.px);
    sail_free(count);
    return s;
}
