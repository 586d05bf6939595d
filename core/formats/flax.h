// flax.h: Flax checkpoints (flax_model.msgpack): a msgpack tree of nested maps whose leaves are arrays
// (msgpack ext type 1, payload [shape, dtype name, raw bytes]; ext 3 numpy scalars alike; arrays over
// 2^30 bytes as {"__msgpack_chunked_array__": true, "shape": {...}, "chunks": {...}}), read into
// "/"-joined paths, and written back in the same layout.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/formats/dtype.h"
#include "core/formats/msgpack.h"

typedef struct {
    char *path;             // "s4_bert/encoder/layer/0/dv/kernel"
    int ndim;
    int64_t shape[8];
    int64_t numel;
    Dtype dtype;            // numpy's names in the file: float32, bfloat16, ...
    const uint8_t *data;    // numel * dtype size bytes, little-endian
    uint8_t *owned;         // reassembled chunks (freed with the file)
} FlaxLeaf;

typedef struct {
    uint8_t *bytes;
    size_t size;
    MpNode root;
    FlaxLeaf *leaves;
    int n, cap;
} FlaxFile;

int flax_open(FlaxFile *f, const char *path, char *err, size_t n);
// The same from a copy of data[0..size) (name is for messages).
int flax_open_mem(FlaxFile *f, const void *data, size_t size, const char *name, char *err, size_t n);
void flax_close(FlaxFile *f);
const FlaxLeaf *flax_find(const FlaxFile *f, const char *path);
// Converts a floating-point leaf to float32. Returns 0, or -1 for other dtypes.
int flax_leaf_f32(const FlaxLeaf *l, float *out);

typedef struct {
    const char *path;
    int ndim;
    int64_t shape[8];
    const float *data;
} FlaxWrite;
// Writes float32 leaves as nested maps (path components in the given order), atomically.
int flax_write(const char *path, const FlaxWrite *leaves, int n, char *err, size_t errn);
