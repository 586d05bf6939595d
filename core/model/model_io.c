// model_io.c: initialisation by role and model directories (config.json + model.safetensors + vocab.txt).
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/model/model.h"
#include "core/base/rng.h"
#include "core/formats/tsource.h"
#include "core/model/names.h"

// ----------------------------------------------------------------------------
// initialisation

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void model_init_param(Model *m, int index, uint64_t seed) {
    const ParamInfo *p = &m->pt.info[index];
    Tensor *t = &m->pt.t[index];
    Rng r;
    rng_init(&r, seed, name_hash(p->name));
    if (p->role.init) p->role.init(t->data, t->numel, &r, &m->cfg);
    else memset(t->data, 0, sizeof(float) * (size_t)t->numel);
}

void model_init_weights(Model *m, uint64_t seed) {
    for (int i = 0; i < m->pt.n; i++) model_init_param(m, i, seed);
}

// ----------------------------------------------------------------------------
// export: the model's tensors under a format's names

void model_export(const Model *m, TsKind kind, ModelExport *x) {
    const NameMap *map = name_map(kind);
    const ParamTable *pt = &m->pt;
    memset(x, 0, sizeof *x);
    x->t = xcalloc((size_t)pt->n + 4, sizeof(TsWrite));
    x->names = xcalloc((size_t)pt->n + 4, sizeof(char *));
    x->owned = xcalloc((size_t)pt->n + 4, sizeof(float *));
    for (int i = 0; i < pt->n; i++) {
        const ParamInfo *p = &pt->info[i];
        char theirs[256];
        int tr;
        if (names_theirs(map, p->name, theirs, sizeof theirs, &tr)) {
            if (!x->missing) x->missing = p->name;
            x->nmissing++;
            continue;
        }
        TsWrite *w = &x->t[x->n];
        x->names[x->n] = xstrdup(theirs);
        w->name = x->names[x->n];
        w->ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) w->shape[d] = p->shape[tr ? p->ndim - 1 - d : d];
        if (tr) {  // (out,in) -> (in,out)
            int rows = p->shape[0], cols = p->shape[1];
            float *b = xmalloc(sizeof(float) * (size_t)p->numel);
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < cols; q++) b[(long)q * rows + r] = pt->t[i].data[(long)r * cols + q];
            x->owned[x->n] = b;
            w->data = b;
        } else w->data = pt->t[i].data;
        x->n++;
    }
    // the format's tied copies of parameters (pytorch_model.bin: the MLM decoder), unless the name is a parameter itself
    for (const TiedCopy *r = map->tied; r && r->ours; r++)
        for (int i = 0; i < pt->n && params_find(pt, r->if_has) >= 0; i++) {
            if (!names_match(r->ours, pt->info[i].name, NULL, NULL, 0) || params_find(pt, r->theirs) >= 0) continue;
            TsWrite *w = &x->t[x->n];
            x->names[x->n] = xstrdup(r->theirs);
            *w = (TsWrite){x->names[x->n], pt->info[i].ndim, {0}, pt->t[i].data};
            for (int d = 0; d < w->ndim; d++) w->shape[d] = pt->info[i].shape[d];
            x->n++;
            break;
        }
}

void model_export_free(ModelExport *x) {
    for (int i = 0; i < x->n; i++) { free(x->names[i]); free(x->owned[i]); }
    free(x->names);
    free(x->owned);
    free(x->t);
    memset(x, 0, sizeof *x);
}

// ----------------------------------------------------------------------------
// model directories

static void path_join(char *out, size_t n, const char *dir, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static int copy_file_atomic(const char *src, const char *dst, char *err, size_t n) {
    size_t len;
    const char *e;
    char *buf = file_read_all(src, &len, &e);
    if (!buf) return errf(err, n, "%s: cannot read: %s", src, e);
    int rc = file_write_atomic(dst, buf, len);
    free(buf);
    return rc ? errf(err, n, "%s: cannot write: %s", dst, strerror(errno)) : 0;
}

int model_save_dir_as(const Model *m, const char *dir, const char *vocab_src, TsKind kind, char *err, size_t n) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return errf(err, n, "%s: cannot create the model directory: %s", dir, strerror(errno));
    char path[4096];
    cJSON *cfg = config_to_json(&m->cfg, model_architecture(m));
    char *text = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    path_join(path, sizeof path, dir, "config.json");
    size_t len = strlen(text);
    text = xrealloc(text, len + 2);
    text[len] = '\n';
    int rc = file_write_atomic(path, text, len + 1);
    free(text);
    if (rc) return errf(err, n, "%s: cannot write: %s", path, strerror(errno));
    if (m->cfg.do_lower_case >= 0) {  // the casing, where Hugging Face's tokenizers look for it
        cJSON *t = cJSON_CreateObject();
        cJSON_AddBoolToObject(t, "do_lower_case", m->cfg.do_lower_case);
        cJSON_AddStringToObject(t, "tokenizer_class", "BertTokenizer");
        char *tt = cJSON_Print(t);
        cJSON_Delete(t);
        path_join(path, sizeof path, dir, "tokenizer_config.json");
        rc = file_write_atomic(path, tt, strlen(tt));
        free(tt);
        if (rc) return errf(err, n, "%s: cannot write: %s", path, strerror(errno));
    }
    ModelExport x;
    model_export(m, kind, &x);
    if (x.nmissing) {
        rc = errf(err, n, "%s: %d tensors have no %s name (%s first); the %s layout holds %s", dir, x.nmissing,
                  g_tensor_formats[kind].name, x.missing, g_tensor_formats[kind].name, name_map(kind)->layout);
        model_export_free(&x);
        return rc;
    }
    path_join(path, sizeof path, dir, g_tensor_formats[kind].file_name);
    rc = g_tensor_formats[kind].write(path, x.t, x.n, err, n);
    model_export_free(&x);
    if (rc) return -1;
    if (vocab_src) {
        path_join(path, sizeof path, dir, "vocab.txt");
        if (strcmp(vocab_src, path) != 0 && copy_file_atomic(vocab_src, path, err, n)) return -1;
    }
    return 0;
}

int model_save_dir_err(const Model *m, const char *dir, const char *vocab_src, char *err, size_t n) {
    return model_save_dir_as(m, dir, vocab_src, TS_SAFETENSORS, err, n);
}

void model_save_dir(const Model *m, const char *dir, const char *vocab_src) {
    char err[4600];
    if (model_save_dir_err(m, dir, vocab_src, err, sizeof err)) fatal("%s", err);
}

// Whether a tensor name is a head parameter of this model family (of any head: another head's tensors
// are dropped when a model is loaded for a new task). The heads declare their parameters with the head
// role, so the question goes to the declarations of every head, not to the name's spelling.
static int is_head_param(const Model *m, const char *name) {
    // the heads of Hugging Face classes bigs does not implement: BertForPreTraining's next-sentence head
    if (!strncmp(name, "cls.seq_relationship.", 21)) return 1;
    int i = params_find(&m->pt, name);
    if (i >= 0) return m->pt.info[i].role.head;
    for (int h = HEAD_MLM; h <= HEAD_MC; h++) {
        if (h == (int)m->head) continue;
        ParamTable pt;
        model_declare(&pt, &m->cfg, (HeadType)h);
        int k = params_find(&pt, name), head = k >= 0 && pt.info[k].role.head;
        params_free(&pt);
        if (head) return 1;
    }
    return 0;
}

// Our name of a format's tensor (the rules read backwards): 0, or -1 when it maps to none of ours.
static int names_ours(const NameMap *map, const char *theirs, char *out, size_t n) {
    if (!map->rules) { snprintf(out, n, "%s", theirs); return 0; }
    for (const NameRule *r = map->rules; r->ours; r++)
        if (names_match(r->theirs, theirs, r->ours, out, n)) return 0;
    return -1;
}

HeadType model_head_of_dir(const char *dir) {
    char path[4096];
    path_join(path, sizeof path, dir, "config.json");
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *a = root ? cJSON_GetObjectItemCaseSensitive(root, "architectures") : NULL;
    const cJSON *a0 = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, 0) : NULL;
    HeadType head = model_head_from_architecture(cJSON_IsString(a0) ? a0->valuestring : NULL);
    cJSON_Delete(root);
    free(text);
    return head;
}

HeadType model_head_of_source(const TensorSource *src, int *num_labels) {
    const NameMap *map = name_map(src->kind);
    char theirs[256];
    int tr;
    names_theirs(map, "classifier.weight", theirs, sizeof theirs, &tr);
    int k = ts_find(src, theirs);
    if (k >= 0 && src->t[k].ndim == 2) {
        if (num_labels) *num_labels = (int)src->t[k].shape[tr ? 1 : 0];
        return HEAD_SEQCLS;
    }
    return HEAD_MLM;
}

int model_dir_tensor_file(const char *dir, char *out, size_t n) {
    struct stat sb;
    for (int k = 0; k < TS_KINDS; k++) {  // model.safetensors first, then the official downloads' files
        snprintf(out, n, "%s/%s", dir, g_tensor_formats[k].file_name);
        if (stat(out, &sb) == 0) return 0;
    }
    snprintf(out, n, "%s/%s", dir, g_tensor_formats[TS_SAFETENSORS].file_name);
    return -1;
}

int model_load_dir_err(Model *m, const char *dir, HeadType head, int flags, uint64_t seed, char **errp) {
    ModelConfig cfg;
    config_load_path(&cfg, dir);
    return model_load_with_config(m, dir, &cfg, head == HEAD_AUTO ? model_head_of_dir(dir) : head, flags, seed, errp);
}

int model_load_with_config(Model *m, const char *dir, const ModelConfig *cfg, HeadType head, int flags, uint64_t seed,
                           char **errp) {
    char path[4096], err[1024];
    model_dir_tensor_file(dir, path, sizeof path);
    TensorSource src;
    if (ts_open(&src, path, err, sizeof err)) { *errp = xstrdup(err); return -1; }
    model_build(m, cfg, head);
    int rc = model_read_source(m, &src, "its config.json", flags, seed, errp);
    ts_close(&src);
    if (rc) model_free(m);
    return rc;
}

// Every problem found while reading a source, collected so one run lists all of them.
typedef struct { char *text; size_t len; int n; } Problems;

static void problem(Problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(Problems *p, const char *fmt, ...) {
    char line[700];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (k >= (int)sizeof line) k = (int)sizeof line - 1;
    p->text = xrealloc(p->text, p->len + (size_t)k + 2);
    memcpy(p->text + p->len, line, (size_t)k);
    p->len += (size_t)k;
    p->text[p->len++] = '\n';
    p->text[p->len] = 0;
    p->n++;
}

static void shape_text(char *out, size_t n, int ndim, const int64_t *shape) {
    out[0] = 0;
    for (int k = 0; k < ndim; k++) snprintf(out + strlen(out), n - strlen(out), "%s%lld", k ? "," : "", (long long)shape[k]);
}

// One parameter from its tensor t (or its absence): read, grown, freshly initialised, or a problem.
static void read_param(Model *m, int i, const TensorSource *src, int j, const char *theirs, int tr, int flags, uint64_t seed,
                       Problems *pr) {
    const ParamInfo *p = &m->pt.info[i];
    const TsTensor *t = j >= 0 ? &src->t[j] : NULL;
    int64_t want[8];  // the shape the file must hold (transposed kernels: (in,out))
    for (int d = 0; d < p->ndim; d++) want[d] = p->shape[tr ? p->ndim - 1 - d : d];
    int shape_ok = t && t->ndim == p->ndim;
    for (int d = 0; shape_ok && d < p->ndim; d++) shape_ok = t->shape[d] == want[d];
    float *dst = m->pt.t[i].data;
    if (shape_ok) {
        float *buf = tr ? xmalloc(sizeof(float) * (size_t)p->numel) : dst;
        if (ts_read_f32(src, j, buf)) problem(pr, "  %s: dtype %s is not a floating-point type", theirs, dtype_name(t->dtype));
        else if (tr) {  // (in,out) -> (out,in)
            int rows = p->shape[0], cols = p->shape[1];
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < cols; q++) dst[(long)r * cols + q] = buf[(long)q * rows + r];
        }
        if (tr) free(buf);
        return;
    }
    // length extension: a longer position table starts as the learned rows repeated cyclically (row r =
    // learned row r mod P0), so every position has a trained embedding to continue from
    if ((flags & LOAD_GROW_POSITIONS) && t && &m->pt.t[i] == m->pos && t->ndim == 2 && t->shape[1] == p->shape[1] && t->shape[0] > 0 &&
        t->shape[0] < p->shape[0]) {
        long P0 = (long)t->shape[0], H = p->shape[1];
        float *rows = xmalloc(sizeof(float) * (size_t)(P0 * H));
        if (ts_read_f32(src, j, rows)) problem(pr, "  %s: dtype %s is not a floating-point type", theirs, dtype_name(t->dtype));
        for (long r = 0; r < p->shape[0]; r++) memcpy(dst + r * H, rows + (r % P0) * H, sizeof(float) * (size_t)H);
        free(rows);
        log_info("note: the position table grows from %ld to %d rows (the learned rows repeated)", P0, p->shape[0]);
        return;
    }
    if ((flags & LOAD_NEW_HEAD) && p->role.head) {
        log_info("note: %s %s; initialising it fresh", p->name, t ? "has another shape in the checkpoint (another label count)" : "is not in the checkpoint");
        model_init_param(m, i, seed);
        return;
    }
    const char *sep = strcmp(theirs, p->name) ? " (for " : "", *end = *sep ? ")" : "";
    if (!t) { problem(pr, "  missing: %s%s%s%s", theirs, sep, *sep ? p->name : "", end); return; }
    char w[96], g[96];
    shape_text(w, sizeof w, p->ndim, want);
    shape_text(g, sizeof g, t->ndim, t->shape);
    problem(pr, "  mis-shaped: %s is (%s) in the file, the config needs (%s)", theirs, g, w);
}

int model_read_source(Model *m, const TensorSource *src, const char *against, int flags, uint64_t seed, char **errp) {
    const NameMap *map = name_map(src->kind);
    Problems pr = {xcalloc(1, 1), 0, 0};
    char *used = xcalloc((size_t)src->n + 1, 1);
    for (int i = 0; i < m->pt.n; i++) {
        char theirs[256];
        int tr;
        if (names_theirs(map, m->pt.info[i].name, theirs, sizeof theirs, &tr)) {
            problem(&pr, "  %s has no %s counterpart (the %s layout holds %s)", m->pt.info[i].name, g_tensor_formats[src->kind].name,
                    g_tensor_formats[src->kind].name, map->layout);
            continue;
        }
        int j = ts_find(src, theirs);
        if (j >= 0) used[j] = 1;
        read_param(m, i, src, j, theirs, tr, flags, seed, &pr);
    }
    for (int j = 0; j < src->n; j++) {
        const char *name = src->t[j].name;
        char ours[256];
        if (used[j] || names_dropped(map, name)) continue;
        if ((flags & LOAD_NEW_HEAD) && !names_ours(map, name, ours, sizeof ours) && is_head_param(m, ours)) {
            log_info("note: ignoring %s (a head this model does not use)", name);
            continue;
        }
        problem(&pr, "  unexpected: %s", name);
    }
    free(used);
    if (pr.n) {
        size_t n = strlen(src->path) + strlen(against) + pr.len + 100;
        *errp = xmalloc(n);
        snprintf(*errp, n, "%s does not match %s (%d problem%s):\n%s", src->path, against, pr.n, pr.n > 1 ? "s" : "", pr.text);
        (*errp)[strlen(*errp) - 1] = 0;  // no trailing newline
        free(pr.text);
        return -1;
    }
    free(pr.text);
    return 0;
}

void model_load_dir(Model *m, const char *dir, HeadType head, int flags, uint64_t seed) {
    char *err = NULL;
    if (model_load_dir_err(m, dir, head, flags, seed, &err)) fatal("%s", err);
}
