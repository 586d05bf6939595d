// keys.h: table-driven key/value structs (model and training configs). One table of KeyDef gives each
// key's name, type and field offset; loading from JSON (unknown keys are errors naming the key),
// setting from text (--set key=value), and writing JSON all walk it.
#pragma once
#include <cjson/cJSON.h>
#include <stddef.h>

typedef enum { K_INT, K_FLOAT, K_BOOL, K_ENUM, K_STR } KeyType;

#define KEY_STR_LEN 32  // K_STR fields are char[KEY_STR_LEN]

typedef struct {
    const char *name;
    KeyType type;
    size_t off;                 // offset of the field: int (INT, BOOL, ENUM), double (FLOAT), char[] (STR)
    const char *const *values;  // K_ENUM: accepted names, index = stored value, NULL-terminated
    int nullable;               // K_FLOAT: null allowed, stored as -1
} KeyDef;

typedef struct {
    const KeyDef *keys;
    int n;
    const char *what;             // "model config", "training config"
    const char *const *ignored;   // keys accepted and ignored (NULL-terminated), or NULL
} KeyTable;

const KeyDef *keys_find(const KeyTable *t, const char *name);
// Sets one key from text. Returns 0, or -1 with a message naming the key and what was expected.
int keys_set(const KeyTable *t, void *obj, const char *key, const char *value, char *err, size_t n);
// Stores one JSON value into key k's field. where names the source for messages.
int keys_store_json(const KeyTable *t, void *obj, const KeyDef *k, const cJSON *v, const char *where, char *err,
                    size_t n);
// Every member of a JSON object; members not in the table are handed to `other` (which returns 1 when
// it took the member, 0 when unknown, -1 on error with err set) and are otherwise errors.
typedef int (*keys_other_fn)(void *obj, const cJSON *member, const char *where, char *err, size_t n);
int keys_from_json(const KeyTable *t, void *obj, const cJSON *json, const char *where, keys_other_fn other,
                   char *err, size_t n);
void keys_to_json(const KeyTable *t, const void *obj, cJSON *out);
