// model.h: the BiGS model family (the paper's 2x2 grid: GATED/STACK blocks x SSM/attention routing)
// with a masked-LM, a sequence-classification/regression and a multiple-choice head. Parameter names
// are the Hugging Face PyTorch names ("bigs.*" for the SSM/gated variants, "bert.*" for BERT, "cls.*",
// "classifier.*"), so model.safetensors loads into Hugging Face code.
#pragma once
#include <stdint.h>

#include "core/model/config.h"
#include "core/model/layers.h"
#include "core/model/mixer.h"
#include "core/formats/tsource.h"

typedef enum { HEAD_MLM, HEAD_SEQCLS, HEAD_MC } HeadType;

// One encoder layer: the block's parameter struct and the mixer's (each of its row's own type).
typedef struct {
    void *block;
    void *mix;
} Layer;

typedef struct {
    ModelConfig cfg;
    HeadType head;
    const Block *block;      // the config's rows (mixer.h)
    const Mixer *mixer;
    const MixerSlot *slot;   // the mixer inside that block
    ParamTable pt;
    Tensor *word, *pos, *type;  // embeddings: (V,H), (max_position_embeddings,H) or NULL (no table), (type_vocab_size,H)
    Norm emb_ln;
    Layer *layer;               // (NL)
    Dense mlm_dense;            // MLM head: transform dense H->H, its LayerNorm, the output bias (V)
    Norm mlm_ln;
    Tensor *mlm_bias;
    Tensor *decoder;            // (V,H) the MLM decoder when untied (tie_word_embeddings false); NULL: word
    Dense pooler, classifier;   // classification heads: pooler H->H, classifier H->num_labels (or 1)
} Model;

// One batch of B sequences of length L (row-major (B,L) arrays).
typedef struct {
    int B, L;
    const int32_t *input_ids;
    const int32_t *token_type_ids;  // NULL: all 0
    const int32_t *attention_mask;  // 1 = token, 0 = padding; NULL: all 1
} Batch;

// Builds the parameter table for cfg and head and allocates the parameters (zero; see
// model_init_weights). Training also needs params_alloc_grad(&m->pt).
void model_build(Model *m, const ModelConfig *cfg, HeadType head);
// The same with no memory behind the parameters, for a dry run of the tape (memory estimates).
void model_build_dry(Model *m, const ModelConfig *cfg, HeadType head);
// Only the parameter table (names, shapes, counts), nothing allocated: for `bigs info`.
void model_declare(ParamTable *pt, const ModelConfig *cfg, HeadType head);
void model_free(Model *m);
// Initialises every parameter by its role (as the official code does, docs/models.md sections 2-3);
// each parameter draws from its own stream keyed by its name, so the order of the table does not matter.
void model_init_weights(Model *m, uint64_t seed);
void model_init_param(Model *m, int index, uint64_t seed);  // one parameter
// The SSM's A_im for the "hippo" scaling: eigenvalues (ascending) of -i*S, S = -HiPPO_LegS + P P^T
// (mixer_ssm.c).
void ssm_hippo_imag(int N, double *out);

// The encoder: (B,L,H) hidden states of the last layer.
Tensor *model_encode(Model *m, Tape *tp, const Batch *b);
// Masked LM: logits (M,V) at the M positions whose label is not -100 (row-major order), and the mean
// cross-entropy over them. labels (B,L). *count receives M.
Tensor *model_mlm(Model *m, Tape *tp, const Batch *b, const int32_t *labels, Tensor **logits, int *count);
// Sequence classification: logits (B,num_labels); loss = cross-entropy with labels (B), or MSE with
// targets (B) when num_labels == 1. With neither, returns NULL (prediction only).
Tensor *model_classify(Model *m, Tape *tp, const Batch *b, const int32_t *labels, const float *targets,
                       Tensor **logits);
// Multiple choice: the batch holds B*C rows (C choices per example); logits (B,C); loss with labels (B).
Tensor *model_multiple_choice(Model *m, Tape *tp, const Batch *b, int C, const int32_t *labels, Tensor **logits);

const char *model_prefix(const Model *m);          // "bigs" or "bert"
const char *model_architecture(const Model *m);    // "BiGSForMaskedLM", "BertForSequenceClassification", ...
HeadType model_head_from_architecture(const char *arch);  // HEAD_MLM when unknown

// Model directories: config.json, the tensors (model.safetensors as written; reading also takes a
// directory holding pytorch_model.bin or flax_model.msgpack instead, as the official downloads do) and
// vocab.txt. Saving writes each file atomically; vocab_src (may be NULL) is copied to vocab.txt.
void model_save_dir(const Model *m, const char *dir, const char *vocab_src);  // exits on an error
// The same, returning 0, or -1 with the file that could not be written in err (a checkpoint then
// removes its unfinished folder).
int model_save_dir_err(const Model *m, const char *dir, const char *vocab_src, char *err, size_t n);
// The same with the tensors in another format (its file name in the directory: pytorch_model.bin, ...).
int model_save_dir_as(const Model *m, const char *dir, const char *vocab_src, TsKind kind, char *err, size_t n);
// Loads a model directory into a model with the given head (HEAD_AUTO: the one config.json names).
// Missing, unexpected or mis-shaped tensors are listed by name and are errors, except with flags:
//   LOAD_NEW_HEAD: head parameters absent from the file (or of another label count) are freshly
//     initialised with seed, and another head's tensors are ignored, each with a message;
//   LOAD_GROW_POSITIONS: a position table longer than the file's is filled with the learned rows
//     repeated cyclically (length extension).
// Returns 0, or -1 with *err a malloc'd message listing every problem (model_load_dir: fatal instead).
#define HEAD_AUTO ((HeadType)-1)
enum { LOAD_NEW_HEAD = 1, LOAD_GROW_POSITIONS = 2 };
int model_load_dir_err(Model *m, const char *dir, HeadType head, int flags, uint64_t seed, char **err);
void model_load_dir(Model *m, const char *dir, HeadType head, int flags, uint64_t seed);
// The same with a config given by the caller (the directory's, changed: e.g. another num_labels).
int model_load_with_config(Model *m, const char *dir, const ModelConfig *cfg, HeadType head, int flags, uint64_t seed,
                           char **err);
// Fills a built model from any tensor source, its names mapped by the source's format (names.h), with
// the flags above; against names the config for messages ("its config.json"). 0, or -1 with *err.
int model_read_source(Model *m, const TensorSource *src, const char *against, int flags, uint64_t seed, char **err);
HeadType model_head_of_dir(const char *dir);  // from config.json's "architectures"; HEAD_MLM when absent
// The head a checkpoint holds: a classifier (and its label count) or else the masked LM.
HeadType model_head_of_source(const TensorSource *src, int *num_labels);
// The tensor file of a model directory: 0 with its path, or -1 (out: the model.safetensors expected).
int model_dir_tensor_file(const char *dir, char *out, size_t n);

// The model's tensors under a format's names, transposed where it stores (in,out), plus its tied copies.
// Parameters the format's layout has no name for are counted in nmissing (the first in missing).
typedef struct {
    TsWrite *t;
    int n;
    char **names;
    float **owned;
    int nmissing;
    const char *missing;
} ModelExport;
void model_export(const Model *m, TsKind kind, ModelExport *x);
void model_export_free(ModelExport *x);
