// arena.c: the per-step bump allocator (see arena.h).
#include "core/engine/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"

#define ARENA_ALIGN 64

void arena_init(Arena *a, size_t block_size) {
    memset(a, 0, sizeof *a);
    a->block_size = block_size ? block_size : ((size_t)64 << 20);
}

static ArenaBlock *block_new(size_t cap) {
    ArenaBlock *b = xcalloc(1, sizeof *b);
    cap = (cap + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    b->mem = aligned_alloc(ARENA_ALIGN, cap);
    if (!b->mem) fatal("out of memory: the activation arena needs another %.1f MiB", cap / 1048576.0);
    b->cap = cap;
    return b;
}

void *arena_alloc(Arena *a, size_t bytes) {
    size_t need = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (need == 0) need = ARENA_ALIGN;
    if (a->count_only) {  // a distinct non-NULL address per allocation, never dereferenced
        a->used += need;
        if (a->used > a->peak) a->peak = a->used;
        return (void *)(uintptr_t)a->used;
    }
    // walk forward through the kept blocks until one has room; append a new one after the last
    while (!a->cur || a->cur->cap - a->cur->used < need) {
        if (a->cur && a->cur->next) {
            a->cur->used = a->cur->cap;  // skip the tail (not counted in `used`: it holds nothing)
            a->cur = a->cur->next;
            continue;
        }
        ArenaBlock *b = block_new(need > a->block_size ? need : a->block_size);
        a->reserved += b->cap;
        if (!a->head) a->head = b;
        else {
            a->cur->used = a->cur->cap;
            a->cur->next = b;
        }
        a->cur = b;
    }
    void *p = a->cur->mem + a->cur->used;
    a->cur->used += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void *arena_calloc(Arena *a, size_t bytes) {
    void *p = arena_alloc(a, bytes);
    if (!a->count_only) memset(p, 0, bytes);
    return p;
}

void arena_reset(Arena *a) {
    for (ArenaBlock *b = a->head; b; b = b->next) b->used = 0;
    a->cur = a->head;
    a->used = 0;
}

void arena_free(Arena *a) {
    ArenaBlock *b = a->head;
    while (b) {
        ArenaBlock *n = b->next;
        free(b->mem);
        free(b);
        b = n;
    }
    memset(a, 0, sizeof *a);
}
