// fuzz.h: shared by the libFuzzer harnesses in tests/fuzz/ (built by `make fuzz-build`, run by `make fuzz`).
// Each harness feeds arbitrary bytes to one parser's from-memory entry point, which must return an error
// (never exit, crash, leak or allocate without bound), and checks invariants on what a parser accepts.
// A broken invariant calls FUZZ_CHECK, which aborts: libFuzzer records the input as a finding.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(c, ...)                                                                          \
    do {                                                                                            \
        if (!(c)) {                                                                                 \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #c);        \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
