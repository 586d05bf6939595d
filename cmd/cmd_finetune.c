// cmd_finetune.c: `bigs finetune` on a GLUE task.
#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/base/common.h"
#include "train/finetune.h"

static const char *k_usage =
    "Usage: bigs finetune --task NAME --data DIR --model MODEL_DIR --output DIR [--config FILE]\n"
    "                     [--set KEY=VALUE ...] [--seed N] [--cased] [--resume [--force]] [--overwrite_output_dir]\n"
    "                     [--threads N] [--quiet]\n"
    "\n"
    "Finetunes a pretrained (or converted, or already finetuned) model on a GLUE or SCROLLS task; the best\n"
    "dev checkpoint by the task's main metric becomes the model in --output.\n"
    "\n"
    "  --task NAME       cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli; contract_nli, quality\n"
    "  --data DIR        the task's folder of the official GLUE distribution (train.tsv, dev.tsv, ...), or\n"
    "                    of SCROLLS (train.jsonl, validation.jsonl, test.jsonl)\n"
    "  --model DIR       a model directory; a classifier of another label count is initialised fresh\n"
    "  --config FILE     JSON with a \"train\" member (training keys: docs/config.md)\n"
    "  --set KEY=VALUE   train.learning_rate=3e-5, train.num_train_epochs=5, train.single_segment=true,\n"
    "                    model.padding=longest, model.classifier_dropout=0.1 (repeatable)\n"
    "  --cased           the vocabulary is cased (default: uncased)\n"
    "  --resume          continue from the newest checkpoint-N/ in --output (written every train.save_steps,\n"
    "                    default 500, and on SIGINT/SIGTERM, which exit with 130/143); the same settings\n"
    "                    unless --force\n"
    "  --overwrite_output_dir  replace the files of an earlier run in --output (a non-empty --output is\n"
    "                    refused otherwise; files a run does not write are never removed)\n"
    "\n"
    "Defaults (the official recipe): lr 2e-5, 3 epochs, batch 16, weight decay 0.01, 10% warmup then\n"
    "linear decay, AdamW betas 0.9/0.999 eps 1e-6, evaluation every 500 steps and at each epoch end,\n"
    "max length = the model's max_position_embeddings (SCROLLS: 4096; an SSM model's position table grows,\n"
    "an attention model with a table truncates, a model without one runs as it is), inputs padded to it\n"
    "(model.padding=longest: no).\n"
    "Under `mpirun -np N` the N processes share each global batch of N x per_device_train_batch_size.\n"
    "\n"
    "Example: bigs finetune --task sst2 --data glue_data/SST-2 --model runs/small --output runs/sst2\n";

int cmd_finetune(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    FinetuneArgs f = {0};
    f.task = args_str(&a, "--task", NULL);
    f.data = args_str(&a, "--data", NULL);
    f.model = args_str(&a, "--model", NULL);
    f.output = args_str(&a, "--output", NULL);
    f.config = args_str(&a, "--config", NULL);
    const char *sets[256];
    f.nsets = args_multi(&a, "--set", sets, 256);
    f.sets = sets;
    f.seed = args_int(&a, "--seed", -1);
    f.cased = args_flag(&a, "--cased");
    f.resume = args_flag(&a, "--resume");
    f.overwrite = args_flag(&a, "--overwrite_output_dir");
    f.force = args_flag(&a, "--force");
    args_common(&a);
    args_done(&a);
    if (!f.task || !f.data || !f.model || !f.output) args_usage_error(&a, "--task, --data, --model and --output are required");
    return finetune_run(&f);
}
