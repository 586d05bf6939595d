// config.h: the model configuration. Keys are the Hugging Face ones (BiGSConfig for the BiGS family,
// BertConfig for BERT) plus the keys that name the variant of the paper's 2x2 grid. One table of key
// definitions drives loading (unknown keys are errors naming the key), --set overrides, validation,
// saving config.json and printing.
#pragma once
#include <cjson/cJSON.h>

typedef enum { POOL_NON_PADDING_MEAN, POOL_MEAN, POOL_CLS } PoolerType;
typedef enum { SCALE_HIPPO, SCALE_LIN, SCALE_INV } Scaling;
typedef enum { ACT_GELU, ACT_GELU_TANH } Act;  // erf form, tanh approximation
typedef enum { PAD_MAX_LENGTH, PAD_LONGEST } Padding;
// Where word order comes from (docs/models.md section 8): a learned table added to the embeddings, or
// inside the routing (rotary queries and keys, linear biases of the attention scores), or nowhere but
// the routing itself (an SSM is ordered by its causal convolutions).
typedef enum { POS_ABSOLUTE, POS_ROPE, POS_ALIBI, POS_NONE } PosType;

#define CONFIG_MAX_LABELS 16
#define CONFIG_LABEL_LEN 32

typedef struct {
    int vocab_size, hidden_size, num_hidden_layers, intermediate_size, max_position_embeddings;
    int type_vocab_size, pad_token_id, num_ssm, num_attention_heads, num_labels;
    double hidden_dropout_prob, attention_probs_dropout_prob, initializer_range, layer_norm_eps;
    double classifier_dropout;  // < 0: null (use hidden_dropout_prob)
    int hidden_act;             // Act: MLM-head transform and STACK FFN ("gelu" = erf)
    int block_act;              // Act: the GELUs inside GATED blocks (official JAX: tanh form)
    int pre_norm, tie_word_embeddings;
    int block, routing;         // rows of the block and mixer tables (core/model/mixer.h)
    int pooler_type, scaling, padding;
    int position_embedding_type;  // PosType
    double rope_theta;            // RoPE base: theta_i = rope_theta^(-2i/dh)
    int rope_interleaved;         // RoPE pairs (2i, 2i+1) as RoFormer; default (i, i + dh/2) as LLaMA
    double rope_scaling_factor;   // rope_scaling {"type": "linear", "factor": F}: positions / F; 0: unset
    char model_type[32];        // "BiGS" or "bert" (K_STR fields are KEY_STR_LEN = 32 bytes)
    char finetuning_task[32];   // set by finetune
    char id2label[CONFIG_MAX_LABELS][CONFIG_LABEL_LEN];  // label names, num_labels of them
    int do_lower_case;          // the vocabulary's casing: 1 uncased, 0 cased, -1 not known. Kept in the model
                                // directory's tokenizer_config.json, as Hugging Face does, not in config.json
} ModelConfig;

// The official BiGS defaults (BiGS_128): H=1024, NL=23, I=3072, N=64, V=30522, L=128.
void config_defaults(ModelConfig *c);
// Fills c from a JSON object (config.json or a config file's "model" member). where names the source
// for messages ("configs/x.json: model"). Returns 0, or -1 with a message naming the key in err.
int config_from_json(ModelConfig *c, const cJSON *obj, const char *where, char *err, size_t errlen);
// Sets one key from its text form ("hidden_size", "256"). Returns 0 or -1 with a message.
int config_set(ModelConfig *c, const char *key, const char *value, char *err, size_t errlen);
// Checks sizes and combinations. Returns 0 or -1 with a message naming the key.
int config_validate(const ModelConfig *c, char *err, size_t errlen);
// config.json contents (HF-style keys plus ours, with "architectures" for the given head name).
cJSON *config_to_json(const ModelConfig *c, const char *architecture);
// Loads MODEL_DIR/config.json (and the casing from MODEL_DIR/tokenizer_config.json), a config.json path, or
// a config file with a "model" member; fatal on error.
void config_load_path(ModelConfig *c, const char *path);
const char *config_variant_name(const ModelConfig *c);  // "gated+ssm (BiGS)", ...
// The longest input the model takes: max_position_embeddings with a position table, 0 (any) without.
int config_length_limit(const ModelConfig *c);
// The block and mixer are Hugging Face's BERT (STACK + attention): parameter prefix "bert", Bert* names.
int config_is_bert(const ModelConfig *c);
int config_has_key(const char *key);  // a model config key of that name?
