// test_badinput.c: the bad-input catalogue. Every subcommand is given malformed configs and flags, wrong
// files for the task, truncated and corrupt checkpoints, mismatched vocabularies, out-of-range ids, empty
// inputs, huge lines and unwritable outputs. Each case must end with exit status 1 (bad input) or 2
// (bad usage), never a signal or a hang (a 60 s timeout), with a message naming the file, key or line
// at fault, and must leave no half-written output behind (no *.tmp, no output folder or file).
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/common.h"
#include "data/shard.h"
#include "tests/test.h"

// the cases leave their optional last field (setup) out
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct {
    const char *name;
    const char *cmd;     // {B}: bigs, {T}: the fixture folder, {O}: this case's own scratch folder
    int status;          // 1 or 2
    const char *want;    // a substring of the message (with {T} expanded)
    const char *absent;  // output that must not exist afterwards (optional)
    const char *setup;   // run first (optional; expanded like cmd): the state the case needs
} BadCase;

#define PRETRAIN "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run"
#define STOPPED_RUN "BIGS_STOP_AFTER_STEP=2 {B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --quiet --threads 1"

static const BadCase k_cases[] = {
    // the command line
    {"no command", "{B}", 2, "Usage: bigs <command>", NULL},
    {"unknown command", "{B} pretrian", 2, "unknown command 'pretrian'", NULL},
    {"unknown flag", "{B} info {T}/model --colour", 2, "--colour", NULL},
    {"flag without its value", "{B} tokenize --vocab", 2, "--vocab", NULL},
    {"threads out of range", "{B} info {T}/model --threads -3", 2, "--threads", NULL},
    {"--set without =", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set train.max_steps", 2, "train.max_steps", "{O}/run"},
    {"--set unknown key", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set train.max_stepz=3", 2, "max_stepz", "{O}/run"},
    {"--set bad value", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set train.learning_rate=fast", 2, "learning_rate", "{O}/run"},
    // configs
    {"config not JSON", "{B} pretrain --config {T}/notjson.json --data {T}/shards --output {O}/run", 1, "notjson.json", "{O}/run"},
    {"config empty", "{B} pretrain --config {T}/empty.json --data {T}/shards --output {O}/run", 1, "empty.json", "{O}/run"},
    {"config unknown key", "{B} pretrain --config {T}/unknown.json --data {T}/shards --output {O}/run", 1, "\"hiden_size\"", "{O}/run"},
    {"config wrong type", "{B} pretrain --config {T}/wrongtype.json --data {T}/shards --output {O}/run", 1, "hidden_size", "{O}/run"},
    {"config impossible size", "{B} pretrain --config {T}/heads.json --data {T}/shards --output {O}/run", 1, "num_attention_heads", "{O}/run"},
    {"config unknown top-level key", "{B} pretrain --config {T}/toplevel.json --data {T}/shards --output {O}/run", 1, "\"modle\"", "{O}/run"},
    {"config missing", "{B} pretrain --config {T}/nothere.json --data {T}/shards --output {O}/run", 1, "nothere.json", "{O}/run"},
    {"info on a bad config", "{B} info {T}/unknown.json", 1, "hiden_size", NULL},
    // positions (docs/models.md section 8)
    {"rope with ssm routing", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set model.position_embedding_type=rope", 1,
     "position_embedding_type \"rope\" needs a routing that takes positions", "{O}/run"},
    {"no positions with attention", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set model.routing=attention "
     "--set model.num_attention_heads=2 --set model.position_embedding_type=none", 1, "position_embedding_type \"none\"", "{O}/run"},
    {"rope_theta zero", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set model.routing=attention "
     "--set model.num_attention_heads=2 --set model.position_embedding_type=rope --set model.rope_theta=0", 1, "rope_theta", "{O}/run"},
    {"rope with an odd head dimension", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set model.routing=attention "
     "--set model.position_embedding_type=rope", 1, "num_attention_heads = 16 / 16 = 1 is odd", "{O}/run"},
    {"unknown rope_scaling type", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set 'model.rope_scaling={\"type\": \"yarn\", \"factor\": 2}'",
     2, "rope_scaling type \"yarn\"", "{O}/run"},
    {"unknown position kind", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set model.position_embedding_type=relative_key",
     2, "position_embedding_type", "{O}/run"},
    {"eval --max-length negative", "{B} eval --task mlm --data {T}/shards --model {T}/model --max-length -4", 2, "--max-length", NULL},
    // pretrain data and outputs
    {"data folder missing", "{B} pretrain --config {T}/ok.json --data {T}/nodata --output {O}/run", 1, "nodata", NULL},
    {"data without meta.json", "{B} pretrain --config {T}/ok.json --data {T}/nometa --output {O}/run", 1, "meta.json", NULL},
    {"vocabulary mismatch", "{B} pretrain --config {T}/vocab30522.json --data {T}/shards --output {O}/run", 1, "vocab_size", "{O}/run"},
    {"sequence longer than positions", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --set model.max_position_embeddings=16 --set train.max_seq_length=16", 1, "max_seq_length", "{O}/run"},
    {"corrupt shard block", "{B} pretrain --config {T}/ok.json --data {T}/corrupt --output {O}/run --quiet", 1, "train-00000.bin", NULL},
    {"token id out of range", "{B} pretrain --config {T}/ok.json --data {T}/oob --output {O}/run --quiet", 1, "train-00000.bin", NULL},
    {"output under a file", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {T}/empty.txt/run", 1, "empty.txt/run", NULL},
    {"--init folder missing", "{B} pretrain --init {T}/nomodel --data {T}/shards --output {O}/run", 1, "nomodel", "{O}/run"},
    {"resume from a truncated checkpoint", "{B} pretrain --data {T}/shards --output {O}/run --resume --quiet", 1, "model.safetensors", NULL},
    {"resume with no checkpoint and no config", "{B} pretrain --data {T}/shards --output {O}/run --resume", 2, "no complete checkpoint in {O}/run", "{O}/run"},
    // past a file-size limit the first checkpoint's weights cannot be written: SIGXFSZ is ignored, so
    // this is an error naming the file, and the unfinished checkpoint-2.tmp is removed
    {"checkpoint past a file-size limit", "sh -c 'ulimit -f 100; exec {B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --quiet --threads 1'", 1,
     "{O}/run/checkpoint-2.tmp/model.safetensors: cannot write: File too large", NULL},
    // model directories and checkpoints
    {"info on a truncated safetensors", "{B} info {T}/trunc.safetensors", 1, "trunc.safetensors", NULL},
    {"info on garbage", "{B} info {T}/garbage.safetensors", 1, "garbage.safetensors", NULL},
    {"info on a missing path", "{B} info {T}/nothere", 1, "nothere", NULL},
    {"model without config.json", "{B} predict --model {T}/noconfig --text hello", 1, "config.json", NULL},
    {"model with truncated weights", "{B} predict --model {T}/truncmodel --text 'the [MASK] sat'", 1, "model.safetensors", NULL},
    {"model with a missing tensor", "{B} predict --model {T}/shortmodel --text 'the [MASK] sat'", 1, "shortmodel/model.safetensors does not match its config.json", NULL},
    // prepare and tokenize
    {"prepare input missing", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/nothere.txt --output {O}/sh", 1, "nothere.txt", "{O}/sh"},
    {"prepare empty input", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/empty.txt --output {O}/sh", 1, "empty.txt", "{O}/sh"},
    {"prepare vocab without specials", "{B} prepare --vocab {T}/nospecials.txt --input {T}/text.txt --output {O}/sh", 1, "nospecials.txt", "{O}/sh"},
    {"prepare empty vocab", "{B} prepare --vocab {T}/empty.txt --input {T}/text.txt --output {O}/sh", 1, "empty.txt", "{O}/sh"},
    {"prepare max length too small", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/text.txt --output {O}/sh --max-len 2", 2, "--max-len", "{O}/sh"},
    {"prepare output under a file", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/text.txt --output {T}/empty.txt/sh", 1, "empty.txt/sh", NULL},
    {"prepare malformed jsonl", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/bad.jsonl --output {O}/sh", 1, "bad.jsonl:2", "{O}/sh"},
    {"tokenize vocab missing", "echo hello | {B} tokenize --vocab {T}/nothere.txt", 1, "nothere.txt", NULL},
    {"tokenize vocab with a huge line", "echo hello | {B} tokenize --vocab {T}/hugevocab.txt", 1, "hugevocab.txt", NULL},
    // finetune, eval, predict
    {"unknown task", "{B} finetune --task glu --data {T}/rte --model {T}/model --output {O}/ft", 2, "unknown task 'glu'", "{O}/ft"},
    {"task data of another task", "{B} finetune --task rte --data {T}/sst2 --model {T}/model --output {O}/ft", 1, "train.tsv", "{O}/ft"},
    {"unknown label", "{B} finetune --task rte --data {T}/badlabel --model {T}/model --output {O}/ft", 1, "train.tsv:3:", "{O}/ft"},
    {"task folder empty", "{B} finetune --task rte --data {T}/nodata --model {T}/model --output {O}/ft", 1, "nodata", "{O}/ft"},
    {"huge TSV line", "{B} finetune --task sst2 --data {T}/hugetsv --model {T}/model --output {O}/ft", 1, "train.tsv", "{O}/ft"},
    {"finetune vocabulary mismatch", "{B} finetune --task rte --data {T}/rte --model {T}/smallvocab --output {O}/ft", 1, "vocab.txt", "{O}/ft"},
    {"eval an MLM model on GLUE", "{B} eval --task rte --data {T}/rte --model {T}/model", 1, "not a sequence classification model", NULL},
    {"eval bad split", "{B} eval --task rte --data {T}/rte --model {T}/model --split valid", 2, "valid", NULL},
    {"eval mlm on another vocabulary", "{B} eval --task mlm --data {T}/shards --model {T}/model", 1, "vocab", NULL},
    {"predict token id out of range", "{B} predict --model {T}/model --ids '101 99999 102'", 1, "99999", NULL},
    {"predict without input", "{B} predict --model {T}/model", 2, "--text", NULL},
    // convert
    {"convert unknown target", "{B} convert --input {T}/model --output {O}/out --to onnx", 2, "onnx", "{O}/out"},
    {"convert garbage msgpack", "{B} convert --input {T}/garbage.msgpack --config {T}/model/config.json --vocab {T}/model/vocab.txt --output {O}/out", 1, "garbage.msgpack", "{O}/out"},
    {"convert garbage .bin", "{B} convert --input {T}/garbage.bin --config {T}/model/config.json --vocab {T}/model/vocab.txt --output {O}/out", 1, "garbage.bin", "{O}/out"},
    {"convert truncated safetensors", "{B} convert --input {T}/truncmodel/model.safetensors --output {O}/out", 1, "model.safetensors", "{O}/out"},
    {"convert output under a file", "{B} convert --input {T}/model --output {T}/empty.txt/x.msgpack --to flax", 1, "empty.txt/x.msgpack", NULL},
    // ---- nothing a user owns is written over; no wrong result passes as right (issue 17)
    {"config without a model member", "{B} pretrain --config {T}/nomodel.json --data {T}/shards --output {O}/run", 1, "no \"model\" member", "{O}/run"},
    {"config that is a JSON array", "{B} pretrain --config {T}/array.json --data {T}/shards --output {O}/run", 1, "array.json", "{O}/run"},
    {"config that is a folder", "{B} pretrain --config {T}/model --data {T}/shards --output {O}/run", 1, "model", "{O}/run"},
    {"pretrain into a folder holding other files", PRETRAIN, 1, "not empty", "{O}/run/config.json", "mkdir -p {O}/run && touch {O}/run/notes.txt"},
    {"pretrain into its own data", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {T}/shards", 1, "the folder the run reads", "{T}/shards/run.json"},
    {"finetune into its own model", "{B} finetune --task rte --data {T}/rte --model {T}/model --output {T}/model", 1, "the folder the run reads", "{T}/model/run.json"},
    {"a second run into a finished one", PRETRAIN " --quiet --threads 1", 1, "--overwrite_output_dir", NULL, STOPPED_RUN},
    {"resume with changed settings", PRETRAIN " --resume --set train.learning_rate=0.5", 2, "differ", NULL, STOPPED_RUN},
    {"resume with another batch", PRETRAIN " --resume --set train.per_device_train_batch_size=2", 2, "sequences per step 4 -> 2", NULL, STOPPED_RUN},
    {"resume a checkpoint of another task", "{B} finetune --task mrpc --data {T}/mrpc --model {T}/model --output {O}/ft --resume --quiet", 1,
     "checkpoint of task rte", NULL, "BIGS_STOP_AFTER_STEP=1 {B} finetune --task rte --data {T}/rte --model {T}/model --output {O}/ft --quiet"},
    {"resume a folder that holds no run", PRETRAIN " --resume", 1, "holds no bigs run", NULL, "mkdir -p {O}/run && touch {O}/run/notes.txt"},
    {"Hugging Face batch flag", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --per_device_train_batch_size 4", 2,
     "--set train.per_device_train_batch_size", "{O}/run"},
    {"Hugging Face output flag", "{B} finetune --task rte --data {T}/rte --model {T}/model --output_dir {O}/ft", 2, "--output DIR", "{O}/ft"},
    {"a model key as a flag", "{B} pretrain --config {T}/ok.json --data {T}/shards --output {O}/run --hidden-size 64", 2, "--set model.hidden_size", "{O}/run"},
    {"eval a model of another task", "{B} eval --task rte --data {T}/rte --model {T}/mrpcmodel", 1, "finetuned on mrpc", NULL},
    {"eval mlm with a classifier", "{B} eval --task mlm --data {T}/shards --model {T}/mrpcmodel", 1, "masked-LM", NULL},
    {"eval predictions over its input", "{B} eval --task mrpc --data {T}/mrpc --model {T}/mrpcmodel --predictions {T}/mrpc/dev.tsv", 1,
     "a file of --data", NULL},
    {"eval predictions over a file", "{B} eval --task mrpc --data {T}/mrpc --model {T}/mrpcmodel --predictions {O}/p.tsv", 1, "exists", NULL,
     "touch {O}/p.tsv"},
    {"tokenize --cased with an uncased vocabulary", "echo Hello | {B} tokenize --vocab {T}/model/vocab.txt --cased", 1, "uncased", NULL},
    {"prepare --cased with an uncased vocabulary", "{B} prepare --vocab {T}/model/vocab.txt --cased --input {T}/text.txt --output {O}/sh", 1, "uncased", "{O}/sh"},
    {"predict --cased on an uncased model", "{B} predict --model {T}/model --cased --text 'the [MASK] sat'", 1, "uncased", NULL},
    {"finetune --cased on an uncased model", "{B} finetune --task rte --data {T}/rte --model {T}/model --output {O}/ft --cased", 1, "uncased", "{O}/ft"},
    {"predict a [MASK] past the model's length", "{B} predict --model {T}/model --text \"$(printf 'word %.0s' $(seq 40)) [MASK]\"", 1, "cut off", NULL},
    {"predict a [MASK] past the length in a file", "{B} predict --model {T}/model --input {T}/longmask.txt", 1, "could not be predicted", NULL},
    {"GLUE file without its header row", "{B} finetune --task sst2 --data {T}/sst2nohead --model {T}/model --output {O}/ft", 1, "train.tsv:1:", "{O}/ft"},
    {"info on a model cut to 20 bytes", "{B} info {T}/trunc20", 1, "model.safetensors", NULL},
    {"info on a corrupt shard block", "{B} info {T}/corrupt", 1, "block", NULL},
    {"info on a run with a truncated checkpoint", "{B} info {O}/run", 1, "checkpoint-2", NULL,
     STOPPED_RUN "; head -c 1000 {O}/run/checkpoint-2/optimizer.safetensors > {O}/x && mv {O}/x {O}/run/checkpoint-2/optimizer.safetensors"},
    {"a checkpoint file as --model", "{B} predict --model {T}/model/model.safetensors --text 'the [MASK] sat'", 1, "checkpoint file", NULL},
    {"a .bin file as --model", "{B} eval --task rte --data {T}/rte --model {T}/garbage.bin", 1, "checkpoint file", NULL},
    {"convert into its own input", "{B} convert --input {T}/model --output {T}/model --to torch", 1, "is the --input", "{T}/model/pytorch_model.bin"},
    {"convert into another model", "{B} convert --input {T}/model --output {T}/mrpcmodel --to torch", 1, "not empty", "{T}/mrpcmodel/pytorch_model.bin"},
    {"convert over an existing file", "{B} convert --input {T}/model --output {O}/x.bin --to torch", 1, "exists", NULL, "touch {O}/x.bin"},
    {"prepare into a model's folder", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/text.txt --output {T}/model", 1, "did not write",
     "{T}/model/meta.json"},
    {"prepare over a shard set", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/text.txt --output {T}/shards", 1, "--force", NULL},
    {"prepare into its input folder", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/textdir --output {T}/textdir", 1, "--input", NULL},
    {"vocab that is a folder", "echo hi | {B} tokenize --vocab {T}/model", 1, "model", NULL},
    {"vocab with a NUL byte", "echo hi | {B} tokenize --vocab {T}/nulvocab.txt", 1, "nulvocab.txt", NULL},
    {"data that is a file", "{B} pretrain --config {T}/ok.json --data {T}/text.txt --output {O}/run", 1, "text.txt", "{O}/run"},
    {"task data that is a file", "{B} finetune --task rte --data {T}/text.txt --model {T}/model --output {O}/ft", 1, "text.txt", "{O}/ft"},
    {"predict input that is a folder", "{B} predict --model {T}/model --input {T}/model", 1, "model", NULL},
    {"model that is an empty folder", "{B} predict --model {T}/nodata --text 'the [MASK] sat'", 1, "config.json", NULL},
    // out-of-range values, every key a run checks: an error naming the key, and no output left
    {"model.vocab_size 0", PRETRAIN " --set model.vocab_size=0", 1, "vocab_size", "{O}/run"},
    {"model.hidden_size 0", PRETRAIN " --set model.hidden_size=0", 1, "hidden_size", "{O}/run"},
    {"model.num_hidden_layers -1", PRETRAIN " --set model.num_hidden_layers=-1", 1, "num_hidden_layers", "{O}/run"},
    {"model.intermediate_size 0", PRETRAIN " --set model.intermediate_size=0", 1, "intermediate_size", "{O}/run"},
    {"model.max_position_embeddings 0", PRETRAIN " --set model.max_position_embeddings=0", 1, "max_position_embeddings", "{O}/run"},
    {"model.type_vocab_size 0", PRETRAIN " --set model.type_vocab_size=0", 1, "type_vocab_size", "{O}/run"},
    {"model.pad_token_id -1", PRETRAIN " --set model.pad_token_id=-1", 1, "pad_token_id", "{O}/run"},
    {"model.num_ssm 0", PRETRAIN " --set model.num_ssm=0", 1, "num_ssm", "{O}/run"},
    {"model.layer_norm_eps 0", PRETRAIN " --set model.layer_norm_eps=0", 1, "layer_norm_eps", "{O}/run"},
    {"model.initializer_range -1", PRETRAIN " --set model.initializer_range=-1", 1, "initializer_range", "{O}/run"},
    {"model.hidden_dropout_prob 1", PRETRAIN " --set model.hidden_dropout_prob=1", 1, "hidden_dropout_prob", "{O}/run"},
    {"model.attention_probs_dropout_prob -0.1", PRETRAIN " --set model.attention_probs_dropout_prob=-0.1", 1, "attention_probs_dropout_prob", "{O}/run"},
    {"model.routing unknown", PRETRAIN " --set model.routing=lstm", 2, "routing", "{O}/run"},
    {"model.hidden_act unknown", PRETRAIN " --set model.hidden_act=relu6", 2, "hidden_act", "{O}/run"},
    {"train.learning_rate -1", PRETRAIN " --set train.learning_rate=-1", 1, "learning_rate", "{O}/run"},
    {"train.weight_decay -1", PRETRAIN " --set train.weight_decay=-1", 1, "weight_decay", "{O}/run"},
    {"train.adam_beta1 1", PRETRAIN " --set train.adam_beta1=1", 1, "adam_beta1", "{O}/run"},
    {"train.adam_beta2 2", PRETRAIN " --set train.adam_beta2=2", 1, "adam_beta2", "{O}/run"},
    {"train.adam_epsilon 0", PRETRAIN " --set train.adam_epsilon=0", 1, "adam_epsilon", "{O}/run"},
    {"train.max_grad_norm -1", PRETRAIN " --set train.max_grad_norm=-1", 1, "max_grad_norm", "{O}/run"},
    {"train.max_steps -1", PRETRAIN " --set train.max_steps=-1", 1, "max_steps", "{O}/run"},
    {"train.warmup_steps -1", PRETRAIN " --set train.warmup_steps=-1", 1, "warmup_steps", "{O}/run"},
    {"train.warmup_ratio 2", PRETRAIN " --set train.warmup_ratio=2", 1, "warmup_ratio", "{O}/run"},
    {"train.per_device_train_batch_size 0", PRETRAIN " --set train.per_device_train_batch_size=0", 1, "per_device_train_batch_size", "{O}/run"},
    {"train.gradient_accumulation_steps 0", PRETRAIN " --set train.gradient_accumulation_steps=0", 1, "gradient_accumulation_steps", "{O}/run"},
    {"train.logging_steps 0", PRETRAIN " --set train.logging_steps=0", 1, "logging_steps", "{O}/run"},
    {"train.save_total_limit 0", PRETRAIN " --set train.save_total_limit=0", 1, "save_total_limit", "{O}/run"},
    {"train.max_seq_length 1", PRETRAIN " --set train.max_seq_length=1", 1, "max_seq_length", "{O}/run"},
    {"train.mlm_probability 0", PRETRAIN " --set train.mlm_probability=0", 1, "mlm_probability", "{O}/run"},
    {"train.lr_scheduler_type unknown", PRETRAIN " --set train.lr_scheduler_type=wild", 2, "lr_scheduler_type", "{O}/run"},
    {"train.min_lr_ratio 2", PRETRAIN " --set train.min_lr_ratio=2", 1, "min_lr_ratio", "{O}/run"},
    {"train.max_steps 1e9 as text", PRETRAIN " --set train.max_steps=1e9", 2, "max_steps", "{O}/run"},
    {"eval --batch-size 0", "{B} eval --task mlm --data {T}/shards --model {T}/model --batch-size 0", 2, "--batch-size", NULL},
    {"predict --top-k 0", "{B} predict --model {T}/model --text 'the [MASK]' --top-k 0", 2, "--top-k", NULL},
    {"prepare --val-fraction 1", "{B} prepare --vocab {T}/model/vocab.txt --input {T}/text.txt --output {O}/sh --val-fraction 1", 2, "--val-fraction", "{O}/sh"},
    {"tokenize --max-len -1", "echo hi | {B} tokenize --vocab {T}/model/vocab.txt --max-len -1", 2, "--max-len", NULL},
    {"info --batch without a config", "{B} info {T}/model --seq-len 64", 2, "--seq-len goes with --batch", NULL},
};

// Replaces {B}, {T} and {O} in src.
static void expand(char *dst, size_t n, const char *src, const char *tdir, const char *odir) {
    size_t k = 0;
    for (const char *s = src; *s && k + 1 < n; s++) {
        const char *rep = NULL;
        if (!strncmp(s, "{B}", 3)) rep = test_bigs_bin();
        else if (!strncmp(s, "{T}", 3)) rep = tdir;
        else if (!strncmp(s, "{O}", 3)) rep = odir;
        if (rep) {
            k += (size_t)snprintf(dst + k, n - k, "%s", rep);
            if (k >= n) k = n - 1;
            s += 2;
        } else dst[k++] = *s;
    }
    dst[k] = 0;
}

static void write_file(const char *dir, const char *name, const char *text) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) { CHECKF(0, "cannot write %s", p); return; }
    fputs(text, f);
    fclose(f);
}

static void sh(const char *fmt, const char *tdir) {
    char cmd[4096], out[2048];
    expand(cmd, sizeof cmd, fmt, tdir, tdir);
    int rc = test_run(cmd, out, sizeof out);
    CHECKF(rc == 0, "fixture command failed (%d): %s\n%s", rc, cmd, out);
}

// Any *.tmp left under dir (recursively)?
static int has_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")) found = 1;
        else {
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) found = has_tmp(p);
        }
    }
    closedir(d);
    return found;
}

static void make_fixtures(const char *t) {
    char p[700];
    snprintf(p, sizeof p, "%s/model", t);
    test_make_tiny_model(p, 32, 1);
    snprintf(p, sizeof p, "%s/shards", t);
    test_make_mlm_shards(p, 64, 32);
    snprintf(p, sizeof p, "%s/rte", t);
    test_make_glue_task_dir(p, "rte");
    snprintf(p, sizeof p, "%s/sst2", t);
    test_make_glue_task_dir(p, "sst2");
    const char *model = "\"model\": {\"vocab_size\": 2000, \"hidden_size\": 16, \"num_hidden_layers\": 1, \"intermediate_size\": 24, "
                        "\"num_ssm\": 4, \"max_position_embeddings\": 32}";
    const char *train = "\"train\": {\"max_steps\": 4, \"per_device_train_batch_size\": 4, \"max_seq_length\": 32, \"save_steps\": 2}";
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "{%s, %s}\n", model, train);
    write_file(t, "ok.json", cfg);
    write_file(t, "vocab30522.json", "{\"model\": {\"hidden_size\": 16, \"num_hidden_layers\": 1, \"intermediate_size\": 24, \"num_ssm\": 4, "
                                     "\"max_position_embeddings\": 32}, \"train\": {\"max_seq_length\": 32}}\n");
    write_file(t, "notjson.json", "{\"model\": {\"hidden_size\": 16,,}\n");
    write_file(t, "empty.json", "");
    write_file(t, "unknown.json", "{\"model\": {\"hiden_size\": 16}}\n");
    write_file(t, "wrongtype.json", "{\"model\": {\"hidden_size\": \"large\"}}\n");
    write_file(t, "heads.json", "{\"model\": {\"vocab_size\": 2000, \"hidden_size\": 30, \"num_attention_heads\": 7, \"routing\": \"attention\"}}\n");
    write_file(t, "toplevel.json", "{\"modle\": {}}\n");
    write_file(t, "empty.txt", "");
    write_file(t, "text.txt", "The cat sat on the mat.\nIt was happy.\n\nA dog ran under the tree.\n");
    write_file(t, "bad.jsonl", "{\"text\": \"fine line\"}\n{\"text\": unquoted}\n");
    write_file(t, "nospecials.txt", "the\ncat\nsat\n");
    write_file(t, "garbage.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}junk");
    write_file(t, "garbage.msgpack", "\xde\xad\xbe\xef this is not msgpack");
    write_file(t, "garbage.bin", "PK\x03\x04 not really a zip archive");
    sh("mkdir -p {T}/nodata {T}/nometa && cp {T}/shards/train-00000.bin {T}/nometa/", t);
    sh("head -c 300 {T}/model/model.safetensors > {T}/trunc.safetensors", t);
    sh("mkdir -p {T}/noconfig && cp {T}/model/model.safetensors {T}/model/vocab.txt {T}/noconfig/", t);
    sh("cp -r {T}/model {T}/truncmodel && head -c 5000 {T}/model/model.safetensors > {T}/truncmodel/model.safetensors", t);
    // a model folder whose weights lack a layer: the weights of a model with fewer layers
    sh("cp -r {T}/model {T}/shortmodel && sed -i 's/\"num_hidden_layers\":[[:space:]]*1,/\"num_hidden_layers\": 2,/' {T}/shortmodel/config.json", t);
    sh("cp -r {T}/model {T}/smallvocab && printf '[PAD]\\n[UNK]\\n[CLS]\\n[SEP]\\n[MASK]\\nthe\\n' > {T}/smallvocab/vocab.txt", t);
    // a shard with one flipped block byte, and one holding an id past the vocabulary
    sh("cp -r {T}/shards {T}/corrupt && printf '\\377\\377\\377\\377' | dd of={T}/corrupt/train-00000.bin bs=1 seek=200 conv=notrunc 2>/dev/null", t);
    snprintf(p, sizeof p, "%s/oob", t);
    mkdir(p, 0755);
    sh("cp {T}/shards/meta.json {T}/oob/", t);
    ShardWriter w;
    char err[512];
    snprintf(p, sizeof p, "%s/oob/train-00000.bin", t);
    // its header claims a vocabulary of 6000, so the ids are valid for the shard but not for meta.json's 2000
    if (shard_writer_open(&w, p, 6000, 0x1234, 32, 16, err, sizeof err) == 0) {
        for (int k = 0; k < 40; k++) {
            int32_t ids[5] = {101, 1000, k == 7 ? 5000 : 1002, 1001, 102};
            CHECKF(shard_writer_add(&w, ids, 5, err, sizeof err) == 0, "%s", err);
        }
        CHECKF(shard_writer_close(&w, err, sizeof err) == 0, "%s", err);
    } else CHECKF(0, "%s", err);
    // a vocabulary with a 2 MB token and a TSV with a 2 MB line without newline
    sh("mkdir -p {T}/hugetsv && printf 'sentence\\tlabel\\n' > {T}/hugetsv/train.tsv && head -c 2000000 /dev/zero | tr '\\0' 'x' >> {T}/hugetsv/train.tsv"
       " && cp {T}/sst2/dev.tsv {T}/hugetsv/", t);
    sh("cp {T}/model/vocab.txt {T}/hugevocab.txt && head -c 2000000 /dev/zero | tr '\\0' 'y' >> {T}/hugevocab.txt", t);
    sh("mkdir -p {T}/badlabel && cp {T}/rte/dev.tsv {T}/badlabel/ && sed '3s/entailment$/maybe/;3s/not_maybe$/maybe/' {T}/rte/train.tsv > {T}/badlabel/train.tsv", t);
    // issue 17: a finetuned MRPC model, a GLUE file without its header, configs, a model cut to 20 bytes
    snprintf(p, sizeof p, "%s/mrpc", t);
    test_make_glue_task_dir(p, "mrpc");
    sh("{B} finetune --task mrpc --data {T}/mrpc --model {T}/model --output {T}/mrpcmodel --set train.max_steps=1 --quiet --threads 1", t);
    sh("mkdir -p {T}/sst2nohead && tail -n +2 {T}/sst2/train.tsv > {T}/sst2nohead/train.tsv && cp {T}/sst2/dev.tsv {T}/sst2nohead/", t);
    write_file(t, "nomodel.json", "{\"train\": {\"max_steps\": 2}}\n");
    write_file(t, "array.json", "[{\"model\": {}}]\n");
    sh("cp -r {T}/model {T}/trunc20 && head -c 20 {T}/model/model.safetensors > {T}/trunc20/model.safetensors", t);
    sh("printf '[PAD]\\n[UNK]\\nab\\000cd\\n' > {T}/nulvocab.txt", t);
    sh("mkdir -p {T}/textdir && cp {T}/text.txt {T}/textdir/", t);
    sh("(echo 'the [MASK] sat'; printf 'word %.0s' $(seq 40); echo ' [MASK]') > {T}/longmask.txt", t);
}

TEST(bad_input_catalogue) {
    char tdir[600], odir[700], cmd[8192], out[16384], want[1024], absent[1024];
    snprintf(tdir, sizeof tdir, "%s/bad", test_tmpdir());
    mkdir(tdir, 0755);
    make_fixtures(tdir);
    int n = (int)(sizeof k_cases / sizeof k_cases[0]);
    CHECKF(n >= 130, "the catalogue has %d cases (at least 130 wanted)", n);
    for (int i = 0; i < n; i++) {
        const BadCase *c = &k_cases[i];
        snprintf(odir, sizeof odir, "%s/case%02d", test_tmpdir(), i);
        mkdir(odir, 0755);
        if (c->setup) {
            char setup[4096], body0[4096];
            expand(body0, sizeof body0, c->setup, tdir, odir);
            snprintf(setup, sizeof setup, "(%s) >/dev/null 2>&1; true", body0);
            test_run(setup, out, sizeof out);
        }
        if (strstr(c->name, "resume from a truncated checkpoint")) {  // a run folder whose only checkpoint lost its weights
            char setup[4096];
            snprintf(setup, sizeof setup, "BIGS_STOP_AFTER_STEP=2 %s pretrain --config %s/ok.json --data %s/shards --output %s/run --quiet --threads 1;"
                     " head -c 1000 %s/run/checkpoint-2/model.safetensors > %s/x && mv %s/x %s/run/checkpoint-2/model.safetensors",
                     test_bigs_bin(), tdir, tdir, odir, odir, odir, odir, odir);
            test_run(setup, out, sizeof out);
        }
        char body[4096];
        expand(body, sizeof body, c->cmd, tdir, odir);
        snprintf(cmd, sizeof cmd, "timeout 60 %s", body);
        double t0 = now_seconds();
        int rc = test_run(cmd, out, sizeof out);
        expand(want, sizeof want, c->want, tdir, odir);
        CHECKF(rc == c->status, "[%s] exit status %d (expected %d) after %.1f s; output: %.600s", c->name, rc, c->status, now_seconds() - t0, out);
        CHECKF(strstr(out, want) != NULL, "[%s] the message should name \"%s\": %.600s", c->name, want, out);
        CHECKF(!strstr(out, "internal error") && !strstr(out, "Sanitizer"), "[%s] %.600s", c->name, out);
        if (c->absent) {
            expand(absent, sizeof absent, c->absent, tdir, odir);
            struct stat sb;
            CHECKF(stat(absent, &sb) != 0, "[%s] %s should not have been created", c->name, absent);
        }
        CHECKF(!has_tmp(odir), "[%s] a *.tmp file was left in %s", c->name, odir);
    }
}
