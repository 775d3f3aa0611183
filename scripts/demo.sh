#!/bin/sh
# The README's main job: with the shipped model (models/sail-tiny.gguf),
# generate a gallery (procedural shape scenes + every Noto emoji), index it,
# then search it across modalities: English and Chinese text -> image,
# image -> image and, when the model has an audio tower, spoken English and
# Chinese (espeak-ng) -> image. Prints the top results; writes
# demo/results*.html.
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

# One item per gallery image, its English and Chinese captions kept in the
# payload (only the image is embedded): the results and pages show them.
items() { # gallery folder -> items.jsonl beside its captions
    find "$1" -maxdepth 1 -name '*.jsonl' ! -name items.jsonl | sort | xargs cat |
        jq -c -s 'group_by(.image)[] | {image: .[0].image, caption: (map(select(.lang == "en") | .text)[0]),
            caption_zh: (map(select(.lang == "zh") | .text)[0])}' > "$1/items.jsonl"
}
items "$out/gallery/shapes"
items "$out/gallery/emoji"

echo "== index the gallery images with $MODEL"
$SAIL index add --index "$out/index" --model "$MODEL" "$out/gallery/shapes/items.jsonl"
$SAIL index add --index "$out/index" --model "$MODEL" "$out/gallery/emoji/items.jsonl"
$SAIL index info --index "$out/index"

q() { # label, html page, search arguments...
    label=$1; page=$2; shift 2
    echo
    echo "== $label"
    $SAIL search --index "$out/index" --model "$MODEL" -k 5 --html "$out/$page" --json "$@" |
        jq -r '.results[] | "  \(.rank). \(.score * 1000 | round / 1000)  \(.payload.source)  (\(.payload.caption // "?"))"'
}
q "English text -> images: \"a large red circle on the left\"" results.html "a large red circle on the left"
q "Chinese text -> images: \"左边有一个大的红色圆形\"" results-zh.html "左边有一个大的红色圆形"
q "English text -> emoji: \"grinning face\"" results-emoji.html "grinning face"
q "Chinese text -> emoji: \"猫脸\"" results-emoji-zh.html "猫脸"
query_img=$(ls "$out"/queries/images/*.png | head -1)
caption=$(jq -r --arg p "images/$(basename "$query_img")" 'select(.image == $p and .lang == "en") | .text' "$out"/queries/*.jsonl | head -1)
q "image -> images: $query_img ($caption)" results-image.html --image "$query_img"
pages=results-zh/-emoji/-emoji-zh/-image
if $SAIL info "$MODEL" | grep -q '^audio:'; then
    # The query scenes' captions, spoken by espeak-ng (one clean voice each).
    [ -f "$out/queries/speech_train.jsonl" ] || $SAIL data speech --data "$out/queries" --variants 1 --clean
    for lang in en zh; do
        line=$(jq -c --arg l "$lang" 'select(.lang == $l)' "$out"/queries/speech_train.jsonl | head -1)
        clip=$out/queries/$(echo "$line" | jq -r .audio)
        q "spoken ($lang) -> images: $clip (\"$(echo "$line" | jq -r .text)\")" "results-spoken-$lang.html" --audio "$clip"
    done
    pages=$pages/-spoken-en/-spoken-zh
fi
echo
echo "demo: open $out/results.html (and $pages.html) to see the thumbnails"
