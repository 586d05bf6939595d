// tsource.c: the tensor source over the three formats, and their writers (see tsource.h).
#include "core/formats/tsource.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/base/common.h"

// Which format the first bytes (and the name) say the file is; -1: none of them.
static int sniff(const char *path, char *err, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return errf(err, n, "%s: cannot open: %s", path, strerror(errno)), -2;
    unsigned char b[9] = {0};
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    size_t len = strlen(path);
    if (got >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return TS_TORCH;
    if (got == 9 && b[8] == '{') return TS_SAFETENSORS;
    if ((got >= 1 && ((b[0] >= 0x80 && b[0] <= 0x8f) || b[0] == 0xde || b[0] == 0xdf)) ||
        (len > 8 && !strcmp(path + len - 8, ".msgpack")))
        return TS_FLAX;
    if (len > 12 && !strcmp(path + len - 12, ".safetensors")) return TS_SAFETENSORS;  // for its own error message
    return -1;
}

int ts_open(TensorSource *s, const char *path, char *err, size_t n) {
    memset(s, 0, sizeof *s);
    int kind = sniff(path, err, n);
    if (kind == -2) return -1;
    if (kind < 0)
        return errf(err, n, "%s: not a tensor file (expected a model.safetensors, a PyTorch pytorch_model.bin or a Flax "
                    "flax_model.msgpack)", path);
    s->kind = (TsKind)kind;
    s->path = xstrdup(path);
    if (kind == TS_SAFETENSORS) {
        if (st_open(&s->st, path, err, n)) { free(s->path); return -1; }
        s->n = s->st.n;
        s->t = xcalloc((size_t)s->n + 1, sizeof(TsTensor));
        for (int i = 0; i < s->n; i++) {
            const StTensor *t = &s->st.t[i];
            s->t[i] = (TsTensor){t->name, t->dtype, t->ndim, {0}, t->numel};
            memcpy(s->t[i].shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        }
    } else if (kind == TS_TORCH) {
        if (torch_read(path, &s->tz, err, n)) { free(s->path); return -1; }
        s->n = s->tz.n;
        s->t = xcalloc((size_t)s->n + 1, sizeof(TsTensor));
        for (int i = 0; i < s->n; i++) {
            const TorchTensor *t = &s->tz.t[i];
            s->t[i] = (TsTensor){t->name, t->dtype, t->ndim, {0}, t->numel};
            memcpy(s->t[i].shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        }
    } else {
        if (flax_open(&s->fx, path, err, n)) { free(s->path); return -1; }
        // a train state holds the model's tree under "params"
        int strip = s->fx.n && !strncmp(s->fx.leaves[0].path, "params/", 7);
        s->n = s->fx.n;
        s->t = xcalloc((size_t)s->n + 1, sizeof(TsTensor));
        for (int i = 0; i < s->n; i++) {
            const FlaxLeaf *l = &s->fx.leaves[i];
            const char *name = strip && !strncmp(l->path, "params/", 7) ? l->path + 7 : l->path;
            s->t[i] = (TsTensor){name, l->dtype, l->ndim, {0}, l->numel};
            memcpy(s->t[i].shape, l->shape, sizeof(int64_t) * (size_t)l->ndim);
        }
    }
    return 0;
}

void ts_close(TensorSource *s) {
    if (s->kind == TS_SAFETENSORS) st_close(&s->st);
    else if (s->kind == TS_TORCH) torch_free(&s->tz);
    else flax_close(&s->fx);
    free(s->t);
    free(s->path);
    memset(s, 0, sizeof *s);
}

int ts_find(const TensorSource *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return i;
    return -1;
}

int ts_read_f32(const TensorSource *s, int i, float *out) {
    if (s->kind == TS_SAFETENSORS) return st_to_f32(&s->st, &s->st.t[i], out);
    if (s->kind == TS_FLAX) return flax_leaf_f32(&s->fx.leaves[i], out);
    const TorchTensor *t = &s->tz.t[i];  // float tensors were read into float32
    if (!t->data) return -1;
    memcpy(out, t->data, sizeof(float) * (size_t)t->numel);
    return 0;
}

// ----------------------------------------------------------------------------
// writers

static int write_safetensors(const char *path, const TsWrite *t, int n, char *err, size_t errn) {
    StWrite *w = xcalloc((size_t)n + 1, sizeof(StWrite));
    for (int i = 0; i < n; i++) {
        w[i] = (StWrite){t[i].name, DT_F32, t[i].ndim, {0}, t[i].data};
        memcpy(w[i].shape, t[i].shape, sizeof(int64_t) * (size_t)t[i].ndim);
    }
    const char *meta[] = {"format", "pt"};  // transformers expects this metadata
    int rc = st_write(path, w, n, meta, 1, err, errn);
    free(w);
    return rc;
}

static int write_torch(const char *path, const TsWrite *t, int n, char *err, size_t errn) {
    TorchWrite *w = xcalloc((size_t)n + 1, sizeof(TorchWrite));
    for (int i = 0; i < n; i++) {
        w[i] = (TorchWrite){t[i].name, t[i].ndim, {0}, t[i].data};
        memcpy(w[i].shape, t[i].shape, sizeof(int64_t) * (size_t)t[i].ndim);
    }
    int rc = torch_write(path, w, n, err, errn);
    free(w);
    return rc;
}

static int write_flax(const char *path, const TsWrite *t, int n, char *err, size_t errn) {
    FlaxWrite *w = xcalloc((size_t)n + 1, sizeof(FlaxWrite));
    for (int i = 0; i < n; i++) {
        w[i] = (FlaxWrite){t[i].name, t[i].ndim, {0}, t[i].data};
        memcpy(w[i].shape, t[i].shape, sizeof(int64_t) * (size_t)t[i].ndim);
    }
    int rc = flax_write(path, w, n, err, errn);
    free(w);
    return rc;
}

const TensorFormat g_tensor_formats[TS_KINDS] = {
    [TS_SAFETENSORS] = {"safetensors", "model.safetensors", ".safetensors", write_safetensors},
    [TS_TORCH] = {"torch", "pytorch_model.bin", ".bin", write_torch},
    [TS_FLAX] = {"flax", "flax_model.msgpack", ".msgpack", write_flax},
};

const TensorFormat *tensor_format(const char *name) {
    for (int k = 0; k < TS_KINDS; k++)
        if (!strcmp(g_tensor_formats[k].name, name)) return &g_tensor_formats[k];
    return NULL;
}
