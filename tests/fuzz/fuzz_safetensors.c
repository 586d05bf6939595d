// fuzz_safetensors.c: safetensors files (model.safetensors, optimizer.safetensors, bigs info/convert).
// Whatever st_open_mem accepts must be readable: every tensor lies inside the buffer, and converting
// each one (as model loading does) touches only those bytes.
#include <string.h>

#include "core/formats/safetensors.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    StFile f;
    char err[1024];
    if (st_open_mem(&f, data, size, "fuzz.safetensors", err, sizeof err)) return 0;
    for (int i = 0; i < f.n; i++) {
        const StTensor *t = &f.t[i];
        FUZZ_CHECK(t->end >= t->begin && t->end <= size - 8 && f.data + t->end <= data + size, "tensor %s [%zu, %zu)", t->name, t->begin, t->end);
        FUZZ_CHECK(st_find(&f, t->name) != NULL, "%s not found by name", t->name);
        // numel * dtype size == end - begin <= size, so these buffers are bounded by the input
        if (t->dtype == DT_F32 || t->dtype == DT_F64 || t->dtype == DT_F16 || t->dtype == DT_BF16) {
            float *x = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
            FUZZ_CHECK(st_to_f32(&f, t, x) == 0, "float tensor %s not converted", t->name);
            free(x);
        } else {
            int64_t *x = malloc(sizeof(int64_t) * (size_t)(t->numel ? t->numel : 1));
            FUZZ_CHECK(st_to_i64(&f, t, x) == 0, "integer tensor %s not converted", t->name);
            free(x);
        }
    }
    for (int i = 0; i < f.nmeta; i++) FUZZ_CHECK(st_meta(&f, f.meta_keys[i]) != NULL, "metadata %s", f.meta_keys[i]);
    st_close(&f);
    return 0;
}
