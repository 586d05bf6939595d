#!/usr/bin/env bash
# plot_scaling.sh SCALING.jsonl OUT.png: time per token and memory against L (from build/bench_scaling)
set -euo pipefail
in=${1:?usage: plot_scaling.sh SCALING.jsonl OUT.png}
png=${2:?usage: plot_scaling.sh SCALING.jsonl OUT.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for m in BiGS BERT; do
    sed -n "s/.*\"model\": \"$m\", \"L\": \([0-9]*\), \"fwd_us_per_token\": \([0-9.]*\), \"fwd_mib\": \([0-9.]*\), \"fwdbwd_us_per_token\": \([0-9.]*\), \"fwdbwd_mib\": \([0-9.]*\).*/\1 \2 \3 \4 \5/p" "$in" > "$tmp/$m.dat"
done
gnuplot <<GP
set terminal pngcairo size 1100,460 font ",11"
set output '$png'
set multiplot layout 1,2 title 'BiGS vs BERT of the same size (H=256, NL=4), batch 1, masked-LM forward+backward'
set logscale x 2
set xlabel 'sequence length L'
set grid
set key top left
set ylabel 'microseconds per token'
plot '$tmp/BiGS.dat' using 1:4 with linespoints lw 2 pt 7 title 'BiGS (SSM)', '$tmp/BERT.dat' using 1:4 with linespoints lw 2 pt 5 title 'BERT (attention)'
set ylabel 'activation memory (MiB)'
set logscale y 2
plot '$tmp/BiGS.dat' using 1:5 with linespoints lw 2 pt 7 title 'BiGS (SSM)', '$tmp/BERT.dat' using 1:5 with linespoints lw 2 pt 5 title 'BERT (attention)'
unset multiplot
GP
echo "$png"
