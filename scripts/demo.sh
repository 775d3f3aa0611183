#!/bin/sh
# The README's main job (until a trained model ships): build a WordPiece
# vocabulary from a small bilingual caption corpus, create a sail-tiny model
# with seeded RANDOM weights, embed Chinese and English texts and a few
# generated images, and print their cosine-similarity matrix.
set -e
cd "$(dirname "$0")/.."
SAIL=${SAIL:-./sail}
out=demo
mkdir -p "$out"

# A caption corpus written here (colours x shapes, English and Chinese).
: > "$out/corpus.txt"
for c in "red:红色" "blue:蓝色" "green:绿色" "black:黑色" "white:白色" "yellow:黄色"; do
    for s in "circle:圆形" "square:正方形" "triangle:三角形" "shoe:运动鞋" "dress:连衣裙"; do
        en_c=${c%%:*}; zh_c=${c#*:}; en_s=${s%%:*}; zh_s=${s#*:}
        printf 'a %s %s\n一个%s的%s\nthe %s %s on a white background\n白色背景上的%s%s\n' \
            "$en_c" "$en_s" "$zh_c" "$zh_s" "$en_c" "$en_s" "$zh_c" "$zh_s" >> "$out/corpus.txt"
    done
done
$SAIL vocab train --corpus "$out/corpus.txt" --size 100 -o "$out/vocab.txt"
$SAIL init --config tiny --vocab "$out/vocab.txt" --seed 1 -o "$out/sail-tiny-random.gguf"
sh scripts/make-demo-images.sh "$out"

echo
echo "NOTE: this model has RANDOM weights (sail init), so the similarities below"
echo "show the pipeline working end to end, not learned meaning."
echo
$SAIL embed --model "$out/sail-tiny-random.gguf" --similarity --separate \
    --text "a red circle" --text "红色的圆形" --text "a blue square" --text "蓝色的正方形" \
    --text "黑色高帮运动鞋" --image "$out/red_disc.ppm" --image "$out/blue_square.ppm" \
    --image "$out/green_triangle.ppm"
