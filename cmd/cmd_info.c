// cmd_info.c: `bigs info PATH` describes what PATH holds and verifies it: a model directory (every tensor
// against its config, the vocabulary, the casing; a checkpoint's step, loss and optimizer moments), a
// training run's folder, a config (and, with --batch and --seq-len, the memory a training step needs), a
// tensor file of any format (every tensor read), a shard directory (every block's CRC, the counts against
// meta.json, the vocabulary's hash) or a vocabulary. Exit status 1 when a check fails.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/args.h"
#include "cmd/cmd.h"
#include "core/base/common.h"
#include "core/base/jsonio.h"
#include "core/base/paths.h"
#include "core/formats/tsource.h"
#include "core/model/model.h"
#include "data/loader.h"
#include "data/meta.h"
#include "data/mlm.h"
#include "data/vocab.h"
#include "train/checkpoint.h"
#include "train/memory.h"

static const char *k_usage =
    "Usage: bigs info PATH [--head mlm|seqcls|mc] [--batch B --seq-len L] [--quick] [--json]\n"
    "\n"
    "Describes PATH and verifies it; the exit status is 1 when a check fails.\n"
    "  a model directory   the variant, config and parameter counts; every tensor read and checked against\n"
    "                      the config (and for finite values), vocab.txt against vocab_size, the casing; in a\n"
    "                      checkpoint-N/ folder also the step, the loss and the optimizer moments\n"
    "  a run's --output    its checkpoints (step and loss each) and the newest one verified\n"
    "  a config file       the variant and counts; with --batch and --seq-len what one training step needs\n"
    "                      (parameters, gradients, AdamW moments, activations) against the memory available\n"
    "  a tensor file       .safetensors, pytorch_model.bin or flax_model.msgpack: every tensor, each read\n"
    "  a shard directory   the counts per split; every block read and CRC-checked, the counts against\n"
    "                      meta.json, the shards' vocabulary hash against vocab.txt (--quick: the index only)\n"
    "  a vocabulary (.txt) its size, the special tokens, the alphabet and the ## pieces\n"
    "\n"
    "  --head H          the head to count for a config without \"architectures\" (default: mlm)\n"
    "  --batch B, --seq-len L   a config's training step to estimate (B sequences of L tokens)\n"
    "  --quick           shards: check headers and indexes only\n"
    "  --json            print one JSON object on stdout instead of text\n"
    "\n"
    "Example: bigs info configs/bigs-small.json --batch 16 --seq-len 512\n";

#define GIB (1024.0 * 1024.0 * 1024.0)

typedef struct {
    cJSON *out;        // the JSON description
    cJSON *problems;   // array of strings: checks that failed
    int json;
    cJSON *notes;      // what is missing or odd without making the thing unusable
} Info;

static void problem(Info *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(Info *in, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON_AddItemToArray(in->problems, cJSON_CreateString(msg));
    if (!in->json) printf("  problem: %s\n", msg);
}

static void note(Info *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(Info *in, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!in->notes) in->notes = cJSON_AddArrayToObject(in->out, "notes");
    cJSON_AddItemToArray(in->notes, cJSON_CreateString(msg));
    if (!in->json) printf("  note: %s\n", msg);
}

// Prints (JSON: adds) the verdict and returns the exit status.
static int info_done(Info *in) {
    int n = cJSON_GetArraySize(in->problems);
    cJSON_AddBoolToObject(in->out, "verified", n == 0);
    cJSON_AddItemToObject(in->out, "problems", in->problems);
    if (in->json) json_print_line(in->out);
    else printf("%s\n", n ? "verification FAILED (problems above)" : "verified: no problem found");
    cJSON_Delete(in->out);
    return n ? 1 : 0;
}

static void print_count(const char *label, long n) {
    char buf[32], out[48];
    snprintf(buf, sizeof buf, "%ld", n);
    int len = (int)strlen(buf), o = 0;
    for (int i = 0; i < len; i++) {
        out[o++] = buf[i];
        if ((len - i - 1) % 3 == 0 && i < len - 1) out[o++] = ',';
    }
    out[o] = 0;
    printf("  %-28s %16s\n", label, out);
}

// ----------------------------------------------------------------------------
// models and configs

static void group_counts(const ParamTable *pt, long *emb, long *enc, long *head) {
    *emb = *enc = *head = 0;
    for (int i = 0; i < pt->n; i++) {
        const char *n = pt->info[i].name;
        if (pt->info[i].role.head) *head += pt->info[i].numel;
        else if (strstr(n, ".embeddings.")) *emb += pt->info[i].numel;
        else *enc += pt->info[i].numel;
    }
}

static HeadType head_of(const char *path, const char *head_name) {
    if (head_name) return !strcmp(head_name, "seqcls") ? HEAD_SEQCLS : !strcmp(head_name, "mc") ? HEAD_MC : HEAD_MLM;
    char file[4096];
    snprintf(file, sizeof file, path_is_dir(path) ? "%s/config.json" : "%s", path);
    size_t len;
    const char *e;
    char *text = file_read_all(file, &len, &e);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *a = root ? cJSON_GetObjectItemCaseSensitive(root, "architectures") : NULL;
    HeadType h = cJSON_IsArray(a) && cJSON_IsString(cJSON_GetArrayItem(a, 0)) ? model_head_from_architecture(cJSON_GetArrayItem(a, 0)->valuestring)
                                                                             : HEAD_MLM;
    cJSON_Delete(root);
    free(text);
    return h;
}

// The variant, the config and the parameter counts.
static void describe_config(Info *in, const char *path, const ModelConfig *cfg, HeadType head) {
    ParamTable pt;
    model_declare(&pt, cfg, head);
    Model tmp = {.cfg = *cfg, .head = head};
    long emb, enc, hd;
    group_counts(&pt, &emb, &enc, &hd);
    int NL = cfg->num_hidden_layers;
    cJSON *cj = config_to_json(cfg, model_architecture(&tmp));
    cJSON_AddStringToObject(in->out, "path", path);
    cJSON_AddStringToObject(in->out, "variant", config_variant_name(cfg));
    cJSON_AddStringToObject(in->out, "architecture", model_architecture(&tmp));
    cJSON *p = cJSON_AddObjectToObject(in->out, "parameters");
    cJSON_AddNumberToObject(p, "embeddings", (double)emb);
    cJSON_AddNumberToObject(p, "encoder", (double)enc);
    cJSON_AddNumberToObject(p, "per_layer", NL ? (double)(enc / NL) : 0);
    cJSON_AddNumberToObject(p, "head", (double)hd);
    cJSON_AddNumberToObject(p, "total", (double)pt.count);
    if (!in->json) {
        printf("%s: %s, %s\n\nconfig:\n", path, config_variant_name(cfg), model_architecture(&tmp));
        for (cJSON *k = cj->child; k; k = k->next) {
            if (!strcmp(k->string, "architectures") || !strcmp(k->string, "label2id")) continue;
            char *v = cJSON_PrintUnformatted(k);
            printf("  %-30s %s\n", k->string, v);
            free(v);
        }
        printf("\nparameters:\n");
        print_count("embeddings", emb);
        char lab[64];
        snprintf(lab, sizeof lab, "encoder (%d layers)", NL);
        print_count(lab, enc);
        if (NL) print_count("  per layer", enc / NL);
        print_count(head == HEAD_MLM ? "head (masked LM)" : head == HEAD_SEQCLS ? "head (pooler + classifier)" : "head (pooler + choice scorer)", hd);
        print_count("total", pt.count);
    }
    cJSON_AddItemToObject(in->out, "config", cj);
    params_free(&pt);
}

// What a training step of this config needs, against what is available.
static void describe_memory(Info *in, const ModelConfig *cfg, HeadType head, int B, int L) {
    StepMemory s;
    memory_step(cfg, head, B, L, head == HEAD_MC ? 4 : 1, 0.15, mlm_max_pred_for(20, L), &s);
    double avail = memory_available();
    cJSON *o = cJSON_AddObjectToObject(in->out, "training_step_bytes");
    cJSON_AddNumberToObject(o, "batch", B);
    cJSON_AddNumberToObject(o, "seq_len", L);
    cJSON_AddNumberToObject(o, "parameters", s.params);
    cJSON_AddNumberToObject(o, "gradients", s.grads);
    cJSON_AddNumberToObject(o, "optimizer", s.optimizer);
    cJSON_AddNumberToObject(o, "activations", s.activations);
    cJSON_AddNumberToObject(o, "other", s.overhead);
    cJSON_AddNumberToObject(o, "total", s.total);
    cJSON_AddNumberToObject(o, "available", avail);
    if (!in->json) {
        printf("\na training step of %d x %d tokens needs:\n", B, L);
        printf("  %-32s %9.2f GiB\n  %-32s %9.2f GiB\n  %-32s %9.2f GiB\n  %-32s %9.2f GiB\n  %-32s %9.2f GiB\n", "parameters",
               s.params / GIB, "gradients", s.grads / GIB, "AdamW moments", s.optimizer / GIB, "activations (forward+backward)",
               s.activations / GIB, "other (buffers, libraries)", s.overhead / GIB);
        printf("  %-32s %9.2f GiB  (%.2f GiB available here: %s)\n", "total", s.total / GIB, avail / GIB,
               s.total <= 0.95 * avail ? "fits" : "does NOT fit");
    }
    if (s.total > 0.95 * avail)
        problem(in, "a training step of %d x %d tokens needs %.2f GiB but %.2f GiB is available", B, L, s.total / GIB, avail / GIB);
}

static long count_nonfinite(const Model *m, char *first, size_t n) {
    long bad = 0;
    for (int i = 0; i < m->pt.n; i++)
        for (long k = 0; k < m->pt.info[i].numel; k++)
            if (!isfinite(m->pt.t[i].data[k]) && bad++ == 0) snprintf(first, n, "%s[%ld]", m->pt.info[i].name, k);
    return bad;
}

// A checkpoint folder: the step, the loss and the optimizer moments of the model m.
static void verify_checkpoint(Info *in, const char *dir, const Model *m) {
    char err[4600];
    AdamW opt;
    adamw_init(&opt, &m->pt, 1);
    cJSON *state = NULL;
    if (ckpt_load_optimizer(dir, m, &opt, &state, err, sizeof err)) problem(in, "%s", err);
    else {
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(state, "global_step"), *ls = cJSON_GetObjectItemCaseSensitive(state, "loss");
        cJSON *c = cJSON_AddObjectToObject(in->out, "checkpoint");
        if (!cJSON_IsNumber(gs)) problem(in, "%s/trainer_state.json: no global_step", dir);
        else cJSON_AddNumberToObject(c, "global_step", gs->valuedouble);
        if (cJSON_IsNumber(ls)) cJSON_AddNumberToObject(c, "loss", ls->valuedouble);
        cJSON_AddNumberToObject(c, "adamw_steps", (double)opt.step);
        if (!in->json)
            printf("\ncheckpoint: step %.0f, loss %.4f, AdamW moments of every parameter read (%ld optimizer steps)\n",
                   cJSON_IsNumber(gs) ? gs->valuedouble : -1, cJSON_IsNumber(ls) ? ls->valuedouble : NAN, opt.step);
    }
    cJSON_Delete(state);
    adamw_free(&opt);
}

static void verify_model_dir(Info *in, const char *dir, HeadType head) {
    Model m;
    char *err = NULL, path[4200], first[256] = "";
    if (model_load_dir_err(&m, dir, head, 0, 0, &err)) {
        problem(in, "%s", err);
        free(err);
        return;
    }
    long bad = count_nonfinite(&m, first, sizeof first);
    if (bad) problem(in, "%ld parameter values are not finite (first: %s)", bad, first);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    Vocab v;
    char verr[1024];
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) note(in, "%s: missing (predict, eval and finetune need the model's vocabulary)", path);
    else if (vocab_parse(&v, text, len, path, verr, sizeof verr)) problem(in, "%s", verr);
    else {
        if (v.n != m.cfg.vocab_size) problem(in, "%s has %d tokens but vocab_size is %d", path, v.n, m.cfg.vocab_size);
        vocab_free(&v);
    }
    cJSON_AddStringToObject(in->out, "casing", m.cfg.do_lower_case < 0 ? "unknown" : m.cfg.do_lower_case ? "uncased" : "cased");
    if (!in->json)
        printf("\ntensors: all %d read and checked against the config; casing %s\n", m.pt.n,
               m.cfg.do_lower_case < 0 ? "not recorded (no tokenizer_config.json)" : m.cfg.do_lower_case ? "uncased" : "cased");
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    if (path_exists(path)) verify_checkpoint(in, dir, &m);
    model_free(&m);
}

static int info_model(const char *path, const char *head_name, int B, int L, int json) {
    Info in = {cJSON_CreateObject(), cJSON_CreateArray(), json, NULL};
    ModelConfig cfg;
    config_load_path(&cfg, path);
    HeadType head = head_of(path, head_name);
    describe_config(&in, path, &cfg, head);
    if (path_is_dir(path)) verify_model_dir(&in, path, head);
    if (B > 0) describe_memory(&in, &cfg, head, B, L > 0 ? L : cfg.max_position_embeddings);
    return info_done(&in);
}

// A run's output folder without a final model (a run under way, stopped or killed): its checkpoints.
static int info_run(const char *dir, int json) {
    Info in = {cJSON_CreateObject(), cJSON_CreateArray(), json, NULL};
    cJSON_AddStringToObject(in.out, "path", dir);
    char *newest = ckpt_latest(dir);
    if (!json) printf("%s: a training run without a final model yet%s%s\n", dir, newest ? "; newest complete checkpoint " : "", newest ? newest : "");
    if (!newest) problem(&in, "%s holds no complete checkpoint", dir);
    else {
        cJSON_AddStringToObject(in.out, "newest_checkpoint", newest);
        Model m;
        char *err = NULL;
        if (model_load_dir_err(&m, newest, HEAD_AUTO, 0, 0, &err)) { problem(&in, "%s", err); free(err); }
        else {
            verify_checkpoint(&in, newest, &m);
            model_free(&m);
        }
        free(newest);
    }
    return info_done(&in);
}

// ----------------------------------------------------------------------------
// tensor files and shards

static int info_tensors(const char *path, int json) {
    Info in = {cJSON_CreateObject(), cJSON_CreateArray(), json, NULL};
    TensorSource src;
    char err[4600];
    if (ts_open(&src, path, err, sizeof err)) fatal("%s", err);
    cJSON_AddStringToObject(in.out, "path", path);
    cJSON_AddStringToObject(in.out, "format", g_tensor_formats[src.kind].name);
    cJSON *ts = cJSON_AddObjectToObject(in.out, "tensors");
    if (!json) printf("%s: %s, %d tensors\n", path, g_tensor_formats[src.kind].name, src.n);
    long total = 0, nonfinite = 0;
    for (int i = 0; i < src.n; i++) {
        const TsTensor *t = &src.t[i];
        cJSON *o = cJSON_AddObjectToObject(ts, t->name), *sh = cJSON_AddArrayToObject(o, "shape");
        cJSON_AddStringToObject(o, "dtype", dtype_name(t->dtype));
        char shape[96] = "";
        for (int k = 0; k < t->ndim; k++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[k]));
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", k ? "," : "", (long long)t->shape[k]);
        }
        if (!json) printf("  %-60s %-5s (%s)\n", t->name, dtype_name(t->dtype), shape);
        total += t->numel;
        if (!dtype_is_float(t->dtype)) continue;  // integer buffers (position ids)
        float *buf = xmalloc(sizeof(float) * (size_t)(t->numel + 1));
        if (ts_read_f32(&src, i, buf)) problem(&in, "%s: cannot be read as float32", t->name);
        for (long k = 0; k < t->numel; k++) nonfinite += !isfinite(buf[k]);
        free(buf);
    }
    if (nonfinite) problem(&in, "%ld values are not finite", nonfinite);
    cJSON_AddNumberToObject(in.out, "total", (double)total);
    if (!json) print_count("total elements", total);
    ts_close(&src);
    return info_done(&in);
}

// One split of a shard directory: its counts, every block read (CRC) unless quick, against meta.json.
static void verify_split(Info *in, const char *dir, const char *split, const ShardMeta *sm, int quick) {
    char err[4600];
    Loader l;
    cJSON *o = cJSON_AddObjectToObject(in->out, split);
    if (loader_open(&l, dir, split, 0, 0, 1, 0, err, sizeof err)) {
        cJSON_AddStringToObject(o, "error", err);
        if (!in->json) printf("  %-10s  %s\n", split, err);
        return;
    }
    cJSON_AddNumberToObject(o, "shards", l.nshards);
    cJSON_AddNumberToObject(o, "blocks", l.nblocks);
    cJSON_AddNumberToObject(o, "sequences", (double)l.n_seqs);
    cJSON_AddNumberToObject(o, "tokens", (double)l.n_tokens);
    cJSON_AddNumberToObject(o, "max_len", l.max_len);
    cJSON_AddNumberToObject(o, "vocab_size", l.vocab_size);
    char h[32];
    snprintf(h, sizeof h, "%016llx", (unsigned long long)l.vocab_hash);
    cJSON_AddStringToObject(o, "vocab_hash", h);
    if (!in->json)
        printf("  %-10s  %4d shards, %6d blocks, %10llu sequences, %12llu tokens, max_len %u\n", split, l.nshards, l.nblocks,
               (unsigned long long)l.n_seqs, (unsigned long long)l.n_tokens, l.max_len);
    if (l.vocab_hash != sm->vocab_hash) problem(in, "%s: the %s shards' vocabulary hash differs from meta.json's", dir, split);
    if ((int)l.vocab_size != sm->vocab_size) problem(in, "%s: the %s shards hold a %u-token vocabulary, meta.json says %d", dir, split, l.vocab_size, sm->vocab_size);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sm->json, split), "sequences");
    if (cJSON_IsNumber(ms) && (uint64_t)ms->valuedouble != l.n_seqs)
        problem(in, "%s: meta.json counts %.0f %s sequences, the shards hold %llu", dir, ms->valuedouble, split, (unsigned long long)l.n_seqs);
    if (!quick) {  // every block decompressed and CRC-checked, every id and length checked
        int32_t *ids = NULL;
        uint32_t *offs = NULL;
        size_t ic = 0, oc = 0;
        for (int s = 0; s < l.nshards; s++)
            for (uint32_t b = 0; b < l.shards[s].n_blocks; b++)
                if (shard_read_block(&l.shards[s], b, &ids, &ic, &offs, &oc, err, sizeof err)) problem(in, "%s", err);
        free(ids);
        free(offs);
    }
    loader_close(&l);
}

static int info_shards(const char *dir, int quick, int json) {
    Info in = {cJSON_CreateObject(), cJSON_CreateArray(), json, NULL};
    char err[4600], path[4200];
    ShardMeta sm;
    if (shard_meta_read(dir, &sm, err, sizeof err)) fatal("%s", err);
    cJSON_AddStringToObject(in.out, "path", dir);
    if (!json) printf("%s: token shards%s\n", dir, quick ? " (--quick: headers and indexes only)" : "");
    verify_split(&in, dir, "train", &sm, quick);
    verify_split(&in, dir, "validation", &sm, quick);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    if (!text) note(&in, "%s: missing (pretrain copies it into the model; without it the model has no vocabulary)", path);
    else if (vocab_hash_bytes(text, len) != sm.vocab_hash) problem(&in, "%s is not the vocabulary the shards were made with (hash differs)", path);
    free(text);
    if (!json) {
        const cJSON *src = cJSON_GetObjectItem(sm.json, "sources");
        printf("  vocabulary  %d tokens, hash %016llx, %s\n", sm.vocab_size, (unsigned long long)sm.vocab_hash,
               sm.do_lower_case < 0 ? "casing not recorded" : sm.do_lower_case ? "uncased" : "cased");
        if (cJSON_IsArray(src)) {
            printf("  sources    ");
            int k = 0;
            for (const cJSON *x = src->child; x && k < 5; x = x->next, k++) printf(" %s", cJSON_IsString(x) ? x->valuestring : "?");
            if (cJSON_GetArraySize(src) > 5) printf(" ... (%d in all)", cJSON_GetArraySize(src));
            printf("\n");
        }
    }
    cJSON_AddItemToObject(in.out, "meta", sm.json);
    return info_done(&in);
}

// ----------------------------------------------------------------------------

static int has_checkpoints(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int any = 0;
    while (d && (e = readdir(d))) any |= !strncmp(e->d_name, "checkpoint-", 11);
    if (d) closedir(d);
    return any;
}

int cmd_info(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    int json = args_flag(&a, "--json"), quick = args_flag(&a, "--quick");
    const char *head = args_str(&a, "--head", NULL);
    long B = args_int(&a, "--batch", 0), L = args_int(&a, "--seq-len", 0);
    if (head && strcmp(head, "mlm") && strcmp(head, "seqcls") && strcmp(head, "mc"))
        args_usage_error(&a, "--head expects mlm, seqcls or mc, got '%s'", head);
    if (B < 0 || B > 1 << 20 || L < 0 || L > 1 << 24) args_usage_error(&a, "--batch and --seq-len expect positive sizes");
    if (L && !B) args_usage_error(&a, "--seq-len goes with --batch");
    args_common(&a);
    const char *path = args_positional(&a);
    if (!path) args_usage_error(&a, "missing PATH");
    args_done(&a);
    struct stat sb;
    if (stat(path, &sb) != 0) fatal("%s: no such file or directory", path);
    char p[4200];
    if (S_ISDIR(sb.st_mode)) {
        snprintf(p, sizeof p, "%s/meta.json", path);
        if (path_exists(p)) return info_shards(path, quick, json);
        snprintf(p, sizeof p, "%s/config.json", path);
        if (path_exists(p)) return info_model(path, head, (int)B, (int)L, json);
        if (has_checkpoints(path)) return info_run(path, json);
        fatal("%s: a folder without config.json, meta.json or checkpoints (expected a model, a run or a shard directory)", path);
    }
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".txt")) return cmd_vocab_info(path, json);
    TensorSource src;
    char err[4600];
    if (ts_open(&src, path, err, sizeof err) == 0) {  // a tensor file of any format
        ts_close(&src);
        return info_tensors(path, json);
    }
    unsigned char head8[9] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head8, 1, sizeof head8, f) : 0;
    if (f) fclose(f);
    int looks_json = got > 0 && (head8[0] == '{' || head8[0] == ' ' || head8[0] == '\n' || head8[0] == '\r' || head8[0] == '\t' ||
                                 head8[0] == 0xEF);  // JSON, perhaps after whitespace or a byte order mark
    if (!looks_json) fatal("%s", err);  // a broken tensor file: its reader's message
    return info_model(path, head, (int)B, (int)L, json);
}
