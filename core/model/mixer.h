// mixer.h: sequence mixers ("routings") and blocks as table rows. Each mixer lives in its own file
// (core/model/mixer_<name>.c) and fills one Mixer; each block (core/model/block_<name>.c) one Block.
// core/model/registry.c lists the rows; nothing else in the tree names an implementation: the config,
// the encoder, the loaders and the commands ask a row what it needs. docs/extending.md walks through
// adding a mixer.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/model/config.h"
#include "core/model/layers.h"

// What a mixer needs from the encoder, and what that implies for its users.
enum {
    // Masks padding keys: the encoder hands it the batch's attention_mask, and its outputs do not depend
    // on how much padding follows a sequence. Without it pads flow through the mixer (the official BiGS
    // model), so predict and eval pad every input to max_position_embeddings, as the official scripts.
    MIX_KEY_MASK = 1,
    // Runs at any sequence length by itself (an SSM's kernel is computed for any L): only the position
    // table limits the model, and finetuning on longer inputs grows it. Without it a model keeps the
    // length it was pretrained at and longer inputs are truncated, as the BERT baselines do.
    MIX_ANY_LENGTH = 2,
    // Sees word order by itself (an SSM's causal convolutions run forward and backward in time), so a
    // model may go without position information ("position_embedding_type": "none"). Without it (attention
    // is a function of the set of tokens) a model needs a position table, RoPE or ALiBi.
    MIX_ORDERED = 4,
    // Applies relative positions inside itself ("rope": rotated queries and keys; "alibi": linear biases
    // of the scores), reading MixCtx.pos. Without it rope and alibi are config errors.
    MIX_POSITIONS = 8,
};

// The forward context of one layer.
typedef struct {
    const ModelConfig *c;
    Tape *tp;
    const int32_t *key_mask;  // (B,L) 1 = token, 0 = padding; NULL unless the mixer has MIX_KEY_MASK
    const int32_t *pos;       // (B,L) each token's position (0..L-1 in every row, pads included)
} MixCtx;

// A mixer inside one kind of block. A block takes the mixer only when walk is set.
typedef struct {
    // Declares (w->bind = 0) or binds (1) the mixer's parameters into p, its own struct, under prefix
    // (the layer's name, "bigs.encoder.layer.3").
    void (*walk)(Walk *w, void *p, const ModelConfig *c, const char *prefix);
    // GATED: Xn (B,L,H) -> the routed branch G (B,L,H) that feeds `dol`.
    // STACK: Xn (B,L,H) -> (B,L,width_mult*H), which the block's `<sub>.output.dense` maps back to H.
    Tensor *(*forward)(const MixCtx *x, const void *p, Tensor *Xn);
    const char *sub;     // STACK: the sub-block's name ("attention": attention.output.dense, ...)
    int width_mult;      // STACK: output width in multiples of H
    const char *family;  // the Hugging Face family of this block + mixer ("bert": bert.* names and Bert*
                         // architectures), or NULL: BiGS (bigs.*, BiGS*)
    const char *nickname;  // shown after the variant's name ("BiGS", "BERT"), or NULL
    // GATED, optional: the routed branch at n rows only (rows index Xn viewed as (B*L,H), ascending): the
    // rows of forward's output, the same bits with our GEMM, doing the per-token work after the sequence
    // mixing at those rows alone (the masked-LM head reads only the masked positions of the last layer).
    // NULL: the block runs forward and takes the rows.
    Tensor *(*forward_rows)(const MixCtx *x, const void *p, Tensor *Xn, const int32_t *rows, int n);
} MixerSlot;

typedef struct {
    const char *name;      // the config value of "routing"
    int needs;             // MIX_* flags
    size_t params_size;    // sizeof its parameter struct (one per layer)
    // Its config keys and their combinations: 0, or -1 with a message naming the key. NULL: none.
    int (*validate)(const ModelConfig *c, char *err, size_t n);
    MixerSlot gated, stack;
} Mixer;

typedef struct Block {
    const char *name;      // the config value of "block"
    size_t params_size;
    const MixerSlot *(*slot)(const Mixer *mx);  // the mixer's slot for this block
    // Declares or binds the block's parameters into p and, in its place in the order, the mixer's into mixp.
    void (*walk)(Walk *w, void *p, const MixerSlot *s, void *mixp, const ModelConfig *c, const char *prefix);
    // One layer: X (B,L,H) -> (B,L,H).
    Tensor *(*forward)(const MixCtx *x, const void *p, const MixerSlot *s, const void *mixp, Tensor *X);
    // Optional: the last layer at n rows of its output only (rows of (B*L,H), ascending) -> (n,H), the same
    // bits as those rows of forward's output. NULL (or a slot without forward_rows): forward, then the rows.
    Tensor *(*forward_rows)(const MixCtx *x, const void *p, const MixerSlot *s, const void *mixp, Tensor *X,
                            const int32_t *rows, int n);
} Block;

// The tables (registry.c): NULL-terminated, and their names as the config's enum values.
extern const Mixer *const g_mixers[];
extern const Block *const g_blocks[];
extern const char *g_mixer_names[];
extern const char *g_block_names[];

// The rows a config names (its block and routing are indices into the tables, checked by config_validate).
const Mixer *mixer_of(const ModelConfig *c);
const Block *block_of(const ModelConfig *c);
const MixerSlot *slot_of(const ModelConfig *c);  // NULL when the block does not take the mixer
int mixer_index(const char *name);               // -1 when unknown
int block_index(const char *name);
