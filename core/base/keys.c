// keys.c: table-driven key/value structs (see keys.h).
#include "core/base/keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const KeyDef *keys_find(const KeyTable *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->keys[i].name, name)) return &t->keys[i];
    return NULL;
}

static void enum_list(const KeyDef *k, char *out, size_t n) {
    out[0] = 0;
    for (int i = 0; k->values[i]; i++) snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? "|" : "", k->values[i]);
}

// What a key expects, for messages: "an integer", "one of ssm|attention", ...
static void expect_text(const KeyDef *k, char *out, size_t n) {
    switch (k->type) {
    case K_INT: snprintf(out, n, "an integer"); break;
    case K_FLOAT: snprintf(out, n, k->nullable ? "a number or null" : "a number"); break;
    case K_BOOL: snprintf(out, n, "true or false"); break;
    case K_ENUM: { char l[200]; enum_list(k, l, sizeof l); snprintf(out, n, "one of %s", l); break; }
    case K_STR: snprintf(out, n, "a string of at most %d characters", KEY_STR_LEN - 1); break;
    }
}

static int mismatch(const KeyTable *t, const KeyDef *k, const char *got, char *err, size_t n) {
    char expect[256];
    expect_text(k, expect, sizeof expect);
    snprintf(err, n, "%s key \"%s\" expects %s, got %s", t->what, k->name, expect, got);
    return -1;
}

int keys_set(const KeyTable *t, void *obj, const char *key, const char *value, char *err, size_t n) {
    const KeyDef *k = keys_find(t, key);
    if (!k) {
        snprintf(err, n, "unknown %s key \"%s\"", t->what, key);
        return -1;
    }
    char *p = (char *)obj + k->off, *end;
    switch (k->type) {
    case K_INT: {
        long x = strtol(value, &end, 10);
        if (!*value || *end || x < -2000000000L || x > 2000000000L) break;
        *(int *)p = (int)x;
        return 0;
    }
    case K_FLOAT: {
        if (k->nullable && !strcmp(value, "null")) { *(double *)p = -1; return 0; }
        double x = strtod(value, &end);
        if (!*value || *end || !isfinite(x)) break;
        *(double *)p = x;
        return 0;
    }
    case K_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1")) { *(int *)p = 1; return 0; }
        if (!strcmp(value, "false") || !strcmp(value, "0")) { *(int *)p = 0; return 0; }
        break;
    case K_ENUM:
        for (int i = 0; k->values[i]; i++)
            if (!strcmp(k->values[i], value)) { *(int *)p = i; return 0; }
        break;
    case K_STR:
        if (strlen(value) >= KEY_STR_LEN) break;
        snprintf(p, KEY_STR_LEN, "%s", value);
        return 0;
    }
    char got[128];
    snprintf(got, sizeof got, "\"%.100s\"", value);
    return mismatch(t, k, got, err, n);
}

int keys_store_json(const KeyTable *t, void *obj, const KeyDef *k, const cJSON *v, const char *where, char *err,
                    size_t n) {
    char text[64];
    int rc;
    if (cJSON_IsString(v) && (k->type == K_ENUM || k->type == K_STR)) rc = keys_set(t, obj, k->name, v->valuestring, err, n);
    else if (cJSON_IsNumber(v) && k->type == K_FLOAT) {
        snprintf(text, sizeof text, "%.17g", v->valuedouble);
        rc = keys_set(t, obj, k->name, text, err, n);
    } else if (cJSON_IsNumber(v) && k->type == K_INT && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) <= 2e9) {
        snprintf(text, sizeof text, "%.0f", v->valuedouble);
        rc = keys_set(t, obj, k->name, text, err, n);
    } else if (cJSON_IsBool(v) && k->type == K_BOOL) rc = keys_set(t, obj, k->name, cJSON_IsTrue(v) ? "true" : "false", err, n);
    else if (cJSON_IsNull(v) && k->type == K_FLOAT && k->nullable) rc = keys_set(t, obj, k->name, "null", err, n);
    else {
        char *s = cJSON_PrintUnformatted(v);
        snprintf(text, sizeof text, "%.60s", s ? s : "?");
        free(s);
        rc = mismatch(t, k, text, err, n);
    }
    if (rc) {
        size_t len = strlen(err);
        snprintf(err + len, n - len, " (in %s)", where);
    }
    return rc;
}

int keys_from_json(const KeyTable *t, void *obj, const cJSON *json, const char *where, keys_other_fn other,
                   char *err, size_t n) {
    if (!cJSON_IsObject(json)) {
        snprintf(err, n, "%s: expected a JSON object of %s keys", where, t->what);
        return -1;
    }
    for (const cJSON *v = json->child; v; v = v->next) {
        const KeyDef *k = keys_find(t, v->string);
        if (k) {
            if (keys_store_json(t, obj, k, v, where, err, n)) return -1;
            continue;
        }
        int took = other ? other(obj, v, where, err, n) : 0;
        if (took < 0) return -1;
        if (took) continue;
        int ignored = 0;
        for (int i = 0; t->ignored && t->ignored[i]; i++) ignored |= !strcmp(t->ignored[i], v->string);
        if (!ignored) {
            snprintf(err, n, "%s: unknown %s key \"%s\" (docs/config.md lists the keys)", where, t->what, v->string);
            return -1;
        }
    }
    return 0;
}

void keys_to_json(const KeyTable *t, const void *obj, cJSON *o) {
    for (int i = 0; i < t->n; i++) {
        const KeyDef *k = &t->keys[i];
        const char *p = (const char *)obj + k->off;
        switch (k->type) {
        case K_INT: cJSON_AddNumberToObject(o, k->name, *(const int *)p); break;
        case K_FLOAT:
            if (k->nullable && *(const double *)p < 0) cJSON_AddNullToObject(o, k->name);
            else cJSON_AddNumberToObject(o, k->name, *(const double *)p);
            break;
        case K_BOOL: cJSON_AddBoolToObject(o, k->name, *(const int *)p); break;
        case K_ENUM: cJSON_AddStringToObject(o, k->name, k->values[*(const int *)p]); break;
        case K_STR: if (*p) cJSON_AddStringToObject(o, k->name, p); break;
        }
    }
}
