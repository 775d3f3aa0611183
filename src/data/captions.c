/* captions.c: English and Chinese captions for a shapes scene. Each
 * caption comes from one of several templates with synonyms drawn at
 * random, and always names every attribute of the scene's group: shape,
 * colour, size, position (one object) or count (two or three). The word
 * lists are the vocabulary documented in docs/DATA.md; no word of one
 * attribute value contains a word of another value of the same attribute,
 * so a caption can be checked by substring search. */
#include "data/data.h"
#include "rng.h"

#include <string.h>

#define MAXSYN 4
typedef const char *const syn[MAXSYN]; /* synonyms, NULL-terminated */

static syn en_colour[SAIL_COLOUR_COUNT] = {
    {"red"}, {"orange"}, {"yellow"}, {"green"}, {"cyan"}, {"blue"},
    {"purple", "violet"}, {"pink"}, {"brown"}, {"black"}, {"white"}, {"gray", "grey"}};
static syn zh_colour[SAIL_COLOUR_COUNT] = {
    {"红色"}, {"橙色", "橘色"}, {"黄色"}, {"绿色"}, {"青色"}, {"蓝色"},
    {"紫色"}, {"粉色"}, {"棕色", "褐色"}, {"黑色"}, {"白色"}, {"灰色"}};
static syn en_shape[SAIL_SHAPE_COUNT] = {
    {"circle", "disc"}, {"square"}, {"triangle"}, {"star", "five-pointed star"},
    {"heart"}, {"cross", "plus sign"}, {"ring", "donut"}, {"hexagon"}};
static syn en_shapes[SAIL_SHAPE_COUNT] = { /* plurals, index-aligned with en_shape */
    {"circles", "discs"}, {"squares"}, {"triangles"}, {"stars", "five-pointed stars"},
    {"hearts"}, {"crosses", "plus signs"}, {"rings", "donuts"}, {"hexagons"}};
static syn zh_shape[SAIL_SHAPE_COUNT] = {
    {"圆形", "圆"}, {"正方形", "方块"}, {"三角形"}, {"五角星", "星星", "星形"},
    {"心形", "爱心"}, {"十字", "十字形"}, {"圆环", "环形"}, {"六边形"}};
static syn en_size[2] = {{"small", "little"}, {"large", "big"}};
static syn zh_size[2] = {{"小"}, {"大"}};
static syn en_pos[5] = {
    {"on the left", "at the left", "on the left side"},
    {"on the right", "at the right", "on the right side"},
    {"at the top", "near the top", "in the upper part"},
    {"at the bottom", "near the bottom", "in the lower part"},
    {"in the centre", "in the middle", "in the center"}};
static syn zh_pos[5] = {
    {"左边", "左侧"}, {"右边", "右侧"}, {"上方", "上面", "顶部"},
    {"下方", "下面", "底部"}, {"中间", "中央", "正中间"}};
static syn en_count[4] = {{NULL}, {NULL}, {"two", "2", "a pair of"}, {"three", "3"}};
static syn zh_count[4] = {{NULL}, {NULL}, {"两个", "2个"}, {"三个", "3个"}};

/* Placeholders: {S} size, {C} colour, {H} shape, {P} position, {N} count. */
static const char *const en_one[] = {
    "a {S} {C} {H} {P}", "{P}, a {S} {C} {H}", "there is a {S} {C} {H} {P}",
    "{S} {C} {H} {P}", "a {C} {H}, {S}, {P}"};
static const char *const en_many[] = {
    "{N} {S} {C} {H}", "{N} {S} {H} in {C}", "a picture of {N} {S} {C} {H}"};
static const char *const zh_one[] = {
    "{P}有一个{S}的{C}{H}", "一个{S}的{C}{H}在{P}", "{P}是一个{C}的{S}{H}",
    "一个{S}{C}{H}，位于画面{P}", "画面{P}有一个{C}的{S}{H}"};
static const char *const zh_many[] = {
    "{N}{S}的{C}{H}", "{N}{C}的{S}{H}", "画面里有{N}{S}的{C}{H}"};

#define LEN(a) ((int)(sizeof a / sizeof *a))

static const char *choose(sail_rng *r, syn s) {
    int n = 0;
    while (n < MAXSYN && s[n]) n++;
    return s[sail_rng_next(r) % (uint64_t)n];
}

int sail_scene_caption(const sail_scene *s, const char *lang, uint64_t pick,
                       char *buf, size_t n) {
    int en = !strcmp(lang, "en");
    if (!en && strcmp(lang, "zh")) return -1;
    if (s->shape < 0 || s->shape >= SAIL_SHAPE_COUNT || s->colour < 0 ||
        s->colour >= SAIL_COLOUR_COUNT || s->size < 0 || s->size > 1 ||
        s->count < 1 || s->count > 3 || (s->count == 1 && (s->pos < 0 || s->pos > 4)))
        return -1;
    sail_rng r = {pick};
    sail_rng_next(&r);
    const char *tpl, *val[5] = {0}; /* S C H P N */
    int many = s->count > 1;
    if (en) tpl = many ? en_many[sail_rng_next(&r) % LEN(en_many)] : en_one[sail_rng_next(&r) % LEN(en_one)];
    else tpl = many ? zh_many[sail_rng_next(&r) % LEN(zh_many)] : zh_one[sail_rng_next(&r) % LEN(zh_one)];
    val[0] = choose(&r, en ? en_size[s->size] : zh_size[s->size]);
    val[1] = choose(&r, en ? en_colour[s->colour] : zh_colour[s->colour]);
    val[2] = choose(&r, en ? (many ? en_shapes[s->shape] : en_shape[s->shape]) : zh_shape[s->shape]);
    if (many) val[4] = choose(&r, en ? en_count[s->count] : zh_count[s->count]);
    else val[3] = choose(&r, en ? en_pos[s->pos] : zh_pos[s->pos]);
    size_t o = 0;
    for (const char *p = tpl; *p; p++) {
        const char *ins = NULL;
        if (p[0] == '{' && p[1] && p[2] == '}') {
            const char *keys = "SCHPN", *k = strchr(keys, p[1]);
            if (k) ins = val[k - keys];
        }
        size_t len = ins ? strlen(ins) : 1;
        if (o + len + 1 > n) return -1;
        memcpy(buf + o, ins ? ins : p, len);
        o += len;
        if (ins) p += 2;
    }
    buf[o] = 0;
    return 0;
}
