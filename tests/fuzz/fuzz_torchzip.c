// fuzz_torchzip.c: pytorch_model.bin (bigs convert --from torch): the zip reader (stored, deflated,
// ZIP64) and the pickle virtual machine. Every tensor read must have its numel floats.
#include <math.h>
#include <string.h>

#include "core/formats/torchzip.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TorchFile f;
    char err[1024];
    if (torch_read_mem(data, size, "fuzz.bin", &f, err, sizeof err)) return 0;
    volatile float sink = 0;
    for (int i = 0; i < f.n; i++) {
        const TorchTensor *t = &f.t[i];
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= 8 && t->numel >= 0, "tensor %s", t->name);
        FUZZ_CHECK(torch_find(&f, t->name) != NULL, "tensor %s not found by name", t->name);
        if (t->data)
            for (int64_t k = 0; k < t->numel; k++) sink += t->data[k];  // ASan checks the numel floats exist
    }
    (void)sink;
    torch_free(&f);
    return 0;
}
