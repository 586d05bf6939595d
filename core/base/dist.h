// dist.h: data-parallel processes (Open MPI). A bigs built with MPI (make MPI=1, automatic when
// mpicc is installed) and started by mpirun is rank r of a world of w processes; started any other
// way, or built without MPI, it is rank 0 of 1 and no MPI call is made. The collectives below are
// then no-ops, so callers never test for MPI themselves.
#pragma once
#include <stddef.h>

// Joins the MPI job when launched by mpirun (reads its environment); call first thing in main.
void dist_init(int *argc, char ***argv);
void dist_finalize(void);
int dist_rank(void);
int dist_world(void);
int dist_lead(void);              // rank 0: the process that logs and writes files
int dist_local_world(void);       // processes of the job on this host
const char *dist_build(void);     // "Open MPI x.y.z" or "no MPI"

// Seconds this process has spent in collectives (communication plus waiting for the others).
double dist_seconds(void);

// In-place sums over all ranks; every rank receives the same bits.
void dist_sum_f32(float *buf, size_t n);
void dist_sum_f64(double *buf, size_t n);
void dist_sum_int(int *buf, size_t n);
long dist_max_long(long v);
long dist_min_long(long v);
void dist_bcast(void *buf, size_t bytes, int root);
void dist_barrier(void);
// Ends the whole job after a fatal error on one rank (MPI_Abort); returns when there is no job.
void dist_abort(int status);
