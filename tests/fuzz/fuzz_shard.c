// fuzz_shard.c: token shards (data/shard.c) as the loader reads them: header, index, then every block.
// The harness first rewrites the three kinds of CRC (header, index, each block) to match, since
// random mutations would otherwise stop at the first CRC check and never reach the index and block
// decoding; the CRC checks themselves are covered by the normal suite. Mutated zlib streams rarely
// decompress, so an input starting with byte 0 is instead the uncompressed content of one block,
// after three u32 (sequences, vocab_size, max_len): the harness compresses it into a shard.
#include <string.h>
#include <zlib.h>

#include "data/shard.h"
#include "tests/fuzz/fuzz.h"

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static void fix_crcs(uint8_t *b, size_t size) {
    if (size < SHARD_HEADER_BYTES) return;
    put32(b + 56, (uint32_t)crc32(0L, b, 56));
    uint64_t nblocks = get32(b + 44), index = get64(b + 48);
    if (index > size || nblocks > (size - index) / 24 || index + 24 * nblocks + 4 != size) return;
    for (uint64_t k = 0; k < nblocks; k++) {
        uint8_t *e = b + index + 24 * k;
        uint64_t off = get64(e), csize = get32(e + 8);
        if (off <= size && csize <= size - off) put32(e + 20, (uint32_t)crc32(0L, b + off, (uInt)csize));
    }
    put32(b + index + 24 * nblocks, (uint32_t)crc32(0L, b + index, (uInt)(24 * nblocks)));
}

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

// A one-block shard around raw block content (the layout of data/shard.h); returns its size.
static size_t make_shard(const uint8_t *data, size_t size, uint8_t **out) {
    const uint8_t *raw = data + 13;
    size_t rawn = size - 13;
    uLongf clen = compressBound((uLong)rawn);
    uint8_t *b = malloc(SHARD_HEADER_BYTES + clen + 28);
    compress2(b + SHARD_HEADER_BYTES, &clen, raw, (uLong)rawn, 1);
    uint64_t index = SHARD_HEADER_BYTES + clen;
    memcpy(b, "BIGSSHRD", 8);
    put32(b + 8, SHARD_VERSION);
    put32(b + 12, get32(data + 5));  // vocab_size
    put64(b + 16, 0);
    put32(b + 24, get32(data + 9));  // max_len
    put64(b + 28, get32(data + 1));  // sequences
    put64(b + 36, 0);
    put32(b + 44, 1);
    put64(b + 48, index);
    put64(b + index, SHARD_HEADER_BYTES);
    put32(b + index + 8, (uint32_t)clen);
    put32(b + index + 12, (uint32_t)rawn);
    put32(b + index + 16, get32(data + 1));
    *out = b;
    return index + 28;  // CRCs are filled by fix_crcs
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;  // fmemopen needs at least one byte
    uint8_t *b;
    if (data[0] == 0 && size >= 13) {
        size = make_shard(data, size, &b);
    } else {
        b = malloc(size);
        memcpy(b, data, size);
    }
    fix_crcs(b, size);
    FILE *f = fmemopen(b, size, "rb");
    Shard s;
    char err[1024];
    if (shard_open_stream(&s, f, "fuzz.bin", err, sizeof err) == 0) {
        int32_t *ids = NULL;
        uint32_t *offs = NULL;
        size_t ids_cap = 0, offs_cap = 0;
        for (uint32_t k = 0; k < s.n_blocks; k++) {
            if (shard_read_block(&s, k, &ids, &ids_cap, &offs, &offs_cap, err, sizeof err)) continue;
            uint32_t nseq = s.blocks[k].n_seqs;
            FUZZ_CHECK(offs[0] == 0, "block %u starts at %u", k, offs[0]);
            for (uint32_t q = 0; q < nseq; q++) {
                FUZZ_CHECK(offs[q + 1] >= offs[q] && offs[q + 1] - offs[q] <= s.max_len, "block %u sequence %u", k, q);
                for (uint32_t t = offs[q]; t < offs[q + 1]; t++)
                    FUZZ_CHECK(ids[t] >= 0 && (uint32_t)ids[t] < s.vocab_size, "block %u id %d", k, ids[t]);
            }
        }
        free(ids);
        free(offs);
        shard_close(&s);
    }
    free(b);
    return 0;
}
