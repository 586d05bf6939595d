// meta.h: a shard directory's meta.json (written last by `bigs prepare`, so a directory that has it is
// complete): the vocabulary's size and hash, its special token ids, the casing, the sequence length.
// Read in one place, here.
#pragma once
#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct {
    int vocab_size;
    uint64_t vocab_hash;
    int pad_id, unk_id, cls_id, sep_id, mask_id;
    int do_lower_case;  // 1 uncased, 0 cased, -1 not recorded (shards of an older bigs)
    int max_len;        // the --max-len of prepare (0 when not recorded)
    cJSON *json;        // the whole file
} ShardMeta;

// Reads DIR/meta.json: 0, or -1 with a message naming the file and the key at fault.
int shard_meta_read(const char *dir, ShardMeta *m, char *err, size_t n);
void shard_meta_free(ShardMeta *m);
