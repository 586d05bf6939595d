// dist.c: see dist.h. Everything MPI is behind BIGS_MPI; the single-process versions are trivial.
#include "core/base/dist.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/common.h"

static int g_rank = 0, g_world = 1, g_local = 1, g_active = 0;
static double g_seconds = 0;

double dist_seconds(void) { return g_seconds; }

int dist_rank(void) { return g_rank; }
int dist_world(void) { return g_world; }
int dist_lead(void) { return g_rank == 0; }
int dist_local_world(void) { return g_local; }

#ifdef BIGS_MPI
#include <limits.h>
#include <mpi.h>

// Launched by mpirun (Open MPI, or another PMI launcher)? A plain `bigs ...` then never touches MPI.
static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

void dist_init(int *argc, char ***argv) {
    if (!launched_by_mpirun()) return;
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    g_active = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &g_local);
    MPI_Comm_free(&local);
    // errors in collectives (a peer that died) end the job with MPI's message rather than hang
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    common_set_process(g_rank, g_world, g_local, dist_abort);  // messages name the rank; fatal() ends the job
    if (g_rank != 0) g_quiet = 1;  // rank 0 reports progress; the others speak only to fail
}

void dist_finalize(void) {
    if (g_active) MPI_Finalize();
    g_active = 0;
}

const char *dist_build(void) {
    static char v[MPI_MAX_LIBRARY_VERSION_STRING + 8];
    if (!v[0]) {
        int n;
        MPI_Get_library_version(v, &n);
        char *nl = strpbrk(v, ",\n");  // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
        if (nl) *nl = 0;
    }
    return v;
}

// Large buffers go in pieces: MPI counts are ints.
static void sum_chunks(void *buf, size_t n, size_t elem, MPI_Datatype t) {
    if (!g_active || g_world == 1) return;
    double t0 = now_seconds();
    const size_t chunk = (size_t)1 << 24;
    for (size_t o = 0; o < n; o += chunk) {
        size_t k = n - o < chunk ? n - o : chunk;
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + o * elem, (int)k, t, MPI_SUM, MPI_COMM_WORLD);
    }
    g_seconds += now_seconds() - t0;
}

void dist_sum_f32(float *buf, size_t n) { sum_chunks(buf, n, sizeof(float), MPI_FLOAT); }
void dist_sum_f64(double *buf, size_t n) { sum_chunks(buf, n, sizeof(double), MPI_DOUBLE); }
void dist_sum_int(int *buf, size_t n) { sum_chunks(buf, n, sizeof(int), MPI_INT); }

static long reduce_long(long v, MPI_Op op) {
    if (g_active && g_world > 1) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_LONG, op, MPI_COMM_WORLD);
    return v;
}
long dist_max_long(long v) { return reduce_long(v, MPI_MAX); }
long dist_min_long(long v) { return reduce_long(v, MPI_MIN); }

void dist_bcast(void *buf, size_t bytes, int root) {
    if (!g_active || g_world == 1) return;
    const size_t chunk = (size_t)1 << 30;
    for (size_t o = 0; o < bytes; o += chunk) {
        size_t k = bytes - o < chunk ? bytes - o : chunk;
        MPI_Bcast((char *)buf + o, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}

void dist_barrier(void) {
    if (g_active && g_world > 1) MPI_Barrier(MPI_COMM_WORLD);
}

void dist_abort(int status) {
    if (g_active && g_world > 1) {
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, status);
    }
}

#else  // built without MPI: one process

void dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1)
        fatal("started by mpirun with %s processes, but this bigs was built without MPI (rebuild with make MPI=1)",
              getenv("OMPI_COMM_WORLD_SIZE"));
    (void)g_active;
}
void dist_finalize(void) {}
const char *dist_build(void) { return "no MPI"; }
void dist_sum_f32(float *buf, size_t n) { (void)buf; (void)n; }
void dist_sum_f64(double *buf, size_t n) { (void)buf; (void)n; }
void dist_sum_int(int *buf, size_t n) { (void)buf; (void)n; }
long dist_max_long(long v) { return v; }
long dist_min_long(long v) { return v; }
void dist_bcast(void *buf, size_t bytes, int root) { (void)buf; (void)bytes; (void)root; }
void dist_barrier(void) {}
void dist_abort(int status) { (void)status; }
#endif
