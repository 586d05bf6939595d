// prepare.h: `bigs prepare`: text files -> token shards (see data/shard.h) with a validation split.
#pragma once
#include <stdint.h>

typedef struct {
    const char *vocab, *output;
    const char **inputs;
    int ninputs;
    int max_len, cased;
    int force;         // --force: replace an earlier shard set in output
    double val_fraction, short_seq_prob;
    uint64_t seed;
    long shard_seqs;   // sequences per shard file
    int block_seqs;    // sequences per compressed block
} PrepareArgs;

int prepare_run(const PrepareArgs *a);
