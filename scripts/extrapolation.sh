#!/usr/bin/env bash
# extrapolation.sh [OUT_DIR]: length extrapolation of the position types, measured on real text
# (docs/benchmarks.md, "Length extrapolation"). Five models of the grid's matched size (H=256, NL=4,
# about 11.4M parameters) are pretrained on the State of the Union texts at L=128 under one budget: BERT
# (configs/grid-stack-attention.json) with absolute, rope and alibi positions, and BiGS
# (configs/grid-gated-ssm.json) with none and absolute. Each is then evaluated, without further training,
# by its masked-LM loss on the held-out addresses at L = 128 .. 2048 (an absolute table grows cyclically
# with eval --max-length, its learned rows repeated), with the forward time per token at each L.
# Writes OUT_DIR/extrapolation.json, OUT_DIR/extrapolation.md (scripts/extrapolation_table.py) and
# OUT_DIR/extrapolation.png; a rerun keeps the finished training runs and redoes the evaluations.
# Environment: BIGS (build/bigs), BIGS_CACHE (~/.cache/bigs), THREADS (2), STEPS (400), BATCH (32),
# LR (1e-3), LENGTHS ("128 256 512 1024 2048"), EVAL_BATCHES (16 batches of 4096 tokens per length).
# Needs node and npm once (scripts/fetch_data.sh), gnuplot, /usr/bin/python3.
# Example: scripts/extrapolation.sh build/extrapolation
set -euo pipefail
out=${1:-build/extrapolation}
bigs=${BIGS:-build/bigs}
cache=${BIGS_CACHE:-$HOME/.cache/bigs}
threads=${THREADS:-2}
steps=${STEPS:-400}
batch=${BATCH:-32}
lr=${LR:-1e-3}
lengths=${LENGTHS:-"128 256 512 1024 2048"}
eval_batches=${EVAL_BATCHES:-16}
[ -x "$bigs" ] || { echo "extrapolation: $bigs is missing (run make)" >&2; exit 1; }
mkdir -p "$out"
scripts/fetch_data.sh "$cache"
say() { echo "== $*" >&2; }

# shards: training at 128 (BERT's 10% shorter sequences); evaluation at every length, every sequence full
# length where its address allows. The validation split is drawn per document from the seed, so it holds the
# same addresses at every --max-len, and none of them is trained on.
prep() {  # prep DIR MAXLEN SHORT_PROB
    [ -f "$1/meta.json" ] && return 0
    "$bigs" prepare --vocab "$cache/vocab.txt" --input "$cache/sotu" --output "$1" --max-len "$2" --val-fraction 0.05 \
        --short-seq-prob "$3" --threads "$threads" >/dev/null
}
say "shards"
prep "$out/shards-train" 128 0.1
for L in $lengths; do prep "$out/shards-$L" "$L" 0; done

# the five models: name, config, position type; one budget for all
models="bert-absolute:grid-stack-attention:absolute bert-rope:grid-stack-attention:rope bert-alibi:grid-stack-attention:alibi
bigs-none:grid-gated-ssm:none bigs-absolute:grid-gated-ssm:absolute"
for m in $models; do
    IFS=: read -r name cfg pos <<<"$m"
    run="$out/run-$name"
    if [ ! -f "$run/all_results.json" ]; then
        say "pretrain $name ($steps steps of $batch x 128 tokens)"
        rm -rf "$run"
        t0=$(date +%s.%N)
        "$bigs" pretrain --config "configs/$cfg.json" --data "$out/shards-train" --output "$run" --threads "$threads" --quiet \
            --set model.position_embedding_type="$pos" --set train.max_steps="$steps" --set train.warmup_steps=$((steps / 10)) \
            --set train.learning_rate="$lr" --set train.weight_decay=0.01 --set train.lr_scheduler_type=cosine \
            --set train.per_device_train_batch_size="$batch" --set train.max_seq_length=128 --set train.eval_steps="$steps" \
            --set train.save_steps="$steps" --set train.eval_batches=8 --set train.logging_steps=50 --set train.seed=42 >/dev/null
        t1=$(date +%s.%N)
        echo "{\"model\": \"$name\", \"train_seconds\": $(awk "BEGIN {print $t1 - $t0}")}" > "$run/train_time.json"
    fi
done

# evaluation: the first EVAL_BATCHES batches of about 4096 tokens of the held-out split at each L (the same
# sequences and masks for every model), the same masking seed
results="$out/eval.jsonl"
: > "$results"
for m in $models; do
    IFS=: read -r name cfg pos <<<"$m"
    for L in $lengths; do
        b=$((4096 / L)); [ "$b" -ge 1 ] || b=1
        say "eval $name at L=$L"
        # twice: the losses must agree to the bit, the faster run's time is kept (the machine may be shared)
        for rep in 1 2; do
            "$bigs" eval --task mlm --data "$out/shards-$L" --model "$out/run-$name" --batch-size "$b" --max-length "$L" \
                --max-batches "$eval_batches" --threads "$threads" 2>/dev/null > "$out/eval-$rep.json"
        done
        line=$(/usr/bin/python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a["loss"] == b["loss"] and a["accuracy"] == b["accuracy"], (a, b)
a["seconds"] = min(a["seconds"], b["seconds"])
print(json.dumps(a))' "$out/eval-1.json" "$out/eval-2.json")
        echo "{\"model\": \"$name\", \"position\": \"$pos\", \"L\": $L, \"load\": \"$(cut -d' ' -f1 /proc/loadavg)\", \"eval\": $line}" >> "$results"
    done
done

# the table (JSON and markdown) and the plot
/usr/bin/python3 scripts/extrapolation_table.py "$out" "$steps" "$batch" "$lr" "$threads"
n=$(echo "$models" | wc -w)
plots_loss="" plots_time=""
i=0
for m in $models; do
    name=${m%%:*}
    sep=$([ $i -gt 0 ] && echo ", " || true)
    plots_loss="$plots_loss$sep'$out/plot.dat' index $i using 1:2 with linespoints lw 2 title '$name'"
    plots_time="$plots_time$sep'$out/plot.dat' index $i using 1:3 with linespoints lw 2 title '$name'"
    i=$((i + 1))
done
gnuplot <<GP
set terminal pngcairo size 1100,460 font ",11"
set output '$out/extrapolation.png'
set multiplot layout 1,2 title 'Trained at L=128 on the State of the Union texts ($steps steps x $batch), evaluated at longer L (H=256, NL=4)'
set logscale x 2
set xlabel 'evaluation length L'
set grid
set key top left
set ylabel 'masked-LM loss (held-out addresses)'
set offsets 0, 0, 0, graph 0.45
set key bottom right
plot $plots_loss
set offsets 0, 0, 0, 0
set key top left
set ylabel 'forward microseconds per token'
set logscale y 2
plot $plots_time
unset multiplot
GP
echo "$out/extrapolation.png ($n models)" >&2
