// fuzz_scrolls.c: SCROLLS JSON lines (data/scrolls.c). The first byte picks the task (bit 0:
// QuALITY, else ContractNLI); the rest is the file. Accepted sets are scored by exact match, and the
// SQuAD normaliser also gets the raw bytes as one string.
#include <string.h>

#include "data/scrolls.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    free(scrolls_normalize(text));
    free(text);
    ScrollsTask task = data[0] & 1 ? SCROLLS_QUALITY : SCROLLS_CONTRACT_NLI;
    ScrollsSet s;
    char err[1024];
    if (scrolls_read_mem(task, (const char *)data + 1, size - 1, "fuzz.jsonl", &s, err, sizeof err)) return 0;
    for (long i = 0; i < s.n; i++) {
        const ScrollsExample *e = &s.ex[i];
        FUZZ_CHECK(e->id && e->query && e->doc, "example %ld", i);
        FUZZ_CHECK(e->label >= -1 && e->label < (task == SCROLLS_QUALITY ? 4 : 3), "example %ld label %d", i, e->label);
        FUZZ_CHECK(e->ngold == 0 || e->label >= 0, "example %ld has answers but no class", i);
        if (e->ngold) FUZZ_CHECK(scrolls_exact_match(e->golds[0], e->golds, e->ngold) == 100.0, "example %ld: a gold answer must match itself", i);
    }
    scrolls_free(&s);
    return 0;
}
