// shard.c: writing and reading token shards (see shard.h).
#include "data/shard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/base/common.h"

static const char k_magic[8] = {'B', 'I', 'G', 'S', 'S', 'H', 'R', 'D'};

uint64_t vocab_hash_bytes(const char *data, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)data[i]) * 1099511628211ull;
    return h;
}

// ---- little-endian field encoding
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

// header bytes: magic(8) version(4) vocab(4) hash(8) max_len(4) n_seqs(8) n_tokens(8) n_blocks(4) index(8) crc(4)
static void header_encode(uint8_t *h, uint32_t vocab, uint64_t hash, uint32_t max_len, uint64_t seqs, uint64_t toks,
                          uint32_t blocks, uint64_t index_off) {
    memcpy(h, k_magic, 8);
    put32(h + 8, SHARD_VERSION);
    put32(h + 12, vocab);
    put64(h + 16, hash);
    put32(h + 24, max_len);
    put64(h + 28, seqs);
    put64(h + 36, toks);
    put32(h + 44, blocks);
    put64(h + 48, index_off);
    put32(h + 56, (uint32_t)crc32(0L, h, 56));
}

// ----------------------------------------------------------------------------
// writer

int shard_writer_open(ShardWriter *w, const char *path, uint32_t vocab_size, uint64_t vocab_hash, uint32_t max_len,
                      uint32_t block_seqs, char *err, size_t n) {
    memset(w, 0, sizeof *w);
    w->path = xstrdup(path);
    size_t len = strlen(path) + 8;
    w->tmp_path = xmalloc(len);
    snprintf(w->tmp_path, len, "%s.tmp", path);
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) return errf(err, n, "%s: cannot create: %s", w->tmp_path, strerror(errno));
    w->vocab_size = vocab_size;
    w->vocab_hash = vocab_hash;
    w->max_len = max_len;
    w->block_seqs = block_seqs ? block_seqs : 1024;
    uint8_t zero[SHARD_HEADER_BYTES] = {0};  // the header is rewritten at close
    if (fwrite(zero, 1, sizeof zero, w->f) != sizeof zero) return errf(err, n, "%s: write failed: %s", w->tmp_path, strerror(errno));
    w->offset = SHARD_HEADER_BYTES;
    return 0;
}

static int flush_block(ShardWriter *w, char *err, size_t n) {
    if (w->buf_seqs == 0) return 0;
    uLongf clen = compressBound((uLong)w->buf_len);
    uint8_t *cbuf = xmalloc(clen);
    if (compress2(cbuf, &clen, w->buf, (uLong)w->buf_len, 6) != Z_OK) { free(cbuf); return errf(err, n, "%s: zlib compression failed", w->path); }
    if (fwrite(cbuf, 1, clen, w->f) != clen) { free(cbuf); return errf(err, n, "%s: write failed: %s", w->tmp_path, strerror(errno)); }
    if (w->n_blocks == w->index_cap) {
        w->index_cap = w->index_cap ? 2 * w->index_cap : 64;
        w->index = xrealloc(w->index, 24 * (size_t)w->index_cap);
    }
    uint8_t *e = w->index + 24 * (size_t)w->n_blocks++;
    put64(e, w->offset);
    put32(e + 8, (uint32_t)clen);
    put32(e + 12, (uint32_t)w->buf_len);
    put32(e + 16, w->buf_seqs);
    put32(e + 20, (uint32_t)crc32(0L, cbuf, (uInt)clen));
    w->offset += clen;
    free(cbuf);
    w->buf_len = 0;
    w->buf_seqs = 0;
    return 0;
}

int shard_writer_add(ShardWriter *w, const int32_t *ids, uint32_t len, char *err, size_t n) {
    if (len > w->max_len) return errf(err, n, "%s: a sequence of %u tokens exceeds max_len %u", w->path, len, w->max_len);
    size_t need = w->buf_len + 4 + 4 * (size_t)len;
    if (need > w->buf_cap) {
        w->buf_cap = need * 2;
        w->buf = xrealloc(w->buf, w->buf_cap);
    }
    put32(w->buf + w->buf_len, len);
    for (uint32_t i = 0; i < len; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->vocab_size) return errf(err, n, "%s: token id %d is outside the vocabulary (%u)", w->path, ids[i], w->vocab_size);
        put32(w->buf + w->buf_len + 4 + 4 * (size_t)i, (uint32_t)ids[i]);
    }
    w->buf_len = need;
    w->buf_seqs++;
    w->n_seqs++;
    w->n_tokens += len;
    if (w->buf_seqs >= w->block_seqs) return flush_block(w, err, n);
    return 0;
}

int shard_writer_close(ShardWriter *w, char *err, size_t n) {
    int rc = flush_block(w, err, n);
    if (!rc) {
        uint64_t index_off = w->offset;
        size_t ilen = 24 * (size_t)w->n_blocks;
        uint8_t crcb[4];
        put32(crcb, (uint32_t)crc32(0L, w->index, (uInt)ilen));
        uint8_t h[SHARD_HEADER_BYTES];
        header_encode(h, w->vocab_size, w->vocab_hash, w->max_len, w->n_seqs, w->n_tokens, w->n_blocks, index_off);
        if ((ilen && fwrite(w->index, 1, ilen, w->f) != ilen) || fwrite(crcb, 1, 4, w->f) != 4 || fseek(w->f, 0, SEEK_SET) != 0 ||
            fwrite(h, 1, sizeof h, w->f) != sizeof h || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
            rc = errf(err, n, "%s: write failed: %s", w->tmp_path, strerror(errno));
    }
    if (w->f && fclose(w->f) != 0 && !rc) rc = errf(err, n, "%s: close failed: %s", w->tmp_path, strerror(errno));
    w->f = NULL;
    if (!rc && rename(w->tmp_path, w->path) != 0) rc = errf(err, n, "cannot rename %s: %s", w->tmp_path, strerror(errno));
    if (!rc) fsync_dir_of(w->path);
    if (rc) unlink(w->tmp_path);
    free(w->buf);
    free(w->index);
    free(w->path);
    free(w->tmp_path);
    memset(w, 0, sizeof *w);
    return rc;
}

// ----------------------------------------------------------------------------
// reader

int shard_open(Shard *s, const char *path, char *err, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) { memset(s, 0, sizeof *s); return errf(err, n, "%s: cannot open: %s", path, strerror(errno)); }
    return shard_open_stream(s, f, path, err, n);
}

int shard_open_stream(Shard *s, FILE *f, const char *path, char *err, size_t n) {
    memset(s, 0, sizeof *s);
    s->f = f;
    s->path = xstrdup(path);
    uint8_t h[SHARD_HEADER_BYTES];
    int rc = 0;
    if (fread(h, 1, sizeof h, s->f) != sizeof h) { rc = errf(err, n, "%s: too short for a shard header (truncated?)", path); goto out; }
    if (memcmp(h, k_magic, 8) != 0) { rc = errf(err, n, "%s: not a bigs shard (bad magic)", path); goto out; }
    if (get32(h + 56) != (uint32_t)crc32(0L, h, 56)) { rc = errf(err, n, "%s: the header is corrupted (CRC mismatch)", path); goto out; }
    s->version = get32(h + 8);
    if (s->version != SHARD_VERSION) { rc = errf(err, n, "%s: shard format version %u, this bigs reads version %d (re-run bigs prepare)", path, s->version, SHARD_VERSION); goto out; }
    s->vocab_size = get32(h + 12);
    // ids are handed out as int32: a larger vocabulary would turn valid ids negative
    if (s->vocab_size == 0 || s->vocab_size > INT32_MAX) { rc = errf(err, n, "%s: vocab_size %u in the header is not 1..%d (corrupted header)", path, s->vocab_size, INT32_MAX); goto out; }
    s->vocab_hash = get64(h + 16);
    s->max_len = get32(h + 24);
    s->n_seqs = get64(h + 28);
    s->n_tokens = get64(h + 36);
    s->n_blocks = get32(h + 44);
    uint64_t index_off = get64(h + 48);
    if (fseek(s->f, 0, SEEK_END) != 0) { rc = errf(err, n, "%s: cannot seek", path); goto out; }
    uint64_t size = (uint64_t)ftell(s->f);
    uint64_t ilen = 24ull * s->n_blocks;
    // index_off comes from the file: compared by subtraction so that a huge value cannot wrap around
    if (index_off < SHARD_HEADER_BYTES || index_off > size || size - index_off < 4 || size - index_off - 4 != ilen) { rc = errf(err, n, "%s: the index does not fit the file (truncated?)", path); goto out; }
    uint8_t *idx = xmalloc(ilen + 4);
    if (fseek(s->f, (long)index_off, SEEK_SET) != 0 || fread(idx, 1, ilen + 4, s->f) != ilen + 4) { free(idx); rc = errf(err, n, "%s: cannot read the index", path); goto out; }
    if (get32(idx + ilen) != (uint32_t)crc32(0L, idx, (uInt)ilen)) { free(idx); rc = errf(err, n, "%s: the index is corrupted (CRC mismatch)", path); goto out; }
    s->blocks = xcalloc((size_t)s->n_blocks + 1, sizeof(ShardBlock));
    uint64_t pos = SHARD_HEADER_BYTES, seqs = 0;
    for (uint32_t b = 0; b < s->n_blocks; b++) {
        const uint8_t *e = idx + 24 * (size_t)b;
        ShardBlock *k = &s->blocks[b];
        k->offset = get64(e);
        k->csize = get32(e + 8);
        k->usize = get32(e + 12);
        k->n_seqs = get32(e + 16);
        k->crc = get32(e + 20);
        if (k->offset != pos || k->offset + k->csize > index_off) { rc = errf(err, n, "%s: block %u lies outside the data area (corrupted index)", path, b); break; }
        // zlib expands at most about 1032:1 and every sequence takes at least its 4-byte length: checked
        // here, so that reading a block never allocates for sizes the data cannot have
        if (k->usize > 1032ull * k->csize + 64 || 4ull * k->n_seqs > k->usize) {
            rc = errf(err, n, "%s: block %u records %u bytes and %u sequences for %u compressed bytes (corrupted index)", path, b,
                      k->usize, k->n_seqs, k->csize);
            break;
        }
        pos += k->csize;
        seqs += k->n_seqs;
    }
    free(idx);
    if (!rc && (pos != index_off || seqs != s->n_seqs)) rc = errf(err, n, "%s: the index does not add up to the header's counts", path);
out:
    if (rc) shard_close(s);
    return rc;
}

void shard_close(Shard *s) {
    if (s->f) fclose(s->f);
    free(s->path);
    free(s->blocks);
    memset(s, 0, sizeof *s);
}

int shard_read_block(const Shard *s, uint32_t b, int32_t **ids, size_t *ids_cap, uint32_t **offs, size_t *offs_cap,
                     char *err, size_t n) {
    if (b >= s->n_blocks) return errf(err, n, "%s: no block %u (it has %u)", s->path, b, s->n_blocks);
    const ShardBlock *k = &s->blocks[b];
    uint8_t *c = xmalloc(k->csize ? k->csize : 1), *u = xmalloc(k->usize ? k->usize : 1);
    int rc = 0;
    if (fseek(s->f, (long)k->offset, SEEK_SET) != 0 || fread(c, 1, k->csize, s->f) != k->csize) { rc = errf(err, n, "%s: block %u: read failed (truncated?)", s->path, b); goto out; }
    if ((uint32_t)crc32(0L, c, k->csize) != k->crc) { rc = errf(err, n, "%s: block %u is corrupted (CRC mismatch)", s->path, b); goto out; }
    uLongf ulen = k->usize;
    if (uncompress(u, &ulen, c, k->csize) != Z_OK || ulen != k->usize) { rc = errf(err, n, "%s: block %u does not decompress to its recorded size", s->path, b); goto out; }
    if (*offs_cap < (size_t)k->n_seqs + 1) { *offs_cap = (size_t)k->n_seqs + 1; *offs = xrealloc(*offs, sizeof(uint32_t) * *offs_cap); }
    size_t ntok = (k->usize - 4ull * k->n_seqs) / 4;
    if (*ids_cap < ntok + 1) { *ids_cap = ntok + 1; *ids = xrealloc(*ids, sizeof(int32_t) * *ids_cap); }
    size_t pos = 0, t = 0;
    for (uint32_t i = 0; i < k->n_seqs; i++) {
        if (pos + 4 > k->usize) { rc = errf(err, n, "%s: block %u: sequence %u runs past the block", s->path, b, i); goto out; }
        uint32_t len = get32(u + pos);
        pos += 4;
        // this sequence and the length fields of the ones after it must fit: ids holds only ntok tokens
        if (len > s->max_len || pos + 4ull * len + 4ull * (k->n_seqs - 1 - i) > k->usize) {
            rc = errf(err, n, "%s: block %u: sequence %u has an impossible length %u", s->path, b, i, len);
            goto out;
        }
        (*offs)[i] = (uint32_t)t;
        for (uint32_t j = 0; j < len; j++) {
            uint32_t id = get32(u + pos + 4 * (size_t)j);
            if (id >= s->vocab_size) { rc = errf(err, n, "%s: block %u: token id %u is outside the vocabulary (%u)", s->path, b, id, s->vocab_size); goto out; }
            (*ids)[t++] = (int32_t)id;
        }
        pos += 4ull * len;
    }
    (*offs)[k->n_seqs] = (uint32_t)t;
    if (pos != k->usize) rc = errf(err, n, "%s: block %u has %zu trailing bytes", s->path, b, (size_t)(k->usize - pos));
out:
    free(c);
    free(u);
    return rc;
}
