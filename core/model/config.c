// config.c: model configuration keys, defaults, JSON and validation (see config.h).
#include "core/model/config.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/base/jsonio.h"
#include "core/base/keys.h"
#include "core/model/mixer.h"

static const char *const k_act[] = {"gelu", "gelu_tanh", NULL};
static const char *const k_pool[] = {"non_padding_mean", "mean", "cls", NULL};
static const char *const k_scaling[] = {"hippo", "lin", "inv", NULL};
static const char *const k_padding[] = {"max_length", "longest", NULL};
static const char *const k_positions[] = {"absolute", "rope", "alibi", "none", NULL};

#define F(x) offsetof(ModelConfig, x)
static const KeyDef k_keys[] = {
    {"vocab_size", K_INT, F(vocab_size), NULL, 0},
    {"hidden_size", K_INT, F(hidden_size), NULL, 0},
    {"num_hidden_layers", K_INT, F(num_hidden_layers), NULL, 0},
    {"intermediate_size", K_INT, F(intermediate_size), NULL, 0},
    {"hidden_act", K_ENUM, F(hidden_act), k_act, 0},
    {"hidden_dropout_prob", K_FLOAT, F(hidden_dropout_prob), NULL, 0},
    {"attention_probs_dropout_prob", K_FLOAT, F(attention_probs_dropout_prob), NULL, 0},
    {"max_position_embeddings", K_INT, F(max_position_embeddings), NULL, 0},
    {"type_vocab_size", K_INT, F(type_vocab_size), NULL, 0},
    {"initializer_range", K_FLOAT, F(initializer_range), NULL, 0},
    {"layer_norm_eps", K_FLOAT, F(layer_norm_eps), NULL, 0},
    {"pad_token_id", K_INT, F(pad_token_id), NULL, 0},
    {"num_ssm", K_INT, F(num_ssm), NULL, 0},
    {"num_attention_heads", K_INT, F(num_attention_heads), NULL, 0},
    {"pre_norm", K_BOOL, F(pre_norm), NULL, 0},
    {"scaling", K_ENUM, F(scaling), k_scaling, 0},
    {"pooler_type", K_ENUM, F(pooler_type), k_pool, 0},
    {"classifier_dropout", K_FLOAT, F(classifier_dropout), NULL, 1},
    {"block", K_ENUM, F(block), g_block_names, 0},
    {"routing", K_ENUM, F(routing), g_mixer_names, 0},
    {"block_act", K_ENUM, F(block_act), k_act, 0},
    {"tie_word_embeddings", K_BOOL, F(tie_word_embeddings), NULL, 0},
    {"padding", K_ENUM, F(padding), k_padding, 0},
    {"num_labels", K_INT, F(num_labels), NULL, 0},
    {"model_type", K_STR, F(model_type), NULL, 0},
    {"finetuning_task", K_STR, F(finetuning_task), NULL, 0},
    // last, so configs without the RoPE keys are written as before (config_to_json drops those unless rope)
    {"position_embedding_type", K_ENUM, F(position_embedding_type), k_positions, 0},
    {"rope_theta", K_FLOAT, F(rope_theta), NULL, 0},
    {"rope_interleaved", K_BOOL, F(rope_interleaved), NULL, 0},
};
#undef F

// Keys Hugging Face writes that carry nothing for us; accepted and ignored.
static const char *const k_ignored[] = {
    "architectures", "transformers_version", "torch_dtype", "use_cache", "gradient_checkpointing", "decode",
    "use_pykeops_kernel", "_name_or_path", "bos_token_id", "eos_token_id", "label2id", "is_decoder",
    "output_hidden_states", "output_attentions", "return_dict", "problem_type", "chunk_size_feed_forward",
    "add_cross_attention", "tie_encoder_decoder", "torchscript", "_commit_hash", NULL};

static const KeyTable k_table = {k_keys, (int)(sizeof k_keys / sizeof k_keys[0]), "model config", k_ignored};

void config_defaults(ModelConfig *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 30522;
    c->hidden_size = 1024;
    c->num_hidden_layers = 23;
    c->intermediate_size = 3072;
    c->max_position_embeddings = 128;
    c->type_vocab_size = 2;
    c->pad_token_id = 0;
    c->num_ssm = 64;
    c->num_attention_heads = 16;
    c->num_labels = 2;
    c->hidden_dropout_prob = 0.1;
    c->attention_probs_dropout_prob = 0.1;
    c->initializer_range = 0.02;
    c->layer_norm_eps = 1e-12;
    c->classifier_dropout = -1;
    c->hidden_act = ACT_GELU;
    c->block_act = ACT_GELU_TANH;  // the official JAX model's jax.nn.gelu default
    c->pre_norm = 1;
    c->tie_word_embeddings = 1;
    c->block = block_index("gated");
    c->routing = mixer_index("ssm");
    c->pooler_type = POOL_NON_PADDING_MEAN;
    c->scaling = SCALE_HIPPO;
    c->padding = PAD_MAX_LENGTH;
    c->do_lower_case = -1;
    c->position_embedding_type = POS_ABSOLUTE;
    c->rope_theta = 10000;  // RoFormer's and LLaMA's base
    strcpy(c->model_type, "BiGS");
}

// BertConfig's defaults, used when a config.json says "model_type": "bert".
static void config_bert_defaults(ModelConfig *c) {
    c->hidden_size = 768;
    c->num_hidden_layers = 12;
    c->num_attention_heads = 12;
    c->max_position_embeddings = 512;
    c->block = block_index("stack");
    c->routing = mixer_index("attention");
    c->pre_norm = 0;
    c->pooler_type = POOL_CLS;
    c->padding = PAD_LONGEST;
    strcpy(c->model_type, "bert");
}

static int rope_scaling_from_json(ModelConfig *c, const cJSON *v, const char *where, char *err, size_t n);

int config_set(ModelConfig *c, const char *key, const char *value, char *err, size_t n) {
    if (!strcmp(key, "rope_scaling")) {  // an object, given as JSON text: '{"type": "linear", "factor": 4}'
        cJSON *v = cJSON_Parse(value);
        int rc = v ? rope_scaling_from_json(c, v, "--set", err, n) : errf(err, n, "model config key \"rope_scaling\" expects a JSON object "
                                                                                  "{\"type\": \"linear\", \"factor\": F} or null, got \"%.100s\"", value);
        cJSON_Delete(v);
        return rc;
    }
    // Hugging Face spellings of the tanh GELU
    if ((!strcmp(key, "hidden_act") || !strcmp(key, "block_act")) &&
        (!strcmp(value, "gelu_new") || !strcmp(value, "gelu_pytorch_tanh") || !strcmp(value, "gelu_fast")))
        value = "gelu_tanh";
    return keys_set(&k_table, c, key, value, err, n);
}

// rope_scaling: null (none) or Hugging Face's {"type": "linear", "factor": F} ("rope_type" in newer
// versions of transformers): linear position interpolation, positions divided by F >= 1.
static int rope_scaling_from_json(ModelConfig *c, const cJSON *v, const char *where, char *err, size_t n) {
    if (cJSON_IsNull(v)) { c->rope_scaling_factor = 0; return 0; }
    const cJSON *t = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "type") : NULL;
    if (cJSON_IsObject(v) && !t) t = cJSON_GetObjectItemCaseSensitive(v, "rope_type");
    const cJSON *f = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "factor") : NULL;
    if (!cJSON_IsString(t) || !cJSON_IsNumber(f))
        return errf(err, n, "%s: key \"rope_scaling\" expects {\"type\": \"linear\", \"factor\": F} or null", where);
    if (strcmp(t->valuestring, "linear"))
        return errf(err, n, "%s: rope_scaling type \"%.60s\" is not implemented (bigs has \"linear\": positions divided by factor)", where,
                    t->valuestring);
    for (const cJSON *m = v->child; m; m = m->next)
        if (strcmp(m->string, "type") && strcmp(m->string, "rope_type") && strcmp(m->string, "factor"))
            return errf(err, n, "%s: unknown rope_scaling key \"%.60s\" (it takes type and factor)", where, m->string);
    if (!(f->valuedouble >= 1 && f->valuedouble <= 1e6))
        return errf(err, n, "%s: rope_scaling factor must be 1..1e6 (positions are divided by it), got %g", where, f->valuedouble);
    c->rope_scaling_factor = f->valuedouble;
    return 0;
}

// Members of a config.json that are not plain keys: id2label and rope_scaling.
static int config_other(void *obj, const cJSON *v, const char *where, char *err, size_t n) {
    ModelConfig *c = obj;
    if (!strcmp(v->string, "id2label")) {
        if (!cJSON_IsObject(v)) { snprintf(err, n, "%s: key \"id2label\" expects an object {\"0\": \"name\", ...}", where); return -1; }
        for (const cJSON *l = v->child; l; l = l->next) {
            char *end;
            long id = strtol(l->string, &end, 10);
            if (*end || id < 0 || id >= CONFIG_MAX_LABELS || !cJSON_IsString(l) || strlen(l->valuestring) >= CONFIG_LABEL_LEN) {
                snprintf(err, n, "%s: id2label entry \"%s\" must map an id 0..%d to a short name", where, l->string, CONFIG_MAX_LABELS - 1);
                return -1;
            }
            snprintf(c->id2label[id], CONFIG_LABEL_LEN, "%s", l->valuestring);
        }
        return 1;
    }
    if (!strcmp(v->string, "rope_scaling")) return rope_scaling_from_json(c, v, where, err, n) ? -1 : 1;
    return 0;
}

int config_from_json(ModelConfig *c, const cJSON *obj, const char *where, char *err, size_t n) {
    if (!cJSON_IsObject(obj)) { snprintf(err, n, "%s: expected a JSON object of model config keys", where); return -1; }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(obj, "model_type");
    if (cJSON_IsString(mt) && !strcasecmp(mt->valuestring, "bert")) config_bert_defaults(c);
    // the tanh GELU's Hugging Face names are accepted in JSON too
    cJSON *copy = cJSON_Duplicate(obj, 1);
    for (cJSON *v = copy->child; v; v = v->next)
        if ((!strcmp(v->string, "hidden_act") || !strcmp(v->string, "block_act")) && cJSON_IsString(v) &&
            (!strcmp(v->valuestring, "gelu_new") || !strcmp(v->valuestring, "gelu_pytorch_tanh") || !strcmp(v->valuestring, "gelu_fast")))
            cJSON_SetValuestring(v, "gelu_tanh");
    int rc = keys_from_json(&k_table, c, copy, where, config_other, err, n);
    // HF configs hold num_labels only through id2label
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(copy, "id2label");
    if (!rc && cJSON_IsObject(labels) && !cJSON_GetObjectItemCaseSensitive(copy, "num_labels")) c->num_labels = cJSON_GetArraySize(labels);
    cJSON_Delete(copy);
    return rc;
}

// Word order: a table, or the routing's own (a mixer that is ordered by itself, or one that applies
// RoPE or ALiBi inside); the RoPE keys' values.
static int positions_validate(const ModelConfig *c, const Mixer *mx, char *err, size_t n) {
    if (c->position_embedding_type < POS_ABSOLUTE || c->position_embedding_type > POS_NONE)
        return errf(err, n, "position_embedding_type %d is not one of absolute|rope|alibi|none", c->position_embedding_type);
    const char *pt = k_positions[c->position_embedding_type];
    if (c->position_embedding_type == POS_NONE && !(mx->needs & MIX_ORDERED))
        return errf(err, n, "position_embedding_type \"none\" leaves routing \"%s\" blind to word order (it sees positions only "
                    "through a table, rope or alibi); use absolute, rope or alibi", mx->name);
    if ((c->position_embedding_type == POS_ROPE || c->position_embedding_type == POS_ALIBI) && !(mx->needs & MIX_POSITIONS))
        return errf(err, n, "position_embedding_type \"%s\" needs a routing that takes positions inside (attention); routing \"%s\" "
                    "takes none: use absolute or none", pt, mx->name);
    if (!(c->rope_theta > 0 && c->rope_theta <= 1e12)) return errf(err, n, "rope_theta must be in (0, 1e12], got %g", c->rope_theta);
    if (c->rope_scaling_factor != 0 && !(c->rope_scaling_factor >= 1 && c->rope_scaling_factor <= 1e6))
        return errf(err, n, "rope_scaling factor must be 1..1e6, got %g", c->rope_scaling_factor);
    return 0;
}

int config_validate(const ModelConfig *c, char *err, size_t n) {
#define NEED(cond, ...) do { if (!(cond)) { snprintf(err, n, __VA_ARGS__); return -1; } } while (0)
    NEED(c->vocab_size >= 1 && c->vocab_size <= 10000000, "vocab_size must be 1..10000000, got %d", c->vocab_size);
    NEED(c->hidden_size >= 1 && c->hidden_size <= 65536, "hidden_size must be 1..65536, got %d", c->hidden_size);
    NEED(c->num_hidden_layers >= 0 && c->num_hidden_layers <= 1000, "num_hidden_layers must be 0..1000, got %d", c->num_hidden_layers);
    NEED(c->intermediate_size >= 1 && c->intermediate_size <= 1 << 20, "intermediate_size must be 1..1048576, got %d", c->intermediate_size);
    NEED(c->max_position_embeddings >= 1 && c->max_position_embeddings <= 1 << 20, "max_position_embeddings must be 1..1048576, got %d", c->max_position_embeddings);
    NEED(c->type_vocab_size >= 1 && c->type_vocab_size <= 1000, "type_vocab_size must be 1..1000, got %d", c->type_vocab_size);
    NEED(c->pad_token_id >= 0 && c->pad_token_id < c->vocab_size, "pad_token_id must be a token id below vocab_size (%d), got %d", c->vocab_size, c->pad_token_id);
    NEED(c->num_labels >= 1 && c->num_labels <= CONFIG_MAX_LABELS, "num_labels must be 1..%d, got %d", CONFIG_MAX_LABELS, c->num_labels);
    NEED(c->hidden_dropout_prob >= 0 && c->hidden_dropout_prob < 1, "hidden_dropout_prob must be in [0,1), got %g", c->hidden_dropout_prob);
    NEED(c->attention_probs_dropout_prob >= 0 && c->attention_probs_dropout_prob < 1, "attention_probs_dropout_prob must be in [0,1), got %g", c->attention_probs_dropout_prob);
    NEED(c->classifier_dropout < 1, "classifier_dropout must be in [0,1) or null, got %g", c->classifier_dropout);
    NEED(c->initializer_range > 0 && c->initializer_range < 10, "initializer_range must be in (0,10), got %g", c->initializer_range);
    NEED(c->layer_norm_eps > 0 && c->layer_norm_eps < 1, "layer_norm_eps must be in (0,1), got %g", c->layer_norm_eps);
    // the block and the mixer: rows of the tables, a combination the block takes, the mixer's own keys
    const Mixer *mx = mixer_of(c);
    const Block *bl = block_of(c);
    NEED(mx && bl, "block %d or routing %d is not a row of the tables", c->block, c->routing);
    if (!bl->slot(mx)->walk) {
        char takes[256] = "";
        for (int i = 0; g_mixers[i]; i++)
            if (bl->slot(g_mixers[i])->walk) snprintf(takes + strlen(takes), sizeof takes - strlen(takes), "%s%s", takes[0] ? ", " : "", g_mixers[i]->name);
        NEED(0, "block \"%s\" does not take routing \"%s\" (it takes: %s)", bl->name, mx->name, takes);
    }
    if (positions_validate(c, mx, err, n)) return -1;
    if (mx->validate && mx->validate(c, err, n)) return -1;
    // the model_type a saved config.json reloads with: anything else would be dropped or misread
    NEED(!strcasecmp(c->model_type, "BiGS") || !strcasecmp(c->model_type, "bert"), "model_type must be \"BiGS\" or \"bert\", got \"%s\"", c->model_type);
#undef NEED
    return 0;
}

cJSON *config_to_json(const ModelConfig *c, const char *architecture) {
    cJSON *o = cJSON_CreateObject();
    if (architecture) {
        cJSON *a = cJSON_AddArrayToObject(o, "architectures");
        cJSON_AddItemToArray(a, cJSON_CreateString(architecture));
    }
    keys_to_json(&k_table, c, o);
    if (c->position_embedding_type == POS_ROPE) {
        if (c->rope_scaling_factor > 0) {
            cJSON *r = cJSON_AddObjectToObject(o, "rope_scaling");
            cJSON_AddStringToObject(r, "type", "linear");
            cJSON_AddNumberToObject(r, "factor", c->rope_scaling_factor);
        }
    } else {  // the RoPE keys mean nothing here (and configs from before them stay byte for byte)
        cJSON_DeleteItemFromObject(o, "rope_theta");
        cJSON_DeleteItemFromObject(o, "rope_interleaved");
    }
    int any = 0;
    for (int i = 0; i < c->num_labels; i++) any |= c->id2label[i][0] != 0;
    if (any) {
        cJSON *m = cJSON_AddObjectToObject(o, "id2label"), *r = cJSON_AddObjectToObject(o, "label2id");
        for (int i = 0; i < c->num_labels; i++) {
            char id[16];
            snprintf(id, sizeof id, "%d", i);
            cJSON_AddStringToObject(m, id, c->id2label[i]);
            cJSON_AddNumberToObject(r, c->id2label[i], i);
        }
    }
    return o;
}

// A file whose first bytes are a tensor file's (zip: PyTorch, 8 bytes of length then '{': safetensors, a
// msgpack map: Flax): its format's name, else NULL.
static const char *tensor_file_kind(const char *path) {
    unsigned char b[9] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    if (got >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return "PyTorch (pytorch_model.bin)";
    if (got == 9 && b[8] == '{' && !(b[4] | b[5] | b[6] | b[7])) return "safetensors";
    if (got >= 1 && ((b[0] >= 0x80 && b[0] <= 0x8f) || b[0] == 0xde || b[0] == 0xdf)) return "Flax (msgpack)";
    return NULL;
}

void config_load_path(ModelConfig *c, const char *path) {
    char file[4096], err[512];
    struct stat sb;
    if (stat(path, &sb) != 0) fatal("%s: no such file or directory (expected a model directory or a config JSON file)", path);
    if (S_ISDIR(sb.st_mode)) snprintf(file, sizeof file, "%s/config.json", path);
    else snprintf(file, sizeof file, "%s", path);
    if (S_ISDIR(sb.st_mode) && stat(file, &sb) != 0)
        fatal("%s: a folder without config.json (expected a model directory: config.json, model.safetensors, vocab.txt)", path);
    if (!S_ISDIR(sb.st_mode) && tensor_file_kind(file))
        fatal("%s is a %s checkpoint file, not a model directory or a config: give the folder that holds it with its config.json, or "
              "make a model directory with bigs convert --input %s --output DIR", path, tensor_file_kind(file), path);
    cJSON *root = json_read_file(file);
    config_defaults(c);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    char where[4200];
    if (cJSON_IsObject(model)) {
        // a training config file: {"model": {...}, "train": {...}}
        snprintf(where, sizeof where, "%s: model", file);
        if (config_from_json(c, model, where, err, sizeof err)) fatal("%s", err);
    } else {
        snprintf(where, sizeof where, "%s", file);
        if (config_from_json(c, root, where, err, sizeof err)) fatal("%s", err);
    }
    cJSON_Delete(root);
    if (config_validate(c, err, sizeof err)) fatal("%s: %s", file, err);
    // the casing: tokenizer_config.json beside config.json (as Hugging Face keeps it)
    char tc[4200];
    snprintf(tc, sizeof tc, "%s", file);
    char *slash = strrchr(tc, '/');
    snprintf(slash ? slash + 1 : tc, sizeof tc - (size_t)(slash ? slash + 1 - tc : 0), "tokenizer_config.json");
    size_t len;
    const char *e;
    char *text = stat(tc, &sb) == 0 ? file_read_all(tc, &len, &e) : NULL;
    cJSON *t = text ? cJSON_ParseWithLength(text, len) : NULL;
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(t, "do_lower_case");
    if (cJSON_IsBool(lc)) c->do_lower_case = cJSON_IsTrue(lc);
    cJSON_Delete(t);
    free(text);
}

const char *config_variant_name(const ModelConfig *c) {
    static char name[96];
    const MixerSlot *s = slot_of(c);
    snprintf(name, sizeof name, "%s+%s%s%s%s", block_of(c) ? block_of(c)->name : "?", mixer_of(c) ? mixer_of(c)->name : "?",
             s && s->nickname ? " (" : "", s && s->nickname ? s->nickname : "", s && s->nickname ? ")" : "");
    return name;
}

int config_length_limit(const ModelConfig *c) { return c->position_embedding_type == POS_ABSOLUTE ? c->max_position_embeddings : 0; }

int config_is_bert(const ModelConfig *c) {
    const MixerSlot *s = slot_of(c);
    return s && s->family && !strcmp(s->family, "bert");
}
_Static_assert(sizeof(((ModelConfig *)0)->model_type) == KEY_STR_LEN && sizeof(((ModelConfig *)0)->finetuning_task) == KEY_STR_LEN, "K_STR fields");

int config_has_key(const char *key) { return keys_find(&k_table, key) != NULL; }
