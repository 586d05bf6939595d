// cmd_predict.c: `bigs predict`: fill masks with a masked-LM model, or classify texts with a
// classification/regression model. One JSON object per input on stdout.
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/base/common.h"
#include "core/engine/ops.h"
#include "core/base/jsonio.h"
#include "core/model/model.h"
#include "data/textio.h"
#include "data/tokenizer.h"
#include "train/tasks.h"

static const char *k_usage =
    "Usage: bigs predict --model MODEL_DIR (--text TEXT [--text-pair TEXT] | --input FILE | --ids IDS)\n"
    "                    [--top-k 5] [--cased] [--threads N]\n"
    "\n"
    "Masked-LM models fill every [MASK] of the text: {\"masks\": [[{\"token\", \"id\", \"score\"}, ...top-k], ...]},\n"
    "scores being softmax probabilities over the vocabulary. Classifiers print {\"label\", \"scores\"}, regression\n"
    "models {\"score\"}. SSM-routed models see inputs padded to max_position_embeddings (as the official\n"
    "model) unless their config says \"padding\": \"longest\". Inputs longer than a position table are\n"
    "truncated; models without one (rope, alibi, none) take any length.\n"
    "\n"
    "  --model DIR       a model directory (config.json, model.safetensors, vocab.txt)\n"
    "  --text TEXT       one input; --text-pair adds a second segment (pair tasks)\n"
    "  --input FILE      one input per line (a TAB separates a pair); '-' reads stdin\n"
    "  --ids IDS         token ids, space-separated, used as they are (no [CLS]/[SEP] added)\n"
    "  --top-k K         fills per mask (default 5)\n"
    "  --cased           the model's vocabulary is cased (default: uncased)\n"
    "  --bf16            the products in bf16 with float32 sums (CPUs with AVX512-BF16)\n"
    "\n"
    "Example: bigs predict --model runs/small --text \"the capital of france is [MASK].\"\n";

typedef struct {
    Model m;
    Tokenizer *tok;
    int top_k, mask_id;
} Pred;

// Runs one input (ids of length n, types) through the model and prints its JSON line.
static int count_masks(const int32_t *ids, int n, int mask_id) {
    int k = 0;
    for (int i = 0; i < n; i++) k += ids[i] == mask_id;
    return k;
}

static void predict_one(Pred *p, const int32_t *ids, const int32_t *types, int n) {
    const ModelConfig *c = &p->m.cfg;
    int limit = config_length_limit(c);  // 0: no position table, any length
    if (limit && n > limit) {
        if (p->m.head == HEAD_MLM && count_masks(ids + limit, n - limit, p->mask_id))
            fatal("--ids: %d ids, and the model takes %d (max_position_embeddings): a [MASK] falls in the part that is cut off", n, limit);
        log_warn("input of %d tokens truncated to max_position_embeddings %d", n, limit);
        n = limit;
    }
    // a mixer that lets pads through sees inputs padded as the official scripts pad them (to
    // max_position_embeddings, or not at all past it when there is no table)
    int L = !(mixer_of(c)->needs & MIX_KEY_MASK) && c->padding == PAD_MAX_LENGTH && n < c->max_position_embeddings ? c->max_position_embeddings : n;
    int32_t *in = xcalloc((size_t)L, sizeof(int32_t)), *ty = xcalloc((size_t)L, sizeof(int32_t)), *mask = xcalloc((size_t)L, sizeof(int32_t));
    int32_t *labels = xmalloc(sizeof(int32_t) * (size_t)L);
    int nmask = 0;
    for (int i = 0; i < L; i++) {
        in[i] = i < n ? ids[i] : c->pad_token_id;
        ty[i] = i < n && types ? types[i] : 0;
        mask[i] = i < n;
        labels[i] = i < n && ids[i] == p->mask_id ? 0 : -100;
        nmask += labels[i] == 0;
    }
    Tape tp;
    tape_init(&tp, 0);
    tp.no_grad = 1;
    Batch b = {1, L, in, ty, mask};
    cJSON *o = cJSON_CreateObject();
    if (p->m.head == HEAD_MLM) {
        Tensor *logits = NULL;
        if (nmask) model_mlm(&p->m, &tp, &b, labels, &logits, NULL);
        cJSON *masks = cJSON_AddArrayToObject(o, "masks");
        int V = c->vocab_size;
        for (int k = 0; k < nmask; k++) {
            const float *lg = logits->data + (long)k * V;
            float mx = lg[0];
            for (int v = 1; v < V; v++) mx = fmaxf(mx, lg[v]);
            double z = 0;
            for (int v = 0; v < V; v++) z += exp((double)lg[v] - mx);
            int best[64], K = p->top_k;
            for (int j = 0; j < K; j++) {  // top-k by repeated selection (K is small)
                best[j] = -1;
                for (int v = 0; v < V; v++) {
                    int taken = 0;
                    for (int q = 0; q < j; q++) taken |= best[q] == v;
                    if (!taken && (best[j] < 0 || lg[v] > lg[best[j]])) best[j] = v;
                }
            }
            cJSON *fills = cJSON_CreateArray();
            for (int j = 0; j < K; j++) {
                const char *t = tok_token(p->tok, best[j]);
                cJSON *f = cJSON_CreateObject();
                cJSON_AddStringToObject(f, "token", t ? t : "?");
                cJSON_AddNumberToObject(f, "id", best[j]);
                cJSON_AddNumberToObject(f, "score", json_rounded(exp((double)lg[best[j]] - mx) / z, "%.6g"));
                cJSON_AddItemToArray(fills, f);
            }
            cJSON_AddItemToArray(masks, fills);
        }
    } else if (p->m.head == HEAD_SEQCLS) {
        Tensor *logits;
        model_classify(&p->m, &tp, &b, NULL, NULL, &logits);
        if (c->num_labels == 1) cJSON_AddNumberToObject(o, "score", json_rounded(logits->data[0], "%.6g"));
        else {
            int best = 0;
            float mx = logits->data[0];
            for (int j = 1; j < c->num_labels; j++)
                if (logits->data[j] > mx) { mx = logits->data[j]; best = j; }
            double z = 0;
            for (int j = 0; j < c->num_labels; j++) z += exp((double)logits->data[j] - mx);
            char name[CONFIG_LABEL_LEN + 16];
            snprintf(name, sizeof name, "%s", c->id2label[best][0] ? c->id2label[best] : "");
            if (!name[0]) snprintf(name, sizeof name, "LABEL_%d", best);
            cJSON_AddStringToObject(o, "label", name);
            cJSON *scores = cJSON_AddObjectToObject(o, "scores");
            for (int j = 0; j < c->num_labels; j++) {
                if (c->id2label[j][0]) snprintf(name, sizeof name, "%s", c->id2label[j]);
                else snprintf(name, sizeof name, "LABEL_%d", j);
                cJSON_AddNumberToObject(scores, name, json_rounded(exp((double)logits->data[j] - mx) / z, "%.6g"));
            }
        }
    }
    json_print_line(o);
    cJSON_Delete(o);
    fflush(stdout);
    tape_free(&tp);
    free(in); free(ty); free(mask); free(labels);
}

// Predicts one text (or pair). An input longer than the model takes is truncated with a warning; a
// [MASK] the truncation would drop is an error, reported as a JSON line (line > 0, from --input) or fatal
// (--text). A model without a position table takes the whole text, however long. Returns 0, or -1 for
// such an error.
static int predict_text(Pred *p, const char *a, const char *b, long line) {
    int max = config_length_limit(&p->m.cfg);  // 0: no limit
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    int full = tok_encode_pair(p->tok, a, la, b, lb, 0, NULL, NULL, 0);
    int cap = (full > max ? full : max) + 8;
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)cap), *types = xmalloc(sizeof(int32_t) * (size_t)cap);
    int rc = 0;
    if (max && full > max) {
        tok_encode_pair(p->tok, a, la, b, lb, 0, ids, types, cap);
        int want = count_masks(ids, full, p->mask_id);
        int n = tok_encode_pair(p->tok, a, la, b, lb, max, ids, types, cap);
        if (p->m.head == HEAD_MLM && count_masks(ids, n < cap ? n : cap, p->mask_id) < want) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s%s%ld tokens, and the model takes %d (max_position_embeddings): a [MASK] falls in the part that "
                     "is cut off; shorten the text", line ? "" : "--text ", line ? "the input is " : "is ", (long)full, max);
            if (!line) fatal("%s", msg);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "line", (double)line);
            cJSON_AddStringToObject(o, "error", msg);
            json_print_line(o);
            cJSON_Delete(o);
            log_warn("line %ld: %s", line, msg);
            rc = -1;
        } else {
            log_warn("%s%ld: %d tokens, truncated to the model's %d (max_position_embeddings)", line ? "line " : "--text", line, full, max);
            predict_one(p, ids, types, n < cap ? n : cap);
        }
    } else {
        int n = tok_encode_pair(p->tok, a, la, b, lb, max, ids, types, cap);
        predict_one(p, ids, types, n < cap ? n : cap);
    }
    free(ids);
    free(types);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    const char *model = args_str(&a, "--model", NULL), *text = args_str(&a, "--text", NULL), *pair = args_str(&a, "--text-pair", NULL);
    const char *input = args_str(&a, "--input", NULL), *idstr = args_str(&a, "--ids", NULL);
    long top_k = args_int(&a, "--top-k", 5);
    int cased = args_flag(&a, "--cased");
    if (args_flag(&a, "--bf16")) ops_require_bf16("--bf16");
    args_common(&a);
    args_done(&a);
    if (!model) args_usage_error(&a, "--model is required");
    if ((text != NULL) + (input != NULL) + (idstr != NULL) != 1) args_usage_error(&a, "give exactly one of --text, --input or --ids");
    if (pair && !text) args_usage_error(&a, "--text-pair goes with --text");
    if (top_k < 1 || top_k > 64) args_usage_error(&a, "--top-k must be 1..64, got %ld", top_k);
    Pred p;
    model_load_dir(&p.m, model, HEAD_AUTO, 0, 0);
    if (p.m.head == HEAD_MC) fatal("%s is a multiple-choice model; use bigs eval with its task", model);
    p.tok = task_tokenizer(model, &p.m.cfg, cased);
    p.top_k = (int)(top_k < p.m.cfg.vocab_size ? top_k : p.m.cfg.vocab_size);
    p.mask_id = tok_id(p.tok, "[MASK]");
    if (p.m.head == HEAD_MLM && p.mask_id < 0) fatal("%s/vocab.txt has no [MASK] token", model);
    if (text) {
        if (p.m.head == HEAD_MLM && !strstr(text, "[MASK]")) fatal("--text has no [MASK] to fill (write [MASK] where a word should be predicted)");
        predict_text(&p, text, pair, 0);
    } else if (idstr) {
        int32_t ids[65536];
        int n = 0;
        char *end;
        for (const char *s = idstr; *s && n < 65536;) {
            long v = strtol(s, &end, 10);
            if (end == s) fatal("--ids: expected space-separated token ids, got \"%s\"", s);
            if (v < 0 || v >= p.m.cfg.vocab_size) fatal("--ids: token id %ld is outside the vocabulary (0..%d)", v, p.m.cfg.vocab_size - 1);
            ids[n++] = (int32_t)v;
            s = end;
            while (*s == ' ' || *s == ',') s++;
        }
        if (n == 0) fatal("--ids: no token ids given");
        predict_one(&p, ids, NULL, n);
    } else {
        LineReader lr;
        char err[1024];
        if (line_reader_open(&lr, !strcmp(input, "-") ? "/dev/stdin" : input, err, sizeof err)) fatal("%s", err);
        int rc;
        long line = 0, failed = 0;
        while ((rc = line_reader_next(&lr, err, sizeof err)) == 1) {
            char *tab = memchr(lr.buf, '\t', lr.len);
            if (tab) *tab = 0;
            failed += predict_text(&p, lr.buf, tab ? tab + 1 : NULL, ++line) != 0;
        }
        if (rc < 0) fatal("%s", err);
        line_reader_close(&lr);
        if (failed) fatal("%ld of %ld lines of %s could not be predicted (their JSON lines say why)", failed, line, input);
    }
    tok_free(p.tok);
    model_free(&p.m);
    return 0;
}
