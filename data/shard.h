// shard.h: token shards. A shard file holds sequences of token ids in zlib-compressed blocks:
//   header  "BIGSSHRD", then little-endian fields written one by one (never a raw struct):
//           version u32, vocab_size u32, vocab_hash u64, max_len u32, n_seqs u64, n_tokens u64,
//           n_blocks u32, index_offset u64, crc32 of the preceding header bytes u32
//   blocks  zlib streams; uncompressed: per sequence a u32 length then that many u32 ids
//   index   per block: offset u64, compressed bytes u32, uncompressed bytes u32, sequences u32,
//           crc32 of the compressed bytes u32; then the crc32 of the index u32
// A directory of shards has meta.json (counts, vocab hash, sources) and train-NNNNN.bin /
// validation-NNNNN.bin files.
#pragma once
#include <stdint.h>
#include <stdio.h>

#define SHARD_VERSION 1
#define SHARD_HEADER_BYTES 60

uint64_t vocab_hash_bytes(const char *data, size_t len);  // FNV-1a 64 of vocab.txt's bytes

// ---- writing
typedef struct {
    FILE *f;
    char *path, *tmp_path;
    uint32_t vocab_size, max_len;
    uint64_t vocab_hash, n_seqs, n_tokens, offset;
    uint32_t block_seqs;         // sequences per block
    uint8_t *buf;                // the block being filled (uncompressed)
    size_t buf_len, buf_cap;
    uint32_t buf_seqs;
    uint8_t *index;              // 24 bytes per block
    uint32_t n_blocks, index_cap;
} ShardWriter;

// Opens PATH.tmp for writing; shard_writer_close writes the index and header, fsyncs and renames.
int shard_writer_open(ShardWriter *w, const char *path, uint32_t vocab_size, uint64_t vocab_hash, uint32_t max_len,
                      uint32_t block_seqs, char *err, size_t n);
int shard_writer_add(ShardWriter *w, const int32_t *ids, uint32_t len, char *err, size_t n);
int shard_writer_close(ShardWriter *w, char *err, size_t n);

// ---- reading
typedef struct {
    uint64_t offset;
    uint32_t csize, usize, n_seqs, crc;
} ShardBlock;

typedef struct {
    char *path;
    FILE *f;
    uint32_t version, vocab_size, max_len, n_blocks;
    uint64_t vocab_hash, n_seqs, n_tokens;
    ShardBlock *blocks;
} Shard;

// Opens and validates a shard's header and index. Returns 0 or -1 with a message naming the file.
int shard_open(Shard *s, const char *path, char *err, size_t n);
// The same on an open stream (a file, or fmemopen'd bytes), which s then owns; path is for messages.
int shard_open_stream(Shard *s, FILE *f, const char *path, char *err, size_t n);
void shard_close(Shard *s);
// Reads block b: *ids gets all its tokens, *offs (n_seqs+1) the start of each sequence. Checks the
// CRC, the sizes, every length and every id (< vocab_size); an error names the shard and the block.
// Buffers are grown with realloc (pass the same pointers again to reuse them).
int shard_read_block(const Shard *s, uint32_t b, int32_t **ids, size_t *ids_cap, uint32_t **offs, size_t *offs_cap,
                     char *err, size_t n);
