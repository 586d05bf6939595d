// test_data.c: shards (write/read, corruption), the loader (order, epochs, resume, rank split) and
// MLM masking.
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/rng.h"
#include "data/loader.h"
#include "data/mlm.h"
#include "data/shard.h"
#include "tests/test.h"

#define NSEQ 150
// Sequence i: length 3 + i % 40, tokens (i * 31 + j) % 1000.
static int seq_len(int i) { return 3 + i % 40; }
static int32_t seq_tok(int i, int j) { return (int32_t)((i * 31 + j) % 1000); }

// Writes NSEQ sequences over 3 train shards (blocks of 7) into dir; returns 0 on success.
static int write_dir(const char *dir) {
    mkdir(dir, 0755);
    char path[600], err[512];
    int i = 0;
    for (int s = 0; s < 3; s++) {
        ShardWriter w;
        snprintf(path, sizeof path, "%s/train-%05d.bin", dir, s);
        if (shard_writer_open(&w, path, 1000, 0xabc, 64, 7, err, sizeof err)) return -1;
        int32_t ids[64];
        for (int k = 0; k < NSEQ / 3; k++, i++) {
            for (int j = 0; j < seq_len(i); j++) ids[j] = seq_tok(i, j);
            if (shard_writer_add(&w, ids, (uint32_t)seq_len(i), err, sizeof err)) return -1;
        }
        if (shard_writer_close(&w, err, sizeof err)) return -1;
    }
    return 0;
}

// Which sequence i has these tokens (length and first token identify it), or -1.
static int identify(const int32_t *ids, uint32_t len) {
    for (int i = 0; i < NSEQ; i++) {
        if ((uint32_t)seq_len(i) != len) continue;
        int ok = 1;
        for (uint32_t j = 0; j < len && ok; j++) ok = ids[j] == seq_tok(i, (int)j);
        if (ok) return i;
    }
    return -1;
}

TEST(shards_round_trip_in_order) {
    char dir[512], err[512];
    snprintf(dir, sizeof dir, "%s/shards_a", test_tmpdir());
    CHECK(write_dir(dir) == 0);
    Loader l;
    CHECKF(loader_open(&l, dir, "train", 1, 0, 1, 0, err, sizeof err) == 0, "%s", err);
    CHECK(l.n_seqs == NSEQ && l.vocab_size == 1000 && l.vocab_hash == 0xabc && l.max_len == 64);
    CHECK_EQ_INT(loader_epoch_size(&l), NSEQ);
    for (int i = 0; i < 2 * NSEQ; i++) {  // two epochs, in file order (no shuffle)
        const int32_t *ids;
        uint32_t len;
        CHECK(loader_next(&l, &ids, &len, NULL, err, sizeof err) == 0);
        int who = identify(ids, len);
        if (who != i % NSEQ) { CHECKF(0, "sequence %d came back as %d", i % NSEQ, who); break; }
    }
    CHECK_EQ_INT(l.pos.epoch, 1);
    loader_close(&l);
}

TEST(loader_shuffles_each_epoch_and_resumes_exactly) {
    char dir[512], err[512];
    snprintf(dir, sizeof dir, "%s/shards_b", test_tmpdir());
    CHECK(write_dir(dir) == 0);
    Loader l;
    CHECK(loader_open(&l, dir, "train", 7, 0, 1, 1, err, sizeof err) == 0);
    int order[2][NSEQ];
    for (int e = 0; e < 2; e++) {
        int seen[NSEQ] = {0};
        for (int i = 0; i < NSEQ; i++) {
            const int32_t *ids;
            uint32_t len;
            CHECK(loader_next(&l, &ids, &len, NULL, err, sizeof err) == 0);
            int who = identify(ids, len);
            CHECK(who >= 0);
            if (who >= 0) seen[who]++;
            order[e][i] = who;
        }
        int once = 1;
        for (int i = 0; i < NSEQ; i++) once &= seen[i] == 1;
        CHECKF(once, "epoch %d does not return every sequence exactly once", e);
    }
    CHECK(memcmp(order[0], order[1], sizeof order[0]) != 0);  // a new order each epoch
    int inorder = 1;
    for (int i = 0; i < NSEQ; i++) inorder &= order[0][i] == i;
    CHECK(!inorder);
    // stop after 37 sequences of epoch 1 (pos saved), reopen, seek, and continue identically
    loader_close(&l);
    CHECK(loader_open(&l, dir, "train", 7, 0, 1, 1, err, sizeof err) == 0);
    const int32_t *ids;
    uint32_t len;
    for (int i = 0; i < NSEQ + 37; i++) loader_next(&l, &ids, &len, NULL, err, sizeof err);
    LoaderPos saved = l.pos;
    int next_a[50];
    for (int i = 0; i < 50; i++) { loader_next(&l, &ids, &len, NULL, err, sizeof err); next_a[i] = identify(ids, len); }
    loader_close(&l);
    CHECK(loader_open(&l, dir, "train", 7, 0, 1, 1, err, sizeof err) == 0);
    l.pos = saved;
    for (int i = 0; i < 50; i++) {
        loader_next(&l, &ids, &len, NULL, err, sizeof err);
        if (identify(ids, len) != next_a[i]) { CHECKF(0, "resumed stream differs at %d", i); break; }
    }
    loader_close(&l);
}

TEST(loader_ranks_read_disjoint_parts) {
    char dir[512], err[512];
    snprintf(dir, sizeof dir, "%s/shards_c", test_tmpdir());
    CHECK(write_dir(dir) == 0);
    int seen[NSEQ] = {0};
    for (int r = 0; r < 2; r++) {
        Loader l;
        CHECK(loader_open(&l, dir, "train", 3, r, 2, 1, err, sizeof err) == 0);
        long n = loader_epoch_size(&l);
        CHECK(n > 50 && n < 100);
        for (long i = 0; i < n; i++) {
            const int32_t *ids;
            uint32_t len;
            loader_next(&l, &ids, &len, NULL, err, sizeof err);
            int who = identify(ids, len);
            if (who >= 0) seen[who]++;
        }
        loader_close(&l);
    }
    int ok = 1;
    for (int i = 0; i < NSEQ; i++) ok &= seen[i] == 1;
    CHECKF(ok, "ranks 0 and 1 together must read every sequence exactly once");
}

static void flip_byte(const char *path, long at) {
    FILE *f = fopen(path, "r+b");
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

TEST(shard_corruption_is_reported_with_shard_and_block) {
    char dir[512], path[600], err[512];
    snprintf(dir, sizeof dir, "%s/shards_d", test_tmpdir());
    CHECK(write_dir(dir) == 0);
    snprintf(path, sizeof path, "%s/train-00001.bin", dir);
    Shard s;
    CHECK(shard_open(&s, path, err, sizeof err) == 0);
    long at = (long)s.blocks[2].offset + 5;
    shard_close(&s);
    flip_byte(path, at);
    Loader l;
    CHECK(loader_open(&l, dir, "train", 1, 0, 1, 0, err, sizeof err) == 0);
    int rc = 0;
    for (int i = 0; i < NSEQ && !rc; i++) {
        const int32_t *ids;
        uint32_t len;
        rc = loader_next(&l, &ids, &len, NULL, err, sizeof err);
    }
    CHECKF(rc == -1 && strstr(err, "train-00001.bin: block 2 is corrupted"), "got: %s", err);
    loader_close(&l);
    // a damaged header, a truncated file, a file that is no shard
    flip_byte(path, 20);
    CHECK(shard_open(&s, path, err, sizeof err) == -1 && strstr(err, "header is corrupted"));
    snprintf(path, sizeof path, "%s/train-00002.bin", dir);
    CHECK(truncate(path, 300) == 0);
    CHECK(shard_open(&s, path, err, sizeof err) == -1 && strstr(err, "truncated"));
    snprintf(path, sizeof path, "%s/train-00000.bin", dir);
    FILE *f = fopen(path, "wb");
    fputs("hello, this is not a shard at all, but it is long enough to have a header......", f);
    fclose(f);
    CHECK(shard_open(&s, path, err, sizeof err) == -1 && strstr(err, "bad magic"));
    CHECK(loader_open(&l, "/nonexistent/dir", "train", 1, 0, 1, 0, err, sizeof err) == -1 && strstr(err, "/nonexistent/dir"));
}

TEST(mlm_masking_rules) {
    MaskSpec ms = {101, 102, 0, 103, 30522, 0.15, 20};
    CHECK_EQ_INT(mlm_max_pred_for(20, 128), 20);
    CHECK_EQ_INT(mlm_max_pred_for(20, 4096), 640);
    int L = 128;
    int32_t seq[128], ids[128], mask[128], labels[128];
    long npred = 0, nmask = 0, nkeep = 0, nrand = 0;
    for (int trial = 0; trial < 2000; trial++) {
        int len = 20 + trial % 100;
        seq[0] = 101;
        for (int i = 1; i < len - 1; i++) seq[i] = 1000 + (trial * 7 + i) % 20000;
        seq[len - 1] = 102;
        int n = mlm_mask_sequence(&ms, seq, len, L, rng_key(5, (uint64_t)trial), ids, mask, labels);
        long want = lround(len * 0.15);
        if (want > 20) want = 20;
        if (n != want) { CHECKF(0, "len %d: %d predictions, expected %ld", len, n, want); break; }
        int cnt = 0;
        for (int i = 0; i < L; i++) {
            if (i >= len) { CHECK(ids[i] == 0 && mask[i] == 0 && labels[i] == -100); continue; }
            CHECK(mask[i] == 1);
            if (labels[i] == -100) { CHECK(ids[i] == seq[i]); continue; }
            cnt++;
            CHECK(i != 0 && i != len - 1 && labels[i] == seq[i]);
            if (ids[i] == 103) nmask++;
            else if (ids[i] == seq[i]) nkeep++;
            else nrand++;
        }
        CHECK(cnt == n);
        npred += n;
    }
    double fm = (double)nmask / npred, fk = (double)nkeep / npred, fr = (double)nrand / npred;
    CHECKF(fabs(fm - 0.8) < 0.02 && fabs(fk - 0.1) < 0.015 && fabs(fr - 0.1) < 0.015, "mask %.3f keep %.3f random %.3f", fm, fk, fr);
    // the same key gives the same batch
    int32_t ids2[128], mask2[128], labels2[128];
    mlm_mask_sequence(&ms, seq, 60, L, 99, ids, mask, labels);
    mlm_mask_sequence(&ms, seq, 60, L, 99, ids2, mask2, labels2);
    CHECK(!memcmp(ids, ids2, sizeof ids) && !memcmp(labels, labels2, sizeof labels));
}

TEST(mlm_batches_static_and_dynamic_masking) {
    char dir[512], err[512];
    snprintf(dir, sizeof dir, "%s/shards_e", test_tmpdir());
    CHECK(write_dir(dir) == 0);
    MaskSpec ms = {101, 102, 0, 103, 1000, 0.15, 20};
    int B = NSEQ, L = 64;  // one batch = one epoch (no shuffle): batch k of each mode is the same sequences
    MlmBatch a, b;
    mlm_batch_alloc(&a, B, L);
    mlm_batch_alloc(&b, B, L);
    for (int mode = 0; mode < 2; mode++) {
        Loader l;
        CHECK(loader_open(&l, dir, "train", 1, 0, 1, 0, err, sizeof err) == 0);
        uint64_t stat_key = mode ? 77 : 0;
        mlm_batch_next(&a, &l, &ms, rng_key(1, 0), B, stat_key);   // epoch 0, step 0
        mlm_batch_next(&b, &l, &ms, rng_key(1, 1), B, stat_key);   // epoch 1, step 1
        int same = !memcmp(a.labels, b.labels, sizeof(int32_t) * B * L) && !memcmp(a.ids, b.ids, sizeof(int32_t) * B * L);
        CHECKF(mode ? same : !same, "%s masking: the two epochs' masks are %s", mode ? "static" : "dynamic", same ? "equal" : "different");
        CHECK(a.predicted > NSEQ && a.tokens > 0);
        loader_close(&l);
    }
    // rows past `rows` are padding without labels
    Loader l;
    CHECK(loader_open(&l, dir, "train", 1, 0, 1, 0, err, sizeof err) == 0);
    mlm_batch_next(&a, &l, &ms, 5, 3, 0);
    int pad_ok = 1;
    for (long i = 3L * L; i < (long)B * L; i++) pad_ok &= a.ids[i] == 0 && a.mask[i] == 0 && a.labels[i] == -100;
    CHECK(pad_ok);
    loader_close(&l);
    mlm_batch_free(&a);
    mlm_batch_free(&b);
}
