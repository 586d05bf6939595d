// common.h: error reporting, checked allocation, timing and small helpers used everywhere.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BIGS_VERSION "0.1.0"

// Fatal error: prints "bigs: error: <message>" and exits with status 1. The message should name
// the file, line or key at fault, what was expected and what to do.
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Usage error: same, exit status 2.
_Noreturn void fatal_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// Always-on internal assertion (kept in release builds, like ggml's GGML_ASSERT).
#define BIGS_ASSERT(c) \
    do { if (!(c)) fatal("internal error at %s:%d: assertion `%s` failed", __FILE__, __LINE__, #c); } while (0)

void *xmalloc(size_t n);   // malloc that never returns NULL (fatal with the size)
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

double now_seconds(void);  // monotonic clock

// Set by dist_init when mpirun started several processes: this process's rank, the job's size, the
// processes on this host (threads_set shares the cores among them) and the function that ends the whole
// job after a fatal error (MPI_Abort). Until then: rank 0 of 1, and fatal() just exits.
void common_set_process(int rank, int world, int local_world, void (*abort_job)(int status));

// Logging to stderr; quiet mode silences log_info.
extern int g_quiet;
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Threads: set the OpenMP and OpenBLAS thread count (n <= 0: all cores).
void threads_set(int n);
int threads_get(void);
// The calling thread's number in its OpenMP team (0 outside a parallel region).
int thread_index(void);

// Test hook for fault injection: BIGS_TEST_KILL_IN=PHASE:STEP in the environment kills this process
// (SIGKILL) when it reaches phase PHASE ("eval", "save", "rotate", "final") of step STEP.
void test_kill_point(const char *phase, long step);

// Formats a message into err (size n) and returns -1: for parsers that report errors to their caller.
int errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Reads a whole file; returns NULL (and sets *err to a static message) on failure.
char *file_read_all(const char *path, size_t *len, const char **err);
// Writes a file atomically: PATH.tmp, fsync, rename, fsync of the directory. Returns 0 or -1 (errno set).
int file_write_atomic(const char *path, const void *data, size_t len);
int fsync_dir_of(const char *path);

// Sets OMP_WAIT_POLICY=passive unless the environment sets it: for an executable's .preinit_array
// (cmd/main.c, scripts/bench_train.c), so that libgomp reads it at its start.
void omp_wait_policy_default(int argc, char **argv, char **envp);
