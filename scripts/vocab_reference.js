// vocab_reference.js: the reference WordPiece trainer, npm `tokenizers` (Hugging Face's Rust code under node),
// and a small transcription of its algorithm for the settings the npm binding cannot set.
//
// As a program (check_vocab_parity.sh, bench_vocab.sh):
//   node vocab_reference.js NPM_DIR uncased|cased OUT FILE...
// trains a Tokenizer with a WordPiece model, the BERT normaliser and pre-tokeniser with the default trainer
// (train(files): vocab size 30000, min frequency 0, no alphabet limit, no special tokens), writes its
// vocabulary in id order to OUT, and prints {"seconds": ..., "tokens": ...} (the time of train() alone).
//
// As a module (make_vocab_golden.js): reference(), words() and train() below.
'use strict';
const fs = require('fs');
const path = require('path');

function load(npmDir) { return require(path.join(npmDir, 'node_modules', 'tokenizers')); }

// The npm trainer on files; returns the tokens in id order and the seconds train() took.
function reference(tk, files, lowercase) {
    const t = new tk.Tokenizer(tk.WordPiece.empty());
    t.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase }));
    t.setPreTokenizer(tk.bertPreTokenizer());
    const t0 = process.hrtime.bigint();
    t.train(files);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const tokens = [];
    for (const [tok, id] of Object.entries(t.getVocab(false))) tokens[id] = tok;
    return { tokens, seconds };
}

// The words the trainer counts, through the reference's own normaliser and pre-tokeniser, line by line as
// train(files) reads: a Map word -> count in the order of first occurrence.
function words(tk, text, lowercase) {
    const norm = tk.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase });
    const pre = tk.bertPreTokenizer();
    const counts = new Map();
    for (const line of text.split('\n')) {
        for (const [w] of pre.preTokenizeString(norm.normalizeString(line)))
            counts.set(w, (counts.get(w) || 0) + 1);
    }
    return counts;
}

// The trainer's algorithm (models/bpe/trainer.rs with the "##" prefix), written out plainly and slowly: the
// same steps as data/vocab_train.c, independently, for the golden files of settings npm cannot set. opts:
// vocabSize, minFrequency, limitAlphabet (-1: none), specials, contOrder (code points whose "##" tokens
// come first). Ties the reference breaks at random: alphabet cut (rarest first, then higher code point
// first), equal queue entries (older first).
function train(counts, opts) {
    const ids = new Map(), toks = [];
    const add = s => { if (!ids.has(s)) { ids.set(s, toks.length); toks.push(s); } return ids.get(s); };
    for (const s of opts.specials) add(s);
    const wordList = [...counts.entries()];
    const chars = new Map();  // code point -> weighted count, first seen first
    for (const [w, c] of wordList) for (const ch of w) chars.set(ch, (chars.get(ch) || 0) + c);
    let kept = [...chars.keys()];
    if (opts.limitAlphabet >= 0 && kept.length > opts.limitAlphabet) {
        kept.sort((a, b) => chars.get(a) - chars.get(b) || b.codePointAt(0) - a.codePointAt(0));
        kept = kept.slice(kept.length - opts.limitAlphabet);
    }
    kept.sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
    for (const ch of kept) add(ch);
    const later = new Set();
    for (const [w] of wordList) [...w].slice(1).forEach(ch => later.add(ch));
    for (const cp of opts.contOrder || []) {
        const ch = String.fromCodePoint(cp);
        if (later.has(ch) && ids.has(ch)) add('##' + ch);
    }
    const syms = wordList.map(([w]) => {
        const s = [];
        [...w].forEach((ch, k) => { if (ids.has(ch)) s.push(k ? add('##' + ch) : ids.get(ch)); });
        return s;
    });
    const wcount = wordList.map(([, c]) => c);
    if (opts.vocabSize < toks.length) throw new Error('vocab size below the alphabet');
    const key = (a, b) => a * 4194304 + b;  // exact in a double: ids stay below 2^22
    const pc = new Map();
    let where = new Map();
    const change = (a, b, d, w) => {
        const k = key(a, b);
        pc.set(k, (pc.get(k) || 0) + d);
        if (d > 0) {
            if (!where.has(k)) where.set(k, { a, b, pos: [] });
            const p = where.get(k).pos;
            if (p[p.length - 1] !== w) p.push(w);
        }
    };
    syms.forEach((s, w) => { for (let j = 0; j + 1 < s.length; j++) change(s[j], s[j + 1], wcount[w], w); });
    const heap = [];
    let seq = 0;
    const before = (x, y) => x.count !== y.count ? x.count > y.count : x.a !== y.a ? x.a < y.a : x.b !== y.b ? x.b < y.b : x.seq < y.seq;
    const push = e => {
        heap.push(e);
        for (let i = heap.length - 1; i > 0;) {
            const up = (i - 1) >> 1;
            if (!before(heap[i], heap[up])) break;
            [heap[i], heap[up]] = [heap[up], heap[i]];
            i = up;
        }
    };
    const pop = () => {
        const top = heap[0], last = heap.pop();
        if (heap.length) {
            heap[0] = last;
            for (let i = 0; ;) {
                let c = 2 * i + 1;
                if (c >= heap.length) break;
                if (c + 1 < heap.length && before(heap[c + 1], heap[c])) c++;
                if (!before(heap[c], heap[i])) break;
                [heap[i], heap[c]] = [heap[c], heap[i]];
                i = c;
            }
        }
        return top;
    };
    const flush = () => {
        for (const [k, e] of where) if (pc.get(k) > 0) push({ count: pc.get(k), a: e.a, b: e.b, seq: seq++, pos: e.pos });
        where = new Map();
    };
    flush();
    while (toks.length < opts.vocabSize && heap.length) {
        const e = pop(), cur = pc.get(key(e.a, e.b));
        if (e.count !== cur) { if (cur > 0) { e.count = cur; push(e); } continue; }
        if (cur < opts.minFrequency) break;
        const B = toks[e.b];
        const T = add(toks[e.a] + (B.startsWith('##') ? B.slice(2) : B));
        for (const w of e.pos) {  // merge left to right, as Word::merge
            const s = syms[w], o = [];
            for (let r = 0; r < s.length;) {
                if (s[r] === e.a && r + 1 < s.length && s[r + 1] === e.b) {
                    if (o.length) { change(o[o.length - 1], e.a, -wcount[w], w); change(o[o.length - 1], T, wcount[w], w); }
                    if (r + 2 < s.length) { change(e.b, s[r + 2], -wcount[w], w); change(T, s[r + 2], wcount[w], w); }
                    o.push(T);
                    r += 2;
                } else o.push(s[r++]);
            }
            syms[w] = o;
        }
        flush();
    }
    return toks;
}

module.exports = { load, reference, words, train };

if (require.main === module) {
    const [npmDir, mode, out, ...files] = process.argv.slice(2);
    if (!files.length || (mode !== 'uncased' && mode !== 'cased')) {
        console.error('usage: node vocab_reference.js NPM_DIR uncased|cased OUT FILE...');
        process.exit(2);
    }
    const r = reference(load(npmDir), files, mode === 'uncased');
    fs.writeFileSync(out, r.tokens.join('\n') + '\n');
    console.log(JSON.stringify({ seconds: r.seconds, tokens: r.tokens.length }));
}
