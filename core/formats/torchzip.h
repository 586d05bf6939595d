// torchzip.h: PyTorch's pytorch_model.bin: a zip archive holding <name>/data.pkl (a pickle of an
// OrderedDict name -> tensor, tensors rebuilt by torch._utils._rebuild_tensor_v2 from persistent
// storages ('storage', torch.FloatStorage, key, location, numel)) and <name>/data/<key> (raw
// little-endian storage bytes). The pickle is read by a small virtual machine that knows only the
// opcodes and globals state dicts use: any other global is an error, never executed.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/formats/dtype.h"

typedef struct {
    char *name;
    int ndim;
    int64_t shape[8];
    int64_t numel;
    Dtype dtype;        // the storage's: F32, F16, BF16, F64, I64, I32
    float *data;        // float tensors converted to float32, contiguous (NULL for integer tensors)
} TorchTensor;

typedef struct {
    TorchTensor *t;
    int n;
} TorchFile;

// Reads every tensor of the state dict. Returns 0, or -1 with a message naming the file.
int torch_read(const char *path, TorchFile *f, char *err, size_t n);
// The same from an archive in memory (path is for messages); data must outlive the call only.
int torch_read_mem(const void *data, size_t size, const char *path, TorchFile *f, char *err, size_t n);
void torch_free(TorchFile *f);
const TorchTensor *torch_find(const TorchFile *f, const char *name);

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[8];
    const float *data;
} TorchWrite;
// Writes float32 tensors as a pytorch_model.bin that torch.load reads (stored zip entries under
// "archive/", a protocol-2 pickle), atomically. Returns 0 or -1 with err.
int torch_write(const char *path, const TorchWrite *t, int n, char *err, size_t errn);
