// memory.h: memory before it is spent. What one training step needs (parameters, gradients, the AdamW
// moments, and the activations of a forward and backward pass, from a dry run of the tape that allocates
// nothing), and what the machine can still give (MemAvailable, a cgroup's limit, an address-space limit).
#pragma once
#include "core/model/model.h"

typedef struct {
    double params, grads, optimizer, activations, overhead;  // bytes
    double total;
} StepMemory;

// One training step of a model of config c with head, on a batch of B examples of L tokens (C rows an
// example for multiple choice; masked LM: the masked positions as mlm_probability and max_pred say).
void memory_step(const ModelConfig *c, HeadType head, int B, int L, int C, double mlm_prob, int max_pred, StepMemory *out);
// Bytes this process can still allocate: the smallest of MemAvailable and the room left under the
// cgroup's memory.max and under RLIMIT_AS (each when set). A huge value when none can be read.
double memory_available(void);
// Refuses (fatal, with the breakdown and what to change) a step that needs more than is available, beyond
// what the process holds already: `held` (the parameters, when they are loaded).
void memory_check(const StepMemory *s, double held, int B, int L, const char *what);
