#!/bin/sh
# make_vocab_golden.sh: regenerates the vocabulary golden files in tests/vocab/ with the reference trainer (npm
# tokenizers@0.23.2, Hugging Face's Rust code under node), from excerpts of real corpora (vocab_corpora.sh).
# Needs node, npm and the Debian fortunes packages; the tests themselves need neither. The npm packages go
# to $BIGS_NPM_DIR (default /tmp/bigs-npm-vocab), the corpora to a scratch folder. Run from the repository
# root: sh scripts/make_vocab_golden.sh
set -eu
NPM_DIR=${BIGS_NPM_DIR:-/tmp/bigs-npm-vocab}
export BIGS_NPM_DIR="$NPM_DIR"
work=$(mktemp -d /tmp/bigs-vocab-corpora.XXXXXX)
trap 'rm -rf "$work"' EXIT
sh scripts/vocab_corpora.sh "$work" 2>/dev/null
mkdir -p tests/vocab
echo "reference: tokenizers $(node -p "require('$NPM_DIR/node_modules/tokenizers/package.json').version")"
# the trainer's progress bars go to stdout: dropped
node scripts/make_vocab_golden.js "$NPM_DIR" "$work/small" tests/vocab > /dev/null
du -sh tests/vocab
