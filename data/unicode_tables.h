// unicode_tables.h: per-code-point facts the BERT tokenizer needs, generated into unicode_tables.c by
// scripts/gen_unicode_tables.py (see its docstring for why categories are those of Unicode 8.0).
#pragma once
#include <stdint.h>

enum {
    UNI_DROP = 1,   // removed by the cleaner: U+0000, U+FFFD, category Cc/Cf/Co except \t \n \r
    UNI_SPACE = 2,  // White_Space (plus \t \n \r): becomes ' ', separates words
    UNI_PUNCT = 4,  // ASCII punctuation or category P*: a token of its own
    UNI_CJK = 8,    // CJK ideograph ranges that get spaces around them
    UNI_MAP = 16,   // uncased normalisation (NFD, drop Mn, lowercase) changes it
};

extern const char uni_ucd_version[];
extern const uint16_t uni_stage1[0x110000 >> 7];
extern const uint8_t uni_stage2[];
extern const int uni_map_count;
extern const uint32_t uni_map_keys[];  // sorted code points with UNI_MAP (Hangul syllables excluded)
extern const uint32_t uni_map_vals[];  // offset into uni_map_pool << 3 | length (0..7)
extern const uint32_t uni_map_pool[];

static inline unsigned uni_flags(uint32_t cp) {
    return cp < 0x110000 ? uni_stage2[(uint32_t)uni_stage1[cp >> 7] * 128 + (cp & 127)] : UNI_DROP;
}
