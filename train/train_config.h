// train_config.h: training keys of a config file's "train" member. Names follow Hugging Face's
// TrainingArguments wherever one exists. Defaults are the official BiGS pretraining recipe
// (docs/models.md section 5); finetune overrides them with the GLUE recipe.
#pragma once
#include <cjson/cJSON.h>

typedef enum { SCHED_LINEAR, SCHED_COSINE, SCHED_CONSTANT } SchedType;

typedef struct {
    double learning_rate, weight_decay, adam_beta1, adam_beta2, adam_epsilon, max_grad_norm;
    double warmup_ratio, min_lr_ratio, mlm_probability, num_train_epochs;
    int max_steps, warmup_steps, lr_scheduler_type;
    int per_device_train_batch_size, per_device_eval_batch_size, gradient_accumulation_steps;
    int logging_steps, eval_steps, save_steps, save_total_limit, seed, max_seq_length;
    int max_predictions_per_seq;  // cap on masked positions per sequence (official: 20)
    int decay_ssm;                // weight decay on the SSM parameters (official: yes)
    int eval_batches;             // validation batches per evaluation (0: the whole validation split)
    int static_masking;           // masks keyed by the sequence (the same every epoch) instead of the step
    int single_segment;           // finetuning: encode a pair as one segment (token types all 0)
    int bf16;                     // products in bf16 with float32 sums (Hugging Face's name; AVX512-BF16 CPUs)
} TrainConfig;

void train_config_defaults(TrainConfig *t);
int train_config_from_json(TrainConfig *t, const cJSON *obj, const char *where, char *err, size_t n);
int train_config_set(TrainConfig *t, const char *key, const char *value, char *err, size_t n);
int train_config_validate(const TrainConfig *t, char *err, size_t n);
cJSON *train_config_to_json(const TrainConfig *t);
int train_config_has_key(const char *key);  // a training key of that name?
