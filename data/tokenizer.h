// tokenizer.h: the BERT WordPiece tokenizer, token for token equal to Hugging Face `tokenizers`
// (BertNormalizer + BertPreTokenizer + WordPiece, special tokens registered as added tokens).
//
// Pipeline for one text (see tokenizer.c for the details and the parity notes):
//   split out the special tokens [PAD] [UNK] [CLS] [SEP] [MASK] literally present in the raw text,
//   clean (drop controls, whitespace -> ' '), space out CJK ideographs, uncased: NFD + drop Mn + lowercase,
//   split on whitespace and punctuation, WordPiece each word (greedy longest match, "##" continuations,
//   > 100 code points or an unmatched rest -> [UNK]).
// Invalid UTF-8: every byte that does not start a valid, shortest-form UTF-8 sequence is read as U+FFFD,
// which the cleaner drops, so the result equals Hugging Face's on the text decoded with errors="replace".
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct Tokenizer Tokenizer;

// Loads vocab.txt (one token per line, id = line number from 0, trailing whitespace trimmed). Fatal error
// naming the file (and line) on a missing file, an empty vocab, an empty or duplicate token, or no [UNK].
Tokenizer *tok_load(const char *vocab_path, int lowercase);
// The same from vocab.txt's contents text[0..len) (text[len] must be writable; the tokenizer takes
// ownership of text, freed on error too). Returns NULL with a message naming name and the line.
Tokenizer *tok_load_mem(char *text, size_t len, int lowercase, const char *name, char *err, size_t n);
void tok_free(Tokenizer *tok);

int tok_vocab_size(const Tokenizer *tok);

// Casing. A vocabulary is cased when more than 1% of its tokens (specials and "##" aside) hold an upper-case
// ASCII letter (bert-base-cased: about 30%; an uncased vocabulary: none).
int tok_vocab_is_cased(const Tokenizer *tok);
void tok_set_lowercase(Tokenizer *tok, int lowercase);
// The casing to tokenize with, checked: stored is what the model or shards recorded (1 uncased, 0 cased,
// -1 unknown), cased_flag the user's --cased. A contradiction (--cased on an uncased model or vocabulary)
// is fatal, naming what and the fix; a cased vocabulary read uncased is a warning. Sets the tokenizer's
// casing and returns lowercase (1) or not (0). what names the source for messages ("runs/small").
int tok_resolve_casing(Tokenizer *tok, int stored, int cased_flag, const char *what);
int tok_id(const Tokenizer *tok, const char *token);  // -1 when the token is not in the vocab
const char *tok_token(const Tokenizer *tok, int id);  // NULL when id is out of range

// Token ids of text[0..len) without [CLS]/[SEP]. Writes at most max ids and returns how many the text
// has (possibly more than max: call again with a larger buffer). Never allocates per token.
int tok_encode(const Tokenizer *tok, const char *text, size_t len, int32_t *ids, int max);

// The BERT model input: "[CLS] a [SEP]" (b == NULL) or "[CLS] a [SEP] b [SEP]" with token types 0 up to
// and including the first [SEP], 1 after. max_len > 0 truncates the contents as Hugging Face's
// "longest_first" does (tok_truncate_pair); max_len <= 0: no truncation. types may be NULL.
// Writes at most max entries and returns the full length. max_len must be 0 or >= the number of specials.
int tok_encode_pair(const Tokenizer *tok, const char *a, size_t alen, const char *b, size_t blen, int max_len,
                    int32_t *ids, int32_t *types, int max);

// The words of text[0..len) as the BERT normaliser (lowercase: uncased) and pre-tokeniser make them, the
// same words tok_encode hands to WordPiece, but of any length and with no special token split out (as
// Hugging Face's trainers see a text): fn(ctx, word, bytes) for each, in order; word is normalised UTF-8,
// valid only during the call. For vocabulary training (data/vocab_count.c).
typedef void (*TokWordFn)(void *ctx, const char *word, size_t bytes);
void tok_words(int lowercase, const char *text, size_t len, TokWordFn fn, void *ctx);

// For tests and debugging: what the normaliser (clean, CJK spacing, uncased mapping) makes of one code
// point, as Hugging Face's normalize_str would on that character alone; and whether the pre-tokeniser
// splits it off as punctuation.
int tok_normalize_cp(const Tokenizer *tok, uint32_t cp, uint32_t out[10]);
int tok_is_punct(uint32_t cp);

// Hugging Face's longest_first truncation of a pair of contents of n1 and n2 tokens to max_len tokens in
// all, [CLS] and two [SEP] included: the kept lengths in *k1, *k2 (see tokenizer.c).
void tok_truncate_pair(int n1, int n2, int max_len, int *k1, int *k2);
