#!/bin/sh
# make model: trains the shipped default model, models/sail-tiny.gguf, from
# nothing but this repository and Debian packages:
#   1. data:  `sail data shapes` (procedural scenes, en/zh captions) and
#             `sail data emoji` (Noto Color Emoji + Unicode/CLDR names);
#   2. vocab: `sail vocab train` on the training captions only;
#   3. train: `sail train` (contrastive, Matryoshka 512/256/128) on shapes
#             and emoji; `sail finetune` on the shapes alone (hard
#             negatives); one more `sail finetune` epoch on both, so the
#             emoji the shapes stage made it forget come back; then three
#             times two epochs on fresh scenes (new shapes sets, seeds 2, 3
#             and 4) and the emoji, with hard negatives;
#   4. store: `sail quantize --type f16` (the repo keeps files small);
#   5. eval:  `sail eval` on every test split, tables in $OUT/eval.md.
# Everything generated stays under $OUT (default build/model).
# Knobs (environment): SHAPES_N, EPOCHS, FT_EPOCHS, BATCH, LR, FT_LR, MIX_LR,
# HARD, THREADS, SEED, OUT.
set -e
cd "$(dirname "$0")/.."
. scripts/stage-lib.sh
SAIL=${SAIL:-./sail}
OUT=${OUT:-build/model}
SHAPES_N=${SHAPES_N:-16000}
EPOCHS=${EPOCHS:-3}
FT_EPOCHS=${FT_EPOCHS:-2}
FT_LR=${FT_LR:-2e-4}
MIX_LR=${MIX_LR:-1e-4}
BATCH=${BATCH:-64}
LR=${LR:-5e-4}
HARD=${HARD:-8}
SEED=${SEED:-1}
SIZE=64
THREADS=${THREADS:-0}
command -v jq >/dev/null || { echo "make model: jq is missing (sh scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$OUT" models
start=$(date +%s)

echo "== data" >&2
[ -f "$OUT/shapes/train.jsonl" ] || $SAIL data shapes -n "$SHAPES_N" --seed "$SEED" --size $SIZE -o "$OUT/shapes"
[ -f "$OUT/emoji/train.jsonl" ] || $SAIL data emoji --size $SIZE -o "$OUT/emoji"
# One manifest per split, image paths rewritten relative to $OUT.
rel() { jq -c --arg d "$1/" '.image = $d + .image' "$OUT/$1/$2.jsonl"; }
{ rel shapes train; rel emoji train; } > "$OUT/train.jsonl"
rel shapes val > "$OUT/val.jsonl"

echo "== vocabulary (training captions only)" >&2
jq -r .text "$OUT/train.jsonl" > "$OUT/corpus.txt"
$SAIL vocab train --corpus "$OUT/corpus.txt" --size 4000 -o "$OUT/vocab.txt"

echo "== train" >&2
resume=$(resume_from "$OUT/run")
threads=""
[ "$THREADS" -gt 0 ] && threads="--threads $THREADS"
# shellcheck disable=SC2086
$SAIL train --config tiny --vocab "$OUT/vocab.txt" --image_size $SIZE \
    --train_data_path "$OUT/train.jsonl" --val_data_path "$OUT/val.jsonl" --output_dir "$OUT/run" \
    --batch_size "$BATCH" --learning_rate "$LR" --num_train_epochs "$EPOCHS" --warmup_steps 100 \
    --weight_decay 0.1 --matryoshka 512,256,128 --hard_negatives "$HARD" --seed "$SEED" \
    --save_every 100 $threads $resume

echo "== finetune on the shapes alone" >&2
rel shapes train > "$OUT/train-shapes.jsonl"
ft_resume=$(resume_from "$OUT/ft")
# shellcheck disable=SC2086
$SAIL finetune --model_name_or_path "$OUT/run/model.gguf" \
    --train_data_path "$OUT/train-shapes.jsonl" --val_data_path "$OUT/val.jsonl" --output_dir "$OUT/ft" \
    --batch_size "$BATCH" --learning_rate "$FT_LR" --num_train_epochs "$FT_EPOCHS" --warmup_steps 50 \
    --weight_decay 0.1 --matryoshka 512,256,128 --hard_negatives "$HARD" --seed "$SEED" \
    --save_every 100 $threads $ft_resume

echo "== one more epoch on shapes and emoji together" >&2
mix_resume=$(resume_from "$OUT/mix")
# shellcheck disable=SC2086
$SAIL finetune --model_name_or_path "$OUT/ft/model.gguf" \
    --train_data_path "$OUT/train.jsonl" --val_data_path "$OUT/val.jsonl" --output_dir "$OUT/mix" \
    --batch_size "$BATCH" --learning_rate "$MIX_LR" --num_train_epochs 1 --warmup_steps 50 \
    --weight_decay 0.1 --matryoshka 512,256,128 --seed "$SEED" --save_every 100 $threads $mix_resume

# Two epochs on a fresh shapes set and the emoji, with hard negatives: new
# images of the same groups (the set's own val/test splits are not used; the
# held-out shape+colour pairs are fixed, so none enters training).
#   fresh STAGE SET N SEED LR WARMUP FROM
fresh() {
    echo "== $1: two epochs on fresh scenes (seed $4) and the emoji" >&2
    [ -f "$OUT/$2/train.jsonl" ] || $SAIL data shapes -n "$3" --seed "$4" --size $SIZE -o "$OUT/$2"
    { rel "$2" train; rel emoji train; } > "$OUT/train-$1.jsonl"
    st_resume=$(resume_from "$OUT/$1")
    # shellcheck disable=SC2086
    $SAIL finetune --model_name_or_path "$7" \
        --train_data_path "$OUT/train-$1.jsonl" --val_data_path "$OUT/val.jsonl" --output_dir "$OUT/$1" \
        --batch_size "$BATCH" --learning_rate "$5" --num_train_epochs 2 --warmup_steps "$6" \
        --weight_decay 0.1 --matryoshka 512,256,128 --hard_negatives "$HARD" --seed "$4" \
        --save_every 100 $threads $st_resume
}
fresh more shapes2 30000 $((SEED + 1)) 3e-4 100 "$OUT/mix/model.gguf"
fresh more2 shapes3 20000 $((SEED + 2)) 2e-4 50 "$OUT/more/model.gguf"
fresh more3 shapes4 30000 $((SEED + 3)) 1.5e-4 50 "$OUT/more2/model.gguf"

echo "== store (f16)" >&2
$SAIL quantize "$OUT/more3/model.gguf" --type f16 -o models/sail-tiny.gguf
trained=$(date +%s)

echo "== evaluate" >&2
sh scripts/eval-model.sh models/sail-tiny.gguf "$OUT" > "$OUT/eval.md"
cat "$OUT/eval.md"
echo "make model: $(( (trained - start) / 60 )) min to train, models/sail-tiny.gguf $(wc -c < models/sail-tiny.gguf) bytes" >&2
