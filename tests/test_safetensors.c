// test_safetensors.c: the format's test vector, round trips and the validity rules.
#include <string.h>

#include "core/base/common.h"
#include "core/formats/safetensors.h"
#include "tests/test.h"

static void tmp_path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", test_tmpdir(), name); }

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

TEST(safetensors_test_vector) {
    // docs/formats.md section 4: one tensor "attn.0", F32, shape [1,2,3], values 0..5; header length 64.
    float v[6] = {0, 1, 2, 3, 4, 5};
    StWrite w = {"attn.0", DT_F32, 3, {1, 2, 3}, v};
    char path[512], err[256];
    tmp_path(path, sizeof path, "vec.safetensors");
    CHECK(st_write(path, &w, 1, NULL, 0, err, sizeof err) == 0);
    size_t len;
    const char *e;
    char *bytes = file_read_all(path, &len, &e);
    CHECK_EQ_INT(len, 8 + 64 + 24);
    CHECK_EQ_INT((unsigned char)bytes[0], 64);
    const char *hdr = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    CHECK(memcmp(bytes + 8, hdr, strlen(hdr)) == 0);
    free(bytes);
    StFile f;
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    const StTensor *t = st_find(&f, "attn.0");
    CHECK(t && t->ndim == 3 && t->shape[2] == 3 && t->numel == 6);
    float back[6];
    CHECK(st_to_f32(&f, t, back) == 0);
    CHECK(memcmp(back, v, sizeof v) == 0);
    st_close(&f);
}

TEST(safetensors_roundtrip_dtypes_and_metadata) {
    double d[3] = {1.5, -2.25, 1e-30};
    int64_t ids[4] = {0, 101, 30521, -100};
    uint16_t bf[2] = {0x3f80, 0xc000};  // 1.0, -2.0
    uint16_t hf[2] = {0x3c00, 0x0001};  // 1.0, smallest subnormal 2^-24
    StWrite w[4] = {{"d", DT_F64, 1, {3}, d}, {"ids", DT_I64, 2, {2, 2}, ids}, {"bf", DT_BF16, 1, {2}, bf}, {"hf", DT_F16, 1, {2}, hf}};
    const char *meta[] = {"format", "pt", "note", "x"};
    char path[512], err[256];
    tmp_path(path, sizeof path, "rt.safetensors");
    CHECK(st_write(path, w, 4, meta, 2, err, sizeof err) == 0);
    StFile f;
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    float x[3];
    int64_t y[4];
    CHECK(st_to_f32(&f, st_find(&f, "d"), x) == 0 && x[0] == 1.5f && x[1] == -2.25f && x[2] == 1e-30f);
    CHECK(st_to_i64(&f, st_find(&f, "ids"), y) == 0 && !memcmp(y, ids, sizeof ids));
    CHECK(st_to_f32(&f, st_find(&f, "bf"), x) == 0 && x[0] == 1.0f && x[1] == -2.0f);
    CHECK(st_to_f32(&f, st_find(&f, "hf"), x) == 0 && x[0] == 1.0f && x[1] == 0x1p-24f);
    CHECK(st_to_f32(&f, st_find(&f, "ids"), x) == -1);
    CHECK(st_meta(&f, "format") && !strcmp(st_meta(&f, "format"), "pt"));
    CHECK(st_meta(&f, "absent") == NULL);
    st_close(&f);
}

// Builds a file from a raw header and data size and expects st_open to refuse it with `needle` in the message.
static void expect_bad(const char *name, const char *hdr, size_t data_bytes, const char *needle) {
    char path[512], err[512];
    tmp_path(path, sizeof path, name);
    size_t h = strlen(hdr), n = 8 + h + data_bytes;
    unsigned char *b = calloc(1, n);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)h >> (8 * k));
    memcpy(b + 8, hdr, h);
    write_bytes(path, b, n);
    free(b);
    StFile f;
    int rc = st_open(&f, path, err, sizeof err);
    CHECKF(rc == -1, "%s: accepted an invalid file", name);
    if (rc == -1) CHECKF(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", name, err, needle);
    else st_close(&f);
}

TEST(safetensors_rejects_invalid_files) {
    expect_bad("gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap or overlap");
    expect_bad("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap or overlap");
    expect_bad("size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12");
    expect_bad("trailing", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "truncated or padded");
    expect_bad("truncated", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "truncated or padded");
    expect_bad("dtype", "{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    expect_bad("dup", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice");
    expect_bad("notjson", "{\"a\":", 0, "not a JSON object");
    expect_bad("negshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative");
    expect_bad("meta", "{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    // header length larger than the file
    char path[512], err[256];
    tmp_path(path, sizeof path, "hlen");
    unsigned char b[12] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    write_bytes(path, b, sizeof b);
    StFile f;
    CHECK(st_open(&f, path, err, sizeof err) == -1 && strstr(err, "does not fit"));
    CHECK(st_open(&f, "/nonexistent/x.safetensors", err, sizeof err) == -1 && strstr(err, "cannot open"));
}
