// bench_tokenize.js: times the reference tokenizer (npm `tokenizers`, Rust under node) on a text file, one
// text per line, uncased BERT, no special tokens; prints the median MB/s of `runs` runs.
// Usage: node bench_tokenize.js NPM_DIR VOCAB INPUT RUNS [IDS_OUT]   (run by scripts/bench_tokenize.sh)
'use strict';
const fs = require('fs');
const path = require('path');
process.env.BIGS_NPM_DIR = process.argv[2];
const g = require(path.join(__dirname, 'make_tokenizer_golden.js'));
const vocab = fs.readFileSync(process.argv[3], 'utf8').split('\n');
if (vocab[vocab.length - 1] === '') vocab.pop();
const text = fs.readFileSync(process.argv[4], 'utf8');
const runs = parseInt(process.argv[5] || '3', 10);
const lines = text.split('\n').map(l => l.replace(/\r$/, ''));
if (text.endsWith('\n')) lines.pop();  // a final newline ends the last line, it does not start one
const tok = g.makeTokenizer(vocab, true);
(async () => {
    const mbs = [];
    let ntok = 0;
    for (let r = 0; r < runs; r++) {
        const t0 = process.hrtime.bigint();
        ntok = 0;
        for (let i = 0; i < lines.length; i += 1000) {
            const encs = await tok.encodeBatch(lines.slice(i, i + 1000), { addSpecialTokens: false });
            for (const e of encs) ntok += e.getIds().length;
        }
        const sec = Number(process.hrtime.bigint() - t0) / 1e9;
        mbs.push(Buffer.byteLength(text) / 1e6 / sec);
    }
    mbs.sort((a, b) => a - b);
    if (process.argv[6]) {  // the ids of the last run, one line per input line, for the parity check
        const out = [];
        for (let i = 0; i < lines.length; i += 1000)
            for (const e of await tok.encodeBatch(lines.slice(i, i + 1000), { addSpecialTokens: false }))
                out.push(e.getIds().join(' '));
        fs.writeFileSync(process.argv[6], out.join('\n') + '\n');
    }
    console.log(JSON.stringify({ mb_per_s: mbs[Math.floor(runs / 2)], runs: mbs, tokens: ntok }));
})();
