// meta.c: reading meta.json (see meta.h).
#include "data/meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"

int shard_meta_read(const char *dir, ShardMeta *m, char *err, size_t n) {
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) return errf(err, n, "%s: cannot read: %s (is %s a directory made by bigs prepare?)", path, e, dir);
    m->json = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(m->json)) {
        shard_meta_free(m);
        return errf(err, n, "%s: not a JSON object (a damaged meta.json? run bigs prepare again)", path);
    }
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(m->json, "special_ids");
    const char *names[5] = {"pad", "unk", "cls", "sep", "mask"};
    int *dst[5] = {&m->pad_id, &m->unk_id, &m->cls_id, &m->sep_id, &m->mask_id};
    for (int i = 0; i < 5; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(sp, names[i]);
        if (!cJSON_IsNumber(v)) { shard_meta_free(m); return errf(err, n, "%s: special_ids.%s is missing", path, names[i]); }
        *dst[i] = v->valueint;
    }
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(m->json, "vocab_size"), *vh = cJSON_GetObjectItemCaseSensitive(m->json, "vocab_hash");
    if (!cJSON_IsNumber(vs) || !cJSON_IsString(vh)) { shard_meta_free(m); return errf(err, n, "%s: vocab_size or vocab_hash is missing", path); }
    m->vocab_size = vs->valueint;
    m->vocab_hash = strtoull(vh->valuestring, NULL, 16);
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(m->json, "do_lower_case"), *ml = cJSON_GetObjectItemCaseSensitive(m->json, "max_len");
    m->do_lower_case = cJSON_IsBool(lc) ? cJSON_IsTrue(lc) : -1;
    m->max_len = cJSON_IsNumber(ml) ? ml->valueint : 0;
    return 0;
}

void shard_meta_free(ShardMeta *m) {
    cJSON_Delete(m->json);
    memset(m, 0, sizeof *m);
}
