// test.h: the test framework. Each test file defines tests with TEST(name) { ... }; they register
// themselves at startup and run in the order files were linked. A test fails when any CHECK fails.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn);
void test_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int test_failed_now(void);  // has the running test failed so far?
const char *test_data_dir(void);  // "tests" (or $BIGS_TEST_DIR)
const char *test_bigs_bin(void);  // the bigs executable under test ($BIGS or build/bigs)
const char *test_tmpdir(void);    // a fresh temporary folder for this run, removed at exit
// Runs a shell command, captures stdout and stderr (2>&1) into out (NUL-terminated, truncated to n),
// returns its exit status (or -1 when it could not run or was killed).
int test_run(const char *cmd, char *out, size_t n);
// Shards of a tiny synthetic language (vocab 2000, specials 0/100-103) in dir: nseq training and
// nseq/8 validation sequences of up to L tokens, with meta.json (test_pretrain.c).
void test_make_mlm_shards(const char *dir, int nseq, int L);
int test_files_equal(const char *a, const char *b);  // same bytes?
// A tiny BiGS MLM model directory (H=16, NL=1, I=24, N=4, `positions` positions, the uncased test
// vocabulary), initialised with `seed` (test_glue.c).
void test_make_tiny_model(const char *dir, int positions, uint64_t seed);
// A GLUE task folder in the official layout with 12 train, 6 dev and 4 test rows (test_glue.c).
void test_make_glue_task_dir(const char *dir, const char *task);
// A SCROLLS folder (train/validation/test.jsonl, 4/3/2 examples of about 5000 words): QuALITY when
// quality is set, else ContractNLI (test_scrolls.c).
void test_make_scrolls_dir(const char *dir, int quality);

#define TEST(name)                                                             \
    static void name(void);                                                    \
    __attribute__((constructor)) static void name##_register(void) {           \
        test_register(#name, __FILE__, name);                                  \
    }                                                                          \
    static void name(void)

#define CHECK(cond)                                                            \
    do { if (!(cond)) test_fail_at(__FILE__, __LINE__, "CHECK(%s) failed", #cond); } while (0)
#define CHECKF(cond, ...)                                                      \
    do { if (!(cond)) test_fail_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_EQ_INT(a, b)                                                     \
    do { long long a_ = (long long)(a), b_ = (long long)(b);                   \
         if (a_ != b_) test_fail_at(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_); } while (0)
// |a-b| <= atol + rtol*|b| elementwise; reports the worst element. Returns 1 when all close.
int check_close_at(const char *file, int line, const char *what, const float *a, const float *b, long n,
                   double atol, double rtol);
#define CHECK_CLOSE(what, a, b, n, atol, rtol) check_close_at(__FILE__, __LINE__, what, a, b, n, atol, rtol)
