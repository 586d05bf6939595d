// vocab.h: the WordPiece vocabulary: tokens by id and an open-addressing hash table from string to id.
// Internal to the tokenizer (data/tokenizer.c, data/vocab.c).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *pool;          // all tokens, each NUL-terminated
    uint32_t *offset;    // (n) start of token i in pool
    uint16_t *length;    // (n) byte length of token i
    int n;
    uint32_t mask;       // hash table size - 1 (a power of two)
    int32_t *slot_id;    // (mask+1) token id or -1; key "##x" is stored as x in the continuation table
    uint32_t *slot_hash;
    int32_t *cont_id;    // (mask+1) continuation table: "##"-tokens keyed without their "##"
    uint32_t *cont_hash;
    int max_bytes;       // longest key in either table: bounds the WordPiece search
} Vocab;

void vocab_load(Vocab *v, const char *path);  // fatal with the file and line on a bad vocab
// Parses text[0..len) (text[len] must be writable; v takes ownership of text, freed on error too).
// Returns 0, or -1 with a message naming path and the line.
int vocab_parse(Vocab *v, char *text, size_t len, const char *path, char *err, size_t n);
void vocab_free(Vocab *v);
int vocab_find(const Vocab *v, const char *s, size_t len);       // whole-word token id or -1
int vocab_find_cont(const Vocab *v, const char *s, size_t len);  // id of "##" + s or -1
