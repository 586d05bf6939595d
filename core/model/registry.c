// registry.c: the tables of mixers and blocks. A new mixer is its file plus its row here.
#include <string.h>

#include "core/model/mixer.h"

extern const Mixer mixer_ssm, mixer_attention;
extern const Block block_gated, block_stack;

// The order is the config enum's: index 0 is the default (the official BiGS: gated block, SSM routing).
const Mixer *const g_mixers[] = {&mixer_ssm, &mixer_attention, NULL};
const Block *const g_blocks[] = {&block_gated, &block_stack, NULL};

#define COUNT(t) (sizeof t / sizeof t[0])
const char *g_mixer_names[COUNT(g_mixers)];
const char *g_block_names[COUNT(g_blocks)];

// The names the config's "routing" and "block" keys accept, filled from the rows before main runs.
__attribute__((constructor)) static void registry_names(void) {
    for (size_t i = 0; g_mixers[i]; i++) g_mixer_names[i] = g_mixers[i]->name;
    for (size_t i = 0; g_blocks[i]; i++) g_block_names[i] = g_blocks[i]->name;
}

int mixer_index(const char *name) {
    for (int i = 0; g_mixers[i]; i++)
        if (!strcmp(g_mixers[i]->name, name)) return i;
    return -1;
}

int block_index(const char *name) {
    for (int i = 0; g_blocks[i]; i++)
        if (!strcmp(g_blocks[i]->name, name)) return i;
    return -1;
}

const Mixer *mixer_of(const ModelConfig *c) {
    return c->routing >= 0 && c->routing < (int)COUNT(g_mixers) - 1 ? g_mixers[c->routing] : NULL;
}

const Block *block_of(const ModelConfig *c) {
    return c->block >= 0 && c->block < (int)COUNT(g_blocks) - 1 ? g_blocks[c->block] : NULL;
}

const MixerSlot *slot_of(const ModelConfig *c) {
    const Mixer *mx = mixer_of(c);
    const Block *b = block_of(c);
    if (!mx || !b) return NULL;
    const MixerSlot *s = b->slot(mx);
    return s->walk ? s : NULL;
}
