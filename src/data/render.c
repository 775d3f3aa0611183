/* render.c: an anti-aliased rasteriser for the eight shapes of the shapes
 * data set. Every shape is a disc, an annulus or a polygon; a pixel's
 * coverage is 0.5 minus the signed distance (in pixels) from its centre to
 * the outline, clamped to [0, 1]: the exact covered area when a straight
 * edge crosses the pixel, and within a few percent of it on curves. The
 * colour is then blended over the background in 8-bit sRGB, the way a
 * supersampled drawing averaged down would be. */
#include "data/data.h"

#include <math.h>

#define RING_OUTER 1.0
#define RING_INNER 0.55

/* The shape's outline at radius 1, centred on (0, 0), y pointing down.
 * Returns the vertex count (0 for the disc and the ring). */
static int unit_polygon(int shape, double *x, double *y) {
    const double pi = 3.14159265358979323846;
    int n = 0;
    switch (shape) {
    case SAIL_SHAPE_SQUARE: {
        static const double sx[] = {-0.8, 0.8, 0.8, -0.8}, sy[] = {-0.8, -0.8, 0.8, 0.8};
        for (n = 0; n < 4; n++) x[n] = sx[n], y[n] = sy[n];
        return n;
    }
    case SAIL_SHAPE_TRIANGLE: /* equilateral, apex up, centroid at the centre */
        for (n = 0; n < 3; n++) {
            double a = (-90.0 + 120.0 * n) * pi / 180.0;
            x[n] = 1.2 * cos(a), y[n] = 1.2 * sin(a);
        }
        return n;
    case SAIL_SHAPE_STAR: /* five points; inner radius fattened for small sizes */
        for (n = 0; n < 10; n++) {
            double a = (-90.0 + 36.0 * n) * pi / 180.0, r = n % 2 ? 0.45 : 1.1;
            x[n] = r * cos(a), y[n] = r * sin(a);
        }
        return n;
    case SAIL_SHAPE_HEXAGON:
        for (n = 0; n < 6; n++) {
            double a = 60.0 * n * pi / 180.0;
            x[n] = cos(a), y[n] = sin(a);
        }
        return n;
    case SAIL_SHAPE_CROSS: { /* a plus sign: arms 0.95 long, 0.32 half-wide */
        const double a = 0.95, w = 0.32;
        static const signed char px[] = {1, 1, 2, 2, 1, 1, -1, -1, -2, -2, -1, -1};
        static const signed char py[] = {-2, -1, -1, 1, 1, 2, 2, 1, 1, -1, -1, -2};
        for (n = 0; n < 12; n++) {
            x[n] = px[n] == 2 ? a : px[n] == -2 ? -a : px[n] * w;
            y[n] = py[n] == 2 ? a : py[n] == -2 ? -a : py[n] * w;
        }
        return n;
    }
    case SAIL_SHAPE_HEART: { /* the classic parametric heart, 48 points */
        double y0 = 1e9, y1 = -1e9;
        for (n = 0; n < 48; n++) {
            double t = 2.0 * pi * n / 48, s = sin(t);
            x[n] = 16.0 * s * s * s;
            y[n] = -(13.0 * cos(t) - 5.0 * cos(2 * t) - 2.0 * cos(3 * t) - cos(4 * t));
            y0 = fmin(y0, y[n]), y1 = fmax(y1, y[n]);
        }
        for (int i = 0; i < n; i++) x[i] *= 1.05 / 16.0, y[i] = (y[i] - 0.5 * (y0 + y1)) * 1.05 / 16.0;
        return n;
    }
    default:
        return 0;
    }
}

double sail_shape_unit_area(int shape) {
    const double pi = 3.14159265358979323846;
    if (shape == SAIL_SHAPE_CIRCLE) return pi;
    if (shape == SAIL_SHAPE_RING) return pi * (RING_OUTER * RING_OUTER - RING_INNER * RING_INNER);
    double x[64], y[64], a = 0;
    int n = unit_polygon(shape, x, y);
    for (int i = 0, j = n - 1; i < n; j = i++) a += x[j] * y[i] - x[i] * y[j];
    return fabs(0.5 * a);
}

void sail_shape_raster_init(sail_shape_raster *s, int shape, float cx, float cy,
                            float r, float angle) {
    double x[64], y[64], c = cos(angle), sn = sin(angle);
    s->shape = shape, s->cx = cx, s->cy = cy, s->r = r;
    s->nv = unit_polygon(shape, x, y);
    for (int i = 0; i < s->nv; i++) {
        s->vx[i] = (float)(cx + r * (c * x[i] - sn * y[i]));
        s->vy[i] = (float)(cy + r * (sn * x[i] + c * y[i]));
    }
}

/* Signed distance from (x, y) to a closed polygon, negative inside (after
 * Inigo Quilez's sdPolygon: nearest edge, and a crossing-number sign). */
static float polygon_sd(const float *vx, const float *vy, int n, float x, float y) {
    float d = (x - vx[0]) * (x - vx[0]) + (y - vy[0]) * (y - vy[0]), sign = 1.0f;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        float ex = vx[j] - vx[i], ey = vy[j] - vy[i], wx = x - vx[i], wy = y - vy[i];
        float t = (wx * ex + wy * ey) / (ex * ex + ey * ey);
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        float bx = wx - ex * t, by = wy - ey * t, dd = bx * bx + by * by;
        if (dd < d) d = dd;
        int c0 = y >= vy[i], c1 = y < vy[j], c2 = ex * wy > ey * wx;
        if ((c0 && c1 && c2) || (!c0 && !c1 && !c2)) sign = -sign;
    }
    return sign * sqrtf(d);
}

float sail_shape_coverage(const sail_shape_raster *s, int px, int py) {
    float x = (float)px + 0.5f, y = (float)py + 0.5f, d;
    if (s->nv) {
        d = polygon_sd(s->vx, s->vy, s->nv, x, y);
    } else {
        float rho = hypotf(x - s->cx, y - s->cy);
        if (s->shape == SAIL_SHAPE_RING) {
            float mid = (float)(0.5 * (RING_OUTER + RING_INNER)) * s->r;
            d = fabsf(rho - mid) - (float)(0.5 * (RING_OUTER - RING_INNER)) * s->r;
        } else {
            d = rho - s->r;
        }
    }
    float c = 0.5f - d;
    return c < 0 ? 0 : c > 1 ? 1 : c;
}

void sail_render_shape(sail_image *img, int shape, float cx, float cy, float r,
                       float angle, const uint8_t rgb[3]) {
    sail_shape_raster s;
    sail_shape_raster_init(&s, shape, cx, cy, r, angle);
    float ext = 1.25f * r + 1.0f;
    int x0 = (int)floorf(cx - ext), x1 = (int)ceilf(cx + ext);
    int y0 = (int)floorf(cy - ext), y1 = (int)ceilf(cy + ext);
    x0 = SAIL_MAX(x0, 0), y0 = SAIL_MAX(y0, 0);
    x1 = SAIL_MIN(x1, img->w - 1), y1 = SAIL_MIN(y1, img->h - 1);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float c = sail_shape_coverage(&s, x, y);
            if (c <= 0) continue;
            uint8_t *p = img->rgb + ((size_t)y * img->w + x) * 3;
            for (int k = 0; k < 3; k++)
                p[k] = (uint8_t)(p[k] + (rgb[k] - p[k]) * c + 0.5f);
        }
}
