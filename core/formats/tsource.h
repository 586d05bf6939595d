// tsource.h: one reader for every tensor file bigs takes (safetensors, PyTorch's pytorch_model.bin zip,
// Flax msgpack), recognised by its content, with the tensors under the file's own names (Flax: the
// "/"-joined path) and read as float32; and one writer per format. The model layer maps the names
// (core/model/names.h), so loading and converting need no intermediate files.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/formats/dtype.h"
#include "core/formats/flax.h"
#include "core/formats/safetensors.h"
#include "core/formats/torchzip.h"

typedef enum { TS_SAFETENSORS, TS_TORCH, TS_FLAX, TS_KINDS } TsKind;

typedef struct {
    const char *name;   // the file's name for it
    Dtype dtype;
    int ndim;
    int64_t shape[8];
    int64_t numel;
} TsTensor;

typedef struct {
    TsKind kind;
    char *path;
    int n;
    TsTensor *t;
    StFile st;     // the open file of its kind
    TorchFile tz;
    FlaxFile fx;
} TensorSource;

// Opens path as whichever format its bytes are: a zip archive is a PyTorch checkpoint, an 8-byte
// header length followed by '{' safetensors, a msgpack map (or a file named *.msgpack) Flax. A Flax
// train state's top-level "params" is stepped into. Returns 0, or -1 with a message naming the file.
int ts_open(TensorSource *s, const char *path, char *err, size_t n);
void ts_close(TensorSource *s);
int ts_find(const TensorSource *s, const char *name);   // index, or -1
int ts_read_f32(const TensorSource *s, int i, float *out);  // 0, or -1 when not a floating-point tensor

// Writing: float32 tensors under the format's names.
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[8];
    const float *data;
} TsWrite;

typedef struct {
    const char *name;        // "safetensors", "torch", "flax"
    const char *file_name;   // its file in a model directory: model.safetensors, pytorch_model.bin, flax_model.msgpack
    const char *extension;   // ".safetensors", ".bin", ".msgpack"
    // Writes the tensors atomically (temporary name, fsync, rename): 0, or -1 with err.
    int (*write)(const char *path, const TsWrite *t, int n, char *err, size_t errn);
} TensorFormat;

extern const TensorFormat g_tensor_formats[TS_KINDS];
const TensorFormat *tensor_format(const char *name);  // NULL when unknown
