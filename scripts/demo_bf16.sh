#!/usr/bin/env bash
# demo_bf16.sh (make demo-bf16): the demo's pretraining and finetuning twice, in float32 and with
# train.bf16 (bf16 products, float32 sums, master weights and optimizer), from the same seed; prints the
# final validation losses and dev accuracies with their differences and draws both runs' loss curves on
# one plot. Needs a CPU with AVX512-BF16 (the avx512_bf16 flag of /proc/cpuinfo).
# Checks what issue 18 asks: the bf16 validation loss within 1% of float32's, the dev accuracy within a
# point; exits 1 when either is missed. The 200 dev sentences make one finetuning's accuracy move by
# several points from seed to seed (measured: 0.765 to 0.815 over seeds 1-5 in float32), far more than
# the number format does, so each format is finetuned with SEEDS seeds (default 5) and the means are
# compared; every seed's accuracy is printed, and the accuracy is checked only when the standard error
# of the difference of the means is at most half a point (it is not on the 200 review sentences).
# With GLUE=DIR (the official GLUE layout) the finetuning is on real SST-2 instead (67,349 sentences,
# one epoch, batch 32; 872 dev sentences), where seeds differ far less; SEEDS defaults to 3 there.
# Environment: BIGS_CACHE (default ~/.cache/bigs), BIGS_DEMO_OUT (default demo-output; the runs go to
# its bf16-compare/ folder, replaced on each run), SEEDS, GLUE.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${BIGS_CACHE:-$HOME/.cache/bigs}
if [ -n "${GLUE:-}" ]; then
    [ -f "$GLUE/SST-2/train.tsv" ] || { echo "demo_bf16: GLUE=$GLUE has no SST-2/train.tsv (the official GLUE layout)" >&2; exit 1; }
    ft_data=$GLUE/SST-2 ft_name="GLUE SST-2" seeds=${SEEDS:-3}
    ft_sets=(--set train.num_train_epochs=1 --set train.per_device_train_batch_size=32)
else
    ft_data=$cache/reviews ft_name="the demo's review sentences" seeds=${SEEDS:-5}
    ft_sets=(--set train.num_train_epochs=10)
fi
out=${BIGS_DEMO_OUT:-demo-output}/bf16-compare
say() { printf '\n== %s\n' "$*" >&2; }
grep -qw avx512_bf16 /proc/cpuinfo || { echo "demo_bf16: this CPU has no AVX512-BF16 (avx512_bf16 in /proc/cpuinfo): nothing to compare" >&2; exit 1; }
scripts/install_deps.sh --demo  # gnuplot for the plot, and what the build and the data need
make -s -j"$(nproc)" all
scripts/fetch_data.sh "$cache"
mkdir -p "$out"
if [ ! -f "$out/shards/meta.json" ]; then
    rm -rf "$out/shards"
    build/bigs prepare --vocab "$cache/vocab.txt" --input "$cache/sotu" --output "$out/shards" --max-len 128 --val-fraction 0.05 >/dev/null
fi
num() { sed -n "s/.*\"$2\":[[:space:]]*\([0-9.e+-]*\).*/\1/p" "$1/all_results.json" | head -1; }
for fmt in fp32 bf16; do
    set_bf16=(); [ "$fmt" = bf16 ] && set_bf16=(--set train.bf16=true)
    say "pretrain ($fmt, configs/demo.json)"
    rm -rf "$out/pretrain-$fmt" "$out/reviews-$fmt"-* "$out/accuracy-$fmt.txt"
    t0=$(date +%s.%N)
    build/bigs pretrain --config configs/demo.json --data "$out/shards" --output "$out/pretrain-$fmt" --quiet "${set_bf16[@]}" >/dev/null
    t1=$(date +%s.%N)
    say "finetune ($fmt, $ft_name, seeds 1-$seeds)"
    for seed in $(seq 1 "$seeds"); do
        build/bigs finetune --task sst2 --data "$ft_data" --model "$out/pretrain-$fmt" --output "$out/reviews-$fmt-$seed" --quiet \
            --set train.learning_rate=1e-3 --set train.eval_steps=0 --set model.padding=longest "${ft_sets[@]}" \
            --set train.seed="$seed" "${set_bf16[@]}" >/dev/null
        num "$out/reviews-$fmt-$seed" eval_accuracy >> "$out/accuracy-$fmt.txt"
    done
    t2=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v f="$fmt" -v n="$seeds" 'BEGIN { printf "%s: pretraining %.1f s, %d finetunings %.1f s\n", f, b - a, n, c - b }' >&2
done
lf=$(num "$out/pretrain-fp32" eval_loss) lb=$(num "$out/pretrain-bf16" eval_loss)
mean() { awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; printf "%.4f %.4f", m, (n > 1 ? sqrt((q - n * m * m) / (n - 1)) : 0) }' "$1"; }
read -r af sf <<< "$(mean "$out/accuracy-fp32.txt")"
read -r ab sb <<< "$(mean "$out/accuracy-bf16.txt")"
echo "dev accuracy per seed, float32: $(tr '\n' ' ' < "$out/accuracy-fp32.txt")" >&2
echo "dev accuracy per seed, bf16:    $(tr '\n' ' ' < "$out/accuracy-bf16.txt")" >&2
# both runs' curves, training loss as lines and validation loss as points
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for fmt in fp32 bf16; do
    sed -n 's/.*"step":\([0-9.e+-]*\),"loss":\([0-9.e+-]*\).*/\1 \2/p' "$out/pretrain-$fmt/metrics.jsonl" > "$tmp/train-$fmt.dat"
    sed -n 's/.*"step":\([0-9.e+-]*\),"eval_loss":\([0-9.e+-]*\).*/\1 \2/p' "$out/pretrain-$fmt/metrics.jsonl" > "$tmp/eval-$fmt.dat"
done
png="$out/loss-fp32-bf16.png"
gnuplot <<GP
set terminal pngcairo size 900,540 font ",11"
set output '$png'
set title 'bigs pretrain (configs/demo.json): float32 and bf16 products'
set xlabel 'optimizer step'
set ylabel 'masked-LM cross-entropy (nats)'
set grid
plot '$tmp/train-fp32.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'training, float32', \
     '$tmp/train-bf16.dat' using 1:2 with lines lw 2 dt 2 lc rgb '#d62728' title 'training, bf16', \
     '$tmp/eval-fp32.dat' using 1:2 with points pt 7 ps 1.6 lc rgb '#1f77b4' title 'validation, float32', \
     '$tmp/eval-bf16.dat' using 1:2 with points pt 6 ps 2.2 lw 2 lc rgb '#d62728' title 'validation, bf16'
GP
awk -v glue="${GLUE:+1}" -v lf="$lf" -v lb="$lb" -v af="$af" -v ab="$ab" -v sf="$sf" -v sb="$sb" -v n="$seeds" -v png="$png" 'BEGIN {
    dl = (lb - lf) / lf * 100; da = (ab - af) * 100
    se = 100 * sqrt((sf * sf + sb * sb) / n)  # standard error of the difference of the two means, in points
    printf "validation MLM loss: float32 %.4f, bf16 %.4f (%+.2f%%)\n", lf, lb, dl
    printf "dev accuracy, mean of %d seeds: float32 %.3f (sd %.3f), bf16 %.3f (sd %.3f): %+.1f points (standard error %.1f)\n", n, af, sf, ab, sb, da, se
    printf "plot: %s\n", png
    okl = dl < 1 && dl > -1
    printf "%s: bf16 validation loss within 1%% of float32'"'"'s\n", okl ? "ok" : "MISS"
    if (se > 0.5) {  # the seeds spread too widely for a one-point check to mean anything
        printf "(accuracy not checked: the standard error of the difference, %.2f points, is over half a point; %s)\n", se,
               glue ? "more SEEDS narrow it" : "GLUE=DIR finetunes on SST-2, where seeds differ far less"
        exit !okl
    }
    oka = da < 1 && da > -1
    printf "%s: bf16 mean dev accuracy within a point of float32'"'"'s\n", oka ? "ok" : "MISS"
    exit !(okl && oka) }' >&2
