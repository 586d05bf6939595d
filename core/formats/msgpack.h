// msgpack.h: a bounds-checked msgpack decoder (to a tree) and a small encoder, for Flax checkpoints.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum { MP_NIL, MP_BOOL, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY, MP_MAP, MP_EXT } MpType;

typedef struct MpNode {
    MpType type;
    int64_t i;               // MP_INT, MP_BOOL
    double f;                // MP_FLOAT
    const uint8_t *ptr;      // MP_STR, MP_BIN, MP_EXT: bytes inside the parsed buffer (not copied)
    size_t len;
    int8_t ext;              // MP_EXT type code
    struct MpNode *items;    // MP_ARRAY: n items; MP_MAP: 2n items, key then value
    size_t n;
} MpNode;

// Parses one value covering all of buf. Returns 0, or -1 with a message (err) naming the byte offset.
int mp_parse(const uint8_t *buf, size_t len, MpNode *root, char *err, size_t n);
void mp_free(MpNode *node);
int mp_str_eq(const MpNode *node, const char *s);        // a string equal to s?
const MpNode *mp_map_get(const MpNode *map, const char *key);

// Encoder: appends to a growing buffer.
typedef struct { uint8_t *buf; size_t len, cap; } MpWriter;
void mp_w_map(MpWriter *w, uint32_t n);
void mp_w_array(MpWriter *w, uint32_t n);
void mp_w_str(MpWriter *w, const char *s);
void mp_w_int(MpWriter *w, int64_t v);
void mp_w_bin(MpWriter *w, const void *p, size_t n);
void mp_w_ext(MpWriter *w, int8_t type, const void *p, size_t n);
