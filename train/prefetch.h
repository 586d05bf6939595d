// prefetch.h: the next item of a sequence (a training batch) is made on a thread while the caller works
// on the current one. Items are numbered; item i+1 is made as soon as item i is handed out, so the
// caller asks for 0, 1, 2, ... (or starts anywhere, the first request being made on the spot). What the
// items are is the caller's: fill() makes item `item` into one of two buffers and returns 0, or -1 with
// a message (which the next prefetch_get turns into a fatal error on the calling thread).
// The results do not depend on the thread: fill() is the same function of the item either way.
#pragma once
#include <pthread.h>
#include <stddef.h>

typedef int (*PrefetchFill)(void *ctx, long item, void *buf, char *err, size_t n);

typedef struct {
    PrefetchFill fill;
    void *ctx;
    void *buf[2];
    int cur;            // buf[cur]: the item handed out last
    int running;        // a thread is making item `ahead` into buf[1 - cur]
    long ahead;
    pthread_t th;
    int rc;
    char err[1024];
} Prefetch;

void prefetch_init(Prefetch *p, PrefetchFill fill, void *ctx, void *buf0, void *buf1);
// The buffer holding item `item`, then starts making item + 1 in the other one. The buffer stays valid
// until the next call. Asking for another item than the one made ahead drops that one (the caller's
// fill must then not depend on what the dropped fill consumed: pretraining never asks out of order).
void *prefetch_get(Prefetch *p, long item);
// Waits for the item being made ahead and drops it; the buffers are the caller's to free.
void prefetch_stop(Prefetch *p);
