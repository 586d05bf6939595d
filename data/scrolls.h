// scrolls.h: SCROLLS tasks (JSON lines {"id", "pid", "input", "output"}; an id that repeats carries
// several gold answers) and their metric, exact match after SQuAD normalisation.
#pragma once
#include <stddef.h>

typedef enum { SCROLLS_CONTRACT_NLI, SCROLLS_QUALITY } ScrollsTask;

typedef struct {
    char *id;
    char *query;        // ContractNLI: the hypothesis; QuALITY: the question
    char *doc;          // the contract or the article
    char *options[4];   // QuALITY: the four options, whitespace-normalised
    char **golds;       // every gold output of this id
    int ngold;
    int label;          // gold class (ContractNLI: index in scrolls_labels; QuALITY: option), -1 if none
} ScrollsExample;

typedef struct {
    ScrollsExample *ex;
    long n;
} ScrollsSet;

extern const char *const scrolls_contract_labels[3];  // "Entailment", "Contradiction", "Not mentioned"
int scrolls_task(const char *name, ScrollsTask *t);    // 0, or -1 for an unknown name
// Reads train.jsonl / validation.jsonl / test.jsonl. Returns 0 or -1 with a message naming file:line.
int scrolls_read(ScrollsTask t, const char *path, ScrollsSet *s, char *err, size_t n);
// The same from a file's contents in memory (name is for messages).
int scrolls_read_mem(ScrollsTask t, const char *text, size_t len, const char *name, ScrollsSet *s, char *err, size_t n);
void scrolls_free(ScrollsSet *s);
// QuALITY's input: question, blank line, "(A) o1\n(B) o2\n(C) o3\n(D) o4", blank line, article.
// Splits it; returns 0, or -1 when the layout is not there.
int scrolls_parse_quality(const char *input, char **question, char *options[4], char **article);
// SQuAD normalisation: lowercase, drop ASCII punctuation, drop the words a/an/the, collapse whitespace.
char *scrolls_normalize(const char *s);  // malloc'd
// Exact match x100 of one prediction: the max over its gold answers.
double scrolls_exact_match(const char *pred, char *const *golds, int ngold);
