// fuzz_flax.c: Flax msgpack checkpoints (bigs convert --from flax): the msgpack decoder and the walk
// that turns the tree into leaves, chunked arrays included. Every accepted leaf is converted.
#include <string.h>

#include "core/formats/flax.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // the bare decoder first: it must take any bytes
    MpNode root;
    char err[1024];
    if (mp_parse(data, size, &root, err, sizeof err) == 0) {
        (void)mp_map_get(&root, "params");
        mp_free(&root);
    }
    FlaxFile f;
    if (flax_open_mem(&f, data, size, "fuzz.msgpack", err, sizeof err)) return 0;
    for (int i = 0; i < f.n; i++) {
        const FlaxLeaf *l = &f.leaves[i];
        FUZZ_CHECK(l->numel >= 0 && l->ndim >= 0 && l->ndim <= 8, "leaf %s", l->path);
        FUZZ_CHECK(flax_find(&f, l->path) != NULL, "leaf %s not found by path", l->path);
        float *x = malloc(sizeof(float) * (size_t)(l->numel ? l->numel : 1));
        int rc = flax_leaf_f32(l, x);
        FUZZ_CHECK(rc == 0 || !dtype_is_float(l->dtype), "leaf %s of dtype %s", l->path, dtype_numpy(l->dtype));
        free(x);
    }
    flax_close(&f);
    return 0;
}
