/* emoji.c: the emoji data set. Every fully-qualified emoji of Unicode's
 * emoji-test.txt (Debian unicode-data) is shaped with HarfBuzz against Noto
 * Color Emoji (Debian fonts-noto-color-emoji) to one glyph, whose colour
 * bitmap at the font's fixed strike (FreeType, FT_LOAD_COLOR) is composited
 * over white, centred on a square and resized to the requested side with
 * sail's PIL-exact bicubic resize. Names come from emoji-test.txt (English)
 * and the CLDR annotations (Debian unicode-cldr-core, read with libxml2):
 * the Chinese "tts" name and the keywords of both languages. The split is a
 * hash of the code point sequence, so an emoji is always on the same side. */
#include "data/data.h"
#include "text/strmap.h"
#include "text/utf8.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include <hb-ft.h>
#include <hb.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#define FONT_PATH "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
#define EMOJI_TEST_PATH "/usr/share/unicode/emoji/emoji-test.txt"
#define CLDR_DIR "/usr/share/unicode/cldr/common"

/* ------------------------------------------------------ CLDR annotations -- */

typedef struct ann {
    char *key;      /* the emoji without U+FE0F, UTF-8 (CLDR's convention) */
    char *name;     /* type="tts" text, or NULL */
    char *keywords; /* the "a | b | c" list, or NULL */
} ann;

typedef struct ann_set {
    ann *v;
    int n, cap;
    sail_strmap map;  /* key -> index into v */
} ann_set;

static void ann_free(ann_set *s) {
    for (int i = 0; i < s->n; i++) sail_free(s->v[i].key), sail_free(s->v[i].name), sail_free(s->v[i].keywords);
    sail_free(s->v);
    sail_strmap_free(&s->map);
    memset(s, 0, sizeof *s);
}

/* key without U+FE0F (EF B8 8F), into out (same size as key + 1). */
static void strip_fe0f(const char *key, char *out) {
    size_t o = 0;
    for (size_t i = 0; key[i];) {
        if ((uint8_t)key[i] == 0xEF && (uint8_t)key[i + 1] == 0xB8 && (uint8_t)key[i + 2] == 0x8F) {
            i += 3;
            continue;
        }
        out[o++] = key[i++];
    }
    out[o] = 0;
}

static const ann *ann_find(const ann_set *s, const char *utf8) {
    char key[SAIL_EMOJI_MAX_CPS * 4 + 1];
    strip_fe0f(utf8, key);
    int32_t i = sail_strmap_get(&s->map, key, strlen(key));
    return i < 0 ? NULL : &s->v[i];
}

static sail_status ann_add(ann_set *s, const char *cp, const char *text, int tts, sail_error *err) {
    size_t len = strlen(cp);
    char *key = sail_malloc(len + 1);
    if (!key) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reading CLDR annotations");
    strip_fe0f(cp, key);
    int32_t i = sail_strmap_get(&s->map, key, strlen(key));
    if (i < 0) {
        if (s->n == s->cap) {
            int cap = s->cap ? 2 * s->cap : 4096;
            ann *v = sail_realloc(s->v, sizeof *v * (size_t)cap);
            if (!v) {
                sail_free(key);
                return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reading CLDR annotations");
            }
            s->v = v, s->cap = cap;
        }
        i = s->n++;
        s->v[i] = (ann){key, NULL, NULL};
        if (!sail_strmap_put(&s->map, key, strlen(key), i))
            return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reading CLDR annotations");
    } else {
        sail_free(key);
    }
    char **slot = tts ? &s->v[i].name : &s->v[i].keywords;
    if (!*slot && !(*slot = sail_strdup(text)))
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reading CLDR annotations");
    return SAIL_OK;
}

/* Every <annotation cp="..." [type="tts"]>text</annotation> of an LDML
 * file. The DTD is not loaded and the network is never used. */
static sail_status ann_load(ann_set *s, const char *path, sail_error *err) {
    xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: not well-formed XML: %s", path,
                              e && e->message ? e->message : "parse error");
    }
    sail_status rc = SAIL_OK;
    xmlNodePtr root = xmlDocGetRootElement(doc), anns = NULL;
    for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, BAD_CAST "annotations")) anns = n;
    for (xmlNodePtr n = anns ? anns->children : NULL; n && rc == SAIL_OK; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, BAD_CAST "annotation")) continue;
        xmlChar *cp = xmlGetProp(n, BAD_CAST "cp"), *type = xmlGetProp(n, BAD_CAST "type");
        xmlChar *text = xmlNodeGetContent(n);
        if (cp && text && *cp && xmlStrlen(cp) <= SAIL_EMOJI_MAX_CPS * 4)
            rc = ann_add(s, (const char *)cp, (const char *)text, type && !xmlStrcmp(type, BAD_CAST "tts"), err);
        xmlFree(cp), xmlFree(type), xmlFree(text);
    }
    xmlFreeDoc(doc);
    if (rc == SAIL_OK && !anns)
        rc = sail_set_error(err, SAIL_ERR_FORMAT, "%s: no <annotations> element (not a CLDR annotation file?)", path);
    return rc;
}

/* annotations/LANG.xml (required) and annotationsDerived/LANG.xml (the
 * skin-tone, flag and ZWJ sequences; used when present). */
static sail_status ann_load_lang(ann_set *s, const char *dir, const char *lang, sail_error *err) {
    char path[1024];
    if (!sail_strmap_init(&s->map, 16384)) return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/annotations/%s.xml", dir, lang);
    if (access(path, R_OK))
        return sail_set_error(err, SAIL_ERR_IO, "%s: %s; install Debian's unicode-cldr-core (apt-get install "
                              "unicode-cldr-core)", path, strerror(errno));
    sail_status rc = ann_load(s, path, err);
    snprintf(path, sizeof path, "%s/annotationsDerived/%s.xml", dir, lang);
    if (rc == SAIL_OK && !access(path, R_OK)) rc = ann_load(s, path, err);
    return rc;
}

/* ------------------------------------------------------------ emoji-test -- */

typedef struct emoji {
    uint32_t cp[SAIL_EMOJI_MAX_CPS];
    int n;
    char name[160];   /* English CLDR short name from emoji-test.txt */
} emoji;

static sail_status load_emoji_test(const char *path, emoji **out, int *n_out, sail_error *err) {
    FILE *f = fopen(path, "r");
    if (!f)
        return sail_set_error(err, SAIL_ERR_IO, "%s: %s; install Debian's unicode-data (apt-get install unicode-data)",
                              path, strerror(errno));
    emoji *v = NULL;
    int n = 0, cap = 0, lineno = 0;
    char line[1024];
    sail_status rc = SAIL_OK;
    while (rc == SAIL_OK && fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = sail_set_error(err, SAIL_ERR_FORMAT, "%s:%d: line longer than %zu bytes", path, lineno,
                                sizeof line - 2);
            break;
        }
        emoji e;
        int r = sail_emoji_test_parse(line, e.cp, &e.n, e.name, sizeof e.name);
        if (r < 0) rc = sail_set_error(err, SAIL_ERR_FORMAT, "%s:%d: malformed emoji line", path, lineno);
        if (r <= 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            emoji *nv = sail_realloc(v, sizeof *v * (size_t)cap);
            if (!nv) {
                rc = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            v = nv;
        }
        v[n++] = e;
    }
    fclose(f);
    if (rc == SAIL_OK && !n) rc = sail_set_error(err, SAIL_ERR_FORMAT, "%s: no fully-qualified emoji", path);
    if (rc != SAIL_OK) {
        sail_free(v);
        return rc;
    }
    *out = v, *n_out = n;
    return SAIL_OK;
}

/* ------------------------------------------------------------- rendering -- */

typedef struct font {
    FT_Library lib;
    FT_Face face;
    hb_font_t *hb;
    hb_buffer_t *buf;
} font;

static void font_close(font *f) {
    if (f->buf) hb_buffer_destroy(f->buf);
    if (f->hb) hb_font_destroy(f->hb); /* drops the reference it took on face */
    if (f->face) FT_Done_Face(f->face);
    if (f->lib) FT_Done_FreeType(f->lib);
    memset(f, 0, sizeof *f);
}

static sail_status font_open(font *f, const char *path, sail_error *err) {
    memset(f, 0, sizeof *f);
    if (access(path, R_OK))
        return sail_set_error(err, SAIL_ERR_IO, "%s: %s; install Debian's fonts-noto-color-emoji (apt-get install "
                              "fonts-noto-color-emoji)", path, strerror(errno));
    if (FT_Init_FreeType(&f->lib)) return sail_set_error(err, SAIL_ERR_NOMEM, "FreeType failed to start");
    if (FT_New_Face(f->lib, path, 0, &f->face)) {
        font_close(f);
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: FreeType cannot open this font", path);
    }
    /* A colour bitmap font has fixed strikes only; take the first. */
    if (!FT_HAS_COLOR(f->face) || f->face->num_fixed_sizes < 1 || FT_Select_Size(f->face, 0)) {
        font_close(f);
        return sail_set_error(err, SAIL_ERR_FORMAT, "%s: not a colour bitmap font (no CBDT strike)", path);
    }
    f->hb = hb_ft_font_create_referenced(f->face);
    f->buf = hb_buffer_create();
    if (!f->hb || !hb_buffer_allocation_successful(f->buf)) {
        font_close(f);
        return sail_set_error(err, SAIL_ERR_NOMEM, "HarfBuzz failed to start");
    }
    return SAIL_OK;
}

/* The one glyph HarfBuzz shapes the sequence to, or 0 when the font has no
 * single glyph for it (missing emoji, or a sequence it does not ligate). */
static unsigned shape_glyph(font *f, const uint32_t *cp, int n) {
    hb_buffer_clear_contents(f->buf);
    hb_buffer_add_utf32(f->buf, cp, n, 0, n);
    hb_buffer_guess_segment_properties(f->buf);
    hb_shape(f->hb, f->buf, NULL, 0);
    unsigned len;
    hb_glyph_info_t *g = hb_buffer_get_glyph_infos(f->buf, &len);
    return len == 1 ? g[0].codepoint : 0;
}

/* The glyph's colour bitmap, squared over white and resized to side. */
static sail_status render_glyph(font *f, unsigned gid, int side, sail_image *out, sail_error *err) {
    if (FT_Load_Glyph(f->face, gid, FT_LOAD_COLOR))
        return sail_set_error(err, SAIL_ERR_FORMAT, "glyph %u: FreeType cannot load it", gid);
    FT_Bitmap *b = &f->face->glyph->bitmap;
    if (b->pixel_mode != FT_PIXEL_MODE_BGRA || !b->width || !b->rows || b->width > 4096 || b->rows > 4096)
        return sail_set_error(err, SAIL_ERR_FORMAT, "glyph %u: not a colour bitmap", gid);
    int w = (int)b->width, h = (int)b->rows;
    ptrdiff_t pitch = b->pitch < 0 ? -(ptrdiff_t)b->pitch : b->pitch;
    if (pitch < (ptrdiff_t)w * 4) return sail_set_error(err, SAIL_ERR_FORMAT, "glyph %u: bad bitmap pitch", gid);
    /* A negative pitch stores the rows bottom-up from buffer. */
    const uint8_t *top = b->pitch < 0 ? b->buffer + pitch * (h - 1) : b->buffer;
    return sail_data_bgra_square(top, w, h, b->pitch < 0 ? -pitch : pitch, side, out, err);
}

/* ------------------------------------------------------------- generator -- */

/* "a | b | c" -> "a<sep>b<sep>c"; returns the keyword count. */
static int join_keywords(const char *kw, const char *sep, char *out, size_t n) {
    size_t o = 0, sl = strlen(sep);
    int count = 0;
    out[0] = 0;
    for (const char *p = kw; *p;) {
        const char *bar = strstr(p, " | "), *end = bar ? bar : p + strlen(p);
        size_t len = (size_t)(end - p);
        if (o + len + sl + 1 > n) break;
        if (count) memcpy(out + o, sep, sl), o += sl;
        memcpy(out + o, p, len), o += len;
        out[o] = 0;
        count++;
        p = bar ? bar + 3 : end;
    }
    return count;
}

/* The up to four lines of one emoji: en name, zh name, zh keywords, en
 * keywords (keyword lines only with two or more keywords; no text twice). */
typedef struct emoji_text {
    char t[4][1024];
    int use[4];
} emoji_text;
static const char *const text_lang[4] = {"en", "zh", "zh", "en"};

static void emoji_texts(const emoji *e, const ann *zh, const ann *en, emoji_text *x) {
    snprintf(x->t[0], sizeof x->t[0], "%s", e->name);
    snprintf(x->t[1], sizeof x->t[1], "%s", zh->name);
    int nz = zh->keywords ? join_keywords(zh->keywords, "，", x->t[2], sizeof x->t[2]) : 0;
    int ne = en && en->keywords ? join_keywords(en->keywords, ", ", x->t[3], sizeof x->t[3]) : 0;
    x->use[0] = x->use[1] = 1, x->use[2] = nz >= 2, x->use[3] = ne >= 2;
    for (int i = 1; i < 4; i++)
        for (int j = 0; j < i; j++)
            if (x->use[i] && x->use[j] && !strcmp(x->t[i], x->t[j])) x->use[i] = 0;
}

/* How many emoji use each keyword line ("lang\x1ftext" -> count): a keyword
 * list shared by several emoji (CLDR sorts keywords, so e.g. the two
 * mixed-skin-tone handshakes get the same list) would make other groups'
 * images right answers too, so such lines are dropped. */
typedef struct kw_count {
    sail_strmap map;
    char **keys;     /* owned, (n) */
    int n;
} kw_count;

static void kw_free(kw_count *k) {
    for (int i = 0; i < k->n; i++) sail_free(k->keys[i]);
    sail_free(k->keys);
    sail_strmap_free(&k->map);
}

static char *kw_key(int line, const emoji_text *x) {
    size_t n = strlen(x->t[line]);
    char *key = sail_malloc(n + 4);
    if (key) snprintf(key, n + 4, "%s\x1f%s", text_lang[line], x->t[line]);
    return key;
}

static int kw_get(const kw_count *k, int line, const emoji_text *x) {
    char *key = kw_key(line, x);
    int32_t c = key ? sail_strmap_get(&k->map, key, strlen(key)) : -1;
    sail_free(key);
    return c;
}

static sail_status kw_add(kw_count *k, int line, const emoji_text *x, sail_error *err) {
    char *key = kw_key(line, x);
    char **keys = key ? sail_realloc(k->keys, sizeof *keys * (size_t)(k->n + 1)) : NULL;
    if (!keys) {
        sail_free(key);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory counting keyword lines");
    }
    k->keys = keys;
    int32_t c = sail_strmap_get(&k->map, key, strlen(key));
    /* An existing entry keeps its stored key; only a new one needs ours. */
    if (!sail_strmap_put(&k->map, key, strlen(key), c > 0 ? c + 1 : 1)) {
        sail_free(key);
        return sail_set_error(err, SAIL_ERR_NOMEM, "out of memory counting keyword lines");
    }
    if (c > 0) sail_free(key);
    else k->keys[k->n++] = key;
    return SAIL_OK;
}

/* An emoji that will be written: a single glyph and a Chinese name. */
typedef struct item {
    const emoji *e;
    unsigned gid;
    const ann *zh, *en;
} item;

/* Render one emoji and write its lines to f. */
static sail_status write_item(const char *dir, const item *it, const kw_count *kw, font *ft, int side,
                              FILE *f, long *lines, long *dropped, sail_error *err) {
    const emoji *e = it->e;
    char group[SAIL_EMOJI_MAX_CPS * 9], file[SAIL_EMOJI_MAX_CPS * 9 + 16];
    size_t g = 0, fl = (size_t)snprintf(file, sizeof file, "images/");
    for (int i = 0; i < e->n; i++) {
        g += (size_t)snprintf(group + g, sizeof group - g, "%s%04X", i ? " " : "", e->cp[i]);
        fl += (size_t)snprintf(file + fl, sizeof file - fl, "%s%04x", i ? "-" : "", e->cp[i]);
    }
    snprintf(file + fl, sizeof file - fl, ".png");
    sail_image img = {0};
    sail_status rc = render_glyph(ft, it->gid, side, &img, err);
    size_t plen = strlen(dir) + strlen(file) + 2;
    char *path = sail_malloc(plen);
    if (!path) rc = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (rc == SAIL_OK) {
        snprintf(path, plen, "%s/%s", dir, file);
        rc = sail_png_write(path, &img, err);
    }
    sail_free(path);
    sail_image_free(&img);
    emoji_text *x = sail_malloc(sizeof *x);
    if (!x && rc == SAIL_OK) rc = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (rc == SAIL_OK) emoji_texts(e, it->zh, it->en, x);
    for (int i = 0; i < 4 && rc == SAIL_OK; i++) {
        if (!x->use[i]) continue;
        if (i >= 2 && kw_get(kw, i, x) > 1) {
            ++*dropped;
            continue;
        }
        rc = sail_data_write_line(f, x->t[i], file, text_lang[i], group, err);
        ++*lines;
    }
    sail_free(x);
    return rc;
}

sail_status sail_data_emoji(const char *dir, const sail_emoji_options *o,
                            sail_data_progress progress, void *ctx,
                            sail_data_stats *stats, sail_error *err) {
    if (o->side < 16 || o->side > 1024)
        return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--size must be 16..1024, not %d", o->side);
    if (o->limit < 0) return sail_set_error(err, SAIL_ERR_INVALID_ARG, "--limit must be positive");
    const char *cldr = o->cldr_dir ? o->cldr_dir : CLDR_DIR;
    sail_data_stats st = {0};
    ann_set zh = {0}, en = {0};
    emoji *list = NULL;
    item *items = NULL;
    kw_count kw = {0};
    emoji_text *x = NULL;
    int n = 0, n_items = 0;
    font ft = {0};
    FILE *f[2] = {0};
    static const char *const split_names[2] = {"train", "test"};
    sail_status rc = font_open(&ft, o->font ? o->font : FONT_PATH, err);
    if (rc == SAIL_OK) rc = load_emoji_test(o->emoji_test ? o->emoji_test : EMOJI_TEST_PATH, &list, &n, err);
    if (rc == SAIL_OK) rc = ann_load_lang(&zh, cldr, "zh", err);
    if (rc == SAIL_OK) rc = ann_load_lang(&en, cldr, "en", err);
    if (rc == SAIL_OK && (!(items = sail_calloc((size_t)n, sizeof *items)) || !(x = sail_malloc(sizeof *x)) ||
                          !sail_strmap_init(&kw.map, 4 * (size_t)n)))
        rc = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    /* Pass 1: which emoji have a glyph and a Chinese name, and how many of
     * them share each keyword line. */
    for (int i = 0; i < n && rc == SAIL_OK && (!o->limit || n_items < o->limit); i++) {
        char utf8[SAIL_EMOJI_MAX_CPS * 4 + 1];
        size_t u = 0;
        for (int j = 0; j < list[i].n; j++) u += sail_utf8_encode1(list[i].cp[j], utf8 + u);
        utf8[u] = 0;
        item it = {&list[i], shape_glyph(&ft, list[i].cp, list[i].n), ann_find(&zh, utf8), ann_find(&en, utf8)};
        if (!it.gid) {
            st.skipped[0]++;
            continue;
        }
        if (!it.zh || !it.zh->name) {
            st.skipped[1]++;
            continue;
        }
        items[n_items++] = it;
        emoji_texts(it.e, it.zh, it.en, x);
        for (int l = 2; l < 4 && rc == SAIL_OK; l++)
            if (x->use[l]) rc = kw_add(&kw, l, x, err);
    }
    size_t plen = strlen(dir) + 32;
    char *path = rc == SAIL_OK ? sail_malloc(plen) : NULL;
    if (rc == SAIL_OK && !path) rc = sail_set_error(err, SAIL_ERR_NOMEM, "out of memory");
    if (rc == SAIL_OK) rc = sail_data_mkdir(dir, err);
    if (rc == SAIL_OK) {
        snprintf(path, plen, "%s/images", dir);
        rc = sail_data_mkdir(path, err);
    }
    for (int k = 0; k < 2 && rc == SAIL_OK; k++) {
        snprintf(path, plen, "%s/%s.jsonl", dir, split_names[k]);
        if (!(f[k] = fopen(path, "w")))
            rc = sail_set_error(err, SAIL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    /* Pass 2: images and lines. */
    for (int i = 0; i < n_items && rc == SAIL_OK; i++) {
        char group[SAIL_EMOJI_MAX_CPS * 9];
        size_t g = 0;
        for (int j = 0; j < items[i].e->n; j++)
            g += (size_t)snprintf(group + g, sizeof group - g, "%s%04X", j ? " " : "", items[i].e->cp[j]);
        int k = sail_data_hash(group) % 10 == 0;
        rc = write_item(dir, &items[i], &kw, &ft, o->side, f[k], &st.lines[k], &st.skipped[2], err);
        st.images++;
        if (progress && ((i + 1) % 200 == 0 || i + 1 == n_items)) progress(ctx, i + 1, n_items);
    }
    for (int k = 0; k < 2; k++) {
        if (f[k] && fclose(f[k]) && rc == SAIL_OK)
            rc = sail_set_error(err, SAIL_ERR_IO, "%s/%s.jsonl: write failed: %s", dir, split_names[k], strerror(errno));
    }
    sail_free(path);
    sail_free(x);
    sail_free(items);
    kw_free(&kw);
    sail_free(list);
    ann_free(&zh), ann_free(&en);
    font_close(&ft);
    if (stats) *stats = st;
    return rc;
}
