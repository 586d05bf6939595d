// loader.h: streams the sequences of one split of a shard directory (train or validation).
// Each epoch the blocks of all shards are put in a seeded order; a process of a data-parallel job
// (rank r of world w) takes every w-th block of that order, so ranks read disjoint parts. Blocks are
// read in pools of `pool_blocks`, and each pool's sequences are shuffled. The position (epoch, pool,
// index in pool) is all it takes to resume exactly.
#pragma once
#include <stdint.h>

#include "data/shard.h"

typedef struct { long epoch, pool, index; } LoaderPos;

typedef struct {
    int nshards;
    Shard *shards;
    int nblocks;               // over all shards
    uint32_t *blk_shard, *blk_block;
    uint64_t seed;
    int rank, world, shuffle, pool_blocks;
    uint32_t vocab_size, max_len;
    uint64_t vocab_hash, n_seqs, n_tokens;
    LoaderPos pos;
    // the epoch's blocks for this rank, and the current pool
    int *mine, nmine;
    long loaded_epoch, loaded_pool;   // which pool is in memory (-1: none)
    int32_t *ids;
    size_t ids_cap, ids_len;
    uint32_t *offs;               // sequence starts within ids (pool_nseq + 1)
    size_t offs_cap;
    uint64_t *uids;               // per sequence: (global block index << 32) | sequence in block
    uint32_t *perm;
    int pool_nseq;
    // scratch for one block
    int32_t *bids;
    size_t bids_cap;
    uint32_t *boffs;
    size_t boffs_cap;
} Loader;

// Opens DIR/<split>-*.bin. Returns 0, or -1 with a message naming the directory or file.
int loader_open(Loader *l, const char *dir, const char *split, uint64_t seed, int rank, int world, int shuffle,
                char *err, size_t n);
void loader_close(Loader *l);
// The next sequence (valid until the next call); epochs roll over forever. *uid identifies it
// (for static masking). Returns 0 or -1 with err (a corrupted block).
int loader_next(Loader *l, const int32_t **ids, uint32_t *len, uint64_t *uid, char *err, size_t n);
// Sequences this rank reads per epoch.
long loader_epoch_size(Loader *l);
