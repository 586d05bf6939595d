#!/usr/bin/env bash
# plot_metrics.sh RUN_DIR [OUT.png]: draws the training loss (and the validation loss) of a run's
# metrics.jsonl to a PNG with gnuplot (Debian gnuplot-nox).
set -euo pipefail
run=${1:?usage: plot_metrics.sh RUN_DIR [OUT.png]}
png=${2:-$run/loss.png}
command -v gnuplot >/dev/null || { echo "plot_metrics: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# one "step value" pair per line, from the JSON lines with "loss" (training) and "eval_loss" (validation)
sed -n 's/.*"step":\([0-9.e+-]*\),"loss":\([0-9.e+-]*\).*/\1 \2/p' "$run/metrics.jsonl" > "$tmp/train.dat"
sed -n 's/.*"step":\([0-9.e+-]*\),"eval_loss":\([0-9.e+-]*\).*/\1 \2/p' "$run/metrics.jsonl" > "$tmp/eval.dat"
[ -s "$tmp/train.dat" ] || { echo "plot_metrics: no training loss in $run/metrics.jsonl" >&2; exit 1; }
plot="plot '$tmp/train.dat' using 1:2 with lines lw 2 title 'training loss'"
[ -s "$tmp/eval.dat" ] && plot="$plot, '$tmp/eval.dat' using 1:2 with linespoints lw 2 pt 7 title 'validation loss'"
gnuplot <<GP
set terminal pngcairo size 900,540 font ",11"
set output '$png'
set title 'bigs pretrain: masked-LM loss'
set xlabel 'optimizer step'
set ylabel 'cross-entropy (nats)'
set grid
$plot
GP
echo "$png"
