#!/bin/sh
# Writes a few simple 128x128 PPM images (no dependencies beyond awk) for the
# README's demo: a red disc, a blue square, a green triangle.
set -e
out=${1:-demo}
mkdir -p "$out"
gen() { # name shape r g b
    LC_ALL=C awk -v shape="$2" -v r="$3" -v g="$4" -v b="$5" 'BEGIN {
        n = 128; printf "P6\n%d %d\n255\n", n, n
        for (y = 0; y < n; y++) for (x = 0; x < n; x++) {
            dx = x - 64; dy = y - 64; inside = 0
            if (shape == "disc") inside = dx * dx + dy * dy < 40 * 40
            if (shape == "square") inside = dx > -36 && dx < 36 && dy > -36 && dy < 36
            if (shape == "triangle") inside = y > 24 && y < 104 && (dx < 0 ? -dx : dx) < (y - 24) / 2
            if (inside) printf "%c%c%c", r, g, b; else printf "%c%c%c", 245, 245, 240
        } }' > "$out/$1.ppm"
}
gen red_disc disc 220 30 30
gen blue_square square 30 60 220
gen green_triangle triangle 40 180 60
