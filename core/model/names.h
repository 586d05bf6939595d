// names.h: how each tensor file format names the model's parameters, one table per format. Our names
// are Hugging Face's PyTorch names (bigs.* for the BiGS family as the authors' PyTorch port, bert.* for
// BERT), so safetensors and pytorch_model.bin files use them as they are; the official Flax checkpoints
// nest modules in a tree ("s4_bert/encoder/layer/0/dv/kernel") and store dense kernels transposed.
#pragma once
#include <stddef.h>

#include "core/formats/tsource.h"

// One mapping: our name pattern and the format's; '*' stands for one name segment (no '.' or '/') and
// the k-th '*' of one side is the k-th of the other.
typedef struct { const char *ours, *theirs; int transpose; } NameRule;

// A second copy of a parameter that a format's files hold under another name (the tied MLM decoder),
// written when the model has parameter if_has.
typedef struct { const char *ours, *theirs, *if_has; } TiedCopy;

typedef struct {
    TsKind kind;
    const NameRule *rules;        // first match wins; NULL: the format uses our names
    const char *const *dropped;   // the format's tensors that are no parameters of ours (buffers, tied
                                  // copies): read past when a file is loaded (patterns, NULL-terminated)
    const TiedCopy *tied;         // written besides the parameters; NULL-terminated
    const char *layout;           // for messages: which models the format's layout holds
} NameMap;

const NameMap *name_map(TsKind kind);
// The format's name of our parameter: 0 with *transpose (a (in,out) kernel), or -1 when it has none.
int names_theirs(const NameMap *m, const char *ours, char *out, size_t n, int *transpose);
int names_dropped(const NameMap *m, const char *theirs);
// Matches name against pattern ('*' = one segment) and, when fill is set, writes fill with pattern's
// '*'s replaced by the segments matched: 1 on a match, 0 otherwise.
int names_match(const char *pattern, const char *name, const char *fill, char *out, size_t n);
