// make_vocab_golden.js NPM_DIR SMALL_DIR OUT_DIR: the golden vocabularies of tests/test_vocab_train.c, from
// the small real corpora SMALL_DIR/{sotu,brown,fortunes,unicode}.txt (made by vocab_corpora.sh). Run by
// make_vocab_golden.sh. For each corpus, uncased and cased:
//   ref       the npm trainer (train(files), its defaults), as it came out; its "##" order is random, so the
//             test runs bigs with --order-from this file, and every other file here uses the same order
//   default   bigs's own order ("##" characters numbered as first met in the corpus), no specials
//   specials  the BERT specials and --vocab-size 2000
//   limit     --limit-alphabet: the alphabet less its 8 rarest characters, --vocab-size 3000
//   minfreq   --min-frequency 3
// The npm binding can set none of the trainer's options, so every file but ref comes from the transcription
// in vocab_reference.js, which must first give ref itself exactly; then each is checked against npm as far
// as npm can be made to show it (see the checks below). Writes OUT_DIR/manifest.txt for the test.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const R = require('./vocab_reference.js');

const [npmDir, smallDir, outDir] = process.argv.slice(2);
const tk = R.load(npmDir);
const BERT = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const tmp = fs.mkdtempSync('/tmp/bigs-vocab-golden-');
const manifest = ['# corpus case order expected flags...  (order: ref = --order-from the ref file, first = bigs\'s own)'];

function check(cond, what) { if (!cond) throw new Error('golden check failed: ' + what); }
function gz(name, text) { fs.writeFileSync(path.join(outDir, name), zlib.gzipSync(text, { level: 9 })); }
function vocabText(toks) { return toks.join('\n') + '\n'; }
function contOrder(toks) {  // the "##" + one code point lines, in order
    return toks.filter(t => t.startsWith('##') && [...t].length === 3).map(t => t.codePointAt(2));
}
function firstDiff(a, b) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return `line ${i + 1}: ${a[i]} vs ${b[i]}`;
    return 'none';
}
const opts = o => Object.assign({ vocabSize: 30000, minFrequency: 0, limitAlphabet: -1, specials: [], contOrder: [] }, o);

for (const corpus of ['sotu', 'brown', 'fortunes', 'unicode']) {
    const file = path.join(smallDir, corpus + '.txt');
    const text = fs.readFileSync(file, 'utf8');
    gz(corpus + '.txt.gz', text);
    for (const kase of ['uncased', 'cased']) {
        const lower = kase === 'uncased', base = `${corpus}-${kase}`;
        const ref = R.reference(tk, [file], lower).tokens;
        const counts = R.words(tk, text, lower), order = contOrder(ref);
        const mine = R.train(counts, opts({ contOrder: order }));
        check(mine.join('\n') === ref.join('\n'), `${base}: the transcription differs from npm at ${firstDiff(mine, ref)}`);
        gz(base + '.ref.txt.gz', vocabText(ref));
        manifest.push(`${corpus} ${kase} ref ${base}.ref.txt.gz --special-tokens ''`);

        const dflt = R.train(counts, opts({}));
        check(new Set(dflt).size === dflt.length && dflt.length > 1000, `${base}: default order`);
        gz(base + '.default.txt.gz', vocabText(dflt));
        manifest.push(`${corpus} ${kase} first ${base}.default.txt.gz --special-tokens ''`);

        // specials take the first ids and count in the size; the other ids keep their order, so this must be
        // the specials and then the reference's first 1995 tokens
        const spec = R.train(counts, opts({ vocabSize: 2000, specials: BERT, contOrder: order }));
        check(spec.join('\n') === BERT.concat(ref.slice(0, 1995)).join('\n'), `${base}: specials are not a shifted prefix of ref`);
        gz(base + '.specials.txt.gz', vocabText(spec));
        manifest.push(`${corpus} ${kase} ref ${base}.specials.txt.gz --vocab-size 2000`);

        // --limit-alphabet, checked against npm on the corpus with the dropped characters deleted from the words
        // (the same training, as long as none of them starts a word of two or more characters) and written
        // word by word, which the reference's normaliser and pre-tokeniser must leave as they are
        const chars = new Map();
        for (const [w, c] of counts) for (const ch of w) chars.set(ch, (chars.get(ch) || 0) + c);
        const byRarity = [...chars.entries()].sort((a, b) => a[1] - b[1] || b[0].codePointAt(0) - a[0].codePointAt(0));
        const firsts = new Set([...counts.keys()].filter(w => [...w].length > 1).map(w => [...w][0]));
        // drop the d rarest: not cutting through equally frequent characters (the reference picks among those at
        // random), and preferably none that starts a word, which npm can check; about 8 if possible
        const cuts = [];
        for (let d = 1; d < Math.min(byRarity.length, 400); d++) if (byRarity[d - 1][1] !== byRarity[d][1]) cuts.push(d);
        const clean = d => byRarity.slice(0, d).every(e => !firsts.has(e[0]));
        const drop = cuts.filter(d => d >= 4 && clean(d))[0] || cuts.filter(clean)[0] || cuts.filter(d => d >= 8)[0] || cuts[cuts.length - 1];
        const dropped = new Set(byRarity.slice(0, drop).map(e => e[0])), limit = chars.size - drop;
        const lim = R.train(counts, opts({ vocabSize: 3000, limitAlphabet: limit, contOrder: order }));
        gz(base + '.limit.txt.gz', vocabText(lim));
        manifest.push(`${corpus} ${kase} ref ${base}.limit.txt.gz --special-tokens '' --vocab-size 3000 --limit-alphabet ${limit}`);
        const starts = !clean(drop);
        if (starts) {
            console.error(`${base}: limit ${limit}: a dropped character starts a word, no npm check`);
        } else {
            const lines = [];
            for (const [w, c] of counts) {
                const v = [...w].filter(ch => !dropped.has(ch)).join('');
                if (v) for (let i = 0; i < c; i++) lines.push(v);
            }
            const efile = path.join(tmp, base + '.limited.txt');
            fs.writeFileSync(efile, lines.join('\n') + '\n');
            const ecounts = R.words(tk, lines.join('\n'), lower);
            let same = ecounts.size > 0;
            for (const [w] of ecounts) same = same && [...w].every(ch => !dropped.has(ch));
            check(same, `${base}: the normaliser changed the limited corpus`);
            const eref = R.reference(tk, [efile], lower).tokens;
            const emine = R.train(counts, opts({ limitAlphabet: limit, contOrder: contOrder(eref) }));
            check(emine.join('\n') === eref.join('\n'), `${base}: limit ${limit} differs from npm on the limited corpus at ${firstDiff(emine, eref)}`);
            console.error(`${base}: limit ${limit} (drops ${drop}) checked against npm (${eref.length} tokens)`);
        }

        // --min-frequency 3 stops the same run earlier: a prefix of ref
        const mf = R.train(counts, opts({ minFrequency: 3, contOrder: order }));
        check(mf.length < ref.length && mf.join('\n') === ref.slice(0, mf.length).join('\n'), `${base}: minfreq is not a prefix of ref`);
        gz(base + '.minfreq.txt.gz', vocabText(mf));
        manifest.push(`${corpus} ${kase} ref ${base}.minfreq.txt.gz --special-tokens '' --min-frequency 3`);
        console.error(`${base}: ref ${ref.length} tokens, default ${dflt.length}, minfreq ${mf.length}`);
    }
}
fs.writeFileSync(path.join(outDir, 'manifest.txt'), manifest.join('\n') + '\n');
fs.rmSync(tmp, { recursive: true });
