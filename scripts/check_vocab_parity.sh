#!/bin/sh
# check_vocab_parity.sh [RUNS]: `bigs vocab` against the reference trainer (npm tokenizers@0.23.2) on the full
# real corpora of vocab_corpora.sh (State of the Union, Brown, fortunes, a multilingual fortune sample),
# uncased and cased, with the reference's default settings (vocab size 30000, min frequency 0, no alphabet
# limit, no special tokens). The reference numbers the "##" characters in a random order that changes from
# run to run (it meets the words in hash-map order), so each of RUNS runs (default 2) is compared with bigs
# given that run's order (--order-from): the files must be identical, line for line. Also prints the
# reference's differences between its own runs. Run from the repository root after `make`.
set -eu
RUNS=${1:-2}
BIGS=${BIGS:-build/bigs}
NPM_DIR=${BIGS_NPM_DIR:-/tmp/bigs-npm-vocab}
export BIGS_NPM_DIR="$NPM_DIR"
[ -x "$BIGS" ] || { echo "check_vocab_parity: $BIGS not found: run make first" >&2; exit 1; }
work=$(mktemp -d /tmp/bigs-vocab-parity.XXXXXX)
trap 'rm -rf "$work"' EXIT
sh scripts/vocab_corpora.sh "$work" 2>/dev/null
echo "reference: npm tokenizers $(node -p "require('$NPM_DIR/node_modules/tokenizers/package.json').version"); bigs: $($BIGS --version)"
fail=0
for c in sotu brown fortunes unicode; do
    for m in uncased cased; do
        flag=""
        [ $m = cased ] && flag=--cased
        for r in $(seq "$RUNS"); do
            node scripts/vocab_reference.js "$NPM_DIR" $m "$work/ref-$r.txt" "$work/$c.txt" > "$work/ref.json"
            "$BIGS" vocab --input "$work/$c.txt" --output "$work/bigs-$r.txt" --special-tokens '' $flag \
                --order-from "$work/ref-$r.txt" --force --quiet > "$work/bigs.json"
            ties=$(sed 's/.*"merge_ties":[[:space:]]*\([0-9]*\).*/\1/' "$work/bigs.json")
            if cmp -s "$work/ref-$r.txt" "$work/bigs-$r.txt"; then res=identical
            else res="DIFFERENT from line $(cmp "$work/ref-$r.txt" "$work/bigs-$r.txt" | sed 's/.*line //')"; fail=1; fi
            printf '%-9s %-8s run %d: %6d lines, %s (bigs: %s ties the reference breaks at random)\n' \
                "$c" $m "$r" "$(wc -l < "$work/ref-$r.txt")" "$res" "$ties"
        done
        if [ "$RUNS" -gt 1 ]; then
            printf '%-9s %-8s the reference against itself (run 1 vs 2): %s lines differ\n' "$c" $m \
                "$(diff "$work/ref-1.txt" "$work/ref-2.txt" | grep -c '^<' || true)"
        fi
    done
done
[ $fail = 0 ] && echo "parity: every run identical" || { echo "parity: FAILED"; exit 1; }
