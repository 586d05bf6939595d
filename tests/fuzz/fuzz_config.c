// fuzz_config.c: config JSON, as `bigs pretrain --config` and config.json loading read it: a training
// config {"model": {...}, "train": {...}} or a bare model config. Invariant: a model config that
// validates is written by config_to_json and read back to the same JSON (what save then load does).
#include <string.h>

#include <cjson/cJSON.h>

#include "core/model/config.h"
#include "tests/fuzz/fuzz.h"
#include "train/train_config.h"

// config_to_json(c) read back into fresh defaults must print the same.
static void check_roundtrip(const ModelConfig *c) {
    char err[1024];
    cJSON *j = config_to_json(c, "BigsForMaskedLM");
    char *text = cJSON_PrintUnformatted(j);
    ModelConfig back;
    config_defaults(&back);
    FUZZ_CHECK(config_from_json(&back, j, "roundtrip", err, sizeof err) == 0, "%s (json %s)", err, text);
    FUZZ_CHECK(config_validate(&back, err, sizeof err) == 0, "%s (json %s)", err, text);
    cJSON *j2 = config_to_json(&back, "BigsForMaskedLM");
    char *text2 = cJSON_PrintUnformatted(j2);
    FUZZ_CHECK(!strcmp(text, text2), "saved %s, reloaded %s", text, text2);
    free(text);
    free(text2);
    cJSON_Delete(j);
    cJSON_Delete(j2);
}

static void check_train_roundtrip(const TrainConfig *t) {
    char err[1024];
    cJSON *j = train_config_to_json(t);
    TrainConfig back;
    train_config_defaults(&back);
    FUZZ_CHECK(train_config_from_json(&back, j, "roundtrip", err, sizeof err) == 0, "%s", err);
    cJSON *j2 = train_config_to_json(&back);
    char *a = cJSON_PrintUnformatted(j), *b = cJSON_PrintUnformatted(j2);
    FUZZ_CHECK(!strcmp(a, b), "saved %s, reloaded %s", a, b);
    free(a);
    free(b);
    cJSON_Delete(j);
    cJSON_Delete(j2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (!root) return 0;
    char err[1024];
    ModelConfig mc;
    TrainConfig tc;
    config_defaults(&mc);
    train_config_defaults(&tc);
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model"), *jt = cJSON_GetObjectItemCaseSensitive(root, "train");
    int ok;
    if (cJSON_IsObject(jm) || jt) {  // a training config file
        ok = jm && config_from_json(&mc, jm, "fuzz: model", err, sizeof err) == 0;
        if (jt && train_config_from_json(&tc, jt, "fuzz: train", err, sizeof err) == 0 &&
            train_config_validate(&tc, err, sizeof err) == 0)
            check_train_roundtrip(&tc);
    } else {
        ok = config_from_json(&mc, root, "fuzz", err, sizeof err) == 0;
    }
    if (ok && config_validate(&mc, err, sizeof err) == 0) check_roundtrip(&mc);
    // --set overrides take text: feed the first string member's name and value through config_set
    for (const cJSON *v = cJSON_IsObject(root) ? root->child : NULL; v; v = v->next)
        if (cJSON_IsString(v)) {
            ModelConfig c2;
            config_defaults(&c2);
            if (config_set(&c2, v->string, v->valuestring, err, sizeof err) == 0 && config_validate(&c2, err, sizeof err) == 0)
                check_roundtrip(&c2);
            break;
        }
    cJSON_Delete(root);
    return 0;
}
