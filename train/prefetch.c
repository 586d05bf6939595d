// prefetch.c: one batch made ahead on a thread (see prefetch.h).
#include "train/prefetch.h"

#include <string.h>

#include "core/base/common.h"

static void *prefetch_thread(void *arg) {
    Prefetch *p = arg;
    p->rc = p->fill(p->ctx, p->ahead, p->buf[1 - p->cur], p->err, sizeof p->err);
    return NULL;
}

void prefetch_init(Prefetch *p, PrefetchFill fill, void *ctx, void *buf0, void *buf1) {
    memset(p, 0, sizeof *p);
    p->fill = fill;
    p->ctx = ctx;
    p->buf[0] = buf0;
    p->buf[1] = buf1;
    p->ahead = -1;
}

// Waits for the thread; 1 when it made `item` without error.
static int prefetch_join(Prefetch *p, long item) {
    if (!p->running) return 0;
    pthread_join(p->th, NULL);
    p->running = 0;
    if (p->rc) fatal("%s", p->err);
    return p->ahead == item;
}

void *prefetch_get(Prefetch *p, long item) {
    if (prefetch_join(p, item)) {
        p->cur = 1 - p->cur;
    } else {
        char err[1024];
        if (p->fill(p->ctx, item, p->buf[p->cur], err, sizeof err)) fatal("%s", err);
    }
    p->ahead = item + 1;
    p->rc = 0;
    if (pthread_create(&p->th, NULL, prefetch_thread, p) == 0) p->running = 1;
    // without a thread (resources exhausted) the next item is simply made when asked for
    return p->buf[p->cur];
}

void prefetch_stop(Prefetch *p) {
    if (!p->running) return;
    pthread_join(p->th, NULL);
    p->running = 0;
}
