// train_config.c: the training keys (see train_config.h).
#include "train/train_config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/base/keys.h"
#include "core/engine/ops.h"

static const char *const k_sched[] = {"linear", "cosine", "constant", NULL};

#define F(x) offsetof(TrainConfig, x)
static const KeyDef k_keys[] = {
    {"learning_rate", K_FLOAT, F(learning_rate), NULL, 0},
    {"weight_decay", K_FLOAT, F(weight_decay), NULL, 0},
    {"adam_beta1", K_FLOAT, F(adam_beta1), NULL, 0},
    {"adam_beta2", K_FLOAT, F(adam_beta2), NULL, 0},
    {"adam_epsilon", K_FLOAT, F(adam_epsilon), NULL, 0},
    {"max_grad_norm", K_FLOAT, F(max_grad_norm), NULL, 0},
    {"max_steps", K_INT, F(max_steps), NULL, 0},
    {"num_train_epochs", K_FLOAT, F(num_train_epochs), NULL, 0},
    {"warmup_steps", K_INT, F(warmup_steps), NULL, 0},
    {"warmup_ratio", K_FLOAT, F(warmup_ratio), NULL, 0},
    {"lr_scheduler_type", K_ENUM, F(lr_scheduler_type), k_sched, 0},
    {"min_lr_ratio", K_FLOAT, F(min_lr_ratio), NULL, 0},
    {"per_device_train_batch_size", K_INT, F(per_device_train_batch_size), NULL, 0},
    {"per_device_eval_batch_size", K_INT, F(per_device_eval_batch_size), NULL, 0},
    {"gradient_accumulation_steps", K_INT, F(gradient_accumulation_steps), NULL, 0},
    {"logging_steps", K_INT, F(logging_steps), NULL, 0},
    {"eval_steps", K_INT, F(eval_steps), NULL, 0},
    {"save_steps", K_INT, F(save_steps), NULL, 0},
    {"save_total_limit", K_INT, F(save_total_limit), NULL, 0},
    {"seed", K_INT, F(seed), NULL, 0},
    {"max_seq_length", K_INT, F(max_seq_length), NULL, 0},
    {"bf16", K_BOOL, F(bf16), NULL, 0},
    {"mlm_probability", K_FLOAT, F(mlm_probability), NULL, 0},
    {"max_predictions_per_seq", K_INT, F(max_predictions_per_seq), NULL, 0},
    {"decay_ssm", K_BOOL, F(decay_ssm), NULL, 0},
    {"eval_batches", K_INT, F(eval_batches), NULL, 0},
    {"static_masking", K_BOOL, F(static_masking), NULL, 0},
    {"single_segment", K_BOOL, F(single_segment), NULL, 0},
};
#undef F
static const KeyTable k_table = {k_keys, (int)(sizeof k_keys / sizeof k_keys[0]), "training config", NULL};

void train_config_defaults(TrainConfig *t) {
    memset(t, 0, sizeof *t);
    // the official BiGS pretraining: AdamW 6e-4, betas (0.9, 0.98), eps 1e-6, wd 0.05, 2000 warmup
    // steps then cosine decay to 0.1x over 100k steps, 15% masking with at most 20 per sequence
    t->learning_rate = 6e-4;
    t->weight_decay = 0.05;
    t->adam_beta1 = 0.9;
    t->adam_beta2 = 0.98;
    t->adam_epsilon = 1e-6;
    t->max_grad_norm = 1.0;
    t->max_steps = 100000;
    t->num_train_epochs = 0;
    t->warmup_steps = 2000;
    t->warmup_ratio = 0;
    t->lr_scheduler_type = SCHED_COSINE;
    t->min_lr_ratio = 0.1;
    t->per_device_train_batch_size = 32;
    t->per_device_eval_batch_size = 32;
    t->gradient_accumulation_steps = 1;
    t->logging_steps = 10;
    t->eval_steps = 1000;
    t->save_steps = 1000;
    t->save_total_limit = 3;
    t->seed = 42;
    t->max_seq_length = 0;  // 0: from the data (pretraining: the shards' length; finetuning: the model's positions)
    t->mlm_probability = 0.15;
    t->max_predictions_per_seq = 20;
    t->decay_ssm = 1;
    t->eval_batches = 0;
}

int train_config_from_json(TrainConfig *t, const cJSON *obj, const char *where, char *err, size_t n) {
    return keys_from_json(&k_table, t, obj, where, NULL, err, n);
}

int train_config_set(TrainConfig *t, const char *key, const char *value, char *err, size_t n) {
    return keys_set(&k_table, t, key, value, err, n);
}

int train_config_validate(const TrainConfig *t, char *err, size_t n) {
#define NEED(cond, ...) do { if (!(cond)) { snprintf(err, n, __VA_ARGS__); return -1; } } while (0)
    NEED(t->learning_rate >= 0 && t->learning_rate < 10, "learning_rate must be in [0,10), got %g", t->learning_rate);
    NEED(t->weight_decay >= 0, "weight_decay must be >= 0, got %g", t->weight_decay);
    NEED(t->adam_beta1 >= 0 && t->adam_beta1 < 1, "adam_beta1 must be in [0,1), got %g", t->adam_beta1);
    NEED(t->adam_beta2 >= 0 && t->adam_beta2 < 1, "adam_beta2 must be in [0,1), got %g", t->adam_beta2);
    NEED(t->adam_epsilon > 0, "adam_epsilon must be > 0, got %g", t->adam_epsilon);
    NEED(t->max_grad_norm >= 0, "max_grad_norm must be >= 0 (0 = no clipping), got %g", t->max_grad_norm);
    NEED(t->max_steps >= 0, "max_steps must be >= 0, got %d", t->max_steps);
    NEED(t->max_steps > 0 || t->num_train_epochs > 0, "set max_steps or num_train_epochs");
    NEED(t->warmup_steps >= 0, "warmup_steps must be >= 0, got %d", t->warmup_steps);
    NEED(t->warmup_ratio >= 0 && t->warmup_ratio <= 1, "warmup_ratio must be in [0,1], got %g", t->warmup_ratio);
    NEED(t->min_lr_ratio >= 0 && t->min_lr_ratio <= 1, "min_lr_ratio must be in [0,1], got %g", t->min_lr_ratio);
    NEED(t->per_device_train_batch_size >= 1, "per_device_train_batch_size must be >= 1, got %d", t->per_device_train_batch_size);
    NEED(t->per_device_eval_batch_size >= 1, "per_device_eval_batch_size must be >= 1, got %d", t->per_device_eval_batch_size);
    NEED(t->gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1, got %d", t->gradient_accumulation_steps);
    NEED(t->logging_steps >= 1, "logging_steps must be >= 1, got %d", t->logging_steps);
    NEED(t->eval_steps >= 0, "eval_steps must be >= 0 (0 = only at the end), got %d", t->eval_steps);
    NEED(t->save_steps >= 0, "save_steps must be >= 0 (0 = only at the end), got %d", t->save_steps);
    NEED(t->save_total_limit >= 1, "save_total_limit must be >= 1, got %d", t->save_total_limit);
    NEED(t->max_seq_length == 0 || t->max_seq_length >= 2, "max_seq_length must be 0 (from the data) or >= 2, got %d", t->max_seq_length);
    NEED(t->mlm_probability > 0 && t->mlm_probability < 1, "mlm_probability must be in (0,1), got %g", t->mlm_probability);
    NEED(t->max_predictions_per_seq >= 1, "max_predictions_per_seq must be >= 1, got %d", t->max_predictions_per_seq);
    NEED(t->eval_batches >= 0, "eval_batches must be >= 0, got %d", t->eval_batches);
    NEED(!t->bf16 || ops_bf16_available(), "bf16: this CPU has no AVX512-BF16 (the avx512_bf16 flag of /proc/cpuinfo), which bf16 "
         "products need; train in float32 (bf16 false)");
#undef NEED
    return 0;
}

cJSON *train_config_to_json(const TrainConfig *t) {
    cJSON *o = cJSON_CreateObject();
    keys_to_json(&k_table, t, o);
    return o;
}

int train_config_has_key(const char *key) { return keys_find(&k_table, key) != NULL; }
