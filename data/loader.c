// loader.c: the shard stream with a seeded order and an exact position (see loader.h).
#include "data/loader.h"

#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"
#include "core/base/rng.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int loader_open(Loader *l, const char *dir, const char *split, uint64_t seed, int rank, int world, int shuffle,
                char *err, size_t n) {
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d) { snprintf(err, n, "%s: cannot open the shard directory", dir); return -1; }
    char **names = NULL;
    int cnt = 0, cap = 0;
    size_t plen = strlen(split);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, split, plen) || e->d_name[plen] != '-' || len < 4 || strcmp(e->d_name + len - 4, ".bin")) continue;
        if (cnt == cap) { cap = cap ? 2 * cap : 16; names = xrealloc(names, sizeof(char *) * (size_t)cap); }
        size_t full = strlen(dir) + len + 2;
        names[cnt] = xmalloc(full);
        snprintf(names[cnt++], full, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (cnt == 0) {
        char meta[4200];
        snprintf(meta, sizeof meta, "%s/meta.json", dir);
        FILE *m = fopen(meta, "r");
        if (m) {  // prepared, but this split got nothing
            fclose(m);
            snprintf(err, n, "%s: no %s-*.bin shards: bigs prepare put no document in the %s split (--val-fraction 0, or too few "
                     "documents); use the other split, or prepare again with a larger --val-fraction", dir, split, split);
        } else snprintf(err, n, "%s: no %s-*.bin shards and no meta.json (is it a shard directory? make one with bigs prepare)", dir, split);
        free(names);
        return -1;
    }
    qsort(names, (size_t)cnt, sizeof(char *), cmp_str);
    l->shards = xcalloc((size_t)cnt, sizeof(Shard));
    int rc = 0;
    for (int i = 0; i < cnt && !rc; i++) {
        if (shard_open(&l->shards[i], names[i], err, n)) { rc = -1; break; }
        l->nshards++;
        Shard *s = &l->shards[i];
        if (i == 0) { l->vocab_size = s->vocab_size; l->vocab_hash = s->vocab_hash; l->max_len = s->max_len; }
        else if (s->vocab_hash != l->vocab_hash || s->vocab_size != l->vocab_size || s->max_len != l->max_len) {
            snprintf(err, n, "%s: made with another vocabulary or max_len than %s", names[i], names[0]);
            rc = -1;
        }
        l->nblocks += (int)s->n_blocks;
        l->n_seqs += s->n_seqs;
        l->n_tokens += s->n_tokens;
    }
    for (int i = 0; i < cnt; i++) free(names[i]);
    free(names);
    if (rc) { loader_close(l); return -1; }
    if (l->nblocks < world) {
        snprintf(err, n, "%s: %d %s blocks cannot be split over %d processes (prepare more data or use fewer ranks)", dir, l->nblocks, split, world);
        loader_close(l);
        return -1;
    }
    l->blk_shard = xmalloc(sizeof(uint32_t) * (size_t)l->nblocks);
    l->blk_block = xmalloc(sizeof(uint32_t) * (size_t)l->nblocks);
    int k = 0;
    for (int i = 0; i < l->nshards; i++)
        for (uint32_t b = 0; b < l->shards[i].n_blocks; b++) { l->blk_shard[k] = (uint32_t)i; l->blk_block[k++] = b; }
    l->seed = seed;
    l->rank = rank;
    l->world = world;
    l->shuffle = shuffle;
    l->pool_blocks = 8;
    l->mine = xmalloc(sizeof(int) * (size_t)l->nblocks);
    l->loaded_epoch = l->loaded_pool = -1;
    return 0;
}

void loader_close(Loader *l) {
    for (int i = 0; i < l->nshards; i++) shard_close(&l->shards[i]);
    free(l->shards);
    free(l->blk_shard);
    free(l->blk_block);
    free(l->mine);
    free(l->ids);
    free(l->offs);
    free(l->uids);
    free(l->perm);
    free(l->bids);
    free(l->boffs);
    memset(l, 0, sizeof *l);
}

// This rank's blocks for `epoch`, in reading order.
static void epoch_blocks(Loader *l, long epoch) {
    int *order = xmalloc(sizeof(int) * (size_t)l->nblocks);
    for (int i = 0; i < l->nblocks; i++) order[i] = i;
    if (l->shuffle) {
        Rng r;
        rng_init(&r, l->seed, 0x10ade5ull + (uint64_t)epoch);
        for (int i = l->nblocks - 1; i > 0; i--) {
            int j = (int)rng_below(&r, (uint64_t)i + 1);
            int t = order[i]; order[i] = order[j]; order[j] = t;
        }
    }
    l->nmine = 0;
    for (int i = l->rank; i < l->nblocks; i += l->world) l->mine[l->nmine++] = order[i];
    free(order);
}

static int load_pool(Loader *l, char *err, size_t n) {
    if (l->loaded_epoch != l->pos.epoch) epoch_blocks(l, l->pos.epoch);
    int first = (int)l->pos.pool * l->pool_blocks, last = first + l->pool_blocks;
    if (last > l->nmine) last = l->nmine;
    l->ids_len = 0;
    l->pool_nseq = 0;
    for (int k = first; k < last; k++) {
        int g = l->mine[k];
        const Shard *s = &l->shards[l->blk_shard[g]];
        if (shard_read_block(s, l->blk_block[g], &l->bids, &l->bids_cap, &l->boffs, &l->boffs_cap, err, n)) return -1;
        uint32_t ns = s->blocks[l->blk_block[g]].n_seqs;
        size_t ntok = l->boffs[ns];
        if (l->ids_len + ntok + 1 > l->ids_cap) { l->ids_cap = 2 * (l->ids_len + ntok + 1); l->ids = xrealloc(l->ids, sizeof(int32_t) * l->ids_cap); }
        if ((size_t)l->pool_nseq + ns + 1 > l->offs_cap) {
            l->offs_cap = 2 * ((size_t)l->pool_nseq + ns + 1);
            l->offs = xrealloc(l->offs, sizeof(uint32_t) * l->offs_cap);
            l->uids = xrealloc(l->uids, sizeof(uint64_t) * l->offs_cap);
            l->perm = xrealloc(l->perm, sizeof(uint32_t) * l->offs_cap);
        }
        memcpy(l->ids + l->ids_len, l->bids, sizeof(int32_t) * ntok);
        for (uint32_t i = 0; i < ns; i++) {
            l->offs[l->pool_nseq] = (uint32_t)(l->ids_len + l->boffs[i]);
            l->uids[l->pool_nseq++] = ((uint64_t)g << 32) | i;
        }
        l->ids_len += ntok;
    }
    l->offs[l->pool_nseq] = (uint32_t)l->ids_len;
    for (int i = 0; i < l->pool_nseq; i++) l->perm[i] = (uint32_t)i;
    if (l->shuffle) {
        Rng r;
        rng_init(&r, l->seed, ((uint64_t)l->pos.epoch << 32) ^ (0x9001ull + (uint64_t)l->pos.pool));
        for (int i = l->pool_nseq - 1; i > 0; i--) {
            int j = (int)rng_below(&r, (uint64_t)i + 1);
            uint32_t t = l->perm[i]; l->perm[i] = l->perm[j]; l->perm[j] = t;
        }
    }
    l->loaded_epoch = l->pos.epoch;
    l->loaded_pool = l->pos.pool;
    return 0;
}

int loader_next(Loader *l, const int32_t **ids, uint32_t *len, uint64_t *uid, char *err, size_t n) {
    for (int guard = 0;; guard++) {
        if (l->loaded_epoch != l->pos.epoch || l->loaded_pool != l->pos.pool)
            if (load_pool(l, err, n)) return -1;
        if (l->pos.index < l->pool_nseq) break;
        // next pool, or next epoch
        l->pos.index = 0;
        l->pos.pool++;
        if ((long)l->pos.pool * l->pool_blocks >= l->nmine) { l->pos.pool = 0; l->pos.epoch++; }
        if (guard > l->nblocks + 2) { snprintf(err, n, "the %s data has no sequences", l->nshards ? l->shards[0].path : "shard"); return -1; }
    }
    uint32_t s = l->perm[l->pos.index++];
    *ids = l->ids + l->offs[s];
    *len = l->offs[s + 1] - l->offs[s];
    if (uid) *uid = l->uids[s];
    return 0;
}

long loader_epoch_size(Loader *l) {
    if (l->loaded_epoch != l->pos.epoch) { epoch_blocks(l, l->pos.epoch); }
    long total = 0;
    for (int k = 0; k < l->nmine; k++) total += l->shards[l->blk_shard[l->mine[k]]].blocks[l->blk_block[l->mine[k]]].n_seqs;
    return total;
}
