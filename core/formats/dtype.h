// dtype.h: the one vocabulary of element types for every tensor file format (safetensors, PyTorch zip,
// Flax msgpack), with their names in each format and conversions to float32 and int64. The model itself
// is float32; 16-bit and 64-bit checkpoints are widened or narrowed as they are read.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DT_BOOL, DT_U8, DT_I8, DT_I16, DT_U16, DT_F16, DT_BF16, DT_I32, DT_U32, DT_F32, DT_I64, DT_U64, DT_F64,
    DT_COUNT
} Dtype;

size_t dtype_size(Dtype d);           // bytes per element
const char *dtype_name(Dtype d);      // safetensors' name: "F32", "BF16", ...
const char *dtype_numpy(Dtype d);     // numpy's (Flax): "float32", "bfloat16", ...
int dtype_from_name(const char *s);   // from either spelling; -1 when unknown
int dtype_is_float(Dtype d);

// n elements of type d at src (little-endian bytes, any alignment) to float32 / int64. Return 0, or -1
// when d is not a floating-point (resp. integer) type.
int dtype_to_f32(Dtype d, const void *src, int64_t n, float *out);
int dtype_to_i64(Dtype d, const void *src, int64_t n, int64_t *out);

// IEEE half and bfloat16 to float32 (exact widening).
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t h);
