// cmd_info.c: `bigs info PATH` describes a model directory, a config file or a safetensors file.
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/base/common.h"
#include "core/model/model.h"
#include "core/formats/safetensors.h"
#include "data/loader.h"
#include "data/meta.h"

static const char *k_usage =
    "Usage: bigs info PATH [--head mlm|seqcls|mc] [--json]\n"
    "\n"
    "Describes PATH: a model directory (config.json, model.safetensors), a config file (config.json or a\n"
    "training config with a \"model\" member), a .safetensors file, a shard directory (meta.json) or a\n"
    "vocabulary (a .txt file). For models: the variant, the config and the parameter count per group and in\n"
    "total. For shards: the counts per split, checked against every shard's header and index. For a\n"
    "vocabulary: its size, the special tokens and their ids, the alphabet and the ## pieces.\n"
    "\n"
    "  --head H   the head to count for a config without \"architectures\" (default: mlm)\n"
    "  --json     print one JSON object on stdout instead of text\n"
    "\n"
    "Example: bigs info configs/bigs-128.json\n";

static void group_counts(const ParamTable *pt, long *emb, long *enc, long *head) {
    *emb = *enc = *head = 0;
    for (int i = 0; i < pt->n; i++) {
        const char *n = pt->info[i].name;
        if (strstr(n, ".embeddings.")) *emb += pt->info[i].numel;
        else if (strstr(n, ".encoder.layer.")) *enc += pt->info[i].numel;
        else *head += pt->info[i].numel;
    }
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

static int info_model(const char *path, const char *head_name, int json) {
    ModelConfig cfg;
    config_load_path(&cfg, path);
    HeadType head = HEAD_MLM;
    if (head_name) head = !strcmp(head_name, "seqcls") ? HEAD_SEQCLS : !strcmp(head_name, "mc") ? HEAD_MC : HEAD_MLM;
    else {
        // a model directory's config.json names its head in "architectures"
        char file[4096];
        struct stat sb;
        snprintf(file, sizeof file, stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? "%s/config.json" : "%s", path);
        size_t len;
        const char *e;
        char *text = file_read_all(file, &len, &e);
        cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
        const cJSON *a = root ? cJSON_GetObjectItemCaseSensitive(root, "architectures") : NULL;
        if (cJSON_IsArray(a) && cJSON_IsString(cJSON_GetArrayItem(a, 0)))
            head = model_head_from_architecture(cJSON_GetArrayItem(a, 0)->valuestring);
        cJSON_Delete(root);
        free(text);
    }
    ParamTable pt;
    model_declare(&pt, &cfg, head);
    Model tmp = {.cfg = cfg, .head = head};
    long emb, enc, hd;
    group_counts(&pt, &emb, &enc, &hd);
    int NL = cfg.num_hidden_layers;
    cJSON *cj = config_to_json(&cfg, model_architecture(&tmp));
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddStringToObject(o, "variant", config_variant_name(&cfg));
        cJSON_AddStringToObject(o, "architecture", model_architecture(&tmp));
        cJSON *p = cJSON_AddObjectToObject(o, "parameters");
        cJSON_AddNumberToObject(p, "embeddings", (double)emb);
        cJSON_AddNumberToObject(p, "encoder", (double)enc);
        cJSON_AddNumberToObject(p, "per_layer", NL ? (double)(enc / NL) : 0);
        cJSON_AddNumberToObject(p, "head", (double)hd);
        cJSON_AddNumberToObject(p, "total", (double)pt.count);
        cJSON_AddItemToObject(o, "config", cj);
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("%s: %s, %s\n\nconfig:\n", path, config_variant_name(&cfg), model_architecture(&tmp));
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
        cJSON_Delete(cj);
    }
    params_free(&pt);
    return 0;
}

static int info_safetensors(const char *path, int json) {
    StFile f;
    char err[1024];
    if (st_open(&f, path, err, sizeof err)) fatal("%s", err);
    long total = 0;
    if (json) {
        cJSON *o = cJSON_CreateObject(), *ts = cJSON_AddObjectToObject(o, "tensors");
        for (int i = 0; i < f.n; i++) {
            cJSON *t = cJSON_AddObjectToObject(ts, f.t[i].name), *sh = cJSON_AddArrayToObject(t, "shape");
            cJSON_AddStringToObject(t, "dtype", dtype_name(f.t[i].dtype));
            for (int k = 0; k < f.t[i].ndim; k++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)f.t[i].shape[k]));
            total += f.t[i].numel;
        }
        cJSON_AddNumberToObject(o, "total", (double)total);
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("%s: %d tensors\n", path, f.n);
        for (int i = 0; i < f.n; i++) {
            char shape[96] = "";
            for (int k = 0; k < f.t[i].ndim; k++) snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", k ? "," : "", (long long)f.t[i].shape[k]);
            printf("  %-60s %-5s (%s)\n", f.t[i].name, dtype_name(f.t[i].dtype), shape);
            total += f.t[i].numel;
        }
        print_count("total elements", total);
    }
    st_close(&f);
    return 0;
}

// A shard directory: meta.json's summary, and every shard's header and index checked.
static int info_shards(const char *dir, int json) {
    char err[4600];
    ShardMeta sm;
    if (shard_meta_read(dir, &sm, err, sizeof err)) fatal("%s", err);
    cJSON *meta = sm.json;
    const char *splits[2] = {"train", "validation"};
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "path", dir);
    for (int s = 0; s < 2; s++) {
        Loader l;
        cJSON *o = cJSON_AddObjectToObject(out, splits[s]);
        if (loader_open(&l, dir, splits[s], 0, 0, 1, 0, err, sizeof err)) {
            cJSON_AddStringToObject(o, "error", err);
            continue;
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
        loader_close(&l);
    }
    cJSON_AddItemToObject(out, "meta", meta);
    if (json) {
        char *t = cJSON_PrintUnformatted(out);
        printf("%s\n", t);
        free(t);
    } else {
        printf("%s: token shards\n", dir);
        for (int s = 0; s < 2; s++) {
            const cJSON *o = cJSON_GetObjectItem(out, splits[s]), *er = cJSON_GetObjectItem(o, "error");
            if (er) { printf("  %-10s  %s\n", splits[s], er->valuestring); continue; }
            printf("  %-10s  %4d shards, %6d blocks, %10.0f sequences, %12.0f tokens, max_len %d\n", splits[s],
                   cJSON_GetObjectItem(o, "shards")->valueint, cJSON_GetObjectItem(o, "blocks")->valueint,
                   cJSON_GetObjectItem(o, "sequences")->valuedouble, cJSON_GetObjectItem(o, "tokens")->valuedouble,
                   cJSON_GetObjectItem(o, "max_len")->valueint);
        }
        const cJSON *vs = cJSON_GetObjectItem(meta, "vocab_size"), *vh = cJSON_GetObjectItem(meta, "vocab_hash");
        printf("  vocabulary  %d tokens, hash %s\n", cJSON_IsNumber(vs) ? vs->valueint : -1, cJSON_IsString(vh) ? vh->valuestring : "?");
        const cJSON *src = cJSON_GetObjectItem(meta, "sources");
        if (cJSON_IsArray(src)) {
            printf("  sources    ");
            int k = 0;
            for (const cJSON *x = src->child; x && k < 5; x = x->next, k++) printf(" %s", cJSON_IsString(x) ? x->valuestring : "?");
            if (cJSON_GetArraySize(src) > 5) printf(" ... (%d in all)", cJSON_GetArraySize(src));
            printf("\n");
        }
    }
    cJSON_Delete(out);
    return 0;
}

int cmd_info(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    int json = args_flag(&a, "--json");
    const char *head = args_str(&a, "--head", NULL);
    if (head && strcmp(head, "mlm") && strcmp(head, "seqcls") && strcmp(head, "mc"))
        args_usage_error(&a, "--head expects mlm, seqcls or mc, got '%s'", head);
    args_common(&a);
    const char *path = args_positional(&a);
    if (!path) args_usage_error(&a, "missing PATH");
    args_done(&a);
    struct stat sb;
    if (stat(path, &sb) != 0) fatal("%s: no such file or directory", path);
    size_t n = strlen(path);
    if (S_ISREG(sb.st_mode) && n > 12 && !strcmp(path + n - 12, ".safetensors")) return info_safetensors(path, json);
    if (S_ISREG(sb.st_mode) && n > 4 && !strcmp(path + n - 4, ".txt")) return cmd_vocab_info(path, json);
    if (S_ISDIR(sb.st_mode)) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg, "%s/meta.json", path);
        if (stat(cfg, &sb) == 0) return info_shards(path, json);
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        if (stat(cfg, &sb) != 0) fatal("%s: a directory without config.json or meta.json (expected a model or shard directory)", path);
    }
    return info_model(path, head, json);
}
