/* test_data.c: the shapes data set against geometry and its own contract.
 *   - coverage sums to each shape's area from closed-form geometry
 *   - a rendered object's coverage-weighted centroid lies in the stated
 *     region, the colour inside it is the stated palette colour, and two or
 *     three objects are that many separate blobs
 *   - sail_data_shapes is byte-for-byte deterministic per seed, its
 *     manifests follow the schema (jansson), every image decodes through
 *     sail's PNG decoder at the right size, held-out pairs appear only in
 *     test_novel, and every image has one caption per language
 * Caption wording and the PIL oracle are in test_data.py. */
#include "data/data.h"
#include "scratch.h"
#include "test.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ geometry -- */

static void test_areas(void) {
    const double pi = 3.14159265358979323846;
    /* Closed forms from the shapes' definitions in docs/DATA.md. */
    double want[SAIL_SHAPE_COUNT] = {
        pi,                                         /* circle r 1 */
        1.6 * 1.6,                                  /* square, half side 0.8 */
        3.0 * sqrt(3.0) / 4.0 * 1.2 * 1.2,          /* triangle, circumradius 1.2 */
        10 * 0.5 * 1.1 * 0.45 * sin(pi / 5),        /* star: 10 triangles */
        0,                                          /* heart: no closed form */
        2 * 1.9 * 0.64 - 0.64 * 0.64,               /* cross: two bars less overlap */
        pi * (1.0 - 0.55 * 0.55),                   /* ring 1 / 0.55 */
        3.0 * sqrt(3.0) / 2.0};                     /* hexagon r 1 */
    for (int s = 0; s < SAIL_SHAPE_COUNT; s++) {
        if (want[s])
            CHECK(fabs(sail_shape_unit_area(s) - want[s]) < 1e-9, "%s: polygon area %.6f = closed form %.6f",
                  sail_shape_names[s], sail_shape_unit_area(s), want[s]);
        for (int big = 0; big < 2; big++) {
            float r = big ? 40.0f : 9.0f;
            sail_shape_raster ras;
            sail_shape_raster_init(&ras, s, 64.3f, 63.6f, r, 0.13f);
            double sum = 0;
            for (int y = 0; y < 128; y++)
                for (int x = 0; x < 128; x++) sum += sail_shape_coverage(&ras, x, y);
            double area = sail_shape_unit_area(s) * r * r, rel = fabs(sum - area) / area;
            CHECK(rel < (big ? 0.003 : 0.02), "%s r=%.0f: coverage sums to the area (%.1f vs %.1f, %.2f%%)",
                  sail_shape_names[s], r, sum, area, 100 * rel);
        }
    }
}

/* ------------------------------------------------------------ regions -- */

/* Coverage estimated from pixels over a plain background: the projection
 * of (pixel - bg) on (object - bg). */
static double weight(const uint8_t *p, const uint8_t *bg, const uint8_t *obj) {
    double num = 0, den = 0;
    for (int k = 0; k < 3; k++) {
        num += (double)(p[k] - bg[k]) * (obj[k] - bg[k]);
        den += (double)(obj[k] - bg[k]) * (obj[k] - bg[k]);
    }
    double w = num / den;
    return w < 0 ? 0 : w > 1 ? 1 : w;
}

static int nearest_colour(const double *c) {
    int best = 0;
    double bd = 1e18;
    for (int i = 0; i < SAIL_COLOUR_COUNT; i++) {
        double d = 0;
        for (int k = 0; k < 3; k++) d += (c[k] - sail_colour_rgb[i][k]) * (c[k] - sail_colour_rgb[i][k]);
        if (d < bd) bd = d, best = i;
    }
    return best;
}

static int in_region(int pos, double x, double y, double side) {
    x /= side, y /= side;
    switch (pos) {
    case SAIL_POS_LEFT: return x < 0.4 && y > 0.3 && y < 0.7;
    case SAIL_POS_RIGHT: return x > 0.6 && y > 0.3 && y < 0.7;
    case SAIL_POS_TOP: return y < 0.4 && x > 0.3 && x < 0.7;
    case SAIL_POS_BOTTOM: return y > 0.6 && x > 0.3 && x < 0.7;
    case SAIL_POS_CENTRE: return x > 0.4 && x < 0.6 && y > 0.4 && y < 0.6;
    }
    return 0;
}

/* Connected blobs of pixels with weight > 0.5 (8-neighbour flood fill:
 * a thin star tip may touch its body only diagonally). */
static int count_blobs(const sail_image *img, const uint8_t *bg, const uint8_t *obj) {
    int n = img->w * img->h, blobs = 0, *stack = malloc(sizeof(int) * n);
    unsigned char *mark = calloc(n, 1);
    for (int i = 0; i < n; i++) mark[i] = weight(img->rgb + 3 * i, bg, obj) > 0.5;
    for (int i = 0; i < n; i++) {
        if (mark[i] != 1) continue;
        blobs++;
        int top = 0;
        stack[top++] = i, mark[i] = 2;
        while (top) {
            int j = stack[--top], x = j % img->w, y = j / img->w;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int u = x + dx, v = y + dy, q = v * img->w + u;
                    if (u >= 0 && u < img->w && v >= 0 && v < img->h && mark[q] == 1)
                        mark[q] = 2, stack[top++] = q;
                }
        }
    }
    free(stack), free(mark);
    return blobs;
}

static void test_regions(void) {
    int bad_region = 0, bad_colour = 0, cases = 0, bad_count = 0, count_cases = 0;
    for (int shape = 0; shape < SAIL_SHAPE_COUNT; shape++)
        for (int pos = 0; pos < 5; pos++)
            for (int size = 0; size < 2; size++) {
                sail_scene s = {0};
                s.shape = shape, s.colour = (shape * 5 + pos * 2 + size) % SAIL_COLOUR_COUNT;
                s.size = size, s.pos = pos, s.count = 1, s.side = 96, s.bg = SAIL_BG_PLAIN;
                memcpy(s.rgb, sail_colour_rgb[s.colour], 3);
                int lum = s.rgb[0] + s.rgb[1] + s.rgb[2];
                memset(s.bg0, lum > 384 ? 30 : 225, 3);
                sail_scene_place(&s, (uint64_t)(shape * 100 + pos * 10 + size));
                sail_image img;
                if (sail_scene_render(&s, &img, NULL) != SAIL_OK) {
                    bad_region++;
                    continue;
                }
                double sw = 0, sx = 0, sy = 0, inside = 0, col[3] = {0};
                for (int y = 0; y < img.h; y++)
                    for (int x = 0; x < img.w; x++) {
                        const uint8_t *p = img.rgb + ((size_t)y * img.w + x) * 3;
                        double w = weight(p, s.bg0, s.rgb);
                        sw += w, sx += w * (x + 0.5), sy += w * (y + 0.5);
                        if (w > 0.99) {
                            inside++;
                            for (int k = 0; k < 3; k++) col[k] += p[k];
                        }
                    }
                cases++;
                if (!in_region(pos, sx / sw, sy / sw, s.side)) {
                    bad_region++;
                    printf("# %s %s %s: centroid (%.1f, %.1f) of %d\n", sail_shape_names[shape],
                           sail_size_names[size], sail_pos_names[pos], sx / sw, sy / sw, s.side);
                }
                for (int k = 0; k < 3; k++) col[k] /= inside > 0 ? inside : 1;
                if (inside < 10 || nearest_colour(col) != s.colour) bad_colour++;
                sail_image_free(&img);
            }
    CHECK(cases == 80 && !bad_region, "centroid of every shape x position x size is in its region (%d bad of %d)",
          bad_region, cases);
    CHECK(!bad_colour, "the colour inside every rendered object is its palette colour (%d bad)", bad_colour);
    for (uint64_t i = 0; i < 400; i++) {
        sail_scene s;
        sail_scene_sample(9, i, 128, &s);
        if (s.count == 1) continue;
        count_cases++;
        s.bg = SAIL_BG_PLAIN;
        sail_image img;
        if (sail_scene_render(&s, &img, NULL) != SAIL_OK) {
            bad_count++;
            continue;
        }
        int b = count_blobs(&img, s.bg0, s.rgb);
        if (b != s.count) {
            bad_count++;
            printf("# scene %d (%s x%d): %d blobs\n", (int)i, sail_shape_names[s.shape], s.count, b);
        }
        sail_image_free(&img);
    }
    CHECK(count_cases > 50 && !bad_count, "two/three-object scenes render as that many separate objects (%d bad of %d)",
          bad_count, count_cases);
}

/* ------------------------------------------------------ the generator -- */

/* Same bytes in every file of a's tree (top level + images/). */
static int same_tree(const char *a, const char *b, int *files, int verbose) {
    const char *sub[] = {"", "/images"};
    *files = 0;
    for (int d = 0; d < 2; d++) {
        char pa[512], pb[512];
        snprintf(pa, sizeof pa, "%s%s", a, sub[d]);
        DIR *dir = opendir(pa);
        if (!dir) return 0;
        for (struct dirent *e; (e = readdir(dir));) {
            if (e->d_name[0] == '.' || !strcmp(e->d_name, "images")) continue;
            snprintf(pa, sizeof pa, "%s%s/%s", a, sub[d], e->d_name);
            snprintf(pb, sizeof pb, "%s%s/%s", b, sub[d], e->d_name);
            size_t na, nb;
            char *x = slurp(pa, &na), *y = slurp(pb, &nb);
            int same = x && y && na == nb && !memcmp(x, y, na);
            sail_free(x), sail_free(y);
            if (!same) {
                if (verbose) printf("# differs: %s\n", pb);
                closedir(dir);
                return 0;
            }
            ++*files;
        }
        closedir(dir);
    }
    return 1;
}

static void test_generator(const char *tmp) {
    char a[256], b[256], c[256];
    snprintf(a, sizeof a, "%s/a", tmp), snprintf(b, sizeof b, "%s/b", tmp), snprintf(c, sizeof c, "%s/c", tmp);
    sail_shapes_options o = {60, 5, 64, 1, 1, 1};
    sail_data_stats st, st2;
    sail_error err = {0};
    CHECK(sail_data_shapes(a, &o, NULL, NULL, &st, &err) == SAIL_OK, "generate 60 shapes: %s", err.msg);
    o.threads = 3;
    CHECK(sail_data_shapes(b, &o, NULL, NULL, &st2, &err) == SAIL_OK, "generate them again on 3 threads");
    int files;
    CHECK(same_tree(a, b, &files, 1) && files == 64, "same seed -> identical bytes in all %d files", files);
    o.seed = 6;
    CHECK(sail_data_shapes(c, &o, NULL, NULL, NULL, &err) == SAIL_OK && !same_tree(a, c, &files, 0),
          "another seed -> other files");
    CHECK(st.images == 60 && st.lines[0] + st.lines[1] + st.lines[2] + st.lines[3] == 120,
          "60 images, 120 manifest lines (en + zh)");

    const char *splits[] = {"train", "val", "test", "test_novel"};
    int seen[60][2] = {{0}}, bad_schema = 0, bad_image = 0, bad_split = 0, lines = 0;
    for (int k = 0; k < 4; k++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s.jsonl", a, splits[k]);
        FILE *f = fopen(path, "r");
        if (!f) {
            bad_schema++;
            continue;
        }
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            lines++;
            json_error_t je;
            json_t *j = json_loads(line, 0, &je);
            const char *text = NULL, *image = NULL, *lang = NULL, *group = NULL;
            if (!j || json_object_size(j) != 4 ||
                json_unpack(j, "{s:s, s:s, s:s, s:s}", "text", &text, "image", &image, "lang", &lang,
                            "group", &group) || (strcmp(lang, "en") && strcmp(lang, "zh")) || !*text) {
                bad_schema++;
                printf("# bad line: %s", line);
                json_decref(j);
                continue;
            }
            int idx = -1;
            char shape[32], colour[32], size[32], pos[32];
            int count, sh = -1, co = -1;
            if (sscanf(image, "images/%6d.png", &idx) != 1 || idx < 0 || idx >= 60 ||
                sscanf(group, "%31[^|]|%31[^|]|%31[^|]|%31[^|]|%d", shape, colour, size, pos, &count) != 5) {
                bad_schema++;
            } else {
                seen[idx][lang[0] == 'z']++;
                for (int i = 0; i < SAIL_SHAPE_COUNT; i++) if (!strcmp(shape, sail_shape_names[i])) sh = i;
                for (int i = 0; i < SAIL_COLOUR_COUNT; i++) if (!strcmp(colour, sail_colour_names[i])) co = i;
                if (sh < 0 || co < 0 || count < 1 || count > 3 || (count == 1) == !strcmp(pos, "any"))
                    bad_schema++;
                if (sail_scene_is_novel(sh, co) != (k == 3)) bad_split++;
                char ipath[400];
                snprintf(ipath, sizeof ipath, "%s/%s", a, image);
                sail_image img;
                if (sail_image_load(ipath, NULL, &img, NULL) != SAIL_OK) bad_image++;
                else {
                    if (img.w != 64 || img.h != 64) bad_image++;
                    sail_image_free(&img);
                }
            }
            json_decref(j);
        }
        fclose(f);
    }
    int once = 1;
    for (int i = 0; i < 60; i++) once &= seen[i][0] == 1 && seen[i][1] == 1;
    CHECK(lines == 120 && !bad_schema, "every manifest line is {text, image, lang, group} with a valid group (%d bad)",
          bad_schema);
    CHECK(!bad_image, "every image decodes through sail's PNG decoder at 64x64 (%d bad)", bad_image);
    CHECK(!bad_split, "held-out (shape, colour) pairs are exactly the test_novel lines (%d misplaced)", bad_split);
    CHECK(once, "every image has one en and one zh caption, in one split");

    /* The split rule over many scenes, without writing them. */
    int novel = 0;
    for (uint64_t i = 0; i < 5000; i++) {
        sail_scene s;
        sail_scene_sample(1, i, 64, &s);
        novel += sail_scene_is_novel(s.shape, s.colour);
    }
    CHECK(novel > 250 && novel < 600, "held-out pairs are 1/12 of scenes (%d of 5000)", novel);

    sail_shapes_options badn = {0, 1, 64, 1, 1, 1}, bads = {5, 1, 8, 1, 1, 1}, badl = {5, 1, 64, 0, 0, 1};
    CHECK(sail_data_shapes(c, &badn, NULL, NULL, NULL, &err) == SAIL_ERR_INVALID_ARG &&
          sail_data_shapes(c, &bads, NULL, NULL, NULL, &err) == SAIL_ERR_INVALID_ARG &&
          sail_data_shapes(c, &badl, NULL, NULL, NULL, &err) == SAIL_ERR_INVALID_ARG,
          "n = 0, size 8 and no language are rejected");
    CHECK(sail_data_shapes("/proc/no/such/dir", &o, NULL, NULL, NULL, &err) == SAIL_ERR_IO &&
          strstr(err.msg, "/proc/no/such/dir"), "an uncreatable directory is an I/O error naming it: %s", err.msg);
}

/* ------------------------------------------------------ emoji-test.txt -- */

static void test_emoji_parse(void) {
    uint32_t cp[SAIL_EMOJI_MAX_CPS];
    int n = 0;
    char name[64];
    int r = sail_emoji_test_parse("1F468 200D 1F469   ; fully-qualified     # \xF0\x9F\x91\xA8 E2.0 couple: man, woman\n",
                                  cp, &n, name, sizeof name);
    CHECK(r == 1 && n == 3 && cp[0] == 0x1F468 && cp[1] == 0x200D && cp[2] == 0x1F469 &&
          !strcmp(name, "couple: man, woman"), "a fully-qualified line: 3 code points and the name '%s'", name);
    static const struct { const char *line; int want; const char *why; } cases[] = {
        {"# group: Smileys & Emotion\n", 0, "a comment"},
        {"263A ; unqualified # x E0.6 smiling face\n", 0, "an unqualified emoji"},
        {"1F3FB ; component # x E1.0 light skin tone\n", 0, "a component"},
        {"263A ; fully-qualified-ish # x E0.6 name\n", 0, "an unknown status"},
        {"\n", 0, "an empty line"},
        {"1F60G ; fully-qualified # x E1.0 bad\n", -1, "a non-hex digit"},
        {"0 ; fully-qualified # x E1.0 nul\n", -1, "code point zero"},
        {"D800 ; fully-qualified # x E1.0 surrogate\n", -1, "a surrogate"},
        {"110000 ; fully-qualified # x E1.0 too big\n", -1, "beyond U+10FFFF"},
        {"1F6000000 ; fully-qualified # x E1.0 too long\n", -1, "eight hex digits"},
        {" ; fully-qualified # x E1.0 none\n", -1, "no code points"},
        {"1F600 ; fully-qualified # x E1.0\n", -1, "no name"},
        {"1 2 3 4 5 6 7 8 9 A B C D E F 10 11 ; fully-qualified # x E1.0 many\n", -1, "17 code points"},
        {"1F600 ; fully-qualified # x E1.0 a name that is far too long for the sixty-four byte buffer the test gives it\n", -1,
         "a name longer than the buffer"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        r = sail_emoji_test_parse(cases[i].line, cp, &n, name, sizeof name);
        CHECK(r == cases[i].want, "emoji-test line with %s -> %d (got %d)", cases[i].why, cases[i].want, r);
    }
}

/* A Tux Paint description: the English line, zh_CN, and what is not. */
static void test_stamp_txt(void) {
    static const struct { const char *txt, *en, *zh, *why; } cases[] = {
        {"A frog.\nde.utf8=Ein Frosch.\nzh_CN.utf8=\xE9\x9D\x92\xE8\x9B\x99\xE3\x80\x82\nzh_TW.utf8=x\n", "A frog.",
         "\xE9\x9D\x92\xE8\x9B\x99\xE3\x80\x82", "English, then translations"},
        {"A calculator.  6x7=42\nach.utf8=Kalkuleta.  6x7=42\n", "A calculator.  6x7=42", NULL,
         "'=' in the English line; no zh_CN"},
        {"\xEF\xBB\xBF  A box. \r\n\r\nzh_CN.utf8= \t\r\n", "A box.", NULL, "a BOM, CRs, spaces; an empty zh_CN"},
        {"ca@valencia.utf8=Un gat.\n\nA cat.\nzh_CN.utf8=a\nzh_CN.utf8=b\nSecond.\n", "A cat.", "a",
         "translations first, a blank line; the first zh_CN and the first plain line win"},
        {"zh_CN.UTF-8=x\n", "zh_CN.UTF-8=x", NULL, "'.UTF-8=' is not the '.utf8=' form: plain text"},
        {".utf8=x\nA.\n", ".utf8=x", NULL, "an empty locale: plain text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", cases[i].txt);
        const char *en, *zh;
        int r = sail_stamp_txt_parse(buf, &en, &zh);
        CHECK(r == 0 && en && !strcmp(en, cases[i].en) &&
                  (cases[i].zh ? zh && !strcmp(zh, cases[i].zh) : !zh),
              "stamp .txt with %s: en '%s', zh '%s'", cases[i].why, en ? en : "(none)", zh ? zh : "(none)");
    }
    const char *none[] = {"", "\n\n", "de.utf8=Hallo\nzh_CN.utf8=x\n", " \t\r\n"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", none[i]);
        const char *en, *zh;
        CHECK(sail_stamp_txt_parse(buf, &en, &zh) == -1 && !en, "stamp .txt without an English line (case %zu): -1",
              i);
    }
}

int main(void) {
    test_areas();
    test_regions();
    test_emoji_parse();
    test_stamp_txt();
    const char *tmp = scratch_make("sail_test_data");
    if (!tmp) {
        CHECK(0, "mkdtemp");
        return test_done();
    }
    test_generator(tmp);
    scratch_remove();
    return test_done();
}
