#!/bin/sh
# The README's main job: with the shipped model (models/sail-tiny.gguf),
# generate a gallery (procedural shape scenes + every Noto emoji), index it,
# then search it across modalities: English and Chinese text -> image, and
# image -> image. Prints the top results; writes demo/results*.html.
set -e
cd "$(dirname "$0")/.."
SAIL=${SAIL:-./sail}
MODEL=${MODEL:-models/sail-tiny.gguf}
out=demo
[ -f "$MODEL" ] || { echo "demo: $MODEL is missing (git lfs? or run: make model)" >&2; exit 1; }
rm -rf "$out/index"
mkdir -p "$out"

echo "== gallery: shape scenes and emoji (sail data)"
[ -f "$out/gallery/shapes/train.jsonl" ] || $SAIL data shapes -n 600 --seed 2024 --size 64 -o "$out/gallery/shapes"
[ -f "$out/gallery/emoji/train.jsonl" ] || $SAIL data emoji --size 64 -o "$out/gallery/emoji"
[ -f "$out/queries/train.jsonl" ] || $SAIL data shapes -n 8 --seed 7 --size 64 -o "$out/queries"

echo "== index the gallery images with $MODEL"
$SAIL index add --index "$out/index" --model "$MODEL" "$out/gallery"
$SAIL index info --index "$out/index"

# What each gallery image shows, for reading the results: path -> English caption.
jq -s 'map(select(.lang == "en") | {key: ("demo/gallery/shapes/" + .image), value: .text})
       | from_entries' "$out"/gallery/shapes/*.jsonl > "$out/captions.json"
jq -s 'map(select(.lang == "en") | {key: ("demo/gallery/emoji/" + .image), value: .text})
       | reverse | from_entries' "$out"/gallery/emoji/*.jsonl > "$out/captions-emoji.json"

q() { # label, html page, search arguments...
    label=$1; page=$2; shift 2
    echo
    echo "== $label"
    $SAIL search --index "$out/index" --model "$MODEL" -k 5 --html "$out/$page" --json "$@" |
        jq -r --slurpfile a "$out/captions.json" --slurpfile b "$out/captions-emoji.json" \
            '.results[] | "  \(.rank). \(.score * 1000 | round / 1000)  \(.payload.source)  (\(($a[0] + $b[0])[.payload.source] // "?"))"'
}
q "English text -> images: \"a large red circle on the left\"" results.html "a large red circle on the left"
q "Chinese text -> images: \"左边有一个大的红色圆形\"" results-zh.html "左边有一个大的红色圆形"
q "English text -> emoji: \"grinning face\"" results-emoji.html "grinning face"
q "Chinese text -> emoji: \"猫脸\"" results-emoji-zh.html "猫脸"
query_img=$(ls "$out"/queries/images/*.png | head -1)
caption=$(jq -r --arg p "images/$(basename "$query_img")" 'select(.image == $p and .lang == "en") | .text' "$out"/queries/*.jsonl | head -1)
q "image -> images: $query_img ($caption)" results-image.html --image "$query_img"
echo
echo "demo: open $out/results.html (and results-zh/-emoji/-emoji-zh/-image.html) to see the thumbnails"
