// test_protect.c: nothing a user owns is lost by mistake (issue 17). A running training holds a lock on
// its output folder that a second run cannot take and a killed one leaves free; --overwrite_output_dir
// replaces only an earlier run's files; --resume --force accepts changed settings; the casing travels
// with the model; configs and task files written on Windows read as on Linux; the memory estimate is the
// step's real activation memory and a step that cannot fit is refused before it starts.
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/common.h"
#include "core/model/model.h"
#include "data/glue.h"
#include "tests/test.h"
#include "train/memory.h"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int exists(const char *p) { struct stat sb; return stat(p, &sb) == 0; }

static const char *k_cfg = "{\"model\": {\"vocab_size\": 2000, \"hidden_size\": 16, \"num_hidden_layers\": 1, \"intermediate_size\": 24, "
                           "\"num_ssm\": 4, \"max_position_embeddings\": 32},\r\n \"train\": {\"max_steps\": 6, \"per_device_train_batch_size\": 4, "
                           "\"save_steps\": 2, \"eval_steps\": 3, \"logging_steps\": 1}}\r\n";

TEST(output_folder_lock_refuses_a_second_run) {
    char data[600], cfg[600], out[600], cmd[4096], log[8192];
    snprintf(data, sizeof data, "%s/pr_data", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/pr_cfg.json", test_tmpdir());
    snprintf(out, sizeof out, "%s/pr_run", test_tmpdir());
    test_make_mlm_shards(data, 64, 32);
    write_text(cfg, k_cfg);
    // a run that takes a while, in the background
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --set train.max_steps=100000 --quiet --threads 1 >/dev/null 2>&1",
                 test_bigs_bin(), cfg, data, out);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    char lock[700];
    snprintf(lock, sizeof lock, "%s/.bigs.lock", out);
    for (int i = 0; i < 200 && !exists(lock); i++) usleep(20000);
    usleep(200000);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --resume --quiet --threads 1", test_bigs_bin(), cfg, data, out);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 1 && strstr(log, "another bigs (pid"), "a second run into a locked folder: %d %s", rc, log);
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    test_run("pkill -9 -f pr_run >/dev/null 2>&1; true", NULL, 0);
    usleep(100000);
    // killed: the kernel released the lock, and the run resumes (to a short end)
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --resume --force --set train.max_steps=8 --quiet --threads 1",
             test_bigs_bin(), cfg, data, out);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0, "resume after the kill: %d %s", rc, log);
}

TEST(overwrite_output_dir_replaces_only_a_runs_files) {
    char data[600], cfg[600], out[600], cmd[4096], log[8192], p[700];
    snprintf(data, sizeof data, "%s/ow_data", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/ow_cfg.json", test_tmpdir());
    snprintf(out, sizeof out, "%s/ow_run", test_tmpdir());
    test_make_mlm_shards(data, 64, 32);
    write_text(cfg, k_cfg);  // CRLF line ends: read as any JSON
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --quiet --threads 1", test_bigs_bin(), cfg, data, out);
    CHECKF(test_run(cmd, log, sizeof log) == 0, "%s", log);
    snprintf(p, sizeof p, "%s/checkpoint-6", out);
    CHECK(exists(p));
    // a shorter second run over the first: the first run's checkpoint-6 must go, so a resume cannot take it
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --quiet --threads 1 --set train.max_steps=4 --overwrite_output_dir",
             test_bigs_bin(), cfg, data, out);
    CHECKF(test_run(cmd, log, sizeof log) == 0, "%s", log);
    CHECK(!exists(p));
    snprintf(p, sizeof p, "%s/checkpoint-4", out);
    CHECK(exists(p));
    // a file bigs did not write: --overwrite_output_dir refuses, and keeps it
    snprintf(p, sizeof p, "%s/my-notes.txt", out);
    write_text(p, "mine\n");
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 1 && strstr(log, "my-notes.txt") && exists(p), "%d %s", rc, log);
    // --resume --force continues with a changed setting, with a warning
    unlink(p);
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --threads 1 --resume --force --set train.max_steps=6 "
             "--set train.learning_rate=1e-3", test_bigs_bin(), cfg, data, out);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 0 && strstr(log, "changed settings") && strstr(log, "learning_rate"), "%d %s", rc, log);
}

TEST(casing_travels_with_the_model) {
    char vocab[600], text[600], shards[600], cfg[600], out[600], cmd[4096], log[8192], p[700];
    snprintf(vocab, sizeof vocab, "%s/tokenizer/vocab-uncased.txt", test_data_dir());
    snprintf(text, sizeof text, "%s/cs_text.txt", test_tmpdir());
    snprintf(shards, sizeof shards, "%s/cs_shards", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/cs_cfg.json", test_tmpdir());
    snprintf(out, sizeof out, "%s/cs_run", test_tmpdir());
    write_text(text, "The cat sat on the mat.\nIt was happy.\n\nA dog ran under the tree.\nThe dog was fast.\n");
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s --input %s --output %s --max-len 16 --val-fraction 0 --quiet", test_bigs_bin(), vocab, text, shards);
    CHECKF(test_run(cmd, log, sizeof log) == 0, "%s", log);
    write_text(cfg, "{\"model\": {\"hidden_size\": 16, \"num_hidden_layers\": 1, \"intermediate_size\": 24, \"num_ssm\": 4, "
                    "\"max_position_embeddings\": 16}, \"train\": {\"max_steps\": 2, \"per_device_train_batch_size\": 2}}\n");
    snprintf(cmd, sizeof cmd, "%s pretrain --config %s --data %s --output %s --quiet --threads 1", test_bigs_bin(), cfg, shards, out);
    CHECKF(test_run(cmd, log, sizeof log) == 0, "%s", log);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", out);
    size_t len;
    const char *e;
    char *t = file_read_all(p, &len, &e);
    CHECKF(t && strstr(t, "\"do_lower_case\":\ttrue"), "%s: %s", p, t ? t : e);
    free(t);
    ModelConfig c;
    config_load_path(&c, out);
    CHECK_EQ_INT(c.do_lower_case, 1);
    snprintf(cmd, sizeof cmd, "%s predict --model %s --cased --text 'the [MASK] sat'", test_bigs_bin(), out);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "do_lower_case true"));
    // --init from it on shards prepared cased: refused
    char cased[600];
    snprintf(cased, sizeof cased, "%s/cs_cased", test_tmpdir());
    snprintf(cmd, sizeof cmd, "%s prepare --vocab %s/tokenizer/vocab-uncased.txt --input %s --output %s --max-len 16 --val-fraction 0 --cased --quiet",
             test_bigs_bin(), test_data_dir(), text, cased);
    CHECK(test_run(cmd, log, sizeof log) == 1 && strstr(log, "uncased"));  // the uncased vocabulary refuses --cased
}

TEST(windows_task_files_read_as_linux_ones) {
    char dir[600], crlf[600], p[700], q[700], err[512];
    snprintf(dir, sizeof dir, "%s/win_sst2", test_tmpdir());
    snprintf(crlf, sizeof crlf, "%s/win_sst2_crlf", test_tmpdir());
    test_make_glue_task_dir(dir, "sst2");
    mkdir(crlf, 0755);
    snprintf(p, sizeof p, "%s/train.tsv", dir);
    snprintf(q, sizeof q, "%s/train.tsv", crlf);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "(printf '\\357\\273\\277'; sed 's/$/\\r/' %s) > %s", p, q);
    CHECK(test_run(cmd, NULL, 0) == 0);
    GlueSet a, b;
    const GlueTask *t = glue_task("sst2");
    CHECKF(glue_read(t, p, 0, &a, err, sizeof err) == 0, "%s", err);
    CHECKF(glue_read(t, q, 0, &b, err, sizeof err) == 0, "%s", err);
    CHECK(a.n == b.n && a.n > 0);
    for (long i = 0; i < a.n && i < b.n; i++) CHECK(!strcmp(a.ex[i].a, b.ex[i].a) && a.ex[i].label == b.ex[i].label);
    glue_free(&a);
    glue_free(&b);
}

// The dry run's activation memory against a real step's arena peak, on each head.
TEST(memory_estimate_is_the_real_step) {
    ModelConfig c;
    config_defaults(&c);
    c.vocab_size = 300, c.hidden_size = 32, c.num_hidden_layers = 2, c.intermediate_size = 48, c.num_ssm = 4, c.max_position_embeddings = 64;
    c.num_labels = 3;
    for (int head = HEAD_MLM; head <= HEAD_SEQCLS; head++) {
        StepMemory s;
        int B = 4, L = 64;
        memory_step(&c, (HeadType)head, B, L, 1, 0.15, 10, &s);
        Model m;
        model_build(&m, &c, (HeadType)head);
        model_init_weights(&m, 3);
        params_alloc_grad(&m.pt);
        int32_t ids[4 * 64], mask[4 * 64], labels[4 * 64], cls[4] = {0, 1, 2, 0};
        float targets[4] = {0};
        for (int i = 0; i < B * L; i++) {
            ids[i] = 1 + i % 250, mask[i] = 1;
            labels[i] = i % L >= 1 && i % L <= 10 ? ids[i] : -100;  // the masked count the estimate assumes
        }
        Tape tp;
        tape_init(&tp, 0);
        tp.training = 1;
        Batch b = {B, L, ids, NULL, mask};
        Tensor *loss = head == HEAD_MLM ? model_mlm(&m, &tp, &b, labels, NULL, NULL) : model_classify(&m, &tp, &b, cls, targets, NULL);
        tape_backward(&tp, loss, NULL);
        double real = (double)tp.arena.peak, est = s.activations;
        CHECKF(est >= 0.95 * real && est <= 1.25 * real, "head %d: the dry run says %.0f bytes, the real step's arena peak is %.0f", head, est, real);
        CHECK(s.params == 4.0 * m.pt.size && s.optimizer == 2 * s.params);
        tape_free(&tp);
        model_free(&m);
    }
}

// Evaluation keeps no attention probabilities: a BERT pass without a tape holds O(L) per thread where
// a training pass holds (B,NH,L,L) per layer, and both give the same logits, bit for bit.
TEST(evaluation_keeps_no_attention_probabilities) {
    ModelConfig c;
    config_defaults(&c);
    c.vocab_size = 300, c.hidden_size = 32, c.num_hidden_layers = 2, c.intermediate_size = 48, c.num_attention_heads = 4;
    c.max_position_embeddings = 300, c.hidden_dropout_prob = 0, c.attention_probs_dropout_prob = 0;
    c.block = block_index("stack"), c.routing = mixer_index("attention");
    enum { B = 2, L = 300 };
    Model m;
    model_build(&m, &c, HEAD_MLM);
    model_init_weights(&m, 4);
    params_alloc_grad(&m.pt);
    int32_t *ids = xmalloc(sizeof(int32_t) * B * L), *mask = xmalloc(sizeof(int32_t) * B * L), *labels = xmalloc(sizeof(int32_t) * B * L);
    for (int i = 0; i < B * L; i++) {
        mask[i] = !(i / L == 1 && i % L >= 260);
        ids[i] = mask[i] ? 1 + (i * 7) % 290 : 0;
        labels[i] = mask[i] && i % 5 == 2 ? (i * 3) % 300 : -100;
    }
    Batch b = {B, L, ids, NULL, mask};
    size_t peak[2];
    float *lg[2];
    long n = 0;
    for (int ng = 0; ng < 2; ng++) {
        Tape tp;
        tape_init(&tp, 0);
        tp.no_grad = ng;
        Tensor *logits;
        model_mlm(&m, &tp, &b, labels, &logits, NULL);
        n = logits->numel;
        lg[ng] = xmalloc(sizeof(float) * (size_t)n);
        memcpy(lg[ng], logits->data, sizeof(float) * (size_t)n);
        peak[ng] = tp.arena.peak;
        tape_free(&tp);
    }
    size_t probs = sizeof(float) * (size_t)c.num_hidden_layers * B * c.num_attention_heads * L * L;  // 5.8 MB
    CHECKF(peak[1] + probs <= peak[0], "the evaluation pass holds %zu bytes, the training pass %zu: the probabilities (%zu) are still kept",
           peak[1], peak[0], probs);
    CHECKF(peak[1] < probs / 2, "the evaluation pass holds %zu bytes (the probabilities would be %zu)", peak[1], probs);
    CHECK(n > 0 && !memcmp(lg[0], lg[1], sizeof(float) * (size_t)n));
    free(lg[0]), free(lg[1]), free(ids), free(mask), free(labels);
    model_free(&m);
}

TEST(a_step_that_cannot_fit_is_refused) {
    char data[600], cfg[600], out[600], cmd[4096], log[8192];
    snprintf(data, sizeof data, "%s/mem_data", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/mem_cfg.json", test_tmpdir());
    snprintf(out, sizeof out, "%s/mem_run", test_tmpdir());
    test_make_mlm_shards(data, 16, 32);
    // about 1.7 GB of parameters, gradients and moments: over a 1.5 GB address-space limit
    write_text(cfg, "{\"model\": {\"vocab_size\": 2000, \"hidden_size\": 1024, \"num_hidden_layers\": 8, \"intermediate_size\": 3072, "
                    "\"num_ssm\": 4, \"max_position_embeddings\": 32}, \"train\": {\"max_steps\": 2, \"per_device_train_batch_size\": 64}}\n");
    snprintf(cmd, sizeof cmd, "BIGS_TEST_MEMORY_AVAILABLE=1500000000 %s pretrain --config %s --data %s --output %s --threads 1", test_bigs_bin(),
             cfg, data, out);
    int rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 1 && strstr(log, "a training step needs about") && strstr(log, "per_device_train_batch_size"), "%d %s", rc, log);
    CHECK(!exists(out));
#ifndef __SANITIZE_ADDRESS__  // ASan's shadow memory needs more address space than any small limit leaves
    snprintf(cmd, sizeof cmd, "sh -c 'ulimit -v 1500000; exec %s pretrain --config %s --data %s --output %s --threads 1'", test_bigs_bin(), cfg,
             data, out);
    rc = test_run(cmd, log, sizeof log);
    CHECKF(rc == 1 && strstr(log, "a training step needs about"), "under ulimit -v: %d %s", rc, log);
    CHECK(!exists(out));
#endif
    snprintf(cmd, sizeof cmd, "%s info %s --batch 64 --seq-len 32 --json", test_bigs_bin(), cfg);
    CHECK(test_run(cmd, log, sizeof log) == 0 && strstr(log, "\"training_step_bytes\"") && strstr(log, "\"activations\""));
}
