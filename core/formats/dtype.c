// dtype.c: element types and conversions (see dtype.h).
#include "core/formats/dtype.h"

#include <string.h>

static const struct { const char *name, *numpy; size_t size; int is_float; } k_dtypes[DT_COUNT] = {
    [DT_BOOL] = {"BOOL", "bool", 1, 0},     [DT_U8] = {"U8", "uint8", 1, 0},       [DT_I8] = {"I8", "int8", 1, 0},
    [DT_I16] = {"I16", "int16", 2, 0},      [DT_U16] = {"U16", "uint16", 2, 0},    [DT_F16] = {"F16", "float16", 2, 1},
    [DT_BF16] = {"BF16", "bfloat16", 2, 1}, [DT_I32] = {"I32", "int32", 4, 0},     [DT_U32] = {"U32", "uint32", 4, 0},
    [DT_F32] = {"F32", "float32", 4, 1},    [DT_I64] = {"I64", "int64", 8, 0},     [DT_U64] = {"U64", "uint64", 8, 0},
    [DT_F64] = {"F64", "float64", 8, 1},
};

size_t dtype_size(Dtype d) { return k_dtypes[d].size; }
const char *dtype_name(Dtype d) { return k_dtypes[d].name; }
const char *dtype_numpy(Dtype d) { return k_dtypes[d].numpy; }
int dtype_is_float(Dtype d) { return k_dtypes[d].is_float; }

int dtype_from_name(const char *s) {
    for (int d = 0; d < DT_COUNT; d++)
        if (!strcmp(s, k_dtypes[d].name) || !strcmp(s, k_dtypes[d].numpy)) return d;
    return -1;
}

float f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
    if (e == 0) {
        if (m == 0) bits = s;
        else {  // subnormal: renormalise
            e = 127 - 15 + 1;
            while (!(m & 1024)) { m <<= 1; e--; }
            bits = s | (e << 23) | ((m & 1023) << 13);
        }
    } else if (e == 31) bits = s | 0x7f800000u | (m << 13);
    else bits = s | ((e + 127 - 15) << 23) | (m << 13);
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

float bf16_to_f32(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float x;
    memcpy(&x, &b, 4);
    return x;
}

int dtype_to_f32(Dtype d, const void *src, int64_t n, float *out) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        switch (d) {
        case DT_F32: memcpy(&out[i], p + 4 * i, 4); break;
        case DT_F64: { double x; memcpy(&x, p + 8 * i, 8); out[i] = (float)x; break; }
        case DT_F16: { uint16_t h; memcpy(&h, p + 2 * i, 2); out[i] = f16_to_f32(h); break; }
        case DT_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); out[i] = bf16_to_f32(h); break; }
        default: return -1;
        }
    }
    return 0;
}

int dtype_to_i64(Dtype d, const void *src, int64_t n, int64_t *out) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        switch (d) {
        case DT_I64: case DT_U64: memcpy(&out[i], p + 8 * i, 8); break;
        case DT_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
        case DT_U32: { uint32_t v; memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
        case DT_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); out[i] = v; break; }
        case DT_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); out[i] = v; break; }
        case DT_I8: out[i] = (int8_t)p[i]; break;
        case DT_U8: case DT_BOOL: out[i] = p[i]; break;
        default: return -1;
        }
    }
    return 0;
}
