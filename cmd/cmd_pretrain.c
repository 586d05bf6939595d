// cmd_pretrain.c: `bigs pretrain`, masked-LM pretraining from the shell.
#include <stdlib.h>

#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/base/common.h"
#include "core/engine/tape.h"
#include "train/pretrain.h"

static const char *k_usage =
    "Usage: bigs pretrain --config FILE --data DIR --output DIR [--init MODEL_DIR] [--resume [--force]]\n"
    "                     [--overwrite_output_dir]\n"
    "                     [--set KEY=VALUE ...] [--seed N] [--threads N] [--quiet] [--profile]\n"
    "\n"
    "Masked-LM pretraining on shards made by `bigs prepare`.\n"
    "\n"
    "  --config FILE      JSON with \"model\" (model config keys) and \"train\" (training keys); see configs/\n"
    "  --data DIR         shard directory (train-*.bin, validation-*.bin, meta.json, vocab.txt)\n"
    "  --output DIR       where checkpoints, metrics.jsonl and the final model go\n"
    "  --init MODEL_DIR   start from this model (its config wins over the file's \"model\")\n"
    "  --resume           continue from the newest complete checkpoint in --output (the same settings; --force\n"
    "                     accepts changed training keys)\n"
    "  --overwrite_output_dir  replace the files of an earlier run in --output (a non-empty --output is\n"
    "                     refused otherwise; files a run does not write are never removed)\n"
    "  --set KEY=VALUE    override one key: model.hidden_size=256, train.max_steps=20 (repeatable)\n"
    "  --seed N           overrides train.seed (default 42)\n"
    "  --threads N        threads (default: all cores)\n"
    "  --quiet            no progress output\n"
    "  --profile          at the end, print the time per op type (forward, backward) per training pass\n"
    "\n"
    "SIGINT/SIGTERM save a checkpoint and exit with 130/143; --resume then continues exactly.\n"
    "Under `mpirun -np N` (a bigs built with MPI) the N processes train data-parallel on a global batch of\n"
    "N x per_device_train_batch_size sequences; rank 0 writes the output (docs/distributed.md).\n"
    "\n"
    "Example: bigs pretrain --config configs/bigs-small.json --data shards/ --output runs/small\n";

int cmd_pretrain(int argc, char **argv) {
    Args a;
    args_init(&a, argc, argv, k_usage);
    PretrainArgs p = {0};
    p.config_path = args_str(&a, "--config", NULL);
    p.data_dir = args_str(&a, "--data", NULL);
    p.output_dir = args_str(&a, "--output", NULL);
    p.init_dir = args_str(&a, "--init", NULL);
    p.resume = args_flag(&a, "--resume");
    p.overwrite = args_flag(&a, "--overwrite_output_dir");
    p.force = args_flag(&a, "--force");
    const char *sets[256];
    p.nsets = args_multi(&a, "--set", sets, 256);
    p.sets = sets;
    p.seed_override = args_int(&a, "--seed", -1);
    int profile = args_flag(&a, "--profile");
    args_common(&a);
    args_done(&a);
    if (!p.data_dir) args_usage_error(&a, "--data is required");
    if (!p.output_dir) args_usage_error(&a, "--output is required");
    if (!p.config_path && !p.init_dir && !p.resume) args_usage_error(&a, "give --config FILE (or --init MODEL_DIR)");
    if (profile) tape_profile_enable(1);
    int rc = pretrain_run(&p);
    tape_profile_print();
    return rc;
}
