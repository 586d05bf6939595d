// model_io.c: initialisation by role and model directories (config.json + model.safetensors + vocab.txt).
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/model/model.h"
#include "core/base/rng.h"
#include "core/formats/safetensors.h"

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

int model_save_dir_err(const Model *m, const char *dir, const char *vocab_src, char *err, size_t n) {
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
    const ParamTable *pt = &m->pt;
    StWrite *w = xcalloc((size_t)pt->n, sizeof(StWrite));
    for (int i = 0; i < pt->n; i++) {
        w[i].name = pt->info[i].name;
        w[i].dtype = DT_F32;
        w[i].ndim = pt->info[i].ndim;
        for (int k = 0; k < w[i].ndim; k++) w[i].shape[k] = pt->info[i].shape[k];
        w[i].data = pt->t[i].data;
    }
    const char *meta[] = {"format", "pt"};  // transformers expects this metadata
    path_join(path, sizeof path, dir, "model.safetensors");
    rc = st_write(path, w, pt->n, meta, 1, err, n);
    free(w);
    if (rc) return -1;
    if (vocab_src) {
        path_join(path, sizeof path, dir, "vocab.txt");
        if (strcmp(vocab_src, path) != 0 && copy_file_atomic(vocab_src, path, err, n)) return -1;
    }
    return 0;
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

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

// Tensors a checkpoint may hold that we do not keep: the tied decoder (it is the word embedding
// matrix), and buffers that some versions of transformers save.
static int is_ignorable(const char *name) {
    return !strcmp(name, "cls.predictions.decoder.weight") || !strcmp(name, "cls.predictions.decoder.bias") ||
           ends_with(name, "embeddings.position_ids") || ends_with(name, "embeddings.token_type_ids");
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

int model_load_dir_err(Model *m, const char *dir, HeadType head, int flags, uint64_t seed, char **errp) {
    ModelConfig cfg;
    config_load_path(&cfg, dir);
    return model_load_with_config(m, dir, &cfg, head == HEAD_AUTO ? model_head_of_dir(dir) : head, flags, seed, errp);
}

int model_load_with_config(Model *m, const char *dir, const ModelConfig *cfg, HeadType head, int flags, uint64_t seed,
                           char **errp) {
    char path[4096], err[1024];
    model_build(m, cfg, head);
    path_join(path, sizeof path, dir, "model.safetensors");
    StFile f;
    if (st_open(&f, path, err, sizeof err)) {
        *errp = xstrdup(err);
        model_free(m);
        return -1;
    }
    // every problem is collected, so one run lists all of them
    char *problems = xcalloc(1, 1);
    size_t plen = 0;
    int nbad = 0;
#define PROBLEM(...) do { char line[512]; int k = snprintf(line, sizeof line, __VA_ARGS__); \
        problems = xrealloc(problems, plen + (size_t)k + 2); memcpy(problems + plen, line, (size_t)k); \
        plen += (size_t)k; problems[plen++] = '\n'; problems[plen] = 0; nbad++; } while (0)
    for (int i = 0; i < m->pt.n; i++) {
        ParamInfo *p = &m->pt.info[i];
        const StTensor *t = st_find(&f, p->name);
        int shape_ok = t && t->ndim == p->ndim;
        for (int k = 0; shape_ok && k < p->ndim; k++) shape_ok = t->shape[k] == p->shape[k];
        if (t && shape_ok) {
            if (st_to_f32(&f, t, m->pt.t[i].data)) PROBLEM("  %s: dtype %s is not a floating-point type", p->name, dtype_name(t->dtype));
            continue;
        }
        // length extension: a longer position table starts as the learned rows repeated cyclically
        // (row r = learned row r mod P0), so every position has a trained embedding to continue from
        if ((flags & LOAD_GROW_POSITIONS) && t && &m->pt.t[i] == m->pos && t->ndim == 2 &&
            t->shape[1] == p->shape[1] && t->shape[0] > 0 && t->shape[0] < p->shape[0]) {
            long P0 = (long)t->shape[0], H = p->shape[1];
            float *rows = xmalloc(sizeof(float) * (size_t)(P0 * H));
            if (st_to_f32(&f, t, rows)) PROBLEM("  %s: dtype %s is not a floating-point type", p->name, dtype_name(t->dtype));
            for (long r = 0; r < p->shape[0]; r++) memcpy(m->pt.t[i].data + r * H, rows + (r % P0) * H, sizeof(float) * (size_t)H);
            free(rows);
            log_info("note: the position table grows from %ld to %d rows (the learned rows repeated)", P0, p->shape[0]);
            continue;
        }
        if ((flags & LOAD_NEW_HEAD) && p->role.head) {
            log_info("note: %s %s; initialising it fresh", p->name, t ? "has another shape in the checkpoint (another label count)" : "is not in the checkpoint");
            model_init_param(m, i, seed);
            continue;
        }
        if (!t) PROBLEM("  missing: %s", p->name);
        else {
            char want[64] = "", got[64] = "";
            for (int k = 0; k < p->ndim; k++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", k ? "," : "", p->shape[k]);
            for (int k = 0; k < t->ndim; k++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? "," : "", (long long)t->shape[k]);
            PROBLEM("  mis-shaped: %s is (%s) in the file, the config needs (%s)", p->name, got, want);
        }
    }
    for (int i = 0; i < f.n; i++) {
        const char *name = f.t[i].name;
        if (params_find(&m->pt, name) >= 0 || is_ignorable(name)) continue;
        if ((flags & LOAD_NEW_HEAD) && is_head_param(m, name)) {
            log_info("note: ignoring %s (a head this model does not use)", name);
            continue;
        }
        PROBLEM("  unexpected: %s", name);
    }
#undef PROBLEM
    st_close(&f);
    if (nbad) {
        size_t n = strlen(path) + plen + 100;
        *errp = xmalloc(n);
        snprintf(*errp, n, "%s does not match its config.json (%d problem%s):\n%s", path, nbad, nbad > 1 ? "s" : "", problems);
        (*errp)[strlen(*errp) - 1] = 0;  // no trailing newline
        free(problems);
        model_free(m);
        return -1;
    }
    free(problems);
    return 0;
}

void model_load_dir(Model *m, const char *dir, HeadType head, int flags, uint64_t seed) {
    char *err = NULL;
    if (model_load_dir_err(m, dir, head, flags, seed, &err)) fatal("%s", err);
}
