// test_pretrain.c: `bigs pretrain` end to end on synthetic shards: the loss falls, the output folder is
// complete, and a run stopped and resumed ends with bitwise the same parameters.
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/base/jsonio.h"
#include "core/engine/gemm.h"
#include "core/formats/safetensors.h"
#include "data/shard.h"
#include "tests/test.h"

// A tiny "language": each sequence walks a cycle t -> (7t + 3) mod 50 from a random start, so a model
// can learn to predict a masked token from its neighbours.
void test_make_mlm_shards(const char *dir, int nseq, int L) {
    mkdir(dir, 0755);
    char path[700], err[512];
    const char *splits[2] = {"train", "validation"};
    for (int s = 0; s < 2; s++) {
        ShardWriter w;
        snprintf(path, sizeof path, "%s/%s-00000.bin", dir, splits[s]);
        if (shard_writer_open(&w, path, 2000, 0x1234, (uint32_t)L, 16, err, sizeof err)) { CHECKF(0, "%s", err); return; }
        int n = s ? nseq / 8 : nseq;
        for (int i = 0; i < n; i++) {
            int32_t ids[256];
            int len = L / 2 + (i * 13) % (L / 2 + 1);
            int t = (i * 17 + s * 5) % 50;
            ids[0] = 101;
            for (int j = 1; j < len - 1; j++) { ids[j] = 1000 + t; t = (7 * t + 3) % 50; }
            ids[len - 1] = 102;
            shard_writer_add(&w, ids, (uint32_t)len, err, sizeof err);
        }
        CHECK(shard_writer_close(&w, err, sizeof err) == 0);
    }
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"format\": \"bigs-shards\", \"version\": 1, \"vocab_size\": 2000, \"vocab_hash\": \"%016llx\", \"max_len\": %d,"
               " \"special_ids\": {\"pad\": 0, \"unk\": 100, \"cls\": 101, \"sep\": 102, \"mask\": 103}}\n", 0x1234ull, L);
    fclose(f);
}

static void write_config(const char *path) {
    FILE *f = fopen(path, "w");
    fputs("{\n \"model\": {\"vocab_size\": 2000, \"hidden_size\": 32, \"num_hidden_layers\": 2, \"intermediate_size\": 64,\n"
          "  \"num_ssm\": 8, \"max_position_embeddings\": 32, \"hidden_dropout_prob\": 0.1},\n"
          " \"train\": {\"learning_rate\": 3e-3, \"warmup_steps\": 3, \"max_steps\": 40, \"per_device_train_batch_size\": 8,\n"
          "  \"per_device_eval_batch_size\": 16, \"max_seq_length\": 32, \"save_steps\": 10, \"eval_steps\": 20,\n"
          "  \"logging_steps\": 5, \"eval_batches\": 4, \"weight_decay\": 0.01, \"lr_scheduler_type\": \"linear\"}\n}\n", f);
    fclose(f);
}

int test_files_equal(const char *a, const char *b) {
    size_t la, lb;
    const char *e;
    char *x = file_read_all(a, &la, &e), *y = file_read_all(b, &lb, &e);
    int eq = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return eq;
}

static double json_number(const char *path, const char *key) {
    size_t len;
    const char *e;
    char *t = file_read_all(path, &len, &e);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    const cJSON *v = j ? cJSON_GetObjectItem(j, key) : NULL;
    double r = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(j);
    free(t);
    return r;
}

// Resumes the run in dir (1 thread) and checks its final model.safetensors equals ref_dir's, bitwise.
// `set`: more flags for the resumed run ("" for none).
static void resume_and_compare(const char *cfg, const char *data, const char *dir, const char *ref_dir, const char *set, const char *what) {
    char cmd[4096], log[8192], a[700], b[700];
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet --resume %s", test_bigs_bin(), cfg, data, dir,
             set);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0, "resume failed (%d): %s", rc, log);
    snprintf(a, sizeof a, "%s/model.safetensors", ref_dir);
    snprintf(b, sizeof b, "%s/model.safetensors", dir);
    CHECKF(test_files_equal(a, b), "%s", what);
}

TEST(pretrain_learns_and_resumes_bitwise) {
    char data[512], cfg[512], out1[512], out2[512], cmd[4096], log[8192], a[700], b[700];
    snprintf(data, sizeof data, "%s/pt_data", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/pt_config.json", test_tmpdir());
    snprintf(out1, sizeof out1, "%s/pt_run1", test_tmpdir());
    snprintf(out2, sizeof out2, "%s/pt_run2", test_tmpdir());
    test_make_mlm_shards(data, 400, 32);
    write_config(cfg);
    // an uninterrupted run
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet", test_bigs_bin(), cfg, data, out1);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0, "pretrain failed (%d): %s", rc, log);
    snprintf(a, sizeof a, "%s/all_results.json", out1);
    double first = json_number(a, "initial_eval_loss"), last = json_number(a, "eval_loss");
    CHECKF(last < first - 1.0, "validation loss %g -> %g did not fall clearly", first, last);
    const char *files[] = {"config.json", "model.safetensors", "metrics.jsonl", "eval_results.json", "train_config.json",
                           "checkpoint-40/optimizer.safetensors", "checkpoint-40/trainer_state.json", "checkpoint-30/model.safetensors"};
    for (int i = 0; i < 8; i++) {
        struct stat sb;
        snprintf(a, sizeof a, "%s/%s", out1, files[i]);
        CHECKF(stat(a, &sb) == 0, "missing %s", a);
    }
    // bigs info on the shard directory and on the model
    snprintf(cmd, sizeof cmd, "%s info %s --json", test_bigs_bin(), data);
    CHECK(test_run(cmd, log, sizeof log) == 0 && strstr(log, "\"sequences\":400") && strstr(log, "\"sequences\":50"));
    snprintf(cmd, sizeof cmd, "%s info %s", test_bigs_bin(), out1);
    CHECK(test_run(cmd, log, sizeof log) == 0 && strstr(log, "total                                  89,592"));
    // bigs eval --task mlm repeats the final evaluation exactly (same masks: seed 42, batch 16)
    snprintf(cmd, sizeof cmd, "%s eval --task mlm --data %s --model %s --batch-size 16 --threads 1", test_bigs_bin(), data, out1);
    rc = test_run(cmd, log, sizeof log);
    cJSON *ev = cJSON_Parse(log);
    const cJSON *el = ev ? cJSON_GetObjectItem(ev, "loss") : NULL;
    CHECKF(rc == 0 && cJSON_IsNumber(el) && fabs(el->valuedouble - last) < 1e-5 && cJSON_GetObjectItem(ev, "sequences")->valueint == 50,
           "eval printed: %s (pretrain's last eval_loss %g)", log, last);
    cJSON_Delete(ev);
    // the masks belong to the sequences: another batch size gives the same numbers
    snprintf(cmd, sizeof cmd, "%s eval --task mlm --data %s --model %s --batch-size 7 --threads 1", test_bigs_bin(), data, out1);
    rc = test_run(cmd, log, sizeof log);
    ev = cJSON_Parse(log);
    el = ev ? cJSON_GetObjectItem(ev, "loss") : NULL;
    CHECKF(rc == 0 && cJSON_IsNumber(el) && fabs(el->valuedouble - last) < 1e-5, "eval with batch 7: %s (batch 16: %g)", log, last);
    cJSON_Delete(ev);
    struct stat sb;
    snprintf(a, sizeof a, "%s/checkpoint-10", out1);
    CHECKF(stat(a, &sb) != 0, "save_total_limit 3 should have removed %s", a);
    // the same run stopped after step 17 (as by SIGTERM: a checkpoint is written), then resumed
    snprintf(cmd, sizeof cmd, "BIGS_STOP_AFTER_STEP=17 %s pretrain --config %s --data %s --output %s --threads 1 --quiet", test_bigs_bin(), cfg, data, out2);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 143, "the stopped run should exit with 143, got %d: %s", rc, log);
    snprintf(a, sizeof a, "%s/checkpoint-17/trainer_state.json", out2);
    CHECK(stat(a, &sb) == 0);
    resume_and_compare(cfg, data, out2, out1, "", "the resumed run's parameters differ from the uninterrupted run's");
    snprintf(a, sizeof a, "%s/checkpoint-40/optimizer.safetensors", out1);
    snprintf(b, sizeof b, "%s/checkpoint-40/optimizer.safetensors", out2);
    CHECK(test_files_equal(a, b));
}

TEST(pretrain_bad_input_is_a_clear_error) {
    char cfg[512], cmd[4096], log[8192], data[512];
    snprintf(data, sizeof data, "%s/pt_data_bad", test_tmpdir());
    test_make_mlm_shards(data, 40, 32);
    snprintf(cfg, sizeof cfg, "%s/pt_bad.json", test_tmpdir());
    FILE *f = fopen(cfg, "w");
    fputs("{\"model\": {\"vocab_size\": 2000}, \"train\": {\"max_stepz\": 3}}", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s/o", test_bigs_bin(), cfg, data, test_tmpdir());
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "\"max_stepz\"") && strstr(log, "pt_bad.json"));
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s/nowhere --output %s/o --set train.max_steps=1", test_bigs_bin(), cfg, test_tmpdir(), test_tmpdir());
    f = fopen(cfg, "w");
    fputs("{\"model\": {\"vocab_size\": 2000, \"hidden_size\": 8, \"num_hidden_layers\": 1, \"num_ssm\": 2, \"intermediate_size\": 8, \"max_position_embeddings\": 32}, \"train\": {\"max_seq_length\": 32}}", f);
    fclose(f);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "nowhere/meta.json"));
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s/o --set train.max_steps=x", test_bigs_bin(), cfg, data, test_tmpdir());
    CHECK(test_run(cmd, log, sizeof log) == 2 && strstr(log, "max_steps"));
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s/o --set model.vocab_size=3000 --set train.max_steps=1", test_bigs_bin(), cfg, data, test_tmpdir());
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "vocabulary of 2000"));
    snprintf(cmd, sizeof cmd, "%s pretrain --data %s", test_bigs_bin(), data);
    CHECK(test_run(cmd, log, sizeof log) == 2 && strstr(log, "--output is required") && strstr(log, "Usage:"));
}

// Runs a command in the background; returns its pid.
static pid_t spawn(const char *cmd) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

TEST(pretrain_signal_nan_init_and_vocab_checks) {
    char data[512], cfg[512], out1[512], out2[512], out3[512], cmd[4096], log[8192], a[700], b[700];
    snprintf(data, sizeof data, "%s/pt2_data", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/pt2_config.json", test_tmpdir());
    snprintf(out1, sizeof out1, "%s/pt2_ref", test_tmpdir());
    snprintf(out2, sizeof out2, "%s/pt2_sig", test_tmpdir());
    snprintf(out3, sizeof out3, "%s/pt2_nan", test_tmpdir());
    test_make_mlm_shards(data, 400, 32);
    write_config(cfg);
    const char *more = "--set train.max_steps=300 --set train.save_steps=1000 --set train.eval_steps=0 --set train.static_masking=true";
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet %s", test_bigs_bin(), cfg, data, out1, more);
    CHECK(test_run(cmd, log, sizeof log) == 0);
    // a real SIGTERM in the middle: a checkpoint at the current step, exit 143, and --resume ends bitwise equal
    snprintf(cmd, sizeof cmd, "exec %s pretrain --config %s --data %s --output %s --threads 1 --quiet %s >/dev/null 2>&1", test_bigs_bin(), cfg, data, out2, more);
    pid_t pid = spawn(cmd);
    snprintf(a, sizeof a, "%s/metrics.jsonl", out2);
    struct stat sb;
    for (int i = 0; i < 500 && !(stat(a, &sb) == 0 && sb.st_size > 300); i++) usleep(10000);  // a few logged steps
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 143, "SIGTERM: exit status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    snprintf(cmd, sizeof cmd, "ls -d %s/checkpoint-* | wc -l", out2);
    CHECK(test_run(cmd, log, sizeof log) == 0 && atoi(log) == 1);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet --resume %s", test_bigs_bin(), cfg, data, out2, more);
    CHECK(test_run(cmd, log, sizeof log) == 0);
    snprintf(a, sizeof a, "%s/model.safetensors", out1);
    snprintf(b, sizeof b, "%s/model.safetensors", out2);
    CHECKF(test_files_equal(a, b), "stopped by SIGTERM and resumed: the parameters differ from the uninterrupted run");
    // a NaN loss stops the run with a message, before writing a checkpoint of that step
    snprintf(cmd, sizeof cmd, "BIGS_INJECT_NAN_AT_STEP=12 %s pretrain --config %s --data %s --output %s --threads 1 --quiet", test_bigs_bin(), cfg, data, out3);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "step 12: the loss is not finite"));
    snprintf(a, sizeof a, "%s/checkpoint-10/trainer_state.json", out3);
    snprintf(b, sizeof b, "%s/checkpoint-12", out3);
    CHECK(stat(a, &sb) == 0 && stat(b, &sb) != 0);
    // --init continues from a model: its weights are the starting point, the config file's model is ignored
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --init %s --data %s --output %s/pt2_init --threads 1 --quiet --set train.max_steps=2 --set model.hidden_dropout_prob=0",
             test_bigs_bin(), cfg, out1, data, test_tmpdir());
    CHECK(test_run(cmd, log, sizeof log) == 0);
    snprintf(a, sizeof a, "%s/pt2_init/all_results.json", test_tmpdir());
    snprintf(b, sizeof b, "%s/all_results.json", out1);
    CHECKF(json_number(a, "initial_eval_loss") < json_number(b, "initial_eval_loss") - 1.0, "--init did not start from the trained weights");
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --init %s --data %s --output %s/pt2_init2 --set model.hidden_size=64", test_bigs_bin(), cfg, out1, data, test_tmpdir());
    CHECK(test_run(cmd, log, sizeof log) == 2 && strstr(log, "only dropout"));
    // a model whose vocab.txt differs from the shards' vocabulary is refused by eval
    snprintf(a, sizeof a, "%s/vocab.txt", out1);
    FILE *f = fopen(a, "w");
    for (int i = 0; i < 2000; i++) fprintf(f, "tok%d\n", i);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s eval --task mlm --data %s --model %s", test_bigs_bin(), data, out1);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "another vocabulary"));
}

TEST(pretrain_length_extension) {
    // a model trained at 32 positions continues at 64: the position table grows, the loss falls
    char data[512], data64[512], cfg[512], out[512], out2[512], cmd[4096], log[8192], a[700];
    snprintf(data, sizeof data, "%s/le_data", test_tmpdir());
    snprintf(data64, sizeof data64, "%s/le_data64", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/le_config.json", test_tmpdir());
    snprintf(out, sizeof out, "%s/le_base", test_tmpdir());
    snprintf(out2, sizeof out2, "%s/le_long", test_tmpdir());
    test_make_mlm_shards(data, 200, 32);
    test_make_mlm_shards(data64, 200, 64);
    write_config(cfg);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet --set train.max_steps=20", test_bigs_bin(), cfg, data, out);
    CHECK(test_run(cmd, log, sizeof log) == 0);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --init %s --data %s --output %s --threads 1 --set model.max_position_embeddings=64 "
             "--set train.max_seq_length=64 --set train.max_steps=20 --set train.eval_steps=10 2>&1", test_bigs_bin(), cfg, out, data64, out2);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0 && strstr(log, "the position table grows from 32 to 64 rows"), "%d: %s", rc, log);
    snprintf(a, sizeof a, "%s/all_results.json", out2);
    CHECK(json_number(a, "eval_loss") < json_number(a, "initial_eval_loss") - 0.2);
    snprintf(cmd, sizeof cmd, "%s info %s --json", test_bigs_bin(), out2);
    CHECK(test_run(cmd, log, sizeof log) == 0 && strstr(log, "\"max_position_embeddings\":64"));
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --init %s --data %s --output %s/le_bad --set model.max_position_embeddings=16", test_bigs_bin(), cfg, out2, data, test_tmpdir());
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "not shrink"));
}

// Shards of nseq sequences and the tiny config in the suite's folder, under names starting with tag.
static void run_setup(const char *tag, int nseq, char data[512], char cfg[512], char out[512]) {
    snprintf(data, 512, "%s/%s_data", test_tmpdir(), tag);
    snprintf(cfg, 512, "%s/%s_config.json", test_tmpdir(), tag);
    snprintf(out, 512, "%s/%s_run", test_tmpdir(), tag);
    test_make_mlm_shards(data, nseq, 32);
    write_config(cfg);
}

// --profile prints the time per op type over the training passes (and only those: evaluation is not timed)
TEST(pretrain_profile_lists_the_ops) {
    char data[512], cfg[512], out[512], cmd[4096], log[16384];
    run_setup("prof", 64, data, cfg, out);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet --profile --set train.max_steps=3",
             test_bigs_bin(), cfg, data, out);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0, "pretrain --profile failed (%d): %s", rc, log);
    CHECKF(strstr(log, "3 passes") && strstr(log, " linear ") && strstr(log, " fftconv ") && strstr(log, " cross_entropy ") &&
               strstr(log, " total "), "profile table missing or incomplete: %s", log);
    // and the whole step, the first one left out: its parts add up to it, none negative
    const char *sp = strstr(log, "profile step (per step, 2 steps after the first): ");
    CHECKF(sp != NULL, "no step line in the profile: %s", log);
    double all = -1, model = -1, batch = -1, update = -1, logging = -1, rest = -1;
    int got = sp ? sscanf(sp, "profile step (per step, 2 steps after the first): %lf ms in all: model forward and backward %lf, "
                              "batch and task outside the model %lf, gradient sum, clipping and AdamW %lf, logging %lf, the rest %lf",
                          &all, &model, &batch, &update, &logging, &rest) : 0;
    CHECKF(got == 6, "step line not as documented (%d fields): %s", got, sp ? sp : "");
    CHECKF(model > 0 && update > 0 && batch >= 0 && logging >= 0 && rest >= -0.02, "step parts %g %g %g %g %g", model, batch, update,
           logging, rest);
    CHECKF(fabs(model + batch + update + logging + rest - all) < 0.05, "step parts %g+%g+%g+%g+%g do not add up to %g", model, batch,
           update, logging, rest, all);
    CHECKF(model > 0.5 * all, "the model's passes are %g of a %g ms step", model, all);
}

// A run killed between checkpoints redoes the steps after its last checkpoint on --resume: their
// metrics.jsonl lines are not kept twice (nor a line cut short by the kill).
TEST(pretrain_resume_after_kill_logs_each_step_once) {
    char data[512], cfg[512], out[512], cmd[4096], log[8192], path[700];
    run_setup("kill", 200, data, cfg, out);
    snprintf(cmd, sizeof cmd, "{ BIGS_TEST_KILL_AT_STEP=18 %s pretrain --config %s --data %s --output %s --threads 1 --quiet; } 2>/dev/null",
             test_bigs_bin(), cfg, data, out);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc != 0, "the run was not killed: %s", log);
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    FILE *f = fopen(path, "a");  // as if the kill had cut a line short
    if (f) { fputs("{\"step\": 16, \"lo", f); fclose(f); }
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet --resume", test_bigs_bin(), cfg,
             data, out);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0, "resume failed (%d): %s", rc, log);
    size_t len;
    const char *e;
    char *text = file_read_all(path, &len, &e);
    CHECK(text != NULL);
    int seen_loss[41] = {0}, seen_eval[41] = {0}, lines = 0;
    for (char *line = text; text && line < text + len; lines++) {
        char *end = strchr(line, '\n');
        CHECKF(end != NULL, "metrics.jsonl ends in a partial line");
        if (!end) break;
        *end = 0;
        cJSON *j = cJSON_Parse(line);
        CHECKF(j != NULL, "metrics.jsonl line %d is not JSON: %s", lines + 1, line);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "step");
        int st = cJSON_IsNumber(s) ? (int)s->valuedouble : -1;
        CHECK(st >= 0 && st <= 40);
        if (st >= 0 && st <= 40) {
            if (cJSON_GetObjectItemCaseSensitive(j, "loss")) seen_loss[st]++;
            if (cJSON_GetObjectItemCaseSensitive(j, "eval_loss")) seen_eval[st]++;
        }
        cJSON_Delete(j);
        line = end + 1;
    }
    for (int st = 0; st <= 40; st++) {
        CHECKF(seen_loss[st] == (st > 0 && st % 5 == 0), "step %d: %d loss lines", st, seen_loss[st]);
        CHECKF(seen_eval[st] == (st % 20 == 0), "step %d: %d evaluation lines", st, seen_eval[st]);
    }
    free(text);
    // killed after its final checkpoint but before the final model and results: --resume writes them,
    // with the last step's loss and a final evaluation
    char res[700], model[700], ck[700];
    snprintf(res, sizeof res, "%s/all_results.json", out);
    snprintf(model, sizeof model, "%s/model.safetensors", out);
    snprintf(ck, sizeof ck, "%s/checkpoint-40/model.safetensors", out);
    double eval_before = json_number(res, "eval_loss");
    remove(res);
    remove(model);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0, "resume from the final checkpoint failed (%d): %s", rc, log);
    CHECK(test_files_equal(model, ck));
    CHECKF(isfinite(json_number(res, "train_loss")) && json_number(res, "eval_loss") == eval_before,
           "all_results.json after a resume from the final checkpoint: %s", log);
    // and the step-0 evaluation of the first run is reported, as after an uninterrupted run
    double initial = json_number(res, "initial_eval_loss");
    CHECKF(isfinite(initial) && initial > json_number(res, "eval_loss"), "initial_eval_loss after resumes: %g", initial);
}

// A kill between the final checkpoint's rename and the removal of the oldest (a window fault_inject.sh
// aims at) leaves save_total_limit + 1 checkpoints; the resumed run, which has no step left to train,
// finishes the rotation.
TEST(pretrain_resume_finishes_an_interrupted_rotation) {
    char data[512], cfg[512], out[512], cmd[4096], log[8192];
    run_setup("rot", 200, data, cfg, out);
    const char *set = "--set train.save_total_limit=2";
    snprintf(cmd, sizeof cmd, "BIGS_TEST_KILL_IN=rotate:40 %s pretrain --config %s --data %s --output %s --threads 1 --quiet %s",
             test_bigs_bin(), cfg, data, out, set);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 128 + SIGKILL, "the kill in the rotation gave %d: %s", rc, log);
    int have[5];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 1; i <= 4; i++) {
            char p[700];
            struct stat sb;
            snprintf(p, sizeof p, "%s/checkpoint-%d", out, 10 * i);
            have[i] = stat(p, &sb) == 0;
        }
        if (pass == 0) {
            CHECKF(!have[1] && have[2] && have[3] && have[4], "after the kill: checkpoints 10..40 present %d%d%d%d (expected 0111)", have[1],
                   have[2], have[3], have[4]);
            snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet --resume %s", test_bigs_bin(), cfg,
                     data, out, set);
            rc = test_run(cmd, log, sizeof log);
            CHECKF(rc == 0, "resume failed (%d): %s", rc, log);
        }
    }
    CHECKF(!have[1] && !have[2] && have[3] && have[4], "after --resume: checkpoints 10..40 present %d%d%d%d (expected 0011)", have[1],
           have[2], have[3], have[4]);
}

// With our GEMM (AVX-512) every kernel sums in an order fixed by the data: a run stopped after step 3
// with 2 threads and resumed with 1 ends bitwise as a run of 1 thread throughout. The model is large
// enough (H=256) that its products run on both threads. `set` is passed to every run (--set KEY=VALUE,
// or "").
static void thread_resume_check(const char *tag, const char *set, char out1[512], int bitwise) {
    char data[512], cfg[512], out2[512], cmd[4096], log[8192];
    run_setup(tag, 200, data, cfg, out1);
    snprintf(out2, sizeof out2, "%s/%s_run2", test_tmpdir(), tag);
    FILE *f = fopen(cfg, "w");  // a wider model than write_config's
    fputs("{\"model\": {\"vocab_size\": 2000, \"hidden_size\": 256, \"num_hidden_layers\": 2, \"intermediate_size\": 512,\n"
          "  \"num_ssm\": 8, \"max_position_embeddings\": 32, \"hidden_dropout_prob\": 0.1},\n"
          " \"train\": {\"learning_rate\": 1e-3, \"warmup_steps\": 2, \"max_steps\": 8, \"per_device_train_batch_size\": 8,\n"
          "  \"max_seq_length\": 32, \"save_steps\": 4, \"eval_steps\": 0, \"logging_steps\": 4}}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --quiet %s", test_bigs_bin(), cfg, data, out1, set);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0, "pretrain failed (%d): %s", rc, log);
    if (!bitwise) return;
    snprintf(cmd, sizeof cmd, "BIGS_STOP_AFTER_STEP=3 %s pretrain --config %s --data %s --output %s --threads 2 --quiet %s", test_bigs_bin(),
             cfg, data, out2, set);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 143, "the stop after step 3 gave %d: %s", rc, log);
    char what[600];
    snprintf(what, sizeof what, "%s: 2 threads then 1 differs from 1 thread throughout", tag);
    resume_and_compare(cfg, data, out2, out1, set, what);
}

TEST(pretrain_resume_with_another_thread_count_is_bitwise) {
    if (!gemm_is_own()) {
        printf("     (GEMM engine %s: OpenBLAS's sums depend on the thread count; not checked)\n", gemm_engine());
        return;
    }
    char out[512];
    thread_resume_check("thr", "", out, 1);
}

// train.bf16: the same bits for any thread count and across a resume (the checkpoints hold float32), and
// a model that is not the float32 run's but close to it: parameters within the 2 x (sum of learning rates)
// that Adam's bounded steps allow, and the validation loss within 0.1%.
TEST(pretrain_bf16_resumes_bitwise_with_another_thread_count) {
    if (!gemm_bf16_available()) {
        printf("     (no AVX512-BF16 here: train.bf16 is refused; checked by bf16_refused_on_a_cpu_without_it)\n");
        return;
    }
    char out_bf[512], out_fp[512], a[700], b[700];
    thread_resume_check("thrbf", "--set train.bf16=true", out_bf, 1);  // bf16 products are always our kernel
    thread_resume_check("thrfp", "", out_fp, gemm_is_own());  // OpenBLAS: not across thread counts
    snprintf(a, sizeof a, "%s/model.safetensors", out_bf);
    snprintf(b, sizeof b, "%s/model.safetensors", out_fp);
    StFile fa, fb;
    char err[512];
    if (st_open(&fa, a, err, sizeof err) || st_open(&fb, b, err, sizeof err)) { CHECKF(0, "%s", err); return; }
    long total = 0, differ = 0;
    double maxd = 0;
    for (int i = 0; i < fa.n; i++) {
        const StTensor *t = &fa.t[i], *u = st_find(&fb, t->name);
        CHECKF(u && u->numel == t->numel && t->dtype == DT_F32, "%s: tensor %s missing or not float32", b, t->name);
        if (!u || u->numel != t->numel) continue;
        float *x = xmalloc(sizeof(float) * (size_t)t->numel), *y = xmalloc(sizeof(float) * (size_t)t->numel);
        st_to_f32(&fa, t, x);
        st_to_f32(&fb, u, y);
        for (long k = 0; k < t->numel; k++) {
            differ += x[k] != y[k];
            maxd = fmax(maxd, fabs((double)x[k] - y[k]));
        }
        total += t->numel;
        free(x);
        free(y);
    }
    CHECKF(differ > total / 10, "the bf16 run equals the float32 run in %ld of %ld parameters: bf16 was not used", total - differ, total);
    CHECKF(maxd > 0 && maxd < 1e-2, "the bf16 run's parameters are up to %g from the float32 run's (8 Adam steps: under 1e-2)", maxd);
    // the validation losses agree to 0.1% (measured: 3.5e-6 relative)
    snprintf(a, sizeof a, "%s/all_results.json", out_bf);
    snprintf(b, sizeof b, "%s/all_results.json", out_fp);
    double lb = json_number(a, "eval_loss"), lf = json_number(b, "eval_loss");
    CHECKF(fabs(lb - lf) < 1e-3 * lf, "validation loss bf16 %g, float32 %g", lb, lf);
    st_close(&fa);
    st_close(&fb);
}

// Each checkpoint's trainer_state.json names the products' kernels ("gemm": fp32, and bf16 in a bf16 run),
// and a resume on other kernels (another machine, or BIGS_GEMM / BIGS_BF16_KERNEL) warns that it is no
// longer bitwise the uninterrupted run, naming both kernels; a resume on the same kernels does not warn.
TEST(resume_names_the_kernels_and_warns_when_they_differ) {
    int bf = gemm_bf16_available(), amx = gemm_bf16_amx_available();
    const char *fp = gemm_engine();
    char data[512], cfg[512], out[512], cmd[4096], log[8192], path[700];
    run_setup("kern", 64, data, cfg, out);
    const char *set = bf ? "--set train.bf16=true" : "";
    // the first leg on OpenBLAS (and vdpbf16ps), stopped after step 3
    snprintf(cmd, sizeof cmd, "BIGS_GEMM=openblas BIGS_BF16_KERNEL=avx512bf16 BIGS_STOP_AFTER_STEP=3 %s pretrain --config %s --data %s "
             "--output %s --threads 1 --quiet --set train.max_steps=8 --set train.save_steps=4 %s", test_bigs_bin(), cfg, data, out, set);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 143, "the stop after step 3 gave %d: %s", rc, log);
    snprintf(path, sizeof path, "%s/checkpoint-3/trainer_state.json", out);
    cJSON *st = json_read_file(path);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(st, "gemm");
    const cJSON *g32 = cJSON_GetObjectItemCaseSensitive(g, "fp32"), *g16 = cJSON_GetObjectItemCaseSensitive(g, "bf16");
    CHECKF(cJSON_IsString(g32) && !strcmp(g32->valuestring, "openblas"), "%s: gemm.fp32 is not \"openblas\"", path);
    if (bf) CHECKF(cJSON_IsString(g16) && !strcmp(g16->valuestring, "avx512bf16"), "%s: gemm.bf16 is not \"avx512bf16\"", path);
    else CHECKF(!g16, "%s: gemm.bf16 is recorded in a float32 run", path);
    cJSON_Delete(st);
    // a second leg on the same kernels: no warning
    snprintf(cmd, sizeof cmd, "BIGS_GEMM=openblas BIGS_BF16_KERNEL=avx512bf16 BIGS_STOP_AFTER_STEP=5 %s pretrain --config %s --data %s "
             "--output %s --threads 1 --set train.max_steps=8 --set train.save_steps=4 --resume %s", test_bigs_bin(), cfg, data, out, set);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 143 && strstr(log, "resuming from") && !strstr(log, "kernel"), "the resume on the same kernels gave %d: %s", rc, log);
    // the last leg on this machine's own kernels
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --set train.max_steps=8 --set train.save_steps=4 "
             "--resume %s", test_bigs_bin(), cfg, data, out, set);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0, "the resume on this machine's kernels gave %d: %s", rc, log);
    int want32 = strcmp(fp, "openblas") != 0, want16 = bf && amx;
    char w32[200], w16[200];
    snprintf(w32, sizeof w32, "fp32 products on the openblas kernel, and this run has the %s kernel (BIGS_GEMM chooses)", fp);
    snprintf(w16, sizeof w16, "bf16 products on the avx512bf16 kernel, and this run has the amx kernel (BIGS_BF16_KERNEL chooses)");
    CHECKF(!!strstr(log, w32) == want32, "fp32 kernels openblas -> %s: the warning is %s: %s", fp, want32 ? "missing" : "unexpected", log);
    CHECKF(!!strstr(log, w16) == want16, "bf16 kernels avx512bf16 -> %s: the warning is %s: %s", gemm_bf16_engine(), want16 ? "missing" : "unexpected",
           log);
    CHECKF(!(want32 || want16) || strstr(log, "no longer bitwise the uninterrupted one"), "the warning does not say what it means: %s", log);
}

// The fp32 kernel's AVX-512 and AVX2 forms give the same bits, so a checkpoint written on one resumes on
// the other without the warning (the record is edited to name the other form); OpenBLAS still warns.
TEST(resume_across_the_two_forms_of_our_kernel_does_not_warn) {
    if (!gemm_is_own()) {
        printf("     (GEMM engine %s here: not checked)\n", gemm_engine());
        return;
    }
    const char *other = strcmp(gemm_engine(), "avx2") ? "avx2" : "avx512";
    char data[512], cfg[512], out[512], cmd[4096], log[8192], path[700];
    run_setup("form", 64, data, cfg, out);
    snprintf(cmd, sizeof cmd, "BIGS_STOP_AFTER_STEP=3 %s pretrain --config %s --data %s --output %s --threads 1 --quiet "
             "--set train.max_steps=8 --set train.save_steps=4", test_bigs_bin(), cfg, data, out);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 143, "the stop after step 3 gave %d: %s", rc, log);
    // each leg: the newest checkpoint (the stop's) is edited to name another kernel, then resumed
    for (int leg = 0; leg < 2; leg++) {
        const char *name = leg == 0 ? other : "openblas";
        snprintf(path, sizeof path, "%s/checkpoint-%d/trainer_state.json", out, 3 + leg);
        cJSON *st = json_read_file(path);
        cJSON *g = cJSON_GetObjectItemCaseSensitive(st, "gemm");
        const cJSON *g32 = cJSON_GetObjectItemCaseSensitive(g, "fp32");
        CHECKF(cJSON_IsString(g32) && !strcmp(g32->valuestring, gemm_engine()), "%s: gemm.fp32 is not \"%s\"", path, gemm_engine());
        if (!g) { cJSON_Delete(st); return; }
        cJSON_ReplaceItemInObjectCaseSensitive(g, "fp32", cJSON_CreateString(name));
        char *txt = cJSON_Print(st);
        FILE *f = fopen(path, "w");
        CHECKF(f && fputs(txt, f) >= 0 && fclose(f) == 0, "cannot rewrite %s", path);
        free(txt);
        cJSON_Delete(st);
        snprintf(cmd, sizeof cmd, "BIGS_STOP_AFTER_STEP=%d %s pretrain --config %s --data %s --output %s --threads 1 "
                 "--set train.max_steps=8 --set train.save_steps=4 --resume", 4 + leg, test_bigs_bin(), cfg, data, out);
        rc = test_run(cmd, log, sizeof log);
        int warned = strstr(log, "no longer bitwise the uninterrupted one") != NULL;
        CHECKF(rc == 143 && strstr(log, "resuming from") && warned == (leg == 1), "a checkpoint of the %s kernel resumed on %s: rc %d, %s: %s",
               name, gemm_engine(), rc, leg ? "the warning is missing" : "an unexpected warning", log);
    }
}

// On a CPU without AVX512-BF16 (played by the hook BIGS_TEST_NO_BF16), train.bf16 and --bf16 are errors
// that say why and what to do, before any output folder is made.
TEST(bf16_refused_on_a_cpu_without_it) {
    char data[512], cfg[512], out[512], cmd[4096], log[8192];
    run_setup("nobf", 64, data, cfg, out);
    snprintf(cmd, sizeof cmd, "BIGS_TEST_NO_BF16=1 %s pretrain --config %s --data %s --output %s --quiet --set train.bf16=true", test_bigs_bin(),
             cfg, data, out);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc != 0 && strstr(log, "train: bf16: this CPU has no AVX512-BF16") && strstr(log, "float32"), "pretrain gave %d: %s", rc, log);
    struct stat sb;
    CHECKF(stat(out, &sb) != 0, "a refused run left %s behind", out);
    snprintf(cmd, sizeof cmd, "BIGS_TEST_NO_BF16=1 %s eval --task mlm --data %s --model %s --bf16", test_bigs_bin(), data, cfg);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc != 0 && strstr(log, "--bf16: this CPU has no AVX512-BF16"), "eval gave %d: %s", rc, log);
}

// Where bf16 products are slower than float32 (played by the hook BIGS_TEST_BF16_SPEEDUP), asking for
// bf16 warns with the measured ratio and what to do, and the command still runs; where bf16 is faster it
// says nothing. The measurement itself gives a plausible ratio.
TEST(bf16_warns_where_it_is_slower_than_float32) {
    if (!gemm_bf16_available()) {
        printf("     (no AVX512-BF16 here: bf16 is refused; checked by bf16_refused_on_a_cpu_without_it)\n");
        return;
    }
    double x = gemm_bf16_speedup();
    // AMX's tiles do up to 16x the multiply-adds per cycle of the fp32 FMAs, and under the sanitizers the
    // fp32 kernel's instrumented loads slow it further (measured 32x in make test-debug on an AMX Xeon)
    CHECKF(x > 0.1 && x < 100.0, "gemm_bf16_speedup() = %g: not a plausible ratio of two products' times", x);
    char data[512], cfg[512], out[512], cmd[4096], log[8192];
    run_setup("bfwarn", 64, data, cfg, out);
    snprintf(cmd, sizeof cmd, "BIGS_TEST_BF16_SPEEDUP=0.7 %s pretrain --config %s --data %s --output %s --threads 1 --quiet "
             "--set train.max_steps=2 --set train.bf16=true", test_bigs_bin(), cfg, data, out);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0 && strstr(log, "warning: train.bf16: bf16 products run at 0.70x the float32 rate") && strstr(log, "drop train.bf16"),
           "pretrain at a played 0.7x gave %d: %s", rc, log);
    snprintf(cmd, sizeof cmd, "BIGS_TEST_BF16_SPEEDUP=0.7 %s eval --task mlm --data %s --model %s --bf16", test_bigs_bin(), data, out);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0 && strstr(log, "warning: --bf16: bf16 products run at 0.70x the float32 rate") && strstr(log, "drop --bf16"),
           "eval at a played 0.7x gave %d: %s", rc, log);
    snprintf(cmd, sizeof cmd, "BIGS_TEST_BF16_SPEEDUP=1.9 %s eval --task mlm --data %s --model %s --bf16", test_bigs_bin(), data, out);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0 && !strstr(log, "float32 rate"), "eval at a played 1.9x gave %d and warned: %s", rc, log);
}
