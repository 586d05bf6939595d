#!/usr/bin/env python3
"""gen_unicode_tables.py: writes data/unicode_tables.c, the per-code-point tables of the BERT tokenizer.

Reads Debian's Unicode Character Database (package `unicode-data`, /usr/share/unicode/: UnicodeData.txt,
PropList.txt, SpecialCasing.txt, DerivedAge.txt). Run from the repository root:
    python3 scripts/gen_unicode_tables.py [UCD_DIR]

What the tables must reproduce is the Hugging Face `tokenizers` Rust code, not a particular Unicode version:
- its category tests (is_other / is_punctuation / is_mark_nonspacing, from the `unicode_categories` crate)
  use Unicode 8.0 data: a code point assigned after 8.0 is not "other", not punctuation, not Mn there, so we
  take the category from the current UCD only for code points whose DerivedAge is <= 8.0;
- "other" means Cc, Cf, Co (Cs cannot occur in valid UTF-8); unassigned code points (Cn) are kept;
- whitespace is Rust's char::is_whitespace, i.e. the White_Space property;
- lowercase is Rust's char::to_lowercase (full mapping: UnicodeData + unconditional SpecialCasing);
- uncased normalisation is, per code point, NFD, then drop Mn, then lowercase (the Rust order; Python's
  BertTokenizer lowercases first, which gives the same result on every code point we checked).
tests/tokenizer/codepoints-*.txt.gz (made with the reference) checks every code point against these tables.
"""
import os
import sys

UCD = sys.argv[1] if len(sys.argv) > 1 else '/usr/share/unicode'
OUT = 'data/unicode_tables.c'
CATEGORY_AGE = (8, 0)  # the unicode_categories crate's data version (see the docstring)
# General_Category values that changed between Unicode 8.0 and the UCD we read (DerivedAge only says when a
# code point was assigned). Found by comparing every code point with the reference; all are rare scripts.
CATEGORY_8_0 = {0x1734: 'Mn', 0x1885: 'Lo', 0x1886: 'Lo', 0xA9BD: 'Mc', 0x111C9: 'Po', 0x166D: 'Po'}
# Canonical decompositions: the reference's normalisation crate predates Unicode 13.0 (U+11938 -> U+11935
# U+11930, added in 13.0, is not decomposed there), so only decompositions of code points of age <= 8.0 apply
# (none were added from 9.0 to 12.1).
DECOMP_AGE = (8, 0)
# Rust's char::to_lowercase is on Unicode 16.0 while Debian 12 ships the 15.0 UCD: the lowercase mappings
# Unicode 16.0 added (code points unassigned in 15.0), as the reference applies them.
LOWER_16_0 = {0x1C89: 0x1C8A, 0xA7CB: 0x0264, 0xA7CC: 0xA7CD, 0xA7CE: 0xA7CF, 0xA7D2: 0xA7D3,
              0xA7D4: 0xA7D5, 0xA7DA: 0xA7DB, 0xA7DC: 0x019B}
LOWER_16_0.update({c: c + 0x20 for c in range(0x10D50, 0x10D66)})      # Garay
LOWER_16_0.update({c: c + 0x1B for c in range(0x16EA0, 0x16EB9)})      # Beria Erfe

F_DROP, F_SPACE, F_PUNCT, F_CJK, F_MAP = 1, 2, 4, 8, 16
# The reference's is_chinese_char has 0x2B920..=0x2CEAF where Google's BERT has 0x2B820:
# U+2B820..U+2B91F get no spaces in Hugging Face `tokenizers`, and we match it.
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
S_BASE, L_BASE, V_BASE, T_BASE, N_HANGUL = 0xAC00, 0x1100, 0x1161, 0x11A7, 11172


def ucd_lines(name):
    with open(os.path.join(UCD, name), encoding='utf-8') as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                yield [x.strip() for x in line.split(';')]


def cp_range(s):
    a, _, b = s.partition('..')
    return range(int(a, 16), int(b or a, 16) + 1)


def load():
    cat, decomp, lower, ccc = {}, {}, {}, {}
    first = None
    for f in ucd_lines('UnicodeData.txt'):
        cp = int(f[0], 16)
        if f[1].endswith('First>'):
            first = cp
            continue
        for c in (range(first, cp + 1) if f[1].endswith('Last>') else [cp]):
            cat[c] = f[2]
        if f[3] != '0':
            ccc[cp] = int(f[3])
        if f[5] and not f[5].startswith('<'):
            decomp[cp] = [int(x, 16) for x in f[5].split()]  # filtered by DECOMP_AGE in main()
        if f[13]:
            lower[cp] = [int(f[13], 16)]
    for f in ucd_lines('SpecialCasing.txt'):
        if len(f) >= 5 and f[4]:  # conditional mappings (language, Final_Sigma): char::to_lowercase ignores them
            continue
        lower[int(f[0], 16)] = [int(x, 16) for x in f[1].split()]
    for c, l in LOWER_16_0.items():
        assert c not in lower, 'LOWER_16_0: U+%04X already has a mapping in this UCD' % c
        lower[c] = [l]
    age = {}
    for f in ucd_lines('DerivedAge.txt'):
        v = tuple(int(x) for x in f[1].split('.'))
        for c in cp_range(f[0]):
            age[c] = v
    space = set()
    for f in ucd_lines('PropList.txt'):
        if f[1] == 'White_Space':
            space.update(cp_range(f[0]))
    return cat, decomp, lower, ccc, age, space


def nfd(cp, decomp, ccc):
    if S_BASE <= cp < S_BASE + N_HANGUL:
        s = cp - S_BASE
        out = [L_BASE + s // 588, V_BASE + (s % 588) // 28]
        return out + ([T_BASE + s % 28] if s % 28 else [])
    if cp not in decomp:
        return [cp]
    out = [c for d in decomp[cp] for c in nfd(d, decomp, ccc)]
    # canonical ordering of the marks inside one code point's decomposition (stable sort by ccc)
    i = 0
    while i < len(out):
        j = i
        while j < len(out) and ccc.get(out[j], 0):
            j += 1
        out[i:j] = sorted(out[i:j], key=lambda c: ccc[c])
        i = j + 1
    return out


def main():
    cat, decomp, lower, ccc, age, space = load()

    def old_cat(c):  # category as the Rust tokenizer sees it
        if c in CATEGORY_8_0:
            return CATEGORY_8_0[c]
        return cat.get(c, 'Cn') if age.get(c, (99, 0)) <= CATEGORY_AGE else 'Cn'

    decomp = {c: d for c, d in decomp.items() if age.get(c, (99, 0)) <= DECOMP_AGE}

    flags = bytearray(0x110000)
    maps = {}
    for c in range(0x110000):
        oc = old_cat(c)
        f = 0
        if c == 0 or c == 0xFFFD or (oc in ('Cc', 'Cf', 'Co', 'Cs') and c not in (9, 10, 13)):
            f |= F_DROP
        if c in space or c in (9, 10, 13):
            f |= F_SPACE
        if (33 <= c <= 47) or (58 <= c <= 64) or (91 <= c <= 96) or (123 <= c <= 126) or oc.startswith('P'):
            f |= F_PUNCT
        if any(a <= c <= b for a, b in CJK):
            f |= F_CJK
        # uncased mapping: NFD, drop Mn, lowercase each remaining char
        m = [l for d in nfd(c, decomp, ccc) if old_cat(d) != 'Mn' for l in lower.get(d, [d])]
        if m != [c] and not f & (F_DROP | F_SPACE):  # dropped / space chars never reach the mapping
            f |= F_MAP
            if not (S_BASE <= c < S_BASE + N_HANGUL):  # Hangul syllables are decomposed in C
                maps[c] = m
            for d in m:
                assert d not in space, 'a mapping yields whitespace: %x' % c
        flags[c] = f

    # two-level table: stage1[cp >> 7] -> block number, stage2[block * 128 + (cp & 127)] -> flags
    B = 128
    blocks, index, stage1 = [], {}, []
    for b in range(0x110000 // B):
        blk = bytes(flags[b * B:(b + 1) * B])
        if blk not in index:
            index[blk] = len(blocks)
            blocks.append(blk)
        stage1.append(index[blk])
    keys = sorted(maps)
    pool, vals = [], []
    for k in keys:
        assert len(maps[k]) < 8
        vals.append(len(pool) << 3 | len(maps[k]))
        pool.extend(maps[k])

    def arr(ctype, name, xs, per=16, fmt='%d'):
        s = 'const %s %s[%d] = {\n' % (ctype, name, len(xs))
        for i in range(0, len(xs), per):
            s += '    ' + ', '.join(fmt % x for x in xs[i:i + per]) + ',\n'
        return s + '};\n'

    with open(os.path.join(UCD, 'ReadMe.txt'), encoding='utf-8') as f:
        ver = next((l.split('Version ')[1].split(' ')[0] for l in f if 'for Version' in l), '?')
    with open(OUT, 'w') as o:
        o.write('// unicode_tables.c: GENERATED by scripts/gen_unicode_tables.py from the Unicode %s UCD\n'
                '// (categories as of Unicode %d.%d, as the reference tokenizer has them). Do not edit.\n'
                '#include "data/unicode_tables.h"\n\n' % (ver, *CATEGORY_AGE))
        o.write('const char uni_ucd_version[] = "%s";\n\n' % ver)
        o.write(arr('uint16_t', 'uni_stage1', stage1, 24))
        o.write(arr('uint8_t', 'uni_stage2', [x for blk in blocks for x in blk], 32))
        o.write('const int uni_map_count = %d;\n' % len(keys))
        o.write(arr('uint32_t', 'uni_map_keys', keys, 12, '0x%x'))
        o.write(arr('uint32_t', 'uni_map_vals', vals, 12))
        o.write(arr('uint32_t', 'uni_map_pool', pool, 12, '0x%x'))
    print('%s: %d blocks of %d, %d mappings (%d code points in the pool)' % (OUT, len(blocks), B, len(keys), len(pool)))


main()
