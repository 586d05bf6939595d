// vocab_train.h: WordPiece vocabulary training, the algorithm of Hugging Face `tokenizers`' WordPieceTrainer
// (a BPE trainer with the "##" continuing-subword prefix; see vocab_train.c and docs/vocab.md), from the word
// counts of vocab_count.h. The result is the list of tokens in the order the trainer gives them ids.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "data/vocab_count.h"

typedef struct {
    long vocab_size;              // tokens to reach, specials included (the reference's default: 30000)
    uint64_t min_frequency;       // stop at the first merge of a pair seen fewer times (default 0: never)
    long limit_alphabet;          // keep only this many characters, the most frequent (< 0: all, the default)
    const char *const *specials;  // the first ids, in this order (none by default)
    int nspecials;
    // Optional: characters whose "##" tokens are numbered first, in this order (the reference numbers them
    // in the random order it meets words in; vocab_train_cont_order reads that order back from its output).
    const uint32_t *cont_order;
    int ncont_order;
    int progress;                 // merges, tokens and ETA on stderr
} VocabTrainOptions;

typedef struct {
    WordCounts tokens;            // token i (its id) is tokens.pool + tokens.off[i], tokens.len[i] bytes
    // what the run did
    int nspecials;
    long chars_seen;              // distinct characters in the words
    long alphabet;                // characters kept (all of them without a limit)
    long cont_chars;              // "##" + character tokens
    long merges;                  // merges done, those that re-made an existing token included
    uint64_t last_count;          // how often the last merged pair occurred
    // Choices the reference makes at random: equally frequent characters on both sides of the
    // --limit-alphabet cut, and merges where the reference held two queue entries of the same pair with the
    // same count (it pops either; we pop the older). Where both are 0, the vocabulary is the reference's for
    // the same "##" order.
    long alphabet_ties, merge_ties;
} TrainedVocab;

// Trains on wc. Returns 0, or -1 with a message in err: an empty corpus, an empty or duplicate special
// token, a vocab_size below the tokens every vocabulary of this corpus holds (specials, alphabet, "##"
// characters).
int vocab_train(const WordCounts *wc, const VocabTrainOptions *o, TrainedVocab *out, char *err, size_t n);
void trained_vocab_free(TrainedVocab *v);
// vocab.txt's contents: one token per line in id order (malloc'd, *len bytes).
char *trained_vocab_text(const TrainedVocab *v, size_t *len);

// The "##"-characters of a vocab.txt in its line order (its lines "##" + one code point): to number them as
// a given run of the reference did (--order-from). Returns how many were written to *out (malloc'd).
int vocab_train_cont_order(const char *text, size_t len, uint32_t **out);
