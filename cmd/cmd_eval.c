// cmd_eval.c: `bigs eval`, a model's metrics on a task's split. (GLUE and SCROLLS tasks come with the
// finetuning work; mlm evaluates masked-LM loss on a shard directory.)
#include <dirent.h>
#include <string.h>
#include <strings.h>

#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/base/common.h"
#include "core/engine/ops.h"
#include "core/base/paths.h"
#include "core/base/jsonio.h"
#include "train/tasks.h"
#include "train/pretrain.h"

static const char *k_usage =
    "Usage: bigs eval --task NAME --data DIR --model MODEL_DIR [--split NAME] [--predictions FILE]\n"
    "                 [--batch-size 32] [--max-batches N] [--seed N] [--max-length N] [--cased] [--threads N]\n"
    "\n"
    "Prints one JSON object of metrics on stdout.\n"
    "\n"
    "  --task NAME       a GLUE task (cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli, ax) or a SCROLLS task\n"
    "                    (contract_nli, quality) with a finetuned model, or mlm: masked-LM loss, perplexity and\n"
    "                    accuracy on a shard directory\n"
    "  --split NAME      GLUE: dev (default; MNLI: matched), dev_mismatched, test, test_mismatched;\n"
    "                    SCROLLS: validation (default), test;\n"
    "                    mlm: validation (default) or train\n"
    "  --predictions F   GLUE: write index<TAB>prediction (the leaderboard layout); SCROLLS: {id: \"text\"}.\n"
    "                    On a test split the default is <Task>.tsv in the current folder (CoLA.tsv, MNLI-m.tsv,\n"
    "                    AX.tsv, ...) or <task>.json\n"
    "  --batch-size N    sequences per batch (default 32)\n"
    "  --max-batches N   evaluate only the first N batches (default: the whole split)\n"
    "  --seed N          seed of the masking (default 42; the same seed gives the same masks)\n"
    "  --force           write over an existing --predictions file (never over a file of --data)\n"
    "  --bf16            the products in bf16 with float32 sums (CPUs with AVX512-BF16; about twice as fast)\n"
    "  --max-length N    mlm: a position table shorter than N grows to N rows for this evaluation, its learned\n"
    "                    rows repeated cyclically (as finetuning grows it), so an absolute model can be measured\n"
    "                    past its pretraining length; models without a table (rope, alibi, none) need no flag\n"
    "\n"
    "Example: bigs eval --task mlm --data shards/ --model runs/small\n";

// GLUE and SCROLLS: metrics on a labelled split; predictions in the GLUE submission layout
// (index<TAB>prediction) or as SCROLLS's {id: "text"}.
// The predictions file: never a file of the task's data (its own input), never over an existing file
// unless --force.
static void predictions_check(const char *path, const char *data, int force) {
    DIR *d = opendir(data);
    struct dirent *de;
    char f[8192];
    while (d && (de = readdir(d))) {
        snprintf(f, sizeof f, "%s/%s", data, de->d_name);
        if (de->d_name[0] != '.' && path_same(path, f)) fatal("--predictions %s is %s, a file of --data: the predictions go to a new file", path, f);
    }
    if (d) closedir(d);
    if (path_exists(path) && !force) fatal("--predictions %s exists: add --force to write over it, or choose another name", path);
}

// The model must be one for this task: its finetuning_task, or failing that its label names, say so.
static void check_model_task(const Model *m, const char *model, const TaskSpec *t) {
    if (m->head != t->head)
        fatal("%s is not a %s model (finetune it on %s first)", model, t->head == HEAD_MC ? "multiple-choice" : "sequence classification", t->name);
    if (t->head == HEAD_SEQCLS && m->cfg.num_labels != t->num_labels)
        fatal("%s has %d labels but %s needs %d (ax takes an MNLI model)", model, m->cfg.num_labels, t->name, t->num_labels);
    const char *ft = m->cfg.finetuning_task, *want = !strcmp(t->name, "ax") ? "mnli" : t->name;
    if (ft[0] && strcmp(ft, want))
        fatal("%s was finetuned on %s, not %s: evaluate it with --task %s, or finetune a model on %s", model, ft, want, ft, want);
    if (ft[0]) return;
    int named = 0, known = 1;  // a converted model names at most its labels
    for (int k = 0; k < m->cfg.num_labels && t->labels; k++) {
        if (!m->cfg.id2label[k][0]) continue;
        named = 1;
        int found = 0;
        for (int j = 0; j < t->num_labels; j++) found |= !strcasecmp(m->cfg.id2label[k], t->labels[j]);
        known &= found;
    }
    if (named && !known) fatal("%s's labels (id2label in its config.json) are not %s's: it is a model of another task", model, t->name);
    if (!named) log_warn("%s's config.json names neither its finetuning task nor its labels: bigs cannot check that it is a %s model", model, t->name);
}

static int eval_task(const TaskSpec *t, const char *data, const char *model, const char *split, const char *pred_path, int B, int cased,
                     int force) {
    if (!strcmp(t->name, "ax")) split = "test";
    int test = !strncmp(split, "test", 4);
    GlueSet rows;
    ScrollsSet ss;
    task_read(t, data, split, &rows, &ss);  // first: a wrong --split or data folder is reported before the model loads
    char def[64];
    if (test && !pred_path) {
        if (t->glue) snprintf(def, sizeof def, "%s", !strcmp(t->name, "mnli") && strstr(split, "mismatched") ? "MNLI-mm.tsv" : t->glue->submission);
        else snprintf(def, sizeof def, "%s.json", t->name);
        pred_path = def;
    }
    if (pred_path) predictions_check(pred_path, data, force);
    Model m;
    model_load_dir(&m, model, HEAD_AUTO, 0, 0);
    check_model_task(&m, model, t);
    Tokenizer *tok = task_tokenizer(model, &m.cfg, cased);
    int L = m.cfg.max_position_embeddings;
    long nex = rows.n / t->C;
    Encoded e;
    glue_encode(t->glue, tok, &rows, L, 0, &e);
    int *pred = xmalloc(sizeof(int) * (size_t)(nex + 1));
    float *score = xmalloc(sizeof(float) * (size_t)(nex + 1));
    double t0 = now_seconds();
    char what[64];
    snprintf(what, sizeof what, "eval %s", t->name);
    glue_predict(&m, &e, B, t->C, pred, score, what);
    int perm[CONFIG_MAX_LABELS];
    if (t->C == 1 && task_label_permutation(t, &m.cfg, perm)) {  // the model's classes by their names
        for (long i = 0; i < nex; i++) pred[i] = perm[pred[i]];
        log_info("note: %s orders the labels differently from %s; predictions are mapped by label name", model, t->name);
    }
    if (pred_path && t->glue) {
        size_t cap = 64 + (size_t)nex * 32, len = 0;
        char *buf = xmalloc(cap);
        len += (size_t)snprintf(buf, cap, "index\tprediction\n");
        for (long i = 0; i < nex; i++) {
            if (t->num_labels == 1) len += (size_t)snprintf(buf + len, cap - len, "%ld\t%.3f\n", rows.ex[i].index, score[i]);
            else len += (size_t)snprintf(buf + len, cap - len, "%ld\t%s\n", rows.ex[i].index, t->labels[pred[i]]);
        }
        if (file_write_atomic(pred_path, buf, len)) fatal("%s: cannot write the predictions", pred_path);
        free(buf);
    } else if (pred_path) {
        cJSON *pj = cJSON_CreateObject();
        for (long i = 0; i < nex; i++) cJSON_AddStringToObject(pj, ss.ex[i].id, task_prediction_text(t, &ss, i, pred[i]));
        char *txt = cJSON_Print(pj);
        if (file_write_atomic(pred_path, txt, strlen(txt))) fatal("%s: cannot write the predictions", pred_path);
        free(txt);
        cJSON_Delete(pj);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", t->name);
    cJSON_AddStringToObject(o, "split", split);
    cJSON_AddNumberToObject(o, "examples", (double)nex);
    if (!test) {
        double main;
        cJSON *met = task_metrics(t, pred, score, &rows, &ss, &main);
        for (cJSON *k = met->child; k; k = k->next) cJSON_AddNumberToObject(o, k->string, k->valuedouble);
        cJSON_Delete(met);
    }
    if (pred_path) cJSON_AddStringToObject(o, "predictions", pred_path);
    cJSON_AddNumberToObject(o, "seconds", now_seconds() - t0);
    json_print_line(o);
    cJSON_Delete(o);
    free(pred);
    free(score);
    glue_encoded_free(&e);
    glue_free(&rows);
    scrolls_free(&ss);
    tok_free(tok);
    model_free(&m);
    return 0;
}

// The masked-LM model, its position table grown to max_len rows when it is shorter (0: as it is).
static void eval_load_mlm(Model *m, const char *model, long max_len) {
    ModelConfig cfg;
    config_load_path(&cfg, model);
    int flags = 0;
    if (max_len > 0 && config_length_limit(&cfg) && max_len > cfg.max_position_embeddings) {
        cfg.max_position_embeddings = (int)max_len;
        flags = LOAD_GROW_POSITIONS;  // the loader notes the growth
    }
    char *err = NULL;
    if (model_load_with_config(m, model, &cfg, HEAD_MLM, flags, 0, &err)) fatal("%s", err);
}

int cmd_eval(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    const char *task = args_str(&a, "--task", NULL), *data = args_str(&a, "--data", NULL), *model = args_str(&a, "--model", NULL);
    const char *split = args_str(&a, "--split", NULL), *pred = args_str(&a, "--predictions", NULL);
    int cased = args_flag(&a, "--cased"), force = args_flag(&a, "--force");
    if (args_flag(&a, "--bf16")) ops_require_bf16("--bf16");
    long B = args_int(&a, "--batch-size", 32), maxb = args_int(&a, "--max-batches", 0), seed = args_int(&a, "--seed", 42);
    long max_len = args_int(&a, "--max-length", 0);
    args_common(&a);
    args_done(&a);
    if (!task || !data || !model) args_usage_error(&a, "--task, --data and --model are required");
    if (B < 1 || maxb < 0) args_usage_error(&a, "--batch-size must be >= 1 and --max-batches >= 0");
    if (max_len < 0 || max_len > 1 << 20) args_usage_error(&a, "--max-length must be 1..1048576, got %ld", max_len);
    if (max_len && strcmp(task, "mlm")) args_usage_error(&a, "--max-length goes with --task mlm");
    if (strcmp(task, "mlm")) {
        TaskSpec t;
        if (task_spec(task, &t)) args_usage_error(&a, "unknown task '%s' (eval takes mlm, %s)", task, task_names());
        return eval_task(&t, data, model, split ? split : (t.scrolls ? "validation" : "dev"), pred, (int)B, cased, force);
    }
    if (!split) split = "validation";
    if (pred) args_usage_error(&a, "--predictions goes with a GLUE or SCROLLS task, not mlm");
    HeadType head = model_head_of_dir(model);
    if (head != HEAD_MLM)
        fatal("%s is a %s model: --task mlm needs a masked-LM model (a pretrained one; a finetuned model is evaluated on its task)", model,
              head == HEAD_SEQCLS ? "sequence-classification" : "multiple-choice");
    Model m;
    eval_load_mlm(&m, model, max_len);
    MaskSpec ms;
    uint64_t vhash;
    data_meta_load(data, &ms, &vhash);
    if (ms.vocab_size != m.cfg.vocab_size) fatal("%s was prepared with a vocabulary of %d tokens but %s has vocab_size %d", data, ms.vocab_size, model, m.cfg.vocab_size);
    char vpath[4096];
    snprintf(vpath, sizeof vpath, "%s/vocab.txt", model);
    size_t vlen;
    const char *verr;
    char *vtext = file_read_all(vpath, &vlen, &verr);
    if (vtext && vocab_hash_bytes(vtext, vlen) != vhash) fatal("%s was prepared with another vocabulary than %s", data, vpath);
    free(vtext);
    Loader ld;
    char err[1024];
    if (loader_open(&ld, data, split, 0, 0, 1, 0, err, sizeof err)) fatal("%s", err);
    int L = (int)ld.max_len;
    int limit = config_length_limit(&m.cfg);
    if (limit && L > limit)
        fatal("%s holds sequences of up to %d tokens; %s takes at most %d (its position table; --max-length %d grows it)", data, L, model, limit, L);
    ms.prob = 0.15;
    ms.max_pred = mlm_max_pred_for(20, L);
    double t0 = now_seconds();
    MlmEval r = mlm_evaluate(&m, &ld, &ms, (int)B, L, maxb, (uint64_t)seed, "eval mlm");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", "mlm");
    cJSON_AddStringToObject(o, "split", split);
    cJSON_AddNumberToObject(o, "loss", json_rounded(r.loss, "%.6f"));
    cJSON_AddNumberToObject(o, "perplexity", json_rounded(r.perplexity, "%.4f"));
    cJSON_AddNumberToObject(o, "accuracy", json_rounded(r.accuracy, "%.6f"));
    cJSON_AddNumberToObject(o, "sequences", (double)r.sequences);
    cJSON_AddNumberToObject(o, "tokens", (double)r.tokens);
    cJSON_AddNumberToObject(o, "seconds", json_rounded(now_seconds() - t0, "%.2f"));
    json_print_line(o);
    cJSON_Delete(o);
    loader_close(&ld);
    model_free(&m);
    return 0;
}
