#!/usr/bin/env bash
# demo.sh (make demo): on a fresh Debian machine, installs what is missing, builds, fetches real text
# and the bert-base-uncased vocabulary, prepares shards, pretrains a small BiGS for half a minute,
# evaluates it, draws the loss curve, fills a few masks, then finetunes it on labelled review sentences.
# Environment: BIGS_CACHE (default ~/.cache/bigs) for downloads, BIGS_DEMO_OUT (default demo-output)
# for shards, the run and the plot. The demo's own run folder is replaced on each run.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${BIGS_CACHE:-$HOME/.cache/bigs}
out=${BIGS_DEMO_OUT:-demo-output}
say() { printf '\n== %s\n' "$*" >&2; }

say "1/7 Debian packages"
scripts/install_deps.sh --demo

say "2/7 build"
make -s -j"$(nproc)" all

say "3/7 data: State of the Union addresses, labelled review sentences and the bert-base-uncased vocabulary (cached in $cache)"
scripts/fetch_data.sh "$cache"

say "4/7 bigs prepare"
mkdir -p "$out"
if [ ! -f "$out/shards/meta.json" ]; then
    rm -rf "$out/shards"
    build/bigs prepare --vocab "$cache/vocab.txt" --input "$cache/sotu" --output "$out/shards" --max-len 128 --val-fraction 0.05
fi
build/bigs info "$out/shards"

say "5/7 bigs pretrain (a small BiGS, configs/demo.json: about half a minute on 2 cores)"
rm -rf "$out/pretrain"
build/bigs pretrain --config configs/demo.json --data "$out/shards" --output "$out/pretrain" >/dev/null

say "6/7 pretraining results"
num() { sed -n "s/.*\"$1\":[[:space:]]*\([0-9.e+-]*\).*/\1/p" "$out/pretrain/all_results.json" | head -1; }
before=$(num initial_eval_loss)
after=$(num eval_loss)
echo "validation MLM loss: $before before training -> $after after $(num global_step) steps" >&2
build/bigs eval --task mlm --data "$out/shards" --model "$out/pretrain" >&2
png=$(scripts/plot_metrics.sh "$out/pretrain" "$out/loss.png")
echo "loss curve: $png" >&2
echo "fill-mask examples:" >&2
for t in "the president of the united [MASK] ." "we must [MASK] the budget ." "the [MASK] of the union is strong ."; do
    printf '  %-40s ' "$t" >&2
    # {"masks":[[{"token":"the","id":1996,"score":0.008},...]]} shown as: the 0.008, ...
    build/bigs predict --model "$out/pretrain" --text "$t" --top-k 3 |
        sed 's/{"token":"\([^"]*\)","id":[0-9]*,"score":\([0-9.e-]*\)}/\1 \2/g; s/,/, /g; s/^{"masks":\[\[//; s/\]\]}$//' >&2
done

say "7/7 bigs finetune: sentiment of 1000 Amazon review sentences (800 train / 200 dev, SST-2 layout)"
rm -rf "$out/reviews"
build/bigs finetune --task sst2 --data "$cache/reviews" --model "$out/pretrain" --output "$out/reviews" \
    --set train.learning_rate=1e-3 --set train.num_train_epochs=10 --set train.eval_steps=0 --set model.padding=longest >/dev/null
acc=$(sed -n 's/.*"eval_accuracy":[[:space:]]*\([0-9.e+-]*\).*/\1/p' "$out/reviews/all_results.json" | head -1)
pos=$(tail -n +2 "$cache/reviews/dev.tsv" | cut -f2 | grep -c '^1$' || true)
total=$(tail -n +2 "$cache/reviews/dev.tsv" | wc -l)
echo "dev accuracy: $acc (the majority class alone: $(awk -v p="$pos" -v t="$total" 'BEGIN { printf "%.3f", (p > t - p ? p : t - p) / t }'))" >&2
echo "predictions (label 1 = positive, 0 = negative):" >&2
for case in "1|Great phone, works perfectly." "1|This phone is great, the battery lasts for days." "0|Terrible headset, it broke after one week."; do
    want=${case%%|*} t=${case#*|}
    res=$(build/bigs predict --model "$out/reviews" --text "$t")
    got=$(printf '%s' "$res" | sed -n 's/^{"label":"\([^"]*\)".*/\1/p')
    printf '  %-50s %s %s\n' "$t" "$res" "$([ "$got" = "$want" ] && echo right || echo "wrong (expected $want)")" >&2
done
echo >&2
echo "pretrained model: $out/pretrain; sentiment classifier: $out/reviews; logs: metrics.jsonl in each" >&2
