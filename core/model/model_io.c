// model_io.c: initialisation (with the HiPPO eigenvalues) and model directories
// (config.json + model.safetensors + vocab.txt).
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/model/model.h"
#include "core/base/rng.h"
#include "core/formats/safetensors.h"

// ----------------------------------------------------------------------------
// HiPPO initialisation of A_im. S = -HiPPO_LegS(N) + P P^T with P_n = sqrt(n + 1/2) is -1/2 on the
// diagonal plus a real skew-symmetric part Q with Q[n,k] = -sqrt((n+1/2)(k+1/2)) for n > k. The
// official code takes eigh(-i S), which reads only the Hermitian part -i Q, so A_im = eig(-i Q):
// the +/- singular values of Q. They are the eigenvalues of the symmetric 2N x 2N matrix
// [[0, Q], [Q^T, 0]], each of which appears twice (Q's singular values come in equal pairs); cyclic
// Jacobi in double finds them without squaring anything.
void ssm_hippo_imag(int N, double *out) {
    int M = 2 * N;
    double *a = xcalloc((size_t)M * M, sizeof(double));
    for (int n = 0; n < N; n++)
        for (int k = 0; k < N; k++) {
            double q = n > k ? -sqrt((n + 0.5) * (k + 0.5)) : n < k ? sqrt((n + 0.5) * (k + 0.5)) : 0.0;
            a[(long)n * M + N + k] = q;  // top-right Q
            a[(long)(N + k) * M + n] = q;  // bottom-left Q^T
        }
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < M; p++)
            for (int q = p + 1; q < M; q++) off += a[(long)p * M + q] * a[(long)p * M + q];
        if (off < 1e-26) break;
        for (int p = 0; p < M; p++)
            for (int q = p + 1; q < M; q++) {
                double apq = a[(long)p * M + q];
                if (fabs(apq) < 1e-300) continue;
                double app = a[(long)p * M + p], aqq = a[(long)q * M + q];
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < M; k++) {  // rotate rows and columns p, q
                    double akp = a[(long)k * M + p], akq = a[(long)k * M + q];
                    a[(long)k * M + p] = c * akp - s * akq;
                    a[(long)k * M + q] = s * akp + c * akq;
                }
                for (int k = 0; k < M; k++) {
                    double apk = a[(long)p * M + k], aqk = a[(long)q * M + k];
                    a[(long)p * M + k] = c * apk - s * aqk;
                    a[(long)q * M + k] = s * apk + c * aqk;
                }
            }
    }
    double *ev = xmalloc(sizeof(double) * (size_t)M);
    for (int i = 0; i < M; i++) ev[i] = a[(long)i * M + i];
    // sort ascending and keep one of each equal pair
    for (int i = 1; i < M; i++)
        for (int j = i; j > 0 && ev[j - 1] > ev[j]; j--) { double t = ev[j]; ev[j] = ev[j - 1]; ev[j - 1] = t; }
    for (int i = 0; i < N; i++) out[i] = 0.5 * (ev[2 * i] + ev[2 * i + 1]);
    free(ev);
    free(a);
}

// ----------------------------------------------------------------------------
// initialisation

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

void model_init_param(Model *m, int index, uint64_t seed) {
    const ModelConfig *c = &m->cfg;
    ParamInfo *p = &m->pt.info[index];
    Tensor *t = &m->pt.t[index];
    Rng r;
    rng_init(&r, seed, name_hash(p->name));
    int N = c->num_ssm;
    if (ends_with(p->name, ".kernel.A_re")) {
        for (long i = 0; i < t->numel; i++) t->data[i] = -0.5f;
    } else if (ends_with(p->name, ".kernel.A_im")) {
        double *v = xmalloc(sizeof(double) * (size_t)N);
        if (c->scaling == SCALE_HIPPO) ssm_hippo_imag(N, v);
        for (int n = 0; n < N; n++) {
            if (c->scaling == SCALE_LIN) v[n] = M_PI * n;
            else if (c->scaling == SCALE_INV) v[n] = (N / M_PI) * (N / (2.0 * n + 1) - 1);
            t->data[n] = (float)v[n];
        }
        free(v);
    } else if (ends_with(p->name, ".kernel.C")) {
        rng_fill_normal(&r, t->data, t->numel, 0.0f, (float)sqrt(0.5));
    } else if (ends_with(p->name, ".kernel.log_step")) {
        rng_fill_uniform(&r, t->data, t->numel, (float)log(0.01), (float)log(1.0));
    } else if (ends_with(p->name, "4.D")) {
        for (long i = 0; i < t->numel; i++) t->data[i] = 1.0f;
    } else if (strstr(p->name, "LayerNorm.weight")) {
        for (long i = 0; i < t->numel; i++) t->data[i] = 1.0f;
    } else if (ends_with(p->name, ".bias") || !strcmp(p->name, "cls.predictions.bias")) {
        memset(t->data, 0, sizeof(float) * (size_t)t->numel);
    } else {  // dense kernels and embeddings
        rng_fill_normal(&r, t->data, t->numel, 0.0f, (float)c->initializer_range);
    }
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
        w[i].dtype = ST_F32;
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

static int is_head_param(const char *name) {
    return !strncmp(name, "cls.", 4) || !strncmp(name, "classifier.", 11) || strstr(name, ".pooler.") != NULL;
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
            if (st_to_f32(&f, t, m->pt.t[i].data)) PROBLEM("  %s: dtype %s is not a floating-point type", p->name, st_dtype_name(t->dtype));
            continue;
        }
        // length extension: a longer position table starts as the learned rows repeated cyclically
        // (row r = learned row r mod P0), so every position has a trained embedding to continue from
        if ((flags & LOAD_GROW_POSITIONS) && t && ends_with(p->name, "embeddings.position_embeddings.weight") && t->ndim == 2 &&
            t->shape[1] == p->shape[1] && t->shape[0] > 0 && t->shape[0] < p->shape[0]) {
            long P0 = (long)t->shape[0], H = p->shape[1];
            float *rows = xmalloc(sizeof(float) * (size_t)(P0 * H));
            if (st_to_f32(&f, t, rows)) PROBLEM("  %s: dtype %s is not a floating-point type", p->name, st_dtype_name(t->dtype));
            for (long r = 0; r < p->shape[0]; r++) memcpy(m->pt.t[i].data + r * H, rows + (r % P0) * H, sizeof(float) * (size_t)H);
            free(rows);
            log_info("note: the position table grows from %ld to %d rows (the learned rows repeated)", P0, p->shape[0]);
            continue;
        }
        if ((flags & LOAD_NEW_HEAD) && is_head_param(p->name)) {
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
        if ((flags & LOAD_NEW_HEAD) && is_head_param(name)) {
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
