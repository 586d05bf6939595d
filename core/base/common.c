// common.c: error reporting, checked allocation, timing, atomic file writes.
#include "core/base/common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#ifdef _OPENMP  // the fuzz build (make fuzz) compiles the parsers without OpenMP
#include <omp.h>
#endif
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int g_quiet = 0;

// The process's place in a data-parallel job, told by dist_init (core/base/dist.c sits above this file
// and calls down into it, never the reverse): one process of one unless mpirun started several.
static int g_rank = 0, g_world = 1, g_local_world = 1;
static void (*g_abort)(int status) = NULL;

void common_set_process(int rank, int world, int local_world, void (*abort_job)(int status)) {
    g_rank = rank;
    g_world = world;
    g_local_world = local_world > 0 ? local_world : 1;
    g_abort = abort_job;
}

static void vreport(const char *prefix, const char *fmt, va_list ap) {
    fflush(stdout);
    fprintf(stderr, "bigs: %s", prefix);
    if (g_world > 1) fprintf(stderr, "[rank %d] ", g_rank);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("error: ", fmt, ap);
    va_end(ap);
    if (g_abort) g_abort(1);  // one rank failing ends the whole job, with this message first
    exit(1);
}

void fatal_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("error: ", fmt, ap);
    va_end(ap);
    if (g_abort) g_abort(2);
    exit(2);
}

void log_info(const char *fmt, ...) {
    if (g_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void log_warn(const char *fmt, ...) {
    if (g_rank != 0) return;  // the ranks see the same data and settings: one copy is enough
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) fatal("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) fatal("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) fatal("out of memory reallocating %zu bytes", n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// OpenBLAS exports this; declared here to avoid depending on a particular cblas.h variant.
void openblas_set_num_threads(int n);

void threads_set(int n) {
#ifdef _OPENMP
    int cores = omp_get_num_procs();
#else
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
#endif
    if (cores < 1) cores = 1;
    if (n <= 0) {  // all cores, shared among the job's processes on this host
        n = cores / g_local_world;
        if (n < 1) n = 1;
    } else if (n > cores) {  // more threads than cores only time-slice (and OpenBLAS can hang allocating per-thread buffers)
        log_info("note: --threads %d is more than the %d cores here: using %d", n, cores, cores);
        n = cores;
    }
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
}

#ifdef _OPENMP
int threads_get(void) { return omp_get_max_threads(); }
int thread_index(void) { return omp_get_thread_num(); }
#else
int threads_get(void) { return 1; }
int thread_index(void) { return 0; }
#endif

char *file_read_all(const char *path, size_t *len, const char **err) {
    FILE *f = fopen(path, "rb");
    if (!f) { *err = strerror(errno); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        cap *= 2;
        buf = xrealloc(buf, cap + 1);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); *err = "read error"; return NULL; }
    buf[n] = 0;  // convenient for text files
    *len = n;
    return buf;
}

int fsync_dir_of(const char *path) {
    char *tmp = xstrdup(path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
    free(tmp);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int file_write_atomic(const char *path, const void *data, size_t len) {
    size_t n = strlen(path);
    char *tmp = xmalloc(n + 8);
    snprintf(tmp, n + 8, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { free(tmp); return -1; }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno; close(fd); unlink(tmp); free(tmp); errno = e; return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) { int e = errno; unlink(tmp); free(tmp); errno = e; return -1; }
    if (rename(tmp, path) != 0) { int e = errno; unlink(tmp); free(tmp); errno = e; return -1; }
    free(tmp);
    fsync_dir_of(path);
    return 0;
}

void test_kill_point(const char *phase, long step) {
    const char *e = getenv("BIGS_TEST_KILL_IN");
    if (!e) return;
    size_t n = strlen(phase);
    if (!strncmp(e, phase, n) && e[n] == ':' && atol(e + n + 1) == step) {
        fflush(NULL);
        raise(SIGKILL);
    }
}

int errf(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

// OpenMP threads wait for work by sleeping (passive), not by spinning, unless the environment says
// otherwise: a spinning thread steals its core from whatever else runs there (small models ran 3x, eval 30x
// slower beside a busy process; a spin of 10000 turns before sleeping, 6x). libgomp reads OMP_WAIT_POLICY
// once, in its own initializer, so this runs from an executable's preinit array, which the dynamic loader
// runs before the initializer of any shared library (a re-execution would do it too, but not under
// valgrind or a debugger).
void omp_wait_policy_default(int argc, char **argv, char **envp) {
    (void)argc, (void)argv, (void)envp;
    if (!getenv("OMP_WAIT_POLICY")) setenv("OMP_WAIT_POLICY", "passive", 1);
}
