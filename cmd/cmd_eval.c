// cmd_eval.c: `bigs eval`, a model's metrics on a task's split. (GLUE and SCROLLS tasks come with the
// finetuning work; mlm evaluates masked-LM loss on a shard directory.)
#include <string.h>

#include "cmd/cmd.h"
#include "core/args.h"
#include "core/common.h"
#include "train/trainer.h"

static const char *k_usage =
    "Usage: bigs eval --task NAME --data DIR --model MODEL_DIR [--split NAME] [--batch-size 32]\n"
    "                 [--max-batches N] [--seed N] [--threads N]\n"
    "\n"
    "Prints one JSON object of metrics on stdout.\n"
    "\n"
    "  --task mlm        masked-LM loss, perplexity and accuracy on a shard directory (from bigs prepare)\n"
    "  --split NAME      validation (default) or train\n"
    "  --batch-size N    sequences per batch (default 32)\n"
    "  --max-batches N   evaluate only the first N batches (default: the whole split)\n"
    "  --seed N          seed of the masking (default 42; the same seed gives the same masks)\n"
    "\n"
    "Example: bigs eval --task mlm --data shards/ --model runs/small\n";

int cmd_eval(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    const char *task = args_str(&a, "--task", NULL), *data = args_str(&a, "--data", NULL), *model = args_str(&a, "--model", NULL);
    const char *split = args_str(&a, "--split", "validation");
    long B = args_int(&a, "--batch-size", 32), maxb = args_int(&a, "--max-batches", 0), seed = args_int(&a, "--seed", 42);
    args_common(&a);
    args_done(&a);
    if (!task || !data || !model) args_usage_error(&a, "--task, --data and --model are required");
    if (strcmp(task, "mlm")) args_usage_error(&a, "task '%s' is not available yet (this version evaluates: mlm)", task);
    if (B < 1 || maxb < 0) args_usage_error(&a, "--batch-size must be >= 1 and --max-batches >= 0");
    Model m;
    model_load_dir(&m, model, HEAD_MLM, 0, 0);
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
    if (L > m.cfg.max_position_embeddings) fatal("%s holds sequences of up to %d tokens; %s takes at most %d", data, L, model, m.cfg.max_position_embeddings);
    ms.prob = 0.15;
    ms.max_pred = mlm_max_pred_for(20, L);
    double t0 = now_seconds();
    MlmEval r = mlm_evaluate(&m, &ld, &ms, (int)B, L, maxb, (uint64_t)seed);
    printf("{\"task\": \"mlm\", \"split\": \"%s\", \"loss\": %.6f, \"perplexity\": %.4f, \"accuracy\": %.6f, \"sequences\": %ld, \"tokens\": %ld, \"seconds\": %.2f}\n",
           split, r.loss, r.perplexity, r.accuracy, r.sequences, r.tokens, now_seconds() - t0);
    loader_close(&ld);
    model_free(&m);
    return 0;
}
