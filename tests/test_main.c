// test_main.c: runs every registered test (or those whose name contains argv[1]) and prints
// "N passed, N failed" as the last line; exit status 1 when any test failed.
#include "tests/test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/common.h"

typedef struct { const char *name, *file; test_fn fn; } TestCase;
static TestCase g_tests[1024];
static int g_ntests = 0, g_cur_failed = 0;
static char g_tmpdir[256];

void test_register(const char *name, const char *file, test_fn fn) {
    if (g_ntests == (int)(sizeof g_tests / sizeof g_tests[0])) { fprintf(stderr, "too many tests\n"); exit(1); }
    g_tests[g_ntests++] = (TestCase){name, file, fn};
}

void test_fail_at(const char *file, int line, const char *fmt, ...) {
    if (g_cur_failed < 10) {  // the first few failures of a test are enough to diagnose it
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "  %s:%d: ", file, line);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    g_cur_failed++;
}

int test_failed_now(void) { return g_cur_failed > 0; }

const char *test_data_dir(void) {
    const char *d = getenv("BIGS_TEST_DIR");
    return d ? d : "tests";
}

const char *test_bigs_bin(void) {
    static char abs[4096];
    if (!abs[0]) {  // absolute, so tests may run it from another folder
        const char *b = getenv("BIGS");
        if (!realpath(b ? b : "build/bigs", abs)) snprintf(abs, sizeof abs, "%s", b ? b : "build/bigs");
    }
    return abs;
}

const char *test_tmpdir(void) {
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/bigs-test-XXXXXX");
        if (!mkdtemp(g_tmpdir)) { perror("mkdtemp"); exit(1); }
    }
    return g_tmpdir;
}

int test_run(const char *cmd, char *out, size_t n) {
    char full[4096];
    snprintf(full, sizeof full, "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t len = 0;
    int ch;
    while ((ch = fgetc(p)) != EOF)
        if (out && len + 1 < n) out[len++] = (char)ch;
    if (out && n) out[len] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int check_close_at(const char *file, int line, const char *what, const float *a, const float *b, long n,
                   double atol, double rtol) {
    long worst = -1, bad = 0;
    double worst_excess = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]), tol = atol + rtol * fabs((double)b[i]);
        if (!(d <= tol)) {  // also catches NaN
            bad++;
            double ex = isnan(d) ? INFINITY : d - tol;
            if (worst < 0 || ex > worst_excess) { worst = i; worst_excess = ex; }
        }
    }
    if (bad) {
        test_fail_at(file, line, "%s: %ld of %ld elements differ; worst [%ld]: got %.9g, expected %.9g (atol %g, rtol %g)",
                     what, bad, n, worst, a[worst], b[worst], atol, rtol);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    double t0 = now_seconds();
    for (int i = 0; i < g_ntests; i++) {
        TestCase *t = &g_tests[i];
        if (filter && !strstr(t->name, filter) && !strstr(t->file, filter)) continue;
        g_cur_failed = 0;
        double s = now_seconds();
        t->fn();
        double dt = now_seconds() - s;
        if (g_cur_failed) { failed++; fprintf(stderr, "FAIL %s (%s, %.2fs)\n", t->name, t->file, dt); }
        else { passed++; fprintf(stderr, "ok   %s (%.2fs)\n", t->name, dt); }
    }
    if (g_tmpdir[0] && getenv("BIGS_KEEP_TMP")) fprintf(stderr, "kept %s\n", g_tmpdir);
    else if (g_tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
    }
    fprintf(stderr, "(%.1fs)\n", now_seconds() - t0);
    fflush(stderr);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
