// safetensors.h: reading (validated, memory-mapped) and writing (atomic) of safetensors files.
// Layout: u64 little-endian header length N, N bytes of JSON header, then the data buffer.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/formats/dtype.h"


#define ST_MAX_DIMS 8
typedef struct {
    char *name;
    Dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    size_t begin, end;  // byte offsets in the data buffer
} StTensor;

typedef struct {
    char *path;
    const uint8_t *map;  // the whole file, memory-mapped read-only (or the caller's buffer)
    size_t size;
    int mapped;          // map is ours to munmap
    const uint8_t *data; // start of the data buffer
    int n;
    StTensor *t;         // sorted by data offset
    int nmeta;
    char **meta_keys, **meta_vals;
} StFile;

// Opens and validates a file. On failure returns -1 with a message naming the file and the rule broken.
int st_open(StFile *f, const char *path, char *err, size_t errlen);
// The same checks on a file already in memory (name is for messages); data must outlive f.
int st_open_mem(StFile *f, const void *data, size_t size, const char *name, char *err, size_t errlen);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);
const char *st_meta(const StFile *f, const char *key);  // NULL when absent
// Converts a floating-point tensor (F32, F64, F16, BF16) to float32 into out (numel floats).
// Returns -1 for other dtypes.
int st_to_f32(const StFile *f, const StTensor *t, float *out);
// Converts an integer tensor (I64, I32, U8, I8, BOOL, ...) to int64 into out.
int st_to_i64(const StFile *f, const StTensor *t, int64_t *out);

typedef struct {
    const char *name;
    Dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;   // numel * dtype size bytes, little-endian
} StWrite;

// Writes tensors (in the given order) and string metadata pairs atomically (temporary name, fsync,
// rename). Returns 0, or -1 with errno set and a message in err.
int st_write(const char *path, const StWrite *ts, int n, const char *const *meta_kv, int nmeta, char *err,
             size_t errlen);
