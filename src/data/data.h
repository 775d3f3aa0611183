/* data.h: sail's own training data. Two generators write an image folder
 * plus JSON-lines manifests ({"text", "image", "lang", "group"}):
 *   shapes  procedurally rendered, anti-aliased scenes of 1-3 objects with
 *           English and Chinese captions (render.c, scene.c, captions.c,
 *           shapes.c)
 *   emoji   the Noto Color Emoji font with Unicode / CLDR names (emoji.c)
 * (and the stamps and speech generators below). The format and the grammar
 * are documented in docs/DATA.md. The generators' entry points are public
 * (include/sail_train.h); this header holds their internals. */
#ifndef SAIL_DATA_H
#define SAIL_DATA_H

#include "common.h"
#include "image/image.h"
#include "sail_train.h"

#include <stddef.h>
#include <stdio.h>

/* ------------------------------------------------------------ render -- */

enum { SAIL_SHAPE_CIRCLE, SAIL_SHAPE_SQUARE, SAIL_SHAPE_TRIANGLE, SAIL_SHAPE_STAR,
       SAIL_SHAPE_HEART, SAIL_SHAPE_CROSS, SAIL_SHAPE_RING, SAIL_SHAPE_HEXAGON,
       SAIL_SHAPE_COUNT };

/* Area of a shape drawn with radius 1 (its exact polygon or disc area), so
 * tests can check a rasterisation against geometry. */
double sail_shape_unit_area(int shape);

/* Coverage in [0, 1] of pixel (px, py) (the unit square whose centre is
 * px+0.5, py+0.5) by `shape` centred at (cx, cy) with radius r pixels,
 * rotated by `angle` radians. Coverage is 0.5 - signed distance to the
 * outline, clamped: exact area coverage for a straight edge through the
 * pixel, close to it for curves. A shape's points lie within 1.25 r of its
 * centre. */
typedef struct sail_shape_raster {
    int shape;
    float cx, cy, r;
    int nv;                 /* polygon vertex count (0: circle or ring) */
    float vx[64], vy[64];   /* vertices in pixel coordinates */
} sail_shape_raster;
void sail_shape_raster_init(sail_shape_raster *s, int shape, float cx, float cy,
                            float r, float angle);
float sail_shape_coverage(const sail_shape_raster *s, int px, int py);

/* Blend `shape` in colour rgb over img: out = bg + (rgb - bg) * coverage,
 * rounded to nearest. Pixels outside the image are skipped. */
void sail_render_shape(sail_image *img, int shape, float cx, float cy, float r,
                       float angle, const uint8_t rgb[3]);

/* ------------------------------------------------------------- scenes -- */

enum { SAIL_BG_PLAIN, SAIL_BG_GRADIENT, SAIL_BG_NOISE, SAIL_BG_COUNT };
enum { SAIL_POS_LEFT, SAIL_POS_RIGHT, SAIL_POS_TOP, SAIL_POS_BOTTOM,
       SAIL_POS_CENTRE, SAIL_POS_ANY, SAIL_POS_COUNT };
enum { SAIL_SIZE_SMALL, SAIL_SIZE_LARGE };
#define SAIL_COLOUR_COUNT 12
#define SAIL_SCENE_MAX_OBJECTS 3

extern const char *const sail_shape_names[SAIL_SHAPE_COUNT];   /* "circle", ... */
extern const char *const sail_colour_names[SAIL_COLOUR_COUNT]; /* "red", ... */
extern const uint8_t sail_colour_rgb[SAIL_COLOUR_COUNT][3];
extern const char *const sail_pos_names[SAIL_POS_COUNT];       /* "left", ..., "any" */
extern const char *const sail_size_names[2];                   /* "small", "large" */

/* One scene: `count` objects of one kind (shape, colour, size class). A
 * single object stands in a named region; two or three stand anywhere
 * (pos == SAIL_POS_ANY). */
typedef struct sail_scene {
    int shape, colour, size, pos, count;
    uint8_t rgb[3];                     /* the object colour (palette + jitter) */
    float cx[SAIL_SCENE_MAX_OBJECTS], cy[SAIL_SCENE_MAX_OBJECTS]; /* pixels */
    float r[SAIL_SCENE_MAX_OBJECTS], angle[SAIL_SCENE_MAX_OBJECTS];
    int bg;                             /* SAIL_BG_* */
    uint8_t bg0[3], bg1[3];             /* plain: bg0; gradient: bg0 -> bg1 */
    int grad_dir;                       /* 0 left->right, 1 top->bottom, 2 diagonal */
    uint64_t noise_seed;
    int side;                           /* image side in pixels */
} sail_scene;

/* Draw a random scene of side px for image `index` of `seed` (each image
 * has its own stream, so the result depends only on seed and index).
 * side >= 32. */
void sail_scene_sample(uint64_t seed, uint64_t index, int side, sail_scene *s);
/* Lay out the scene's objects for its attributes (used by sample; tests
 * call it after choosing attributes themselves). */
void sail_scene_place(sail_scene *s, uint64_t stream);
/* Render into out (allocated side x side; free with sail_image_free). */
sail_status sail_scene_render(const sail_scene *s, sail_image *out, sail_error *err);
/* The canonical attribute string "shape|colour|size|pos|count", e.g.
 * "circle|red|small|left|1" or "star|blue|large|any|2". */
void sail_scene_group(const sail_scene *s, char *buf, size_t n);

/* Held-out (shape, colour) pairs: every scene with one of them belongs to
 * the test_novel split. */
int sail_scene_is_novel(int shape, int colour);

/* A caption for the scene in lang "en" or "zh", chosen from several
 * templates and synonyms with the stream `pick`. Names every attribute of
 * the group. Returns 0, or -1 when buf is too small or lang unknown. */
int sail_scene_caption(const sail_scene *s, const char *lang, uint64_t pick,
                       char *buf, size_t n);

/* ---------------------------------------------------------- generators -- */

/* The generators' options, statistics and entry points (sail_data_shapes,
 * _emoji, _speech, _stamps) are public: include/sail_train.h. */

#define SAIL_EMOJI_MAX_CPS 16

/* One line of emoji-test.txt ("1F600 ; fully-qualified # 😀 E1.0 grinning
 * face"). Returns 1 for a fully-qualified emoji (its code points in
 * cp[0..*n), its name in name), 0 for any other line (comments, other
 * statuses), -1 for a malformed one (bad or zero code point, surrogate, more
 * than SAIL_EMOJI_MAX_CPS, no name, a name of name_size bytes or more). */
int sail_emoji_test_parse(const char *line, uint32_t cp[SAIL_EMOJI_MAX_CPS], int *n, char *name,
                          size_t name_size);

/* A Tux Paint stamp's .txt (stamps_txt.c) in buf (NUL-terminated, modified): *en the first line that
 * is not "<locale>.utf8=...", *zh the first zh_CN.utf8 text, both trimmed,
 * pointing into buf (NULL when absent or empty). Returns 0, or -1 without
 * an English line. */
int sail_stamp_txt_parse(char *buf, const char **en, const char **zh);

/* ------------------------------------ speech and stamps (sail program) -- */
/* sound.c, speech.c and stamps.c need libsox, libespeak-ng (GPL-3+) and
 * librsvg/cairo; they are linked into the `sail` program only, so libsail
 * does not depend on them (docs/DATA.md). */

typedef struct sail_clip {
    float *x;               /* (n) samples, full scale 1 */
    size_t n, cap;
} sail_clip;
void sail_clip_free(sail_clip *c);

/* libsox's process-wide set-up (silenced: the library never prints); quit
 * after the last sound call. Not thread-safe. */
sail_status sail_sound_init(sail_error *err);
void sail_sound_quit(void);
/* n mono 16-bit samples at `rate` -> reverb (libsox "reverb", reverberance
 * `reverb` %, HF damping 50 %, room scale 100 %; none when reverb is 0) ->
 * mono -> 16 kHz (libsox "rate") into out (replaced; its buffer is reused). */
sail_status sail_sound_from_pcm(const int16_t *x, size_t n, double rate, int reverb, sail_clip *out,
                                sail_error *err);
/* Clips are written with sail_wav_write (include/sail.h): SAIL_SOUND_RATE mono. */

/* The split (0 train, 1 val, 2 test: 80/10/10) of a stamp group. */
int sail_stamps_split(uint64_t seed, const char *group);

/* ------------------------------------------------------------ helpers -- */

/* FNV-1a 64 of a string: fixed, version-independent splits by name. */
uint64_t sail_data_hash(const char *s);

/* Write an 8-bit RGB PNG (fixed zlib level, no timestamp: same image ->
 * same bytes). */
sail_status sail_png_write(const char *path, const sail_image *img, sail_error *err);

/* A 64-bit value that depends only on (seed, index, tag): the seed of an
 * independent random stream per image and purpose. */
uint64_t sail_data_stream(uint64_t seed, uint64_t index, uint64_t tag);

/* One manifest line {"text", "image", "lang", "group"} (JSON, UTF-8, in
 * that key order) and a newline. */
sail_status sail_data_write_line(FILE *f, const char *text, const char *image, const char *lang,
                                 const char *group, sail_error *err);
/* The same with a sound: {"text", "audio", "image", "lang", "group"};
 * image may be NULL (left out). */
sail_status sail_data_write_audio_line(FILE *f, const char *text, const char *audio, const char *image,
                                       const char *lang, const char *group, sail_error *err);
/* Any JSON object o (a jansson json_t *, taken even on failure) as one
 * compact line; group names the line in the error message. */
sail_status sail_data_write_json(FILE *f, void *o, const char *group, sail_error *err);

/* mkdir that accepts an existing directory. */
sail_status sail_data_mkdir(const char *path, sail_error *err);

/* A premultiplied BGRA picture (w x h; row y at bgra + y * stride, stride
 * may be negative) composited over white, centred on a white square of side
 * max(w, h) and resized to side x side with the PIL-exact bicubic resize.
 * out is allocated (sail_image_free). */
sail_status sail_data_bgra_square(const uint8_t *bgra, int w, int h, ptrdiff_t stride, int side,
                                  sail_image *out, sail_error *err);

#endif
