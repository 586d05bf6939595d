// test_mpi.c: data-parallel pretraining and finetuning under mpirun (2 processes on this machine).
// Two processes with batch b must end where one process with batch 2b ends (1e-5 relative), a run
// stopped under MPI resumes with the same or another number of processes, and a process that dies
// ends the job with the last checkpoint intact. Skipped only when Open MPI is not installed; when
// mpirun is present, bigs must have been built with MPI.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/common.h"
#include "core/formats/safetensors.h"
#include "tests/test.h"

// mpirun as root needs these; --oversubscribe lets 2 processes share fewer cores.
#define MPIRUN "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_rmaps_base_oversubscribe=1 " \
               "timeout 300 mpirun --oversubscribe"

// `make test` sets BIGS_EXPECT_MPI=1 when it built with MPI (mpicc installed, as in CI): then these tests
// must run. Otherwise they are skipped, with a message, when mpirun or an MPI build is missing.
static int mpi_ready(void) {
    static int ready = -1;
    if (ready >= 0) return ready;
    char log[512], cmd[4200];
    const char *e = getenv("BIGS_EXPECT_MPI");
    int expect = e && !strcmp(e, "1");
    snprintf(cmd, sizeof cmd, "%s --version", test_bigs_bin());
    test_run(cmd, log, sizeof log);
    int built = strstr(log, "MPI v") != NULL, have_mpirun = test_run("command -v mpirun", cmd, sizeof cmd) == 0;
    ready = built && have_mpirun;
    if (expect) CHECKF(ready, "MPI was expected, but %s (%s)", have_mpirun ? "bigs was built without it" : "mpirun is not installed", log);
    else if (!ready) fprintf(stderr, "  (skipped: %s; apt-get install openmpi-bin libopenmpi-dev, then make)\n",
                             have_mpirun ? "bigs was built without MPI" : "mpirun is not installed");
    return ready;
}

static void write_config(const char *path, int batch, int accum, double dropout) {
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"model\": {\"vocab_size\": 2000, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"intermediate_size\": 64,\n"
            "  \"num_ssm\": 8, \"max_position_embeddings\": 32, \"hidden_dropout_prob\": %g},\n"
            " \"train\": {\"learning_rate\": 1e-3, \"warmup_steps\": 2, \"max_steps\": 12, \"per_device_train_batch_size\": %d,\n"
            "  \"gradient_accumulation_steps\": %d, \"per_device_eval_batch_size\": 8, \"max_seq_length\": 32, \"save_steps\": 4,\n"
            "  \"eval_steps\": 6, \"logging_steps\": 3, \"eval_batches\": 3, \"weight_decay\": 0.01}}\n",
            dropout, batch, accum);
    fclose(f);
}

// Relative distance ||a - b|| / ||b|| over all parameters of two model.safetensors files (-1 on error).
static double param_distance(const char *dir_a, const char *dir_b) {
    char pa[700], pb[700], err[512];
    snprintf(pa, sizeof pa, "%s/model.safetensors", dir_a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", dir_b);
    StFile fa, fb;
    if (st_open(&fa, pa, err, sizeof err)) { CHECKF(0, "%s", err); return -1; }
    if (st_open(&fb, pb, err, sizeof err)) { CHECKF(0, "%s", err); st_close(&fa); return -1; }
    double diff = 0, norm = 0;
    int ok = fa.n == fb.n;
    for (int i = 0; ok && i < fa.n; i++) {
        const StTensor *ta = &fa.t[i], *tb = st_find(&fb, ta->name);
        if (!tb || tb->numel != ta->numel) { ok = 0; break; }
        float *x = xmalloc(sizeof(float) * (size_t)ta->numel), *y = xmalloc(sizeof(float) * (size_t)ta->numel);
        st_to_f32(&fa, ta, x);
        st_to_f32(&fb, tb, y);
        for (long k = 0; k < ta->numel; k++) { diff += ((double)x[k] - y[k]) * ((double)x[k] - y[k]); norm += (double)y[k] * y[k]; }
        free(x);
        free(y);
    }
    st_close(&fa);
    st_close(&fb);
    CHECKF(ok, "%s and %s hold different tensors", pa, pb);
    return ok ? sqrt(diff / norm) : -1;
}

static int run(const char *cmd, char *log, size_t n) {
    int rc = test_run(cmd, log, n);
    if (rc != 0 && rc != 143) fprintf(stderr, "  command: %s\n  output: %.3000s\n", cmd, log);
    return rc;
}

TEST(mpi_two_processes_equal_one_with_twice_the_batch) {
    if (!mpi_ready()) return;
    char data[512], c1[512], c2[512], o1[512], o2[512], o3[512], cmd[8192], log[16384], p[700];
    const char *t = test_tmpdir();
    snprintf(data, sizeof data, "%s/mpi_data", t);
    test_make_mlm_shards(data, 300, 32);
    snprintf(c1, sizeof c1, "%s/mpi_b8.json", t);
    snprintf(c2, sizeof c2, "%s/mpi_b4.json", t);
    write_config(c1, 8, 2, 0.1);  // dropout on: the draws are numbered by global row
    write_config(c2, 4, 2, 0.1);
    snprintf(o1, sizeof o1, "%s/mpi_one", t);
    snprintf(o2, sizeof o2, "%s/mpi_two", t);
    snprintf(o3, sizeof o3, "%s/mpi_two_resumed", t);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet", test_bigs_bin(), c1, data, o1);
    CHECK(run(cmd, log, sizeof log) == 0);
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 %s pretrain --config %s --data %s --output %s --threads 1", test_bigs_bin(), c2, data, o2);
    CHECK(run(cmd, log, sizeof log) == 0);
    CHECKF(strstr(log, "data parallel: 2 processes of 4 sequences"), "rank 0 should report the job: %s", log);
    CHECKF(!strstr(log, "[rank 1]"), "rank 1 should be silent: %s", log);
    double d = param_distance(o2, o1);
    CHECKF(d >= 0 && d < 1e-5, "2 x batch 4 vs 1 x batch 8 after 12 steps: relative distance %g (want < 1e-5)", d);
    CHECKF(d != 0, "the distance is exactly 0: the two runs did not take different paths");
    // the logs agree too: the same losses and evaluations
    snprintf(p, sizeof p, "%s/all_results.json", o1);
    size_t la, lb;
    const char *e;
    char *ra = file_read_all(p, &la, &e);
    snprintf(p, sizeof p, "%s/all_results.json", o2);
    char *rb = file_read_all(p, &lb, &e);
    CHECK(ra && rb);
    if (ra && rb) {
        double ea = strtod(strstr(ra, "\"eval_loss\":") + 12, NULL), eb = strtod(strstr(rb, "\"eval_loss\":") + 12, NULL);
        CHECKF(fabs(ea - eb) < 1e-4 * fabs(ea), "eval_loss %g (1 process) vs %g (2 processes)", ea, eb);
    }
    free(ra);
    free(rb);
    // stopped under MPI after step 5 (a checkpoint is written), resumed under MPI: bitwise the same end
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 -x BIGS_STOP_AFTER_STEP=5 %s pretrain --config %s --data %s --output %s --threads 1 --quiet",
             test_bigs_bin(), c2, data, o3);
    int rc = run(cmd, log, sizeof log);
    CHECKF(rc == 143, "the stopped job should exit with 143, got %d", rc);
    struct stat sb;
    snprintf(p, sizeof p, "%s/checkpoint-5/trainer_state.json", o3);
    CHECK(stat(p, &sb) == 0);
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 %s pretrain --config %s --data %s --output %s --threads 1 --quiet --resume", test_bigs_bin(), c2, data, o3);
    CHECK(run(cmd, log, sizeof log) == 0);
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/model.safetensors", o2);
    snprintf(b, sizeof b, "%s/model.safetensors", o3);
    CHECKF(test_files_equal(a, b), "2 processes stopped and resumed end differently from 2 uninterrupted");
}

TEST(mpi_resume_with_another_process_count) {
    if (!mpi_ready()) return;
    char data[512], c1[512], c2[512], o1[512], o2[512], o3[512], cmd[8192], log[16384];
    const char *t = test_tmpdir();
    snprintf(data, sizeof data, "%s/mpi_data2", t);
    test_make_mlm_shards(data, 300, 32);
    snprintf(c1, sizeof c1, "%s/mpi2_b8.json", t);
    snprintf(c2, sizeof c2, "%s/mpi2_b4.json", t);
    write_config(c1, 8, 1, 0.1);
    write_config(c2, 4, 1, 0.1);
    snprintf(o1, sizeof o1, "%s/mpi2_one", t);
    snprintf(o2, sizeof o2, "%s/mpi2_two_then_one", t);
    snprintf(o3, sizeof o3, "%s/mpi2_one_then_two", t);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet", test_bigs_bin(), c1, data, o1);
    CHECK(run(cmd, log, sizeof log) == 0);
    // 2 processes x 4 until step 7, then 1 process x 8 to the end
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 -x BIGS_STOP_AFTER_STEP=7 %s pretrain --config %s --data %s --output %s --threads 1 --quiet",
             test_bigs_bin(), c2, data, o2);
    CHECK(run(cmd, log, sizeof log) == 143);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet --resume", test_bigs_bin(), c1, data, o2);
    CHECK(run(cmd, log, sizeof log) == 0);
    double d = param_distance(o2, o1);
    CHECKF(d >= 0 && d < 1e-5, "2 processes then 1 vs 1 throughout: relative distance %g", d);
    // 1 process x 8 until step 5, then 2 processes x 4
    snprintf(cmd, sizeof cmd, "BIGS_STOP_AFTER_STEP=5 %s pretrain --config %s --data %s --output %s --threads 1 --quiet", test_bigs_bin(), c1, data, o3);
    CHECK(run(cmd, log, sizeof log) == 143);
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 %s pretrain --config %s --data %s --output %s --threads 1 --quiet --resume", test_bigs_bin(), c2, data, o3);
    CHECK(run(cmd, log, sizeof log) == 0);
    d = param_distance(o3, o1);
    CHECKF(d >= 0 && d < 1e-5, "1 process then 2 vs 1 throughout: relative distance %g", d);
}

TEST(mpi_dead_process_stops_the_job_checkpoint_intact) {
    if (!mpi_ready()) return;
    char data[512], cfg[512], out[512], cmd[8192], log[16384], p[700];
    const char *t = test_tmpdir();
    snprintf(data, sizeof data, "%s/mpi_data3", t);
    test_make_mlm_shards(data, 200, 32);
    snprintf(cfg, sizeof cfg, "%s/mpi3.json", t);
    write_config(cfg, 4, 1, 0.1);
    snprintf(out, sizeof out, "%s/mpi3_run", t);
    // test hook: rank 1 kills itself (SIGKILL) during step 6, after the checkpoint of step 4
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 -x BIGS_TEST_KILL_RANK=1 -x BIGS_TEST_KILL_AT_STEP=6 %s pretrain --config %s --data %s --output %s --threads 1 --quiet",
             test_bigs_bin(), cfg, data, out);
    double t0 = now_seconds();
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc != 0 && now_seconds() - t0 < 120, "the job should fail promptly, got %d after %.0f s: %s", rc, now_seconds() - t0, log);
    CHECKF(strstr(log, "rank 1") && strstr(log, "signal 9"), "mpirun should name the dead process and its signal: %s", log);
    struct stat sb;
    snprintf(p, sizeof p, "%s/checkpoint-4/model.safetensors", out);
    CHECKF(stat(p, &sb) == 0, "checkpoint-4 should be intact");
    snprintf(p, sizeof p, "%s/checkpoint-8", out);
    CHECK(stat(p, &sb) != 0);
    // and the job resumes from it
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 %s pretrain --config %s --data %s --output %s --threads 1 --resume", test_bigs_bin(), cfg, data, out);
    CHECK(run(cmd, log, sizeof log) == 0);
    CHECKF(strstr(log, "resuming from") && strstr(log, "checkpoint-4"), "should resume from checkpoint-4: %s", log);
}

TEST(mpi_finetune_two_processes_equal_one) {
    if (!mpi_ready()) return;
    char base[600], dir[600], o1[600], o2[600], cmd[8192], log[16384];
    const char *t = test_tmpdir();
    snprintf(base, sizeof base, "%s/mpi_ft_base", t);
    test_make_tiny_model(base, 32, 3);
    snprintf(dir, sizeof dir, "%s/mpi_rte", t);
    test_make_glue_task_dir(dir, "rte");
    snprintf(o1, sizeof o1, "%s/mpi_ft_one", t);
    snprintf(o2, sizeof o2, "%s/mpi_ft_two", t);
    // 12 examples in global batches of 8: the second batch is 4 examples, all on process 0
    const char *common = "--set train.num_train_epochs=3 --set train.learning_rate=1e-3 --set train.eval_steps=0 --threads 1";
    snprintf(cmd, sizeof cmd, "%s finetune --task rte --data %s --model %s --output %s --set train.per_device_train_batch_size=8 %s --quiet",
             test_bigs_bin(), dir, base, o1, common);
    CHECK(run(cmd, log, sizeof log) == 0);
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 %s finetune --task rte --data %s --model %s --output %s --set train.per_device_train_batch_size=4 %s",
             test_bigs_bin(), dir, base, o2, common);
    CHECK(run(cmd, log, sizeof log) == 0);
    CHECKF(strstr(log, "\"global_step\":6") && strstr(log, "data parallel: 2 processes"), "%s", log);
    double d = param_distance(o2, o1);
    CHECKF(d >= 0 && d < 1e-5, "finetune, 2 x batch 4 vs 1 x batch 8: relative distance %g", d);
    // stopped under MPI after step 1 (mid-epoch), resumed by one process with the same global batch
    char o3[600], c1[700], c3[700];
    snprintf(o3, sizeof o3, "%s/mpi_ft_two_then_one", t);
    snprintf(cmd, sizeof cmd, MPIRUN " -np 2 -x BIGS_STOP_AFTER_STEP=1 %s finetune --task rte --data %s --model %s --output %s "
             "--set train.per_device_train_batch_size=4 %s --quiet", test_bigs_bin(), dir, base, o3, common);
    CHECK(run(cmd, log, sizeof log) == 143);
    snprintf(cmd, sizeof cmd, "%s finetune --task rte --data %s --model %s --output %s --set train.per_device_train_batch_size=8 %s --resume",
             test_bigs_bin(), dir, base, o3, common);
    CHECK(run(cmd, log, sizeof log) == 0 && strstr(log, "checkpoint-1"));
    snprintf(c1, sizeof c1, "%s/checkpoint-6", o1);
    snprintf(c3, sizeof c3, "%s/checkpoint-6", o3);
    d = param_distance(c3, c1);
    CHECKF(d >= 0 && d < 1e-5, "finetune, 2 processes then 1 vs 1 throughout: relative distance %g", d);
}
