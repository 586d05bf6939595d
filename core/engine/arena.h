// arena.h: a bump allocator for per-step activations. Allocations are 64-byte aligned and never
// freed one by one: arena_reset() makes all the memory reusable at once. Memory comes in blocks that
// are kept across resets, so after the first step no allocation reaches malloc.
#pragma once
#include <stddef.h>

typedef struct ArenaBlock {
    struct ArenaBlock *next;
    size_t cap, used;
    char *mem;
} ArenaBlock;

typedef struct {
    ArenaBlock *head, *cur;
    size_t block_size;  // default size of a new block
    size_t used;        // bytes handed out since the last reset (64-byte rounded; skipped block tails not counted)
    size_t peak;        // the largest `used` ever seen
    size_t reserved;    // bytes held in blocks
    int count_only;     // a dry run (memory estimates): allocations are counted, never made; the pointers
                        // returned must not be dereferenced
} Arena;

void arena_init(Arena *a, size_t block_size);
void *arena_alloc(Arena *a, size_t bytes);   // uninitialised, 64-byte aligned
void *arena_calloc(Arena *a, size_t bytes);  // zeroed
void arena_reset(Arena *a);
void arena_free(Arena *a);
