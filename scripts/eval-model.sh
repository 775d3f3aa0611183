#!/bin/sh
# eval-model.sh MODEL DATADIR: the model card's evaluation table (markdown)
# from `sail eval --json` on the shapes and emoji test splits made by
# scripts/make-model.sh, with chance level beside each row: the R@1 a random
# ranking scores, the mean over captions of (images of its group / images).
set -e
SAIL=${SAIL:-./sail}
model=$1; dir=$2
echo "| split | lang | pairs | images | t→i R@1 | R@5 | R@10 | i→t R@1 | R@5 | R@10 | chance R@1 |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
row() { # manifest name lang
    j=$($SAIL eval --model "$model" --data "$1" --lang "$3" --json)
    imgs=$(jq -r --arg l "$3" 'select(.lang == $l) | .image' "$1" | sort -u | wc -l)
    chance=$(jq -s --arg l "$3" '[.[] | select(.lang == $l)] as $a | ($a | map(.image) | unique | length) as $n
        | ($a | group_by(.group) | map({key: .[0].group, value: (map(.image) | unique | length)}) | from_entries) as $g
        | $a | map($g[.group] / $n) | add / length' "$1")
    echo "$j" | jq -r --arg s "$2" --arg l "$3" --arg i "$imgs" --arg c "$chance" \
        '"| \($s) | \($l) | \(.n) | \($i) | \(.text_to_image["R@1"]*1000|round/1000) | \(.text_to_image["R@5"]*1000|round/1000) | \(.text_to_image["R@10"]*1000|round/1000) | \(.image_to_text["R@1"]*1000|round/1000) | \(.image_to_text["R@5"]*1000|round/1000) | \(.image_to_text["R@10"]*1000|round/1000) | \($c|tonumber*1000|round/1000) |"'
}
for split in test test_novel; do
    for lang in en zh; do row "$dir/shapes/$split.jsonl" "shapes $split" $lang; done
done
for lang in en zh; do row "$dir/emoji/test.jsonl" "emoji test" $lang; done
